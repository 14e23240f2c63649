"""base58btc and lowercase unpadded base32: the text forms of peer ids and CIDs (multiformats
multibase ``z`` and ``b``; base58btc is the Bitcoin alphabet with leading zero bytes as ``1``;
base32 is RFC 4648's, lowercase, without padding).

Written here instead of taken from the ``bases`` package (multiformats' dependency, which the
fallback paths of :mod:`fastswap.cid` still use): importing ``bases`` costs ~9-17 ms (it
validates its arguments at run time with ``typing_validation``), and every ``fastswap get``
parses a peer id and a CID before it does anything else. base32 is the standard library's.
Decoders are strict: a character outside the alphabet, or text that is not the canonical
encoding of its bytes, is a ValueError.
"""

from __future__ import annotations

import base64
import binascii

__all__ = ["b32decode", "b32encode", "b58decode", "b58encode"]

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(_B58)}


def b58encode(data: bytes) -> str:
    zeros = len(data) - len(data.lstrip(b"\0"))
    n = int.from_bytes(data, "big")
    out = []
    while n:
        n, r = divmod(n, 58)
        out.append(_B58[r])
    return "1" * zeros + "".join(reversed(out))


def b58decode(text: str) -> bytes:
    n = 0
    for c in text:
        i = _B58_INDEX.get(c)
        if i is None:
            raise ValueError(f"{c!r} is not a base58btc character")
        n = n * 58 + i
    zeros = len(text) - len(text.lstrip("1"))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\0" * zeros + body


def b32encode(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=").lower()


def b32decode(text: str) -> bytes:
    if text != text.lower():
        raise ValueError("base32 text must be lowercase")
    try:
        data = base64.b32decode(text.upper() + "=" * (-len(text) % 8))
    except binascii.Error as exc:
        raise ValueError(f"not base32: {exc}") from None
    if b32encode(data) != text:  # stray bits in the last character, or a length no encoding has
        raise ValueError("not the canonical base32 encoding of any bytes")
    return data
