"""The Node's receive pipeline (fastswap/_receive.py; issue 8 item 7): one peer's messages never
wait behind another's; each peer's are handled in order; a full inbox makes only its own peer's
reader wait; an inbox past four times its marks drops and reports."""

from __future__ import annotations

import asyncio
import os

from fastswap._receive import ReceivePipeline
from fastswap.cid import cid_prefix, compute_cid
from fastswap.message import Message

BIG = os.urandom(2 * 1024 * 1024)
BIG_MSG = Message(blocks=[(cid_prefix(compute_cid(BIG)), BIG)])


def _pipeline(handled: list, **kw) -> ReceivePipeline:
    def handle(peer, msg, protocol, names):
        handled.append((peer, protocol, names is not None))

    return ReceivePipeline(handle, offload=True, max_block_size=4 << 20, **kw)


def test_other_peers_do_not_wait_behind_a_flood(run):
    async def main():
        handled: list = []
        rx = _pipeline(handled, inbox_messages=100, inbox_bytes=1 << 30, jobs=2)
        for i in range(40):  # 80 MiB to hash from the flooder
            assert rx.submit("flood", BIG_MSG, f"f{i}") is None
        # a wantlist (no blocks) from another peer: handled at once, not behind 80 MiB
        rx.submit("honest", Message(), "h0")
        assert handled[0] == ("honest", "h0", False)
        # a large message of the honest peer gets the verifier in its turn: handled long
        # before the flood is through
        rx.submit("honest", BIG_MSG, "h1")
        for _ in range(2000):
            if ("honest", "h1", True) in handled:
                break
            await asyncio.sleep(0.005)
        # behind at most the wantlist and the 2 flood messages in the verifier's hands (+1:
        # the round robin may hand it one more before the honest peer's turn)
        pos = handled.index(("honest", "h1", True))
        assert pos <= 4, handled[:8]
        while rx.pending():
            await asyncio.sleep(0.01)
        # the flooder's messages in their order, all hashed
        assert [h[1] for h in handled if h[0] == "flood"] == [f"f{i}" for i in range(40)]
        await rx.close()

    run(main())


def test_a_peers_order_holds_across_hashing(run):
    async def main():
        handled: list = []
        rx = _pipeline(handled, inbox_messages=100)
        rx.submit("p", BIG_MSG, "big")
        rx.submit("p", Message(), "small")  # behind the one being hashed
        assert handled == []
        while rx.pending():
            await asyncio.sleep(0.01)
        assert [h[1] for h in handled] == ["big", "small"]
        await rx.close()

    run(main())


def test_backpressure_is_per_peer_and_overflow_drops(run):
    async def main():
        handled: list = []
        over: list = []
        rx = _pipeline(handled, inbox_messages=2, on_overflow=over.append)
        assert rx.submit("slow", BIG_MSG, "1") is None
        wait = rx.submit("slow", BIG_MSG, "2")
        assert wait is not None  # its reader waits...
        assert rx.submit("other", Message(), "x") is None  # ...nobody else's
        for i in range(10):  # a peer writing on many streams at once: capped, then dropped
            w = rx.submit("slow", BIG_MSG, f"s{i}")
            if w is not None:
                w.close()
        assert rx.dropped == 12 - 4 * 2 and over == ["slow"] * 4
        await asyncio.wait_for(wait, 30)  # drained
        while rx.pending():
            await asyncio.sleep(0.01)
        assert len([h for h in handled if h[0] == "slow"]) == 4 * 2
        await rx.close()

    run(main())


def test_forgetting_a_peer_releases_its_waiting_readers(run):
    async def main():
        rx = _pipeline([], inbox_messages=1)
        wait = rx.submit("gone", BIG_MSG, "1")
        assert wait is not None
        rx.forget("gone")
        await asyncio.wait_for(wait, 5)  # not left hanging on a peer that left
        assert rx.pending() == 0
        await rx.close()

    run(main())
