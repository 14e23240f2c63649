"""fastswap.bandwidth: token buckets for the block data a node sends, total and per peer; and
the per-peer limit on a real transfer between nodes on 127.0.0.1 (issue 9: within 10% over 5 s;
the measured rates are in ``benchmarks/test_bench_bandwidth.py``)."""

from __future__ import annotations

import asyncio
import hashlib
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastswap.bandwidth import BandwidthLimiter, TokenBucket
from fastswap.node import Node


@given(st.lists(st.integers(min_value=1, max_value=3_000_000), min_size=1, max_size=200),
       st.integers(min_value=1_000, max_value=50_000_000))
def test_a_sender_that_waits_as_told_never_beats_rate_plus_burst(sizes, rate) -> None:
    b = TokenBucket(rate)
    now = 0.0
    sent = 0
    for n in sizes:
        now += b.reserve(n, now)  # wait, then send
        sent += n
        # everything sent by `now` fits in the burst plus what the rate allowed (the last
        # response may be larger than the burst: it went out once its debt was paid)
        assert sent - n <= b.burst + rate * now + 1e-6 * rate
    if now > 0:
        assert sent - sizes[-1] <= b.burst + rate * now + 1e-6 * rate


def test_burst_then_rate_and_debt() -> None:
    b = TokenBucket(1000, burst=100)
    assert b.reserve(100, 0.0) == 0.0  # the burst goes at once
    assert b.reserve(100, 0.0) == pytest.approx(0.1)
    # a response larger than the burst is not starved: it waits for its debt
    assert b.reserve(1000, 0.1) == pytest.approx(1.0)
    assert b.reserve(1, 5.0) == 0.0  # a quiet bucket refills, up to the burst only
    assert b.reserve(150, 5.0) == pytest.approx(0.051)


def test_limiter_takes_the_stricter_of_peer_and_total_and_forgets_peers() -> None:
    lim = BandwidthLimiter(total_rate=10_000, total_burst=1_000, peer_rate=1_000, peer_burst=100)
    assert lim.active
    assert lim.reserve("a", 100, 0.0) == 0.0
    assert lim.reserve("a", 100, 0.0) == pytest.approx(0.1)  # a's own bucket
    assert lim.reserve("b", 100, 0.0) == 0.0  # b has its own, and the total has room
    assert lim.reserve("c", 1_000, 0.0) == pytest.approx(0.9)  # c's bucket: 100 of burst
    lim.forget("a")
    assert lim.reserve("a", 100, 0.0) > 0.0  # a new bucket, but the total is in debt now
    assert not BandwidthLimiter().active
    with pytest.raises(ValueError):
        TokenBucket(0)


#: the per-peer rate of the transfer test and benchmark (bytes/s): a rate the machine beats many
#: times over even with both cores busy, so what is measured is the limit, not the CPU
LIMITED_RATE = 4 << 20
LIMITED_BLOCK = 256 * 1024


async def limited_transfer(rate: int, seconds: float, leechers: int) -> list[float]:
    """One seeder whose per-peer limit is *rate* bytes/s (default burst), *leechers* nodes each
    fetching ``rate * seconds`` bytes of 256 KiB blocks from it at once, over Noise + yamux on
    127.0.0.1. Returns each leecher's rate: bytes / seconds from its first want to its last
    block (its clock starts after its connect)."""
    n = max(1, round(rate * seconds / LIMITED_BLOCK))
    datas = []
    for i in range(n):
        h = hashlib.sha256(b"bw" + i.to_bytes(4, "big")).digest()
        datas.append(h * (LIMITED_BLOCK // 32))
    total = n * LIMITED_BLOCK

    async def fetch(node: Node, cids: list) -> float:
        t0 = time.monotonic()
        got = 0
        async for blk in node.get_blocks(cids):
            got += len(blk.data)
        assert got == total
        return total / (time.monotonic() - t0)

    async with Node(bandwidth=BandwidthLimiter(peer_rate=rate)) as seeder:
        cids = await seeder.put_blocks(datas)
        nodes = [Node() for _ in range(leechers)]
        try:
            for node in nodes:
                await node.start()
                await node.connect(seeder.addrs[0])
            return list(await asyncio.gather(*(fetch(node, cids) for node in nodes)))
        finally:
            for node in nodes:
                await node.stop()


@pytest.mark.timeout(60)
def test_per_peer_limit_holds_within_10_percent_over_5_seconds() -> None:
    """Two leechers at once, each held to the per-peer rate (not sharing it: the limit is per
    peer), each within 10% of it over a 5-second transfer."""
    rates = asyncio.run(limited_transfer(LIMITED_RATE, 5.0, leechers=2))
    for r in rates:
        assert abs(r / LIMITED_RATE - 1.0) <= 0.10, [x / LIMITED_RATE for x in rates]
