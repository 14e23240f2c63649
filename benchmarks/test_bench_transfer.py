"""A whole Bitswap transfer, fastswap -> fastswap: a seeder process serves a file imported as
256 KiB raw leaves, a leecher process fetches the DAG into a fresh LMDB repo with a fresh Node
each round (``benchmarks/_transfer_peer.py``). Two processes, so each side has a core, over
Noise + yamux on 127.0.0.1.

256 MiB per round when measured; 16 MiB in the suite's smoke run (``--benchmark-disable``).
extra_info: ``MB/s (median)`` from the leecher's own clock (connect + fetch + commit; not
process start-up), and the leecher's peak RSS, ``leecher peak RSS MiB`` (the process's
high-water mark over all rounds: bounded buffering keeps it far below the file size).

In the same group, on the same kind of file (256 MiB random, 256 KiB chunks), the real peers of
``tests/peers``: Kubo -> Kubo (one Kubo adds with ``ipfs add`` defaults, a fresh Kubo per round
connects and Downloads it; timed: connect + Download, which also writes the file out, as Kubo's
API has no fetch-only call; the sha256 check runs after the clock) and Helia -> Helia (one Helia
adds with 256 KiB chunks and otherwise @helia/unixfs defaults, a fresh Helia per round dials and
``cat``s it; timed: dial + cat, whose bytes Helia hashes as they stream). 5 rounds each;
``benchmarks/conftest.py`` prints fastswap's median against theirs as ratios (issue 4: at least
5x Kubo, 4x Helia). The fastswap leecher answers before it deletes its repo, so no side's timed
round includes cleanup.

Group ``transfer-swarm``: one fastswap seeder, 4 fastswap leecher processes fetching the file at
once (fresh repos each round); extra_info ``aggregate MB/s`` = 4 x file size / the round's wall
time (median over 5 rounds).

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
            results.append(leecher.ask(f"{info['addr']} {info['root']} ready"))

        benchmark.pedantic(fetch, setup=setup, rounds=5, warmup_rounds=1)
    finally:
        leecher.close(30)
        seeder.close(30)
    # every round fetched the whole file (block bytes: the data plus the small inner nodes)
    assert results and all(size <= r["bytes"] < size * 1.01 for r in results)
    if len(results) > 1:
        results = results[1:]  # the warm-up round
    secs = statistics.median(r["seconds"] for r in results)
    benchmark.extra_info["MB per round"] = size / 1e6
    benchmark.extra_info["MB/s (median)"] = round(size / secs / 1e6, 1)
    benchmark.extra_info["leecher peak RSS MiB"] = round(
        max(r["maxrss_kib"] for r in results) / 1024, 1)
    print(f"\nfastswap -> fastswap {size >> 20} MiB: median {secs:.3f} s, "
          f"{size / secs / 1e6:.1f} MB/s, leecher peak RSS "
          f"{max(r['maxrss_kib'] for r in results) / 1024:.1f} MiB over {len(results)} fetches")


def _report(benchmark: Any, name: str, size: int, secs: list[float]) -> None:
    med = statistics.median(secs)
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

        def check_download() -> None:
            # outside the timed region: hashing the file is not part of Kubo's transfer
            if dest.exists():
                assert file_sha256(dest) == digest
                dest.unlink()

        def setup() -> tuple[tuple, dict]:
            # a fresh Kubo each round: nothing cached; the previous one is stopped first
            check_download()
            while leechers:
                leechers.pop().close()
            leechers.append(start_kubo(tmp_path / f"leecher{len(secs)}"))
            return (), {}

        def fetch() -> None:
            # timed: connect + Download (Kubo's fetch into its blockstore, then the file
            # written to dest: its API has no fetch-only call)
            leecher = leechers[-1]
            t0 = time.perf_counter()
            leecher.connect(seeder.multiaddr)
            got = leecher.download(root, dest, timeout=600, hash=False)
            secs.append(time.perf_counter() - t0)
            assert got["size"] == size

        benchmark.pedantic(fetch, setup=setup, rounds=PEER_ROUNDS)
        check_download()
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
            t0 = time.perf_counter()
            for p in leechers:
                p.send(f"{info['addr']} {info['root']} ready")
            results.extend(p.line() for p in leechers)
            walls.append(time.perf_counter() - t0)

        benchmark.pedantic(fetch_all, setup=setup, rounds=PEER_ROUNDS)
    finally:
        for p in leechers:
            p.close(30)
        seeder.close(30)
    assert results and all(size <= r["bytes"] < size * 1.01 for r in results)
    med = statistics.median(walls)
    agg = SWARM_LEECHERS * size / med / 1e6
    benchmark.extra_info["MB per leecher per round"] = size / 1e6
    benchmark.extra_info["aggregate MB/s (median)"] = round(agg, 1)
    benchmark.extra_info["slowest leecher MB/s (median)"] = round(
        size / statistics.median(max(r["seconds"] for r in results[i:i + SWARM_LEECHERS])
                                 for i in range(0, len(results), SWARM_LEECHERS)) / 1e6, 1)
    print(f"\n1 fastswap seeder -> {SWARM_LEECHERS} fastswap leechers, {size >> 20} MiB each: "
          f"median round {med:.3f} s, aggregate {agg:.1f} MB/s over {len(walls)} rounds")
