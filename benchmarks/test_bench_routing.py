"""Time to first byte of a fetch that starts from a bootstrap peer only (issue 12): fastswap
against Kubo 0.22 in the same topology, on 127.0.0.1.

Topology: Kubo A (the bootstrap peer) and Kubo P (the provider), connected; P adds a 200 KB file
(one block, so its first byte is its last: Kubo's API has no first-byte hook) and announces it on
the LAN DHT; the fixture waits until A holds P's record. Each round a fresh fetcher that knows
only A's address:

* fastswap: a fresh Node (started untimed, no listener: a DHT client, as ``fastswap get``
  runs) and, timed, ``KadDHT.start()`` (dial A, identify, a walk for our own id) plus
  ``get_block(root)``: the client engine asks A, A says DONT_HAVE, the router walks the DHT,
  finds P's record, dials P and fetches.
* Kubo: a fresh Kubo B (started untimed) and, timed, ``ConnectToPeer(A)`` plus ``Download``.

5 rounds each; ``benchmarks/conftest.py`` prints the medians as a ratio (above 1: fastswap's
first byte arrives sooner).

Measure with: python -m pytest benchmarks/test_bench_routing.py --benchmark-enable
--benchmark-only
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import statistics
import time
from pathlib import Path
from typing import Any

import pytest

from fastswap import Node
from fastswap.routing import KadDHT, Router

ROUNDS = 5
SIZE = 200_000

pytestmark = [pytest.mark.interop, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory):
    from tests.peers.kubo import DHT_CONFIG, start_kubo, wait_for_provider

    tmp = tmp_path_factory.mktemp("routing-bench")
    a = start_kubo(tmp / "a", config=DHT_CONFIG)
    p = start_kubo(tmp / "p", config=DHT_CONFIG)
    try:
        p.connect(a.multiaddrs[0])
        data = os.urandom(SIZE)
        (tmp / "data.bin").write_bytes(data)
        root = p.add(tmp / "data.bin")
        asyncio.run(wait_for_provider(a.multiaddrs[0], root))
        yield {"a": a, "root": root, "sha256": hashlib.sha256(data).hexdigest(), "tmp": tmp}
    finally:
        p.close()
        a.close()


def _report(benchmark: Any, name: str, secs: list[float]) -> None:
    med = statistics.median(secs)
    benchmark.extra_info["TTFB s (median)"] = round(med, 4)
    print(f"\n{name}: time to first byte from a bootstrap peer only: median {med * 1000:.1f} ms "
          f"over {len(secs)} rounds ({', '.join(f'{s * 1000:.0f}' for s in secs)} ms)")


@pytest.mark.benchmark(group="routing-ttfb")
def test_bench_ttfb_fastswap_via_dht(benchmark, topology: dict) -> None:
    secs: list[float] = []
    live: list[tuple[Node, KadDHT]] = []

    async def start(i: int) -> None:
        node = Node(topology["tmp"] / f"fs{i}", listen=[])
        await node.start()
        dht = KadDHT(node.host, server=False, bootstrap=[topology["a"].multiaddrs[0]])
        node.routing = Router([dht])
        live.append((node, dht))

    async def stop() -> None:
        while live:
            node, dht = live.pop()
            await dht.stop()
            await node.stop()

    async def first_byte() -> None:
        node, dht = live[-1]
        t0 = time.perf_counter()
        await dht.start()
        block = await node.get_block(topology["root"], timeout=30)
        secs.append(time.perf_counter() - t0)
        assert len(block.data) > SIZE  # the dag-pb node around the 200 KB

    with asyncio.Runner() as runner:

        def setup() -> tuple[tuple, dict]:
            # untimed: the previous round's node stopped, a fresh one started
            runner.run(stop())
            runner.run(start(len(secs)))
            return (), {}

        try:
            benchmark.pedantic(lambda: runner.run(first_byte()), setup=setup, rounds=ROUNDS)
        finally:
            runner.run(stop())
    _report(benchmark, "fastswap", secs)


@pytest.mark.benchmark(group="routing-ttfb")
def test_bench_ttfb_kubo_via_dht(benchmark, topology: dict) -> None:
    from tests.peers.kubo import DHT_CONFIG, start_kubo

    secs: list[float] = []
    fetchers: list[Any] = []
    dest = topology["tmp"] / "kubo-out.bin"

    def setup() -> tuple[tuple, dict]:
        while fetchers:
            fetchers.pop().close()
        if dest.exists():
            dest.unlink()
        fetchers.append(start_kubo(topology["tmp"] / f"b{len(secs)}", config=DHT_CONFIG))
        return (), {}

    def fetch() -> None:
        b = fetchers[-1]
        t0 = time.perf_counter()
        b.connect(topology["a"].multiaddrs[0])
        got = b.download(topology["root"], dest, timeout=60, hash=False)
        secs.append(time.perf_counter() - t0)
        assert got["size"] == SIZE

    try:
        benchmark.pedantic(fetch, setup=setup, rounds=ROUNDS)
    finally:
        for f in fetchers:
            f.close()
    assert hashlib.sha256(Path(dest).read_bytes()).hexdigest() == topology["sha256"]
    _report(benchmark, "Kubo", secs)
