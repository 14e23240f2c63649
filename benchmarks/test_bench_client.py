"""ClientEngine hot paths: a received 256 KiB block message, and flushing 1000 wants.

Measure with
    python -m pytest benchmarks/test_bench_client.py --benchmark-enable --benchmark-only
The receive group has a bare sha256 of the same 256 KiB as its floor: the engine's own cost per
block message is the difference between the two medians (hashing is the verification, and it
cannot be avoided). The flush group times ``outgoing()`` for 1000 new wants (the want-block
messages of a session whose peers have room for all of them, and a discovery broadcast of
1000 want-haves to 4 peers), and want() + outgoing() together.
"""

from __future__ import annotations

import hashlib

import pytest

from fastswap.cid import compute_cid
from fastswap.client.engine import ClientConfig, ClientEngine
from fastswap.message import Message, encode_message, wire_block

BLOCK = bytes(range(256)) * 1024  # 256 KiB
BLOCK_CID = compute_cid(BLOCK)
N = 1000
CIDS = [b"\x01\x55\x12\x20" + hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(N)]
CONFIG = ClientConfig(initial_queue_limit=N, max_queue_limit=N, piggyback_max=8, max_peer_wants=4 * N)


@pytest.mark.benchmark(group="client-receive-256KiB-block")
def test_sha256_256KiB_floor(benchmark):
    d = benchmark(lambda: hashlib.sha256(BLOCK).digest())
    assert d == BLOCK_CID[4:]


@pytest.mark.benchmark(group="client-receive-256KiB-block")
def test_receive_block_message(benchmark):
    e = ClientEngine(config=CONFIG)
    e.peer_connected("A", 0.0)
    s = e.new_session(0.0)
    e.add_peers(s, ["A"], 0.0)
    msg = Message(blocks=[wire_block(BLOCK_CID, memoryview(BLOCK))], pending_bytes=0)
    clock = [0.0]

    def setup():
        # want it again (and flush that), so every round receives a wanted block
        clock[0] += 1.0
        e.want(s, [BLOCK_CID], clock[0])
        e.outgoing(clock[0])
        return (), {}

    def receive():
        return e.receive_message("A", msg, clock[0])

    ev = benchmark.pedantic(receive, setup=setup, rounds=200, warmup_rounds=5)
    assert len(ev) == 1 and ev[0].cid == BLOCK_CID and not ev[0].duplicate


@pytest.mark.benchmark(group="client-flush-1000-wants")
def test_outgoing_1000_want_blocks(benchmark):
    def setup():
        e = ClientEngine(config=CONFIG)
        e.peer_connected("A", 0.0)
        e.outgoing(0.0)
        s = e.new_session(0.0)
        e.add_peers(s, ["A"], 0.0)
        e.want(s, CIDS, 0.0)
        return (e,), {}

    out = benchmark.pedantic(lambda e: e.outgoing(0.0), setup=setup, rounds=50)
    assert sum(len(m.entries) for _, m in out) == N
    assert all(len(encode_message(m)) <= 4 << 20 for _, m in out)


@pytest.mark.benchmark(group="client-flush-1000-wants")
def test_outgoing_1000_want_haves_broadcast_to_4_peers(benchmark):
    def setup():
        e = ClientEngine(config=CONFIG)
        for p in "ABCD":
            e.peer_connected(p, 0.0)
        e.outgoing(0.0)
        s = e.new_session(0.0)
        e.want(s, CIDS, 0.0)
        return (e,), {}

    out = benchmark.pedantic(lambda e: e.outgoing(0.0), setup=setup, rounds=50)
    assert len(out) == 4 and all(len(m.entries) == N for _, m in out)


@pytest.mark.benchmark(group="client-flush-1000-wants")
def test_want_and_outgoing_1000(benchmark):
    def setup():
        e = ClientEngine(config=CONFIG)
        e.peer_connected("A", 0.0)
        e.outgoing(0.0)
        s = e.new_session(0.0)
        e.add_peers(s, ["A"], 0.0)
        return (e, s), {}

    def run(e, s):
        e.want(s, CIDS, 0.0)
        return e.outgoing(0.0)

    out = benchmark.pedantic(run, setup=setup, rounds=50)
    assert sum(len(m.entries) for _, m in out) == N
