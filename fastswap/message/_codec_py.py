"""The Bitswap wire codec, pure-Python twin of ``_codec_c.pyx`` (same API, same answers).

Spec: ipfs/specs bitswap-protocol, "Wire Format" (1.0.0, 1.1.0, 1.2.0): a protobuf ``Message``
(``proto/bitswap.proto``) behind an unsigned-varint length prefix; protobuf encoding rules for
the bytes (field order by number, proto3 defaults omitted, unknown fields skipped).

Decoding rules both twins follow (the fuzz tests hold them to it):

* varints as upb reads them: up to 10 bytes, bits past 64 dropped; longer is malformed;
* a value, length or varint that runs past the end of its enclosing message: truncated;
* wire types 6 and 7, an unmatched end-group, field number 0: malformed;
* a known field with the wrong wire type: malformed (the schema has no repeated scalars, so no
  packed/unpacked ambiguity; boxo refuses these too rather than guess);
* unknown fields of any valid wire type, groups included, are skipped (newer peers interoperate);
* a repeated non-repeated field: last one wins, and a repeated ``wantlist`` merges, as protobuf;
* int32 fields take the low 32 bits of the varint, bools are "non-zero", as protobuf.

Limits (``fastswap._defaults``) are checked on both decode and encode, each with its own error.
"""

from __future__ import annotations

from typing import Any

from .._defaults import MAX_BLOCK_SIZE, MAX_CID_SIZE, MAX_MESSAGE_SIZE
from ..errors import (
    BlockTooLargeError,
    CIDTooLongError,
    MalformedMessageError,
    MessageTooLargeError,
    TruncatedMessageError,
)
from .model import ZEROCOPY_MIN, BlockPresence, Entry, Message

__all__ = [
    "BlockPresence",
    "Entry",
    "FrameDecoder",
    "decode_message",
    "encode_message",
    "encode_message_parts",
    "frame_length_prefix",
    "release_freelists",
]

_MAX_GROUP_DEPTH = 32  # as FS_MAX_GROUP_DEPTH in csrc/varint.h
_U64 = (1 << 64) - 1

# error codes, as csrc/varint.h
_OK, _TRUNCATED, _OVERLONG, _BAD_WIRETYPE, _BAD_GROUP, _BAD_TAG = range(6)


class _WireError(Exception):
    """Internal: carries an FS_* code up to the place that names the exception."""

    def __init__(self, code: int) -> None:
        self.code = code


def _raise(code: int, where: str) -> None:
    if code == _TRUNCATED:
        raise TruncatedMessageError(
            f"Bitswap message truncated: {where} runs past the end of its message (the stream "
            "was cut short or a length is wrong); close the stream"
        )
    if code == _OVERLONG:
        raise MalformedMessageError(
            f"malformed Bitswap message: a varint in {where} is longer than 10 bytes; "
            "close the stream"
        )
    if code == _BAD_WIRETYPE:
        raise MalformedMessageError(
            f"malformed Bitswap message: invalid wire type (6 or 7) in {where}; close the stream"
        )
    if code == _BAD_GROUP:
        raise MalformedMessageError(
            f"malformed Bitswap message: unmatched or too deeply nested group in {where}; "
            "close the stream"
        )
    raise MalformedMessageError(
        f"malformed Bitswap message: invalid field tag (field number 0 or over 32 bits) in "
        f"{where}; close the stream"
    )


def _wrong_type(field: str, wt: int) -> None:
    raise MalformedMessageError(
        f"malformed Bitswap message: field {field} has wire type {wt}, which its type does not "
        "allow (not a Bitswap message, or a corrupted one); close the stream"
    )


def _varint(buf: Any, pos: int, end: int) -> tuple[int, int]:
    value = 0
    shift = 0
    for _ in range(10):
        if pos >= end:
            raise _WireError(_TRUNCATED)
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value & _U64, pos
        shift += 7
    raise _WireError(_OVERLONG)


def _tag(buf: Any, pos: int, end: int) -> tuple[int, int]:
    b = buf[pos]  # caller checked pos < end
    if b < 0x80:
        tag, pos = b, pos + 1
    else:
        tag, pos = _varint(buf, pos, end)
    if tag > 0xFFFFFFFF or tag >> 3 == 0:
        raise _WireError(_BAD_TAG)
    return tag, pos


def _length(buf: Any, pos: int, end: int) -> tuple[int, int]:
    if pos < end and buf[pos] < 0x80:
        n, pos = buf[pos], pos + 1
    else:
        n, pos = _varint(buf, pos, end)
    if n > end - pos:
        raise _WireError(_TRUNCATED)
    return n, pos


def _skip(buf: Any, pos: int, end: int, tag: int, depth: int) -> int:
    wt = tag & 7
    if wt == 0:
        return _varint(buf, pos, end)[1]
    if wt == 1:
        if end - pos < 8:
            raise _WireError(_TRUNCATED)
        return pos + 8
    if wt == 2:
        n, pos = _length(buf, pos, end)
        return pos + n
    if wt == 3:
        if depth >= _MAX_GROUP_DEPTH:
            raise _WireError(_BAD_GROUP)
        while True:
            if pos >= end:
                raise _WireError(_TRUNCATED)
            inner, pos = _tag(buf, pos, end)
            if inner & 7 == 4:
                if inner >> 3 != tag >> 3:
                    raise _WireError(_BAD_GROUP)
                return pos
            pos = _skip(buf, pos, end, inner, depth + 1)
    if wt == 4:
        raise _WireError(_BAD_GROUP)
    if wt == 5:
        if end - pos < 4:
            raise _WireError(_TRUNCATED)
        return pos + 4
    raise _WireError(_BAD_WIRETYPE)


def _int32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - 0x100000000 if v >= 0x80000000 else v


def _cid_too_long(where: str, n: int, limit: int) -> None:
    raise CIDTooLongError(
        f"{where} of {n} bytes is over the {limit}-byte CID limit (MAX_CID_SIZE); "
        "the peer is misbehaving: close the stream"
    )


def _block_too_large(n: int, limit: int) -> None:
    raise BlockTooLargeError(
        f"block of {n} bytes is over the {limit}-byte block limit (MAX_BLOCK_SIZE); "
        "the peer is misbehaving: close the stream"
    )


def _cid_field(buf: Any, pos: int, end: int, wt: int, what: str, max_cid: int
               ) -> tuple[bytes, int]:
    """A length-delimited CID field (entry CID, presence CID): bytes copy and new position."""
    if wt != 2:
        _wrong_type(what, wt)
    n, pos = _length(buf, pos, end)
    if n > max_cid:
        _cid_too_long(_CID_LIMIT_NAMES[what], n, max_cid)
    return bytes(buf[pos:pos + n]), pos + n


_CID_LIMIT_NAMES = {
    "Wantlist.Entry.block": "wantlist entry CID",
    "BlockPresence.cid": "block presence CID",
}


def _decode_entry(buf: Any, pos: int, end: int, max_cid: int) -> Entry:
    cid = b""
    priority = 0
    cancel = False
    want_type = 0
    sdh = False
    while pos < end:
        tag, pos = _tag(buf, pos, end)
        field = tag >> 3
        wt = tag & 7
        if field == 1:
            cid, pos = _cid_field(buf, pos, end, wt, "Wantlist.Entry.block", max_cid)
        elif 2 <= field <= 5:
            if wt != 0:
                _wrong_type(("Wantlist.Entry.priority", "Wantlist.Entry.cancel",
                             "Wantlist.Entry.wantType", "Wantlist.Entry.sendDontHave")[field - 2],
                            wt)
            v, pos = _varint(buf, pos, end)
            if field == 2:
                priority = _int32(v)
            elif field == 3:
                cancel = v != 0
            elif field == 4:
                want_type = _int32(v)
            else:
                sdh = v != 0
        else:
            pos = _skip(buf, pos, end, tag, 0)
    return Entry(cid, priority, cancel, want_type, sdh)


def _decode_wantlist(buf: Any, pos: int, end: int, entries: list, full: bool,
                     max_cid: int) -> bool:
    while pos < end:
        tag, pos = _tag(buf, pos, end)
        field = tag >> 3
        wt = tag & 7
        if field == 1:
            if wt != 2:
                _wrong_type("Wantlist.entries", wt)
            n, pos = _length(buf, pos, end)
            entries.append(_decode_entry(buf, pos, pos + n, max_cid))
            pos += n
        elif field == 2:
            if wt != 0:
                _wrong_type("Wantlist.full", wt)
            v, pos = _varint(buf, pos, end)
            full = v != 0
        else:
            pos = _skip(buf, pos, end, tag, 0)
    return full


def _decode_payload(buf: Any, mv: memoryview, pos: int, end: int, max_block: int,
                    max_cid: int) -> tuple:
    prefix = b""
    data = mv[0:0]
    while pos < end:
        tag, pos = _tag(buf, pos, end)
        field = tag >> 3
        wt = tag & 7
        if field == 1 or field == 2:
            if wt != 2:
                _wrong_type("Block.prefix" if field == 1 else "Block.data", wt)
            n, pos = _length(buf, pos, end)
            if field == 1:
                if n > max_cid:
                    _cid_too_long("block prefix", n, max_cid)
                prefix = bytes(buf[pos:pos + n])
            else:
                if n > max_block:
                    _block_too_large(n, max_block)
                data = mv[pos:pos + n]
            pos += n
        else:
            pos = _skip(buf, pos, end, tag, 0)
    return (prefix, data)


def _decode_presence(buf: Any, pos: int, end: int, max_cid: int) -> BlockPresence:
    cid = b""
    kind = 0
    while pos < end:
        tag, pos = _tag(buf, pos, end)
        field = tag >> 3
        wt = tag & 7
        if field == 1:
            cid, pos = _cid_field(buf, pos, end, wt, "BlockPresence.cid", max_cid)
        elif field == 2:
            if wt != 0:
                _wrong_type("BlockPresence.type", wt)
            v, pos = _varint(buf, pos, end)
            kind = _int32(v)
        else:
            pos = _skip(buf, pos, end, tag, 0)
    return BlockPresence(cid, kind)


def _as_view(buf: Any) -> memoryview:
    mv = buf if isinstance(buf, memoryview) else memoryview(buf)
    if mv.ndim != 1 or mv.format != "B":
        mv = mv.cast("B")  # bytes of any C-contiguous buffer; TypeError for a strided one
    return mv


def release_freelists() -> int:
    """The compiled twin's: free the objects its decoder keeps for reuse. This twin keeps
    none: 0."""
    return 0


def decode_message(
    buf: Any,
    *,
    max_message_size: int = MAX_MESSAGE_SIZE,
    max_block_size: int = MAX_BLOCK_SIZE,
    max_cid_size: int = MAX_CID_SIZE,
) -> Message:
    """Decode one Bitswap message (without its length prefix) from a bytes-like *buf*.

    Block data in the result are zero-copy ``memoryview`` slices of *buf*: keep *buf* unchanged
    while they are in use. Raises a MessageError subclass for anything it cannot accept.
    """
    mv = _as_view(buf)
    end = len(mv)
    if end > max_message_size:
        raise MessageTooLargeError(
            f"Bitswap message of {end} bytes is over the {max_message_size}-byte limit "
            "(MAX_MESSAGE_SIZE); close the stream"
        )
    # bytes index fastest; a memoryview of format B gives the same ints
    data = buf if type(buf) is bytes else mv
    entries: list = []
    full = False
    blocks: list = []
    presences: list = []
    pending = 0
    pos = 0
    where = "the message"
    try:
        while pos < end:
            tag, pos = _tag(data, pos, end)
            field = tag >> 3
            wt = tag & 7
            if field == 1:
                where = "the wantlist"
                if wt != 2:
                    _wrong_type("Message.wantlist", wt)
                n, pos = _length(data, pos, end)
                full = _decode_wantlist(data, pos, pos + n, entries, full, max_cid_size)
                pos += n
            elif field == 2:
                where = "a block"
                if wt != 2:
                    _wrong_type("Message.blocks", wt)
                n, pos = _length(data, pos, end)
                if n > max_block_size:
                    _block_too_large(n, max_block_size)
                blocks.append((None, mv[pos:pos + n]))
                pos += n
            elif field == 3:
                where = "a block payload"
                if wt != 2:
                    _wrong_type("Message.payload", wt)
                n, pos = _length(data, pos, end)
                blocks.append(_decode_payload(data, mv, pos, pos + n, max_block_size,
                                              max_cid_size))
                pos += n
            elif field == 4:
                where = "a block presence"
                if wt != 2:
                    _wrong_type("Message.blockPresences", wt)
                n, pos = _length(data, pos, end)
                presences.append(_decode_presence(data, pos, pos + n, max_cid_size))
                pos += n
            elif field == 5:
                where = "pendingBytes"
                if wt != 0:
                    _wrong_type("Message.pendingBytes", wt)
                v, pos = _varint(data, pos, end)
                pending = _int32(v)
            else:
                where = f"unknown field {field}"
                pos = _skip(data, pos, end, tag, 0)
            where = "the message"
    except _WireError as exc:
        _raise(exc.code, where)
    msg = Message.__new__(Message)
    msg.entries = entries
    msg.full = full
    msg.blocks = blocks
    msg.presences = presences
    msg.pending_bytes = pending
    return msg


# -- encoding ------------------------------------------------------------------------------------


def _varint_bytes(v: int) -> bytes:
    v &= _U64
    if v < 0x80:
        return bytes((v,))
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def _check_int32(name: str, v: Any) -> int:
    if not isinstance(v, int):
        raise TypeError(f"{name} must be an int, not {type(v).__name__}")
    if not -0x80000000 <= v <= 0x7FFFFFFF:
        raise MalformedMessageError(
            f"{name} {v} does not fit protobuf int32 (-2**31 .. 2**31-1); pass a smaller value"
        )
    return v


def _check_cid(where: str, cid: Any, limit: int) -> bytes:
    cid = bytes(memoryview(cid))  # TypeError unless bytes-like
    if len(cid) > limit:
        raise CIDTooLongError(
            f"{where} of {len(cid)} bytes is over the {limit}-byte CID limit (MAX_CID_SIZE); "
            "peers would refuse it"
        )
    return cid


def _ld(field_tag: int, payload_len: int) -> bytes:
    return bytes((field_tag,)) + _varint_bytes(payload_len)


def _build(msg: Message, max_message_size: int, max_block_size: int, max_cid_size: int,
           zero_copy: bool) -> list:
    """Encode *msg* as a list of segments; with zero_copy, big block data stay separate."""
    segments: list = []
    cur = bytearray()

    wl = bytearray()
    for e in msg.entries:
        cid = _check_cid("wantlist entry CID", e.cid, max_cid_size)
        body = bytearray()
        if cid:
            body += _ld(0x0A, len(cid)) + cid
        prio = _check_int32("priority", e.priority)
        if prio:
            body += b"\x10" + _varint_bytes(prio)
        if e.cancel:
            body += b"\x18\x01"
        wt = _check_int32("want_type", e.want_type)
        if wt:
            body += b"\x20" + _varint_bytes(wt)
        if e.send_dont_have:
            body += b"\x28\x01"
        wl += _ld(0x0A, len(body)) + body
    if msg.full:
        wl += b"\x10\x01"
    if wl:
        cur += _ld(0x0A, len(wl)) + wl

    def add_data(data: Any) -> None:
        nonlocal cur
        if zero_copy and len(data) >= ZEROCOPY_MIN:
            if cur:
                segments.append(bytes(cur))
                cur = bytearray()
            segments.append(data)
        else:
            cur += data

    def check_block(data: Any) -> memoryview:
        view = _as_view(data)
        if len(view) > max_block_size:
            raise BlockTooLargeError(
                f"block of {len(view)} bytes is over the {max_block_size}-byte block limit "
                "(MAX_BLOCK_SIZE); peers would refuse it: chunk the data smaller"
            )
        return view

    for prefix, data in msg.blocks:
        if prefix is None:
            view = check_block(data)
            cur += _ld(0x12, len(view))
            add_data(data if type(data) is bytes else view)
    for prefix, data in msg.blocks:
        if prefix is not None:
            prefix = _check_cid("block prefix", prefix, max_cid_size)
            view = check_block(data)
            head = _ld(0x0A, len(prefix)) + prefix if prefix else b""
            dhead = _ld(0x12, len(view)) if len(view) else b""
            cur += _ld(0x1A, len(head) + len(dhead) + len(view)) + head + dhead
            if len(view):
                add_data(data if type(data) is bytes else view)
    for p in msg.presences:
        cid = _check_cid("block presence CID", p.cid, max_cid_size)
        kind = _check_int32("presence type", p.type)
        body = (_ld(0x0A, len(cid)) + cid if cid else b"") + (
            b"\x10" + _varint_bytes(kind) if kind else b"")
        cur += _ld(0x22, len(body)) + body
    pending = _check_int32("pending_bytes", msg.pending_bytes)
    if pending:
        cur += b"\x28" + _varint_bytes(pending)
    if cur:
        segments.append(bytes(cur))
    total = sum(map(len, segments))
    if total > max_message_size:
        raise MessageTooLargeError(
            f"message of {total} bytes would be over the {max_message_size}-byte limit "
            "(MAX_MESSAGE_SIZE); peers would refuse it: split it into several messages"
        )
    return segments


def encode_message(
    msg: Message,
    *,
    max_message_size: int = MAX_MESSAGE_SIZE,
    max_block_size: int = MAX_BLOCK_SIZE,
    max_cid_size: int = MAX_CID_SIZE,
) -> bytes:
    """Encode *msg* (without length prefix); byte-identical to protobuf's SerializeToString."""
    # big data stay out of the working buffer, so the join below is their only copy
    parts = _build(msg, max_message_size, max_block_size, max_cid_size, True)
    if len(parts) == 1 and type(parts[0]) is bytes:
        return parts[0]
    return b"".join(parts)


def encode_message_parts(
    msg: Message,
    *,
    max_message_size: int = MAX_MESSAGE_SIZE,
    max_block_size: int = MAX_BLOCK_SIZE,
    max_cid_size: int = MAX_CID_SIZE,
) -> list:
    """Encode *msg* as a list of bytes/memoryview segments whose concatenation equals
    :func:`encode_message`; block data of ZEROCOPY_MIN bytes or more are passed through
    uncopied (keep them unchanged until the segments are written)."""
    return _build(msg, max_message_size, max_block_size, max_cid_size, True)


# -- framing ---------------------------------------------------------------------------------------


def frame_length_prefix(n: int, *, max_message_size: int = MAX_MESSAGE_SIZE) -> bytes:
    """The unsigned-varint length prefix for a message of *n* bytes."""
    if n < 0:
        raise ValueError(f"a message length cannot be negative ({n})")
    if n > max_message_size:
        raise MessageTooLargeError(
            f"message of {n} bytes is over the {max_message_size}-byte limit (MAX_MESSAGE_SIZE)"
            "; split it into several messages"
        )
    return _varint_bytes(n)


class FrameDecoder:
    """Splits a byte stream into length-prefixed Bitswap messages (sans-IO: feed bytes in).

    :meth:`feed` returns the payloads completed by the new bytes, each a ``memoryview`` the
    caller owns: a slice of the fed object when it is immutable ``bytes`` and holds the whole
    frame (zero copy), otherwise a view of a buffer the decoder has let go of. A declared length
    over the limit raises MessageTooLargeError as soon as the prefix says so, before any of it
    is buffered; buffers grow only as data arrives. Call :meth:`eof` at end of stream.

    A feeder of transient views (a muxed stream's receive buffer, overwritten by the next
    read) may let the decoder allocate a message's whole buffer when its prefix arrives, so
    the rest is copied straight into place (one copy; else each piece is copied, then joined):
    :attr:`reserve_room` is how large a buffer it may take (0: never, the default),
    :attr:`reserved` how large the one it holds is. The feeder bounds the sum; what
    :attr:`buffered` counts is still only what arrived.
    """

    __slots__ = ("_buf", "_filled", "_hdr", "_hdr_len", "_held", "_max", "_need", "_parts",
                 "_shift", "reserve_room")

    def __init__(self, *, max_message_size: int = MAX_MESSAGE_SIZE) -> None:
        self._max = max_message_size
        # The body being collected, as the pieces that arrived (views of immutable input,
        # copies of anything else), joined once, at its exact size, when complete: no buffer
        # is grown by reallocation, and nothing is held that has not arrived.
        self._parts: list = []
        self._held = 0
        self._need = -1  # body bytes still missing; -1 while reading a prefix
        self._hdr = 0  # prefix value so far
        self._hdr_len = 0  # prefix bytes so far
        self._shift = 0
        #: bytes of a message buffer the decoder may allocate before they arrive (see above)
        self.reserve_room = 0
        # the message's whole buffer, when one was reserved, and how much of it arrived
        self._buf: bytearray | None = None
        self._filled = 0

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete frame held (prefix bytes included)."""
        return self._hdr_len + self._held + self._filled

    @property
    def reserved(self) -> int:
        """Size of the message buffer allocated ahead of its bytes (0 if none)."""
        return 0 if self._buf is None else len(self._buf)

    def feed(self, data: Any) -> list[memoryview]:
        mv = _as_view(data)
        immutable = type(data) is bytes
        out: list[memoryview] = []
        pos = 0
        end = len(mv)
        while pos < end:
            if self._need < 0:
                # read the length prefix, one byte at a time across feeds
                b = mv[pos]
                pos += 1
                self._hdr |= (b & 0x7F) << self._shift
                self._hdr_len += 1
                self._shift += 7
                if self._hdr > self._max:
                    # the value only grows with more bytes: refuse now, buffer nothing
                    raise MessageTooLargeError(
                        f"peer announced a Bitswap message of at least {self._hdr} bytes, over "
                        f"the {self._max}-byte limit (MAX_MESSAGE_SIZE); close the stream"
                    )
                if b >= 0x80:
                    if self._hdr_len >= 10:
                        raise MalformedMessageError(
                            "message length prefix is a varint over 10 bytes; close the stream"
                        )
                    continue
                n = self._hdr
                self._hdr = self._hdr_len = self._shift = 0
                if immutable and end - pos >= n:
                    out.append(mv[pos:pos + n])
                    pos += n
                    continue
                if n == 0:
                    out.append(memoryview(b""))
                    continue
                self._need = n
                if not immutable and n <= self.reserve_room:
                    self._buf = bytearray(n)
                continue
            take = min(self._need, end - pos)
            piece = mv[pos:pos + take]
            buf = self._buf
            if buf is not None:
                filled = self._filled
                buf[filled:filled + take] = piece
                pos += take
                self._need -= take
                if self._need:
                    self._filled = filled + take
                else:
                    self._buf = None
                    self._filled = 0
                    self._need = -1
                    # nobody else holds the buffer: the payload cannot change under its users
                    out.append(memoryview(buf).toreadonly())
                continue
            self._parts.append(piece if immutable else bytes(piece))
            self._held += take
            pos += take
            self._need -= take
            if self._need == 0:
                parts = self._parts
                out.append(memoryview(b"".join(parts)) if len(parts) > 1 else memoryview(parts[0]))
                self._parts = []
                self._held = 0
                self._need = -1
        return out

    def eof(self) -> None:
        """End of stream: raise TruncatedMessageError if a frame was left incomplete."""
        if self._need > 0 or self._hdr_len:
            missing = f"{self._need} more bytes" if self._need > 0 else "the rest of its length"
            raise TruncatedMessageError(
                f"stream ended inside a Bitswap message frame (waiting for {missing}); the "
                "peer closed early or the connection broke"
            )
