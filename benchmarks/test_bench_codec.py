"""Bitswap wire codec: compiled twin, pure twin and the protobuf (upb) oracle on the same inputs.

Measure with
    python -m pytest benchmarks/test_bench_codec.py --benchmark-enable --benchmark-only
``benchmarks/conftest.py`` then prints each group's medians as ratios to the protobuf entry.

Groups:
* ``decode-wantlist-1000``: a 1000-entry wantlist (CIDv1 raw sha2-256, 36-byte CIDs, mixed
  want types) decoded into entry objects, then every entry's cid, priority, want_type and
  send_dont_have read, as a server does; protobuf: ParseFromString plus the same reads. The
  ``compiled_decode_only`` entry is the compiled decode into entry objects without the read
  loop (the criterion's literal wording; both readings are reported). The
  ``floor_reads_only`` entries time the reads alone (entries decoded beforehand): the bound on
  what any decoder returning entry objects can reach with the read loop.
* ``encode-16x256KiB``: a message of 16 payload blocks of 256 KiB with prefixes;
  ``encode_message`` (one bytes) and ``encode_message_parts`` (zero-copy segments); protobuf:
  build the message, add the payloads, SerializeToString.
* ``decode-16x256KiB``: the same message decoded, every block's prefix and data length read.
"""

from __future__ import annotations

import hashlib
import random

import pytest

from fastswap._defaults import MAX_MESSAGE_SIZE
from fastswap._proto import bitswap_pb2 as pb
from fastswap.message.model import Message
from tests.conftest import import_twin, twin_params

C = "fastswap.message._codec_c"
PY = "fastswap.message._codec_py"


@pytest.fixture(params=twin_params(C, PY))
def codec(request):
    return import_twin(request.param)


def _wantlist_bytes() -> bytes:
    rng = random.Random(7)
    m = pb.Message()
    for i in range(1000):
        e = m.wantlist.entries.add()
        e.block = b"\x01\x55\x12\x20" + hashlib.sha256(i.to_bytes(4, "big")).digest()
        e.priority = 2**31 - 1 - i  # boxo counts priorities down from the top
        e.wantType = rng.choice((pb.Message.Wantlist.Block, pb.Message.Wantlist.Have))
        e.sendDontHave = rng.random() < 0.5
    return m.SerializeToString()


WANTLIST = _wantlist_bytes()
PREFIX = b"\x01\x55\x12\x20"
BLOCKS = [random.Random(i).randbytes(256 * 1024) for i in range(16)]
BIG_MESSAGE = Message(blocks=[(PREFIX, d) for d in BLOCKS])
# 16 x 256 KiB is exactly 4 MiB of data; with field headers the message is 224 bytes over the
# 4 MiB wire limit, so this benchmark (the shape) raises the limit for it, for all.
BIG_LIMIT = MAX_MESSAGE_SIZE + 1024


def _pb_big() -> bytes:
    m = pb.Message()
    for d in BLOCKS:
        m.payload.add(prefix=PREFIX, data=d)
    return m.SerializeToString()


BIG_BYTES = _pb_big()


def _read_entries(entries) -> int:
    n = 0
    for e in entries:
        e.cid  # noqa: B018 - the read is the work
        e.priority  # noqa: B018 - the read is the work
        e.want_type  # noqa: B018 - the read is the work
        e.send_dont_have  # noqa: B018 - the read is the work
        n += 1
    return n


def test_decode_wantlist(benchmark, codec) -> None:
    benchmark.group = "decode-wantlist-1000"

    def run() -> int:
        return _read_entries(codec.decode_message(WANTLIST).entries)

    assert benchmark(run) == 1000


@pytest.mark.parametrize("name", twin_params(C, PY)[:1])  # the compiled twin only
def test_decode_wantlist_compiled_decode_only(benchmark, name) -> None:
    """The issue's criterion read literally: the compiled codec *decodes into entry objects*
    (``decode_message`` returning the message with its 1000 Entry objects, no read loop),
    against protobuf decode plus the field access protobuf needs to materialise the values.
    Ours materialises every field (cid, priority, flags, want type) during decode."""
    benchmark.group = "decode-wantlist-1000"
    mod = import_twin(name)

    def run() -> int:
        return len(mod.decode_message(WANTLIST).entries)

    assert benchmark(run) == 1000


def test_decode_wantlist_floor_reads_only(benchmark, codec) -> None:
    """Not a decoder: only the field reads of the other entries, over entries decoded before
    timing. No decoder that returns entry objects can beat this; it bounds the ratio."""
    benchmark.group = "decode-wantlist-1000"
    entries = codec.decode_message(WANTLIST).entries
    assert benchmark(_read_entries, entries) == 1000


def test_decode_wantlist_protobuf(benchmark) -> None:
    benchmark.group = "decode-wantlist-1000"

    def run() -> int:
        m = pb.Message()
        m.ParseFromString(WANTLIST)
        n = 0
        for e in m.wantlist.entries:
            e.block  # noqa: B018 - the read is the work
            e.priority  # noqa: B018 - the read is the work
            e.wantType  # noqa: B018 - the read is the work
            e.sendDontHave  # noqa: B018 - the read is the work
            n += 1
        return n

    assert benchmark(run) == 1000


def test_encode_blocks(benchmark, codec) -> None:
    benchmark.group = "encode-16x256KiB"
    out = benchmark(codec.encode_message, BIG_MESSAGE, max_message_size=BIG_LIMIT)
    assert out == BIG_BYTES


def test_encode_blocks_parts(benchmark, codec) -> None:
    benchmark.group = "encode-16x256KiB"
    out = benchmark(codec.encode_message_parts, BIG_MESSAGE, max_message_size=BIG_LIMIT)
    assert b"".join(out) == BIG_BYTES


def test_encode_blocks_protobuf(benchmark) -> None:
    benchmark.group = "encode-16x256KiB"
    assert benchmark(_pb_big) == BIG_BYTES


def test_decode_blocks(benchmark, codec) -> None:
    benchmark.group = "decode-16x256KiB"

    def run() -> int:
        msg = codec.decode_message(BIG_BYTES, max_message_size=BIG_LIMIT)
        return sum(len(prefix) + len(data) for prefix, data in msg.blocks)

    assert benchmark(run) == 16 * (256 * 1024 + 4)


def test_decode_blocks_protobuf(benchmark) -> None:
    benchmark.group = "decode-16x256KiB"

    def run() -> int:
        m = pb.Message()
        m.ParseFromString(BIG_BYTES)
        return sum(len(p.prefix) + len(p.data) for p in m.payload)

    assert benchmark(run) == 16 * (256 * 1024 + 4)
