"""CID text in and out (fastswap.cid.parse / to_str): the common forms are read and written
without multiformats (start-up time) and must agree with multiformats byte for byte; every other
form, and every error, goes through multiformats as before."""

from __future__ import annotations

import os

import pytest
from multiformats import CID as MfCID

from fastswap.cid import (
    BLAKE2B_256,
    DAG_CBOR,
    DAG_PB,
    LIBP2P_KEY,
    RAW,
    SHA2_256,
    SHA2_512,
    _parse_common,
    encode_cid,
    parse,
    to_str,
)
from fastswap.errors import CIDError

_CODECS = (RAW, DAG_PB, DAG_CBOR, LIBP2P_KEY, 0x0129)  # the last: dag-json, not "common"
_HASHES = ((SHA2_256, 32), (SHA2_512, 64), (BLAKE2B_256, 32), (0x00, 7), (SHA2_256, 20))


def _cids() -> list[bytes]:
    out = [b"\x12\x20" + os.urandom(32) for _ in range(20)]
    for codec in _CODECS:
        for mh, n in _HASHES:
            out += [encode_cid(1, codec, mh, os.urandom(n)) for _ in range(3)]
    return out


@pytest.mark.parametrize("raw", _cids(), ids=lambda r: r[:4].hex())
def test_text_agrees_with_multiformats(raw: bytes) -> None:
    ref = MfCID.decode(raw)
    text = ref.encode(None) if ref.version == 0 else ref.encode("base32")
    assert to_str(raw) == text
    assert parse(text) == raw
    for base in ("base58btc", "base36", "base16"):
        if ref.version == 1:
            assert parse(ref.encode(base)) == raw


def test_the_fast_path_takes_the_common_forms_only() -> None:
    common = encode_cid(1, RAW, SHA2_256, os.urandom(32))
    text = MfCID.decode(common).encode("base32")
    assert _parse_common(text) == common
    assert _parse_common("Qm" + MfCID.decode(b"\x12\x20" + bytes(32)).encode(None)[2:]) is not None
    # not common: left to multiformats, which decides and words the error
    assert _parse_common(MfCID.decode(common).encode("base58btc")) is None
    assert _parse_common(text.upper()) is None
    assert _parse_common("b" + text[1:].upper()) is None  # not how base32 CIDs are printed
    assert _parse_common(MfCID.decode(encode_cid(1, 0x0129, SHA2_256, bytes(32)))
                         .encode("base32")) is None
    assert _parse_common(MfCID.decode(encode_cid(1, RAW, SHA2_256, bytes(20)))
                         .encode("base32")) is None


@pytest.mark.parametrize("text", ["", "b", "bafy", "bafkreib", "Qm" + "1" * 44, "zzzz", "x"])
def test_bad_text_is_a_cid_error(text: str) -> None:
    with pytest.raises(CIDError):
        parse(text)


def test_base58btc_and_base32_agree_with_the_bases_package() -> None:
    from bases import base32, base58btc

    from fastswap._text import b32decode, b32encode, b58decode, b58encode

    b32 = base32.lower().nopad()
    for n in (0, 1, 2, 5, 31, 32, 34, 38, 100):
        for zeros in (0, 1, 3):
            data = b"\0" * zeros + os.urandom(n)
            assert b58encode(data) == base58btc.encode(data)
            assert b58decode(base58btc.encode(data)) == data
            assert b32encode(data) == b32.encode(data)
            assert b32decode(b32.encode(data)) == data
    for bad in ("0", "O", "I", "l", "+", "é"):
        with pytest.raises(ValueError):
            b58decode("1" + bad)
    for bad in ("A", "1", "a", "abc", "ab=", "B" * 8):
        with pytest.raises(ValueError):
            b32decode(bad)
