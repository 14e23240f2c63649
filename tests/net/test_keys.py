"""libp2p keys and peer ids (libp2p/specs peer-ids/peer-ids.md)."""

from __future__ import annotations

import hashlib
import os
import stat

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from fastswap.errors import InvalidKeyError, InvalidPeerIdError
from fastswap.net.keys import (
    IDENTITY_FILE,
    Ed25519KeyPair,
    KeyType,
    PeerId,
    PublicKey,
    load_or_create_identity,
)

MSG = b"noise-libp2p-static-key:" + bytes(range(32))


def test_ed25519_peer_id_is_identity_multihash_of_the_key_protobuf() -> None:
    pair = Ed25519KeyPair.from_seed(bytes(32))
    pub = pair.public_key.data
    # PublicKey{Type: Ed25519 (field 1 = 1), Data (field 2, 32 bytes)}
    assert pair.public_key.to_protobuf() == b"\x08\x01\x12\x20" + pub
    assert pair.peer_id.multihash == b"\x00\x24\x08\x01\x12\x20" + pub
    text = str(pair.peer_id)
    assert text.startswith("12D3KooW")
    assert PeerId.from_string(text) == pair.peer_id
    cid = pair.peer_id.to_cid_string()
    assert cid.startswith("bafzaa")
    assert PeerId.from_string(cid) == pair.peer_id
    assert pair.peer_id.extract_public_key() == pair.public_key
    # the same seed gives the same id
    assert Ed25519KeyPair.from_seed(bytes(32)).peer_id == pair.peer_id


def test_known_peer_id_text_forms_agree() -> None:
    # the spec's example: a sha256 peer id in base58btc and as a libp2p-key CID
    b58 = PeerId.from_string("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N")
    cid = PeerId.from_string("bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe")
    assert b58 == cid
    assert b58.to_cid_string() == "bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe"
    assert b58.extract_public_key() is None


def test_ed25519_sign_verify_and_private_key_roundtrip() -> None:
    pair = Ed25519KeyPair.generate()
    sig = pair.sign(MSG)
    assert pair.public_key.verify(MSG, sig)
    assert not pair.public_key.verify(MSG + b"x", sig)
    assert not pair.public_key.verify(MSG, sig[:-1] + bytes([sig[-1] ^ 1]))
    again = Ed25519KeyPair.from_private_key_protobuf(pair.private_key_protobuf())
    assert again.peer_id == pair.peer_id
    decoded = PublicKey.from_protobuf(pair.public_key.to_protobuf())
    assert decoded == pair.public_key and decoded.verify(MSG, sig)


def test_secp256k1_key_verify_and_inline_peer_id() -> None:
    priv = ec.generate_private_key(ec.SECP256K1())
    data = priv.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
    )
    key = PublicKey(KeyType.Secp256k1, data)
    sig = priv.sign(MSG, ec.ECDSA(hashes.SHA256()))  # DER
    assert key.verify(MSG, sig)
    assert not key.verify(MSG + b"!", sig)
    pid = key.peer_id()
    assert pid.multihash[0] == 0x00  # 37-byte key protobuf: inlined
    assert str(pid).startswith("16Uiu2")
    assert PeerId.from_string(str(pid)).extract_public_key() == key


def test_ecdsa_p256_key_verify_and_hashed_peer_id() -> None:
    priv = ec.generate_private_key(ec.SECP256R1())
    der = priv.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    key = PublicKey.from_protobuf(PublicKey(KeyType.ECDSA, der).to_protobuf())
    sig = priv.sign(MSG, ec.ECDSA(hashes.SHA256()))
    assert key.verify(MSG, sig)
    assert not key.verify(MSG, b"\x30\x06\x02\x01\x01\x02\x01\x01")
    pid = key.peer_id()
    assert pid.multihash == b"\x12\x20" + hashlib.sha256(key.to_protobuf()).digest()
    assert str(pid).startswith("Qm")


def test_rsa_key_verify_and_hashed_peer_id() -> None:
    priv = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = priv.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    key = PublicKey(KeyType.RSA, der)
    # RSA = 0 must still be written (proto2), or peer ids would differ from go/js
    assert key.to_protobuf().startswith(b"\x08\x00\x12")
    sig = priv.sign(MSG, padding.PKCS1v15(), hashes.SHA256())
    assert key.verify(MSG, sig)
    assert not key.verify(MSG + b"?", sig)
    assert str(key.peer_id()).startswith("Qm")


def test_weak_rsa_and_mismatched_keys_are_refused() -> None:
    priv = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    der = priv.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(InvalidKeyError, match="1024 bits"):
        PublicKey(KeyType.RSA, der)
    ec_der = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(InvalidKeyError, match="another algorithm"):
        PublicKey(KeyType.RSA, ec_der)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\xff\xff\xff",
        b"\x08\x01",  # Data missing (required)
        b"\x08\x07\x12\x20" + bytes(32),  # unknown key type
        b"\x08\x01\x12\x10" + bytes(16),  # Ed25519 of 16 bytes
        b"\x08\x02\x12\x21" + b"\x05" + bytes(32),  # not a curve point
        b"\x08\x03\x12\x04abcd",  # not DER
    ],
)
def test_bad_public_key_protobufs_raise_invalid_key(raw: bytes) -> None:
    with pytest.raises(InvalidKeyError):
        PublicKey.from_protobuf(raw)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "12D3KooW0OIl",  # not base58 (0, O, I, l)
        "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5",  # truncated
        "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",  # raw CID, not libp2p-key
        "zzzz",
        "1" * 600,
    ],
)
def test_bad_peer_id_text_raises(text: str) -> None:
    with pytest.raises(InvalidPeerIdError):
        PeerId.from_string(text)


@pytest.mark.parametrize(
    "raw",
    [b"", b"\x12\x10" + bytes(16), b"\x13\x20" + bytes(32), b"\x00\x50" + bytes(80), b"\x12"],
)
def test_bad_peer_id_bytes_raise(raw: bytes) -> None:
    with pytest.raises(InvalidPeerIdError):
        PeerId.from_bytes(raw)


def test_identity_persists_with_mode_0600(tmp_path) -> None:
    repo = tmp_path / "repo"
    first = load_or_create_identity(repo)
    path = repo / IDENTITY_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    second = load_or_create_identity(repo)
    assert second.peer_id == first.peer_id
    assert [p.name for p in repo.iterdir()] == [IDENTITY_FILE]  # no temp file left behind


def test_corrupt_identity_file_is_an_error_and_not_overwritten(tmp_path) -> None:
    path = tmp_path / IDENTITY_FILE
    path.write_bytes(b"garbage")
    with pytest.raises(InvalidKeyError, match="delete it"):
        load_or_create_identity(tmp_path)
    assert path.read_bytes() == b"garbage"
