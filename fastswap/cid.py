"""CIDs, multihashes and the Bitswap block prefix, on plain bytes.

Specs: multiformats CID (v0: a bare sha2-256 multihash, implicitly dag-pb; v1: varint version,
varint codec, multihash), unsigned-varint, multihash; ipfs/specs bitswap-protocol, 1.1.0
"payload": the block prefix is four varints (version, codec, multihash code, digest length).

Hot paths keep CIDs as ``bytes`` (hashable, cheap to compare); ``multiformats.CID`` appears only at
the API boundary (:func:`parse`, :func:`to_str`, :func:`to_multiformats`).
"""

from __future__ import annotations

import hashlib
from typing import Any

from . import varint
from ._defaults import MAX_CID_SIZE
from ._text import b32decode, b32encode, b58decode, b58encode
from .errors import BadBlockError, CIDError, UnsupportedHashError, VarintError

__all__ = [
    "BLAKE2B_256",
    "CID",
    "CIDV0_PREFIX",
    "DAG_CBOR",
    "DAG_PB",
    "IDENTITY",
    "LIBP2P_KEY",
    "RAW",
    "SHA2_256",
    "SHA2_512",
    "cid_from_prefix",
    "cid_prefix",
    "compute_cid",
    "decode_cid",
    "decode_prefix",
    "encode_cid",
    "hash_digest",
    "identity_data",
    "is_identity",
    "is_valid_cid",
    "parse",
    "to_multiformats",
    "to_str",
    "verify_block",
]

# multicodec codes
RAW = 0x55
DAG_PB = 0x70
DAG_CBOR = 0x71
LIBP2P_KEY = 0x72
# multihash codes
IDENTITY = 0x00
SHA2_256 = 0x12
SHA2_512 = 0x13
BLAKE2B_256 = 0xB220

#: The block prefix of every CIDv0 block: version 0, dag-pb, sha2-256, 32 bytes.
CIDV0_PREFIX = b"\x00\x70\x12\x20"

_FULL_DIGEST = {SHA2_256: 32, SHA2_512: 64, BLAKE2B_256: 32}


def _varint(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    try:
        return varint.decode(buf, pos)
    except VarintError as exc:
        raise CIDError(str(exc)) from None


def decode_cid(cid: bytes | memoryview) -> tuple[int, int, int, bytes]:
    """Split binary CID bytes into (version, codec, multihash code, digest).

    The whole input must be the CID: trailing bytes are an error.
    """
    cid = bytes(cid)
    n = len(cid)
    if n > MAX_CID_SIZE:
        raise CIDError(f"CID of {n} bytes is over the {MAX_CID_SIZE}-byte limit")
    if n == 34 and cid[0] == 0x12 and cid[1] == 0x20:
        return 0, DAG_PB, SHA2_256, cid[2:]
    if n < 2:
        raise CIDError("CID too short")
    version, pos = _varint(cid, 0)
    if version != 1:
        raise CIDError(f"unsupported CID version {version}" if version else "malformed CIDv0")
    codec, pos = _varint(cid, pos)
    mh_code, pos = _varint(cid, pos)
    length, pos = _varint(cid, pos)
    if pos + length != n:
        raise CIDError(
            f"CID digest length {length} does not match the {n - pos} bytes that follow"
        )
    return 1, codec, mh_code, cid[pos:]


def encode_cid(version: int, codec: int, mh_code: int, digest: bytes) -> bytes:
    """Build binary CID bytes. Version 0 must be dag-pb with a 32-byte sha2-256 digest."""
    if version == 0:
        if codec != DAG_PB or mh_code != SHA2_256 or len(digest) != 32:
            raise CIDError("CIDv0 must be dag-pb with a 32-byte sha2-256 digest")
        return b"\x12\x20" + bytes(digest)
    if version != 1:
        raise CIDError(f"unsupported CID version {version}")
    out = (
        b"\x01"
        + varint.encode(codec)
        + varint.encode(mh_code)
        + varint.encode(len(digest))
        + bytes(digest)
    )
    if len(out) > MAX_CID_SIZE:
        raise CIDError(f"CID of {len(out)} bytes is over the {MAX_CID_SIZE}-byte limit")
    return out


def is_valid_cid(cid: bytes | memoryview) -> bool:
    try:
        decode_cid(cid)
    except CIDError:
        return False
    return True


def is_identity(cid: bytes | memoryview) -> bool:
    """Whether *cid* is a CIDv1 whose multihash is ``identity`` (its data is the digest).

    Cheap enough for every blockstore lookup: it reads the version byte, skips the codec varint
    and looks at the next byte, without decoding or copying the CID (a CIDv0 is a sha2-256
    multihash and never identity). Whether such a CID is well formed is :func:`identity_data`'s
    question."""
    n = len(cid)
    if n < 4 or cid[0] != 1:
        return False
    i = 1
    while cid[i] & 0x80:  # codec varint continuation bytes
        i += 1
        if i >= n - 1:
            return False
    return cid[i + 1] == IDENTITY


def identity_data(cid: bytes | memoryview) -> bytes | None:
    """The block data an identity CID carries (its digest), or None if *cid* is not one.

    Identity CIDs (multiformats multihash ``0x00``) inline their block: stores never hold them
    and peers are never asked for them (Kubo's and Helia's blockstores answer them from the CID
    alone). CIDError if *cid* looks like an identity CID but is malformed."""
    if not is_identity(cid):
        return None
    return decode_cid(cid)[3]


def cid_prefix(cid: bytes | memoryview) -> bytes:
    """The Bitswap 1.1.0 block prefix of *cid*: varints version, codec, mh code, digest length."""
    version, codec, mh_code, digest = decode_cid(cid)
    if version == 0:
        return CIDV0_PREFIX
    return (
        varint.encode(version)
        + varint.encode(codec)
        + varint.encode(mh_code)
        + varint.encode(len(digest))
    )


def decode_prefix(prefix: bytes | memoryview) -> tuple[int, int, int, int]:
    """Parse a block prefix into (version, codec, mh code, digest length).

    An empty prefix is refused (py-libp2p sends one for CIDv0 blocks; the sender must say what
    the block is, we never guess).
    """
    try:
        version, pos = varint.decode(prefix, 0)
        codec, pos = varint.decode(prefix, pos)
        mh_code, pos = varint.decode(prefix, pos)
        length, pos = varint.decode(prefix, pos)
    except VarintError as exc:
        raise CIDError(f"malformed block prefix: {exc}") from None
    if pos != len(prefix):
        raise CIDError("block prefix has trailing bytes")
    if version not in (0, 1):
        raise CIDError(f"unsupported CID version {version} in block prefix")
    if version == 0 and (codec != DAG_PB or mh_code != SHA2_256 or length != 32):
        raise CIDError("CIDv0 block prefix must be dag-pb, sha2-256, 32 bytes")
    return version, codec, mh_code, length


def hash_digest(mh_code: int, data: bytes | memoryview, length: int | None = None) -> bytes:
    """The digest of *data* under multihash *mh_code*, truncated to *length* if given."""
    if mh_code == SHA2_256:
        d = hashlib.sha256(data).digest()
    elif mh_code == SHA2_512:
        d = hashlib.sha512(data).digest()
    elif mh_code == BLAKE2B_256:
        d = hashlib.blake2b(data, digest_size=32).digest()
    elif mh_code == IDENTITY:
        d = bytes(data)
        if length is not None and length != len(d):
            raise CIDError(f"identity multihash of length {length} for {len(d)} bytes of data")
        return d
    else:
        raise UnsupportedHashError(f"unsupported multihash function 0x{mh_code:x}")
    if length is None:
        return d
    if length > len(d) or length <= 0:
        raise CIDError(f"digest length {length} is not possible for multihash 0x{mh_code:x}")
    return d if length == len(d) else d[:length]


def cid_from_prefix(prefix: bytes | memoryview, data: bytes | memoryview) -> bytes:
    """The CID of *data* under a Bitswap block prefix (hashes *data*)."""
    version, codec, mh_code, length = decode_prefix(prefix)
    return encode_cid(version, codec, mh_code, hash_digest(mh_code, data, length))


def compute_cid(
    data: bytes | memoryview, *, version: int = 1, codec: int = RAW, mh_code: int = SHA2_256
) -> bytes:
    """The CID of *data* (sha2-256 and raw CIDv1 unless told otherwise)."""
    return encode_cid(version, codec, mh_code, hash_digest(mh_code, data))


def verify_block(cid: bytes | memoryview, data: bytes | memoryview) -> None:
    """Raise BadBlockError unless *data* hashes to *cid*."""
    _version, _codec, mh_code, digest = decode_cid(cid)
    if mh_code == SHA2_256 and len(digest) == 32:  # the fast path: almost every block
        ok = hashlib.sha256(data).digest() == digest
    else:
        ok = hash_digest(mh_code, data, len(digest)) == digest
    if not ok:
        raise BadBlockError(f"block data does not hash to {to_str(cid)}")


# -- the API boundary: multiformats and text ---------------------------------------------------


#: (multihash code, digest length) pairs text is read and written without multiformats
_COMMON_HASHES = frozenset({(SHA2_256, 32), (SHA2_512, 64), (BLAKE2B_256, 32)})
_COMMON_CODECS = frozenset({RAW, DAG_PB, DAG_CBOR, LIBP2P_KEY})


def to_multiformats(cid: bytes | memoryview) -> Any:
    from multiformats import CID

    return CID.decode(bytes(cid))


def to_str(cid: bytes | memoryview) -> str:
    """Text form: base58btc for CIDv0, base32 for CIDv1 (what Kubo and Helia print)."""
    try:
        raw = bytes(cid)
        version, codec, mh_code, digest = decode_cid(raw)
        if version == 0 or (codec in _COMMON_CODECS and (mh_code, len(digest)) in _COMMON_HASHES):
            # the forms _parse_common reads back, without importing multiformats (see there)
            return b58encode(raw) if version == 0 else "b" + b32encode(raw)
    except CIDError:
        pass
    try:
        c = to_multiformats(cid)
        return c.encode(None) if c.version == 0 else c.encode("base32")  # v0: bare base58btc
    except Exception:  # noqa: BLE001 - text for messages: an unparsable CID prints as hex
        return "<invalid CID " + bytes(cid).hex() + ">"


class CID(bytes):
    """A binary CID that prints as text: what the public API returns (``Node.add_path``,
    ``Node.put_block``, ``Block.cid``...). It *is* the binary CID (a ``bytes`` subclass: equal to,
    and hashing like, the same bytes), so it goes anywhere binary CIDs go; ``str()`` gives the
    text form Kubo and Helia print, ``repr()`` says ``CID('bafy...')``. Build one with
    :meth:`parse` (text, bytes or a ``multiformats.CID``); no hashing is involved."""

    __slots__ = ()

    @classmethod
    def parse(cls, cid: Any) -> CID:
        return cid if type(cid) is cls else cls(parse(cid))

    @property
    def version(self) -> int:
        return decode_cid(self)[0]

    @property
    def codec(self) -> int:
        return decode_cid(self)[1]

    def __str__(self) -> str:
        return to_str(self)

    def __repr__(self) -> str:
        return f"CID({to_str(self)!r})"

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def _parse_common(text: str) -> bytes | None:
    """The binary CID of *text* if it is one of the forms Kubo and Helia print (CIDv0
    ``Qm...``; CIDv1 in base32, ``b...``) with a common codec and hash; None for anything else,
    which :func:`parse` hands to multiformats. Importing multiformats (its multicodec table) is
    ~25 ms of every ``fastswap get``'s start: this path decodes with :mod:`fastswap._text`
    and only takes text that encodes back to itself, so it accepts nothing multiformats would
    refuse and gives the same bytes (tests/test_cid_text.py holds it to multiformats)."""
    try:
        if len(text) == 46 and text.startswith("Qm"):
            raw = b58decode(text)
            ok = len(raw) == 34 and raw[:2] == b"\x12\x20" and b58encode(raw) == text
            return raw if ok else None
        if not text.startswith("b"):
            return None
        raw = b32decode(text[1:])  # (strict: canonical lowercase only)
        version, codec, mh_code, digest = decode_cid(raw)
    except Exception:  # noqa: BLE001 - not this form: multiformats decides (and words the error)
        return None
    if version != 1 or codec not in _COMMON_CODECS or (mh_code, len(digest)) not in _COMMON_HASHES:
        return None
    return raw


def parse(cid: Any) -> bytes:
    """Binary CID bytes from text, bytes or a multiformats.CID; CIDError if it is not one."""
    if isinstance(cid, (bytes, bytearray, memoryview)):
        raw = bytes(cid)
    elif isinstance(cid, str) and (common := _parse_common(cid.strip())) is not None:
        raw = common
    else:
        from multiformats import CID

        if isinstance(cid, CID):
            raw = bytes(cid)
        elif isinstance(cid, str):
            try:
                raw = bytes(CID.decode(cid.strip()))
            except Exception as exc:  # noqa: BLE001 - any multiformats error -> CIDError
                raise CIDError(f"not a CID: {cid!r} ({exc})") from None
        else:
            raise CIDError(f"not a CID: {cid!r}")
    decode_cid(raw)
    return raw
