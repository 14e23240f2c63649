"""Shared test helpers: hypothesis strategies for Bitswap messages and the protobuf oracle.

The generated ``fastswap._proto.bitswap_pb2`` (upb) is the reference: these helpers convert
between it and :mod:`fastswap.message.model` without going through either codec twin.
"""

from __future__ import annotations

from hypothesis import strategies as st

from fastswap._proto import bitswap_pb2 as pb
from fastswap.message.model import BlockPresence, Entry, Message

C = "fastswap.message._codec_c"
PY = "fastswap.message._codec_py"

INT32 = st.integers(-(2**31), 2**31 - 1)
SMALLISH_INT32 = st.one_of(st.integers(0, 300), INT32)
CIDS = st.one_of(
    # realistic CIDv1 (raw, sha2-256) and CIDv0, and arbitrary bytes up to the limit
    st.binary(min_size=32, max_size=32).map(lambda d: b"\x01\x55\x12\x20" + d),
    st.binary(min_size=32, max_size=32).map(lambda d: b"\x12\x20" + d),
    st.binary(max_size=168),
)
ENTRIES = st.builds(
    Entry,
    CIDS,
    SMALLISH_INT32,
    st.booleans(),
    st.one_of(st.sampled_from([0, 1]), INT32),
    st.booleans(),
)
PRESENCES = st.builds(BlockPresence, CIDS, st.one_of(st.sampled_from([0, 1]), INT32))
BLOCKS = st.tuples(
    st.one_of(st.none(), st.just(b"\x01\x55\x12\x20"), st.binary(max_size=168)),
    st.one_of(st.binary(max_size=64), st.binary(min_size=1000, max_size=3000)),
)
MESSAGES = st.builds(
    Message,
    st.lists(ENTRIES, max_size=8),
    st.booleans(),
    st.lists(BLOCKS, max_size=4),
    st.lists(PRESENCES, max_size=4),
    st.one_of(st.just(0), INT32),
)


def to_pb(msg: Message) -> pb.Message:
    out = pb.Message()
    if msg.entries or msg.full:
        out.wantlist.full = bool(msg.full)
        for e in msg.entries:
            out.wantlist.entries.add(
                block=bytes(e.cid), priority=e.priority, cancel=bool(e.cancel),
                wantType=e.want_type, sendDontHave=bool(e.send_dont_have),
            )
    for prefix, data in msg.blocks:
        if prefix is None:
            out.blocks.append(bytes(data))
        else:
            out.payload.add(prefix=bytes(prefix), data=bytes(data))
    for p in msg.presences:
        out.blockPresences.add(cid=bytes(p.cid), type=p.type)
    out.pendingBytes = msg.pending_bytes
    return out


def from_pb(m: pb.Message) -> Message:
    return Message(
        [Entry(e.block, e.priority, e.cancel, e.wantType, e.sendDontHave)
         for e in m.wantlist.entries],
        m.wantlist.full,
        [(None, b) for b in m.blocks] + [(p.prefix, p.data) for p in m.payload],
        [BlockPresence(p.cid, p.type) for p in m.blockPresences],
        m.pendingBytes,
    )


def pb_parse(data: bytes) -> pb.Message:
    m = pb.Message()
    m.ParseFromString(bytes(data))
    return m


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)
