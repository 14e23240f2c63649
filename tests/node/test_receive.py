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


def test_backpressure_is_per_peer_and_overflow_drops_blocks_only(run):
    async def main():
        handled: list = []
        over: list = []
        rx = _pipeline(handled, inbox_messages=2, inbox_bytes=4 << 20,
                       on_overflow=lambda p, n: over.append((p, n)))
        assert rx.submit("slow", BIG_MSG, "1") is None
        wait = rx.submit("slow", BIG_MSG, "2")
        assert wait is not None  # its reader waits...
        assert rx.submit("other", Message(), "x") is None  # ...nobody else's
        # a peer writing on many streams at once: its blocks past 4 x 4 MiB are dropped, its
        # other messages (a burst of small ones, as Kubo sends) all kept, in order
        for i in range(10):
            for m in (BIG_MSG, Message()):
                w = rx.submit("slow", m, f"s{i}")
                if w is not None:
                    w.close()
        assert over == [("slow", len(BIG))] * 4 and rx.dropped == 4 * len(BIG)
        await asyncio.wait_for(wait, 30)  # drained
        while rx.pending():
            await asyncio.sleep(0.01)
        slow = [h for h in handled if h[0] == "slow"]
        assert [h[1] for h in slow] == ["1", "2"] + [f"s{i}" for i in range(10) for _ in (0, 1)]
        assert sum(h[2] for h in slow) == 2 + 6  # hashed: 2 + the 6 big ones that fit
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
