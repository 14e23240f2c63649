"""A whole Bitswap transfer, fastswap -> fastswap: a seeder process serves a file imported as
256 KiB raw leaves, a leecher process fetches the DAG into a fresh LMDB repo with a fresh Node
each round (``benchmarks/_transfer_peer.py``). Two processes, so each side has a core, over
Noise + yamux on 127.0.0.1. In the same group, on the same kind of file (random, 256 KiB
chunks), the real peers of ``tests/peers``: Kubo -> Kubo and Helia -> Helia, a fresh leecher
each round. 256 MiB per round when measured; 16 MiB in the suite's smoke run
(``--benchmark-disable``).

What each side's clock covers (each the same work where the peer's API allows it: from the
leecher's connect to every block of the DAG fetched, verified and stored; the leecher is
started, and afterwards checked and cleaned up, outside the clock):

* fastswap: the leecher process's own clock around ``Node.connect`` + ``fetch_dag`` (every
  block hashed and committed to LMDB). No IPC, no Node start-up. Afterwards, untimed, the
  leecher reads the file back from its store and the benchmark checks its sha256.
* Kubo: this process's clock around the driver's ``connect`` + ``pin`` (Kubo's recursive pin
  fetches every block into its flatfs blockstore, sync off): two JSON-line round trips to the
  driver process besides (well under a millisecond each). Not ``Download``: it also writes
  the file out, which took Kubo longer than the fetch itself (64 MiB: 0.7 s pin, 1.6 s more to
  write out). Afterwards, untimed, a local Download (no peer needed any more) and its sha256.
* Helia: this process's clock around the driver's ``dial`` + ``cat`` (fetch every block into
  its memory blockstore, stream the file's bytes out and sha256 them, inside Helia's process):
  two JSON-line round trips besides. Not a fetch-only call: Helia's ``pins.add`` walks the DAG
  one block at a time (64 MiB: 12 s against cat's 4.7 s), so cat is its fastest whole fetch;
  its clock thus also covers hashing the file (~0.15 s of 256 MiB at ~1.8 GB/s). The sha256 it
  reports is checked against the file's.

Each entry's median of those seconds is ``extra_info["seconds (median)"]``, which
``benchmarks/conftest.py`` compares as ratios (issue 4: at least 5x Kubo, 4x Helia); also
``MB/s (median)``, and for fastswap the leecher's peak RSS (``leecher peak RSS MiB``: the
process's high-water mark over all rounds: bounded buffering keeps it far below the file size).
5 rounds each.

Group ``transfer-swarm``: one fastswap seeder, 4 fastswap leecher processes fetching the file at
once (fresh repos each round); a round is timed from the first leecher's connect to the last
one's last block (their clocks are one: CLOCK_MONOTONIC), every leecher's file checked by sha256;
extra_info ``aggregate MB/s`` = 4 x file size / that time (median over 5 rounds).

Measure with: python -m pytest benchmarks/test_bench_transfer.py --benchmark-enable
--benchmark-only
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import pytest

from benchmarks._peerproc import PeerProc, file_sha256, write_random_file

MEASURED = 256 * 1024 * 1024
SMOKE = 16 * 1024 * 1024
#: Rounds of each real peer's transfer and of the swarm (issue 4 asks for medians of at least 3;
#: 5 keeps one slow round on a shared machine from moving the median).
PEER_ROUNDS = 5
SWARM_LEECHERS = 4

pytestmark = pytest.mark.timeout(900)


@pytest.mark.benchmark(group="transfer")
def test_bench_transfer_fastswap_to_fastswap(benchmark) -> None:
    size = SMOKE if benchmark.disabled else MEASURED
    seeder = PeerProc("seed", str(size))
    leecher = PeerProc("leech")
    results: list[dict[str, Any]] = []
    try:
        info = seeder.line()

        def setup() -> tuple[tuple, dict]:
            # untimed: the previous round's repo deletion (as Kubo's and Helia's teardown)
            if results:
                assert leecher.line() == {"ready": True}
            return (), {}

        def fetch() -> None:
            # the leecher times connect + fetch itself, then reads the file back (untimed)
            results.append(leecher.ask(f"{info['addr']} {info['root']} sha256 ready"))

        benchmark.pedantic(fetch, setup=setup, rounds=5, warmup_rounds=1)
    finally:
        leecher.close(30)
        seeder.close(30)
    # every round fetched the whole file (block bytes: the data plus the small inner nodes),
    # and it is the seeder's file
    assert results and all(size <= r["bytes"] < size * 1.01 for r in results)
    assert all(r["sha256"] == info["sha256"] for r in results)
    if len(results) > 1:
        results = results[1:]  # the warm-up round
    _report(benchmark, "fastswap -> fastswap", size, [r["seconds"] for r in results])
    rss = max(r["maxrss_kib"] for r in results) / 1024
    benchmark.extra_info["leecher peak RSS MiB"] = round(rss, 1)
    print(f"fastswap leecher peak RSS {rss:.1f} MiB over {len(results)} fetches")


def _report(benchmark: Any, name: str, size: int, secs: list[float]) -> None:
    """Record the median of one side's own clock (see the module docstring for what it
    covers); benchmarks/conftest.py compares these, not pytest-benchmark's timing of the
    round, which includes each side's other work (IPC, checks)."""
    med = statistics.median(secs)
    benchmark.extra_info["seconds (median)"] = med
    benchmark.extra_info["MB per round"] = size / 1e6
    benchmark.extra_info["MB/s (median)"] = round(size / med / 1e6, 1)
    print(f"\n{name} {size >> 20} MiB: median {med:.3f} s, {size / med / 1e6:.1f} MB/s over "
          f"{len(secs)} rounds")


@pytest.mark.benchmark(group="transfer")
def test_bench_transfer_kubo_to_kubo(benchmark, tmp_path: Path) -> None:
    from tests.peers import start_kubo

    size = SMOKE if benchmark.disabled else MEASURED
    src = tmp_path / "data.bin"
    digest = write_random_file(src, size)
    seeder = start_kubo(tmp_path / "seeder")
    leechers: list[Any] = []
    secs: list[float] = []
    try:
        root = seeder.add(src, timeout=600)
        src.unlink()

        dest = tmp_path / "out.bin"

        def setup() -> tuple[tuple, dict]:
            # a fresh Kubo each round: nothing cached; the previous one is stopped first
            while leechers:
                leechers.pop().close()
            leechers.append(start_kubo(tmp_path / f"leecher{len(secs)}"))
            return (), {}

        def fetch() -> None:
            # timed: connect + pin (every block fetched into Kubo's blockstore)
            leecher = leechers[-1]
            t0 = time.perf_counter()
            leecher.connect(seeder.multiaddr)
            leecher.pin(root, timeout=600)
            secs.append(time.perf_counter() - t0)
            # untimed: write the file out of Kubo's store (local now) and check it
            got = leecher.download(root, dest, timeout=600, hash=False)
            assert got["size"] == size and file_sha256(dest) == digest
            dest.unlink()

        benchmark.pedantic(fetch, setup=setup, rounds=PEER_ROUNDS)
        assert secs  # every round checked (one round in the suite's smoke run)
    finally:
        for peer in leechers:
            peer.close()
        seeder.close()
    _report(benchmark, "Kubo -> Kubo", size, secs)


@pytest.mark.benchmark(group="transfer")
def test_bench_transfer_helia_to_helia(benchmark, tmp_path: Path) -> None:
    from tests.peers import start_helia

    size = SMOKE if benchmark.disabled else MEASURED
    src = tmp_path / "data.bin"
    digest = write_random_file(src, size)
    seeder = start_helia(tmp_path / "seeder")
    leechers: list[Any] = []
    secs: list[float] = []
    try:
        # 256 KiB chunks like the others; otherwise @helia/unixfs defaults (CIDv1, raw leaves)
        root = seeder.add(src, chunk_size=256 * 1024, timeout=600)
        src.unlink()

        def setup() -> tuple[tuple, dict]:
            while leechers:
                leechers.pop().close()
            leechers.append(start_helia(tmp_path / f"leecher{len(secs)}"))
            return (), {}

        def fetch() -> None:
            # timed: dial + cat (fetch every block, stream the bytes through sha256 in Helia)
            leecher = leechers[-1]
            t0 = time.perf_counter()
            leecher.dial(seeder.multiaddr)
            got = leecher.cat(root, timeout=600)
            secs.append(time.perf_counter() - t0)
            assert got["sha256"] == digest and got["size"] == size

        benchmark.pedantic(fetch, setup=setup, rounds=PEER_ROUNDS)
    finally:
        for peer in leechers:
            peer.close()
        seeder.close()
    _report(benchmark, "Helia -> Helia", size, secs)


@pytest.mark.benchmark(group="transfer-swarm")
def test_bench_transfer_swarm_1_seeder_4_leechers(benchmark) -> None:
    size = SMOKE if benchmark.disabled else MEASURED
    seeder = PeerProc("seed", str(size))
    leechers = [PeerProc("leech") for _ in range(SWARM_LEECHERS)]
    walls: list[float] = []
    results: list[dict[str, Any]] = []
    try:
        info = seeder.line()

        def setup() -> tuple[tuple, dict]:
            # untimed: the previous round's repo deletions
            if results:
                for p in leechers:
                    assert p.line() == {"ready": True}
            return (), {}

        def fetch_all() -> None:
            for p in leechers:
                p.send(f"{info['addr']} {info['root']} sha256 ready")
            got = [p.line() for p in leechers]
            results.extend(got)
            # the leechers' clocks are one (CLOCK_MONOTONIC): first connect to last block
            walls.append(max(r["finished"] for r in got) - min(r["started"] for r in got))

        benchmark.pedantic(fetch_all, setup=setup, rounds=PEER_ROUNDS)
    finally:
        for p in leechers:
            p.close(30)
        seeder.close(30)
    assert results and all(size <= r["bytes"] < size * 1.01 for r in results)
    assert all(r["sha256"] == info["sha256"] for r in results)
    med = statistics.median(walls)
    benchmark.extra_info["seconds (median)"] = med
    agg = SWARM_LEECHERS * size / med / 1e6
    benchmark.extra_info["MB per leecher per round"] = size / 1e6
    benchmark.extra_info["aggregate MB/s (median)"] = round(agg, 1)
    benchmark.extra_info["slowest leecher MB/s (median)"] = round(
        size / statistics.median(max(r["seconds"] for r in results[i:i + SWARM_LEECHERS])
                                 for i in range(0, len(results), SWARM_LEECHERS)) / 1e6, 1)
    print(f"\n1 fastswap seeder -> {SWARM_LEECHERS} fastswap leechers, {size >> 20} MiB each: "
          f"median round {med:.3f} s, aggregate {agg:.1f} MB/s over {len(walls)} rounds")
