"""libp2p keys and peer ids: libp2p/specs ``peer-ids/peer-ids.md``.

* Keys travel as the ``PublicKey``/``PrivateKey`` protobufs of that spec ("Keys"), with the
  ``Data`` of each key type as the spec lists it: Ed25519 raw 32-byte public key (64-byte
  seed||public private key), Secp256k1 compressed point, ECDSA and RSA DER ``PKIX`` public keys.
* A peer id ("Peer Ids") is a multihash of the serialized public key: the identity multihash when
  the serialization is at most 42 bytes (Ed25519, Secp256k1), sha2-256 otherwise (RSA, ECDSA).
  Text forms ("String representation"): base58btc of the multihash (``12D3KooW...``/``Qm...``) and
  a CIDv1 with the ``libp2p-key`` codec, base32 by default; both parse.
* Signatures ("How Keys are Signed"): we sign with Ed25519 only (our own identity), and verify all
  four types, since a remote peer may use any of them.

``load_or_create_identity`` keeps a node's Ed25519 key in ``<repo>/identity.key`` (the private
key protobuf, mode 0600, written atomically) so its peer id survives restarts.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from enum import IntEnum
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from google.protobuf.message import DecodeError

from .. import varint
from .._text import b32encode, b58decode, b58encode
from ..cid import decode_cid
from ..errors import InvalidKeyError, InvalidPeerIdError, VarintError

__all__ = [
    "IDENTITY_FILE",
    "Ed25519KeyPair",
    "KeyType",
    "PeerId",
    "PublicKey",
    "load_or_create_identity",
]

#: Serialized public keys up to this length are inlined in the peer id (identity multihash).
MAX_INLINE_KEY_LENGTH = 42
#: The multicodec of a peer id written as a CID.
LIBP2P_KEY_CODEC = 0x72
_MH_IDENTITY = 0x00
_MH_SHA2_256 = 0x12
#: Longest serialized public key we decode: a 8192-bit RSA PKIX key is ~1.1 KB; anything much
#: larger is abuse, not a key.
MAX_PUBLIC_KEY_BYTES = 4096
#: RSA keys weaker than this are refused (go-libp2p's minimum), larger ones cost too much CPU.
MIN_RSA_BITS = 2048
MAX_RSA_BITS = 8192
#: The file, in a repo directory, holding the node's private key protobuf.
IDENTITY_FILE = "identity.key"


class KeyType(IntEnum):
    RSA = 0
    Ed25519 = 1
    Secp256k1 = 2
    ECDSA = 3


def _pb() -> Any:
    # imported lazily: the generated module exists only after `pip install -e .`
    from .._proto import libp2p_crypto_pb2

    return libp2p_crypto_pb2


class PublicKey:
    """A remote or local libp2p public key: its type and the spec's ``Data`` bytes."""

    __slots__ = ("_key", "data", "key_type")

    def __init__(self, key_type: KeyType | int, data: bytes) -> None:
        try:
            self.key_type = KeyType(key_type)
        except ValueError:
            raise InvalidKeyError(
                f"unknown libp2p key type {key_type}; expected RSA, Ed25519, Secp256k1 or ECDSA"
            ) from None
        self.data = bytes(data)
        if len(self.data) > MAX_PUBLIC_KEY_BYTES:
            raise InvalidKeyError(
                f"public key of {len(self.data)} bytes is over the {MAX_PUBLIC_KEY_BYTES}-byte "
                "limit"
            )
        self._key = self._load()

    def _load(self) -> Any:
        kt, data = self.key_type, self.data
        try:
            if kt is KeyType.Ed25519:
                if len(data) != 32:
                    raise InvalidKeyError(f"Ed25519 public key must be 32 bytes, got {len(data)}")
                return ed25519.Ed25519PublicKey.from_public_bytes(data)
            if kt is KeyType.Secp256k1:
                if len(data) not in (33, 65):
                    raise InvalidKeyError(
                        f"Secp256k1 public key must be a 33-byte compressed (or 65-byte) point, "
                        f"got {len(data)} bytes"
                    )
                return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256K1(), data)
            # imported here: cryptography's serialization package (its SSH support) is ~6 ms
            # of a start that only ever sees Ed25519 keys (RSA/ECDSA peers are the rare case)
            from cryptography.hazmat.primitives.serialization import load_der_public_key

            key = load_der_public_key(data)
        except InvalidKeyError:
            raise
        except (ValueError, UnsupportedAlgorithm, TypeError) as exc:
            raise InvalidKeyError(f"cannot decode {kt.name} public key: {exc}") from None
        if kt is KeyType.ECDSA:
            if not isinstance(key, ec.EllipticCurvePublicKey):
                raise InvalidKeyError("ECDSA key Data is a DER public key of another algorithm")
            return key
        if not isinstance(key, rsa.RSAPublicKey):
            raise InvalidKeyError("RSA key Data is a DER public key of another algorithm")
        if not MIN_RSA_BITS <= key.key_size <= MAX_RSA_BITS:
            raise InvalidKeyError(
                f"RSA key of {key.key_size} bits is outside {MIN_RSA_BITS}..{MAX_RSA_BITS}"
            )
        return key

    # -- protobuf ------------------------------------------------------------------------------

    @classmethod
    def from_protobuf(cls, raw: bytes | bytearray | memoryview) -> PublicKey:
        """Decode a ``PublicKey`` protobuf (as carried in Noise and identify)."""
        raw = bytes(raw)
        if len(raw) > MAX_PUBLIC_KEY_BYTES + 16:
            raise InvalidKeyError(f"public key protobuf of {len(raw)} bytes is too large")
        msg = _pb().PublicKey()
        try:
            msg.ParseFromString(raw)
        except DecodeError as exc:
            raise InvalidKeyError(f"not a libp2p PublicKey protobuf: {exc}") from None
        return cls(msg.Type, msg.Data)

    def to_protobuf(self) -> bytes:
        """The deterministic encoding of the spec: field 1 (type) then field 2 (data)."""
        msg = _pb().PublicKey(Type=int(self.key_type), Data=self.data)
        return msg.SerializeToString(deterministic=True)

    # -- signatures ----------------------------------------------------------------------------

    def verify(self, data: bytes, signature: bytes) -> bool:
        """True if *signature* is this key's signature of *data* (per the key type's scheme)."""
        key = self._key
        try:
            if self.key_type is KeyType.Ed25519:
                key.verify(signature, data)
            elif self.key_type in (KeyType.Secp256k1, KeyType.ECDSA):
                # both: ASN.1 DER (r, s) over sha256(data)
                key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
            else:
                key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        except (InvalidSignature, ValueError, TypeError):
            return False
        return True

    def peer_id(self) -> PeerId:
        return PeerId.from_public_key(self)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, PublicKey)
            and other.key_type == self.key_type
            and other.data == self.data
        )

    def __hash__(self) -> int:
        return hash((self.key_type, self.data))

    def __repr__(self) -> str:
        return f"PublicKey({self.key_type.name}, {self.data.hex()[:16]}...)"


class Ed25519KeyPair:
    """Our own identity: an Ed25519 key pair that signs (Noise payloads, records)."""

    __slots__ = ("_peer_id", "_private", "public_key")

    def __init__(self, private: ed25519.Ed25519PrivateKey) -> None:
        self._private = private
        raw = private.public_key().public_bytes_raw()
        self.public_key = PublicKey(KeyType.Ed25519, raw)
        self._peer_id: PeerId | None = None

    @classmethod
    def generate(cls) -> Ed25519KeyPair:
        return cls(ed25519.Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> Ed25519KeyPair:
        """From a 32-byte private seed (tests use fixed seeds for reproducible peer ids)."""
        if len(seed) != 32:
            raise InvalidKeyError(f"Ed25519 seed must be 32 bytes, got {len(seed)}")
        return cls(ed25519.Ed25519PrivateKey.from_private_bytes(bytes(seed)))

    @property
    def seed(self) -> bytes:
        return self._private.private_bytes_raw()

    @property
    def peer_id(self) -> PeerId:
        if self._peer_id is None:
            self._peer_id = PeerId.from_public_key(self.public_key)
        return self._peer_id

    def sign(self, data: bytes) -> bytes:
        return self._private.sign(data)

    def private_key_protobuf(self) -> bytes:
        """``PrivateKey`` protobuf, Data = seed || public key (64 bytes, as go-libp2p writes)."""
        msg = _pb().PrivateKey(Type=int(KeyType.Ed25519), Data=self.seed + self.public_key.data)
        return msg.SerializeToString(deterministic=True)

    @classmethod
    def from_private_key_protobuf(cls, raw: bytes) -> Ed25519KeyPair:
        msg = _pb().PrivateKey()
        try:
            msg.ParseFromString(bytes(raw))
        except DecodeError as exc:
            raise InvalidKeyError(f"not a libp2p PrivateKey protobuf: {exc}") from None
        if msg.Type != KeyType.Ed25519:
            name = KeyType(msg.Type).name if msg.Type in KeyType._value2member_map_ else msg.Type
            raise InvalidKeyError(
                f"private key type {name} is not supported as a fastswap identity; use Ed25519"
            )
        data = msg.Data
        # 64 bytes: seed || public; 96: an old go-libp2p form with the public key repeated
        if len(data) not in (64, 96):
            raise InvalidKeyError(f"Ed25519 private key Data must be 64 bytes, got {len(data)}")
        pair = cls.from_seed(data[:32])
        if data[32:64] != pair.public_key.data:
            raise InvalidKeyError("Ed25519 private key Data: public half does not match the seed")
        return pair

    def __repr__(self) -> str:
        return f"Ed25519KeyPair({self.peer_id})"


class PeerId:
    """A peer id: the multihash bytes, compared and hashed by value."""

    __slots__ = ("_hash", "multihash")

    def __init__(self, multihash: bytes) -> None:
        self.multihash = multihash
        # peer ids key every per-peer table of the engines and the host (tens of thousands of
        # lookups per 256 MiB fetched): hash once
        self._hash = hash(multihash)

    @classmethod
    def from_public_key(cls, key: PublicKey) -> PeerId:
        enc = key.to_protobuf()
        if len(enc) <= MAX_INLINE_KEY_LENGTH:
            return cls(bytes((_MH_IDENTITY,)) + varint.encode(len(enc)) + enc)
        return cls(bytes((_MH_SHA2_256, 32)) + hashlib.sha256(enc).digest())

    @classmethod
    def from_bytes(cls, raw: bytes | bytearray | memoryview) -> PeerId:
        """Validate multihash bytes (identity or sha2-256) as a peer id."""
        raw = bytes(raw)
        try:
            code, pos = varint.decode(raw, 0)
            length, pos = varint.decode(raw, pos)
        except VarintError as exc:
            raise InvalidPeerIdError(f"peer id is not a multihash: {exc}") from None
        if pos + length != len(raw):
            raise InvalidPeerIdError(
                f"peer id multihash says {length} digest bytes but {len(raw) - pos} follow"
            )
        if code == _MH_SHA2_256:
            if length != 32:
                raise InvalidPeerIdError(f"sha2-256 peer id digest must be 32 bytes, not {length}")
        elif code == _MH_IDENTITY:
            if length > MAX_INLINE_KEY_LENGTH:
                raise InvalidPeerIdError(
                    f"identity peer id of {length} bytes: keys over {MAX_INLINE_KEY_LENGTH} bytes "
                    "must be hashed with sha2-256"
                )
        else:
            raise InvalidPeerIdError(
                f"peer id multihash code 0x{code:x} is neither identity nor sha2-256"
            )
        return cls(raw)

    @classmethod
    def from_string(cls, text: str) -> PeerId:
        """Parse ``12D3KooW...``/``Qm...`` (base58btc multihash) or a ``libp2p-key`` CID."""
        text = text.strip()
        if not text:
            raise InvalidPeerIdError("empty peer id")
        if len(text) > 512:
            raise InvalidPeerIdError(f"peer id text of {len(text)} characters is too long")
        if text[0] in "1Q":
            try:
                raw = b58decode(text)
            except ValueError as exc:
                raise InvalidPeerIdError(f"peer id {text!r} is not valid base58btc: {exc}") from None
            return cls.from_bytes(raw)
        from multiformats import CID

        try:
            raw_cid = bytes(CID.decode(text))
            version, codec, mh_code, digest = decode_cid(raw_cid)
        except Exception as exc:  # noqa: BLE001 - multiformats raises several kinds
            raise InvalidPeerIdError(
                f"{text!r} is neither a base58btc peer id nor a libp2p-key CID ({exc})"
            ) from None
        if version != 1 or codec != LIBP2P_KEY_CODEC:
            raise InvalidPeerIdError(
                f"{text!r} is a CID with codec 0x{codec:x}, not a libp2p-key (0x72) peer id"
            )
        return cls.from_bytes(varint.encode(mh_code) + varint.encode(len(digest)) + digest)

    @classmethod
    def parse(cls, value: PeerId | str | bytes) -> PeerId:
        if isinstance(value, PeerId):
            return value
        if isinstance(value, str):
            return cls.from_string(value)
        return cls.from_bytes(value)

    def to_base58(self) -> str:
        return b58encode(self.multihash)

    def to_cid_string(self) -> str:
        """CIDv1 ``libp2p-key`` in base32 (``bafz...``), the spec's recommended text form."""
        cid = b"\x01" + varint.encode(LIBP2P_KEY_CODEC) + self.multihash
        return "b" + b32encode(cid)

    def extract_public_key(self) -> PublicKey | None:
        """The public key inlined in an identity peer id, or None for a hashed one."""
        if self.multihash[0] != _MH_IDENTITY:
            return None
        _, pos = varint.decode(self.multihash, 1)
        return PublicKey.from_protobuf(self.multihash[pos:])

    def matches_key(self, key: PublicKey) -> bool:
        return PeerId.from_public_key(key) == self

    def __str__(self) -> str:
        return self.to_base58()

    def __repr__(self) -> str:
        return f"PeerId({self.to_base58()})"

    def __eq__(self, other: object) -> bool:
        return self is other or (isinstance(other, PeerId) and other.multihash == self.multihash)

    def __hash__(self) -> int:
        return self._hash

    def __bytes__(self) -> bytes:
        return self.multihash


def load_or_create_identity(repo_dir: str | os.PathLike[str]) -> Ed25519KeyPair:
    """The node's key from ``<repo_dir>/identity.key``; a new one is created (atomically, 0600)
    when the file does not exist. A present but unreadable file is an error, never overwritten:
    replacing it would silently change the node's peer id."""
    repo = Path(repo_dir)
    path = repo / IDENTITY_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        pass
    else:
        try:
            return Ed25519KeyPair.from_private_key_protobuf(raw)
        except InvalidKeyError as exc:
            raise InvalidKeyError(
                f"{path} does not hold a usable identity ({exc}); restore it from a backup, or "
                "delete it to start with a new peer id"
            ) from None
    repo.mkdir(parents=True, exist_ok=True)
    pair = Ed25519KeyPair.generate()
    fd, tmp = tempfile.mkstemp(prefix=".identity.", dir=repo)
    try:
        os.fchmod(fd, 0o600)  # mkstemp already uses 0600; be explicit about the contract
        with os.fdopen(fd, "wb") as fh:
            fh.write(pair.private_key_protobuf())
            fh.flush()
            os.fsync(fh.fileno())
        # link() fails if another process created the identity meanwhile: then use theirs
        try:
            os.link(tmp, path)
        except FileExistsError:
            return Ed25519KeyPair.from_private_key_protobuf(path.read_bytes())
    finally:
        os.unlink(tmp)
    dir_fd = os.open(repo, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return pair
