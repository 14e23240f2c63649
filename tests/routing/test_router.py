"""The composed router (routing/router.py): sources asked in parallel, answers merged in source
order and capped, one search shared by concurrent queries, a failing or slow source costing
only itself."""

from __future__ import annotations

import asyncio

from fastswap.net.multiaddr import Multiaddr
from fastswap.routing import Router, StaticRouting
from tests.routing._kad import peer_ids

RUN_TIMEOUT = 20.0


def _ma(peer, port: int) -> Multiaddr:
    return Multiaddr.parse(f"/ip4/127.0.0.1/tcp/{port}/p2p/{peer}")


class Slow:
    def __init__(self, answer, delay: float) -> None:
        self.answer = answer
        self.delay = delay
        self.calls = 0

    async def find_providers(self, cid: bytes):
        self.calls += 1
        await asyncio.sleep(self.delay)
        return self.answer


class Broken:
    async def find_providers(self, cid: bytes):
        raise RuntimeError("endpoint down")


def test_merge_orders_dedupes_and_caps(run) -> None:
    a, b, c = peer_ids(3)

    async def go() -> None:
        static = StaticRouting([_ma(a, 1)])
        dht = Slow([_ma(b, 2), _ma(a, 1), _ma(a, 3), _ma(a, 4), _ma(a, 5), _ma(c, 6)], 0.01)
        router = Router([static, dht, Broken()], max_providers=2)
        got = await router.find_providers(b"cid")
        # a (static first) with its three addresses at most, then b; c is over the cap
        assert got == [_ma(a, 1), _ma(a, 3), _ma(a, 4), _ma(b, 2)]
        assert router.counters["errors"] == 1

    run(go())


def test_concurrent_queries_share_one_search(run) -> None:
    (a,) = peer_ids(1)

    async def go() -> None:
        src = Slow([_ma(a, 1)], 0.2)
        router = Router([src])
        first = asyncio.ensure_future(router.find_providers(b"cid"))
        answers = await asyncio.gather(*(router.find_providers(b"cid") for _ in range(5)))
        first.cancel()  # one caller giving up does not end the others' search
        assert all(x == [_ma(a, 1)] for x in answers)
        assert src.calls == 1 and router.counters["shared"] == 5
        await router.find_providers(b"cid")  # a later query searches again
        assert src.calls == 2

    run(go())


def test_slow_source_does_not_hold_up_found_providers(run) -> None:
    a, b = peer_ids(2)

    async def go() -> None:
        loop = asyncio.get_running_loop()
        router = Router([Slow([_ma(a, 1)], 0.0), Slow([_ma(b, 2)], 30.0)], early_return=0.2)
        t0 = loop.time()
        assert await router.find_providers(b"cid") == [_ma(a, 1)]
        assert loop.time() - t0 < 5.0
        # nothing found anywhere: the timeout bounds the wait
        router = Router([Slow([], 0.0), Slow([_ma(b, 2)], 30.0)], timeout=0.3)
        assert await router.find_providers(b"cid") == []

    run(go())
