"""A whole Bitswap transfer, fastswap -> fastswap: a seeder process serves a file imported as
256 KiB raw leaves, a leecher process fetches the DAG into a fresh LMDB repo with a fresh Node
each round (``benchmarks/_transfer_peer.py``). Two processes, so each side has a core, over
Noise + yamux on 127.0.0.1.

256 MiB per round when measured; 16 MiB in the suite's smoke run (``--benchmark-disable``).
extra_info: ``MB/s (median)`` from the leecher's own clock (connect + fetch + commit; not
process start-up), and the leecher's peak RSS, ``leecher peak RSS MiB`` (the process's
high-water mark over all rounds: bounded buffering keeps it far below the file size).

Measure with: python -m pytest benchmarks/test_bench_transfer.py --benchmark-enable
--benchmark-only
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

PEER = Path(__file__).with_name("_transfer_peer.py")
ROOT = Path(__file__).resolve().parent.parent
MEASURED = 256 * 1024 * 1024
SMOKE = 16 * 1024 * 1024

pytestmark = pytest.mark.timeout(900)


def _spawn(*args: str) -> subprocess.Popen:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.Popen(
        [sys.executable, str(PEER), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        env=env, start_new_session=True,
    )


def _stop(proc: subprocess.Popen) -> None:
    if proc.stdin:
        proc.stdin.close()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.wait(10)


def _line(proc: subprocess.Popen) -> dict[str, Any]:
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    if not line:
        raise RuntimeError("a benchmark peer exited early (see its stderr above)")
    return json.loads(line)


def test_bench_transfer_fastswap_to_fastswap(benchmark) -> None:
    size = SMOKE if benchmark.disabled else MEASURED
    seeder = _spawn("seed", str(size))
    leecher = _spawn("leech")
    results: list[dict[str, Any]] = []
    try:
        info = _line(seeder)
        assert leecher.stdin is not None

        def fetch() -> None:
            leecher.stdin.write(f"{info['addr']} {info['root']}\n".encode())
            leecher.stdin.flush()
            results.append(_line(leecher))

        benchmark.pedantic(fetch, rounds=5, warmup_rounds=1)
    finally:
        _stop(leecher)
        _stop(seeder)
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
