"""CID helpers with the names and call shapes of py-libp2p 0.8.1's ``libp2p.bitswap.cid``
(multiformats CID spec; ipfs/specs bitswap-protocol 1.1.0 "payload": the block prefix).

CID objects are py-cid's ``CIDv0``/``CIDv1`` and codecs are py-multicodec ``Code`` objects, as in
py-libp2p, so values pass between the two libraries unchanged. Hashing and prefix parsing are
fastswap's own (:mod:`fastswap.cid`); py-cid only wraps the resulting bytes.

Differences from py-libp2p (the spec's behaviour; see the package docstring):

* :func:`get_cid_prefix` gives a CIDv0 its real prefix ``00 70 12 20`` (py-libp2p returns ``b""``,
  and sends CIDv0 blocks with an empty prefix, which the spec does not allow);
* :func:`reconstruct_cid_from_prefix_and_data` still reads an empty prefix as CIDv0, so blocks
  from py-libp2p peers are understood.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import TypeAlias

from cid import CIDv0, CIDv1, from_string, make_cid
from multicodec import Code, is_codec
from multicodec.code_table import DAG_CBOR, DAG_JOSE, DAG_JSON, DAG_PB, IPLD, RAW, SHA2_256

from ... import cid as _cid
from ...errors import CIDError, FastswapError

__all__ = [
    "CID_V0",
    "CID_V1",
    "CODEC_DAG_CBOR",
    "CODEC_DAG_JOSE",
    "CODEC_DAG_JSON",
    "CODEC_DAG_PB",
    "CODEC_IPLD",
    "CODEC_RAW",
    "HASH_SHA256",
    "CIDInput",
    "CIDObject",
    "cid_to_bytes",
    "cid_to_text",
    "compute_cid",
    "compute_cid_obj",
    "compute_cid_v0",
    "compute_cid_v0_obj",
    "compute_cid_v1",
    "compute_cid_v1_obj",
    "format_cid_for_display",
    "get_cid_prefix",
    "parse_cid",
    "parse_cid_codec",
    "reconstruct_cid_from_prefix_and_data",
    "verify_cid",
]

log = logging.getLogger("fastswap.compat.libp2p")

CID_V0 = 0
CID_V1 = 1

CODEC_DAG_PB: Code = DAG_PB
CODEC_RAW: Code = RAW
CODEC_DAG_JSON: Code = DAG_JSON
CODEC_DAG_CBOR: Code = DAG_CBOR
CODEC_IPLD: Code = IPLD
CODEC_DAG_JOSE: Code = DAG_JOSE
HASH_SHA256: Code = SHA2_256

CIDInput: TypeAlias = bytes | str | CIDv0 | CIDv1
CIDObject: TypeAlias = CIDv0 | CIDv1

_IPFS_PATH = "/ipfs/"


def _normalise_codec(codec: Code | str | int) -> Code:
    """A registered multicodec ``Code`` for a Code, a codec name or a code; ValueError else."""
    if isinstance(codec, Code):
        return codec
    if isinstance(codec, str):
        if not is_codec(codec):
            raise ValueError(f"Unknown codec: {codec!r} (not a multicodec name)")
        return Code.from_string(codec)
    code = Code(codec)
    if code.name in ("<unknown>", "", None):
        raise ValueError(f"Unknown codec code: 0x{codec:x}")
    return code


def parse_cid(value: CIDInput) -> CIDObject:
    """A py-cid object from CID bytes, CID text, an ``/ipfs/<cid>`` path, hex text or a CID
    object. TypeError for other types, ValueError for malformed input."""
    if isinstance(value, (CIDv0, CIDv1)):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        try:
            version = _cid.decode_cid(raw)[0]
        except CIDError as exc:
            raise ValueError(f"not a CID: {raw[:40].hex()} ({exc})") from None
        # py-cid's make_cid reads bytes as CIDv1 only: a CIDv0 is the bare multihash
        return CIDv0(raw) if version == 0 else make_cid(raw)
    if isinstance(value, str):
        text = value.strip()
        if text.startswith(_IPFS_PATH):
            text = text[len(_IPFS_PATH):].split("/", 1)[0]
        if not text:
            raise ValueError("CID string is empty")
        try:
            return from_string(text)
        except (ValueError, KeyError, TypeError):
            pass
        hexed = text[2:] if text.lower().startswith("0x") else text
        try:
            return parse_cid(bytes.fromhex(hexed))
        except ValueError:
            raise ValueError(f"Invalid CID string: {value!r}") from None
    raise TypeError(f"Unsupported CID input type: {type(value).__name__}")


def cid_to_bytes(value: CIDInput) -> bytes:
    """The binary CID of any accepted input."""
    if type(value) is bytes and _cid.is_valid_cid(value):
        return value  # the hot path: already binary
    if type(value) is str:
        raw = _base32_cid(value)
        if raw is not None:
            return raw
    return bytes(parse_cid(value).buffer)


def _base32_cid(text: str) -> bytes | None:
    """The CIDv1 that multibase base32 text (``b...``, Kubo's and py-libp2p's text form) names,
    or None for anything else (then :func:`parse_cid` decides). The C base32 decoder of the
    standard library: py-cid's pure-Python multibase took 65 us a CID, most of a 2,000-block
    ``get_blocks_batch`` of text CIDs' own time (benchmarks/test_bench_pylibp2p_bitswap.py)."""
    if len(text) < 2 or text[0] != "b" or not text[1:].islower():
        return None
    body = text[1:].upper()
    try:
        raw = base64.b32decode(body + "=" * (-len(body) % 8))
        _cid.decode_cid(raw)
    except (binascii.Error, ValueError):
        return None
    return raw


def cid_to_text(value: CIDInput) -> str:
    """base32 text for CIDv1 (Kubo's default), base58btc for CIDv0."""
    return _cid.to_str(cid_to_bytes(value))


def format_cid_for_display(cid: CIDInput, max_len: int | None = None) -> str:
    """CID text for messages (hex or ``str()`` for what is not a CID), cut to *max_len*."""
    try:
        text = cid_to_text(cid)
    except (TypeError, ValueError):
        text = cid.hex() if isinstance(cid, bytes) else str(cid)
    if max_len is not None and len(text) > max_len:
        return f"{text[:max_len]}..."
    return text


def compute_cid_v0(data: bytes) -> bytes:
    """CIDv0 bytes (the bare sha2-256 multihash) of *data*."""
    return _cid.compute_cid(data, version=0, codec=_cid.DAG_PB)


def compute_cid_v0_obj(data: bytes) -> CIDv0:
    return CIDv0(compute_cid_v0(data))


def compute_cid_v1(data: bytes, codec: Code | str | int = CODEC_RAW) -> bytes:
    """CIDv1 bytes (sha2-256) of *data* under *codec* (a Code, a name or a code)."""
    return _cid.compute_cid(data, version=1, codec=int(_normalise_codec(codec)))


def compute_cid_v1_obj(data: bytes, codec: Code | str | int = CODEC_RAW) -> CIDv1:
    return make_cid(compute_cid_v1(data, codec))


def compute_cid(data: bytes, version: int = CID_V0,
                codec: Code | str | int = CODEC_RAW) -> bytes:
    """CID bytes of *data*: CIDv0, or CIDv1 under *codec*."""
    return compute_cid_v0(data) if version == CID_V0 else compute_cid_v1(data, codec)


def compute_cid_obj(data: bytes, version: int = CID_V0,
                    codec: Code | str | int = CODEC_RAW) -> CIDObject:
    return parse_cid(compute_cid(data, version, codec))


def get_cid_prefix(cid: CIDInput) -> bytes:
    """The Bitswap block prefix (version, codec, hash type, digest length); ``b""`` for input
    that is not a CID. A CIDv0's prefix is ``00 70 12 20`` (py-libp2p: empty)."""
    try:
        return _cid.cid_prefix(cid_to_bytes(cid))
    except (TypeError, ValueError):
        return b""


def reconstruct_cid_from_prefix_and_data(prefix: bytes, data: bytes) -> bytes:
    """The CID bytes of *data* under a block *prefix* (hashes *data*). An empty prefix means
    CIDv0, as py-libp2p peers send it; ValueError for a malformed prefix."""
    if not prefix:
        return compute_cid_v0(data)
    try:
        return _cid.cid_from_prefix(prefix, data)
    except CIDError as exc:
        raise ValueError(str(exc)) from None


def verify_cid(cid: CIDInput, data: bytes) -> bool:
    """True if *data* hashes to *cid*; False for a mismatch or input that is not a CID."""
    try:
        _cid.verify_block(cid_to_bytes(cid), data)
    except (TypeError, ValueError, FastswapError):
        return False
    return True


def parse_cid_codec(cid: bytes) -> str:
    """The codec name of *cid* (``dag-pb`` for CIDv0 and for input that is not a CID)."""
    try:
        return str(parse_cid(cid).codec)
    except (TypeError, ValueError):
        return str(DAG_PB.name)
