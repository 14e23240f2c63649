"""Unsigned varints (multiformats ``unsigned-varint``: LEB128, at most 9 bytes / 63 bits,
minimally encoded), the one implementation every pure-Python parser shares: CIDs and
multihashes, multistream-select and identify length prefixes, CAR sections, dag-pb fields.

Errors are :class:`VarintError`; :class:`TruncatedVarintError` (a subclass) means the input
ended inside the varint, which a stream parser reads as "wait for more bytes" rather than as a
malformed peer. The compiled Bitswap codec and the muxers keep their own inline varint loops
(hot paths; ``csrc/varint.h``), tested against this module.
"""

from __future__ import annotations

from .errors import TruncatedVarintError, VarintError

__all__ = ["MAX_VARINT_LEN", "TruncatedVarintError", "VarintError", "decode", "encode"]

#: the multiformats limit: 63 bits of value in at most 9 bytes
MAX_VARINT_LEN = 9


def encode(n: int) -> bytes:
    """*n* (0 <= n < 2**63) as an unsigned varint."""
    if n < 0:
        raise VarintError(f"a varint cannot hold a negative number ({n})")
    if n < 0x80:
        return bytes((n,))
    if n >> 63:
        raise VarintError(f"{n} does not fit a 63-bit varint")
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def decode(buf: bytes | bytearray | memoryview, pos: int = 0) -> tuple[int, int]:
    """The varint at *pos* of *buf*: ``(value, position after it)``.

    Raises TruncatedVarintError if *buf* ends inside it, VarintError if it is longer than 9
    bytes or not minimally encoded."""
    value = 0
    shift = 0
    end = len(buf)
    start = pos
    while True:
        if pos >= end:
            raise TruncatedVarintError("truncated varint")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            if b == 0 and pos - start > 1:
                raise VarintError("varint is not minimally encoded")
            return value, pos
        shift += 7
        if shift >= 7 * MAX_VARINT_LEN:
            raise VarintError(f"varint longer than {MAX_VARINT_LEN} bytes")
