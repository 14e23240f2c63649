"""One py-libp2p Bitswap program fetching 2,000 x 256 KiB blocks three ways, in one run
(issue 11): with py-libp2p 0.8.1's own ``libp2p.bitswap`` (on py-libp2p hosts), with the
drop-in ``fastswap.compat.libp2p`` on py-libp2p hosts (only the import changed), and with the
drop-in on fastswap's host (the host construction changed too: the drop-in's ``new_host``).

The program is ``benchmarks/_bitswap_program.py``, run on the drop-in venv's Python
(``tests/peers/pylibp2p_dropin.py``: fastswap beside libp2p 0.8.1). Each variant has a seeder
process (the blocks in a ``MemoryBlockStore``, added with ``add_block``) and a leecher process;
each round the leecher makes a fresh host, store and client, connects, and times one session's
``get_blocks_batch`` of every CID (py-libp2p's call, its default batch size); the bytes are
checked by sha256 after the clock stops. Rounds are interleaved (one round of each variant in
turn, the order rotating), so a busy moment on the shared machine hits every variant alike.

Reported: per variant the median fetch time over the rounds (and min/max), MB/s, and the
drop-in's speed-up over ``libp2p.bitswap`` as the ratio of medians (issue 11's targets: at
least 3x on a py-libp2p host, at least 10x on fastswap's host). The suite's smoke run
(``--benchmark-disable``) fetches 32 blocks once per variant.

Measure with:
    python -m pytest benchmarks/test_bench_pylibp2p_bitswap.py --benchmark-enable \\
        --benchmark-only -s
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.peers import pylibp2p_dropin as env

pytestmark = [pytest.mark.interop, pytest.mark.timeout(3600)]

PROGRAM = Path(__file__).with_name("_bitswap_program.py")
BLOCKS, SMOKE_BLOCKS = 2000, 32
BLOCK_SIZE = 256 * 1024
ROUNDS, SMOKE_ROUNDS = 5, 1
#: (name, --impl, --host); the first is the baseline
VARIANTS = [("libp2p.bitswap", "libp2p", "pylibp2p"),
            ("drop-in, py-libp2p host", "dropin", "pylibp2p"),
            ("drop-in, fastswap host", "dropin", "fastswap")]
#: issue 11's targets: speed-up of the drop-in over libp2p.bitswap, by variant
TARGETS = {"drop-in, py-libp2p host": 3.0, "drop-in, fastswap host": 10.0}


class Program:
    """One ``_bitswap_program.py`` process (its own session: killed as a group if it lingers
    after its stdin closes)."""

    def __init__(self, *args: str, cwd: Path) -> None:
        self.args = args
        self.proc = subprocess.Popen(
            [str(env.venv_python()), str(PROGRAM), *args], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd,
            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
            start_new_session=True)

    def line(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        raw = self.proc.stdout.readline()
        if not raw:
            self.proc.kill()
            _, err = self.proc.communicate(timeout=30)
            raise RuntimeError(f"{' '.join(self.args)} exited early:\n{err[-4000:]}")
        return json.loads(raw)

    def ask(self, text: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        return self.line()

    def close(self) -> None:
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
            self.proc.wait(20)
        except (subprocess.TimeoutExpired, OSError):
            os.killpg(self.proc.pid, 9)
            self.proc.wait(20)


def run_comparison(tmp: Path, blocks: int, rounds: int) -> dict[str, list[dict[str, Any]]]:
    """Start a seeder and a leecher per variant, then run *rounds* interleaved rounds; every
    round's leecher answer by variant name (each checked: every block, the right bytes)."""
    procs: list[Program] = []
    leechers: dict[str, tuple[Program, str]] = {}
    try:
        for name, impl, host in VARIANTS:
            cids = tmp / f"cids-{impl}-{host}.txt"
            seeder = Program("--impl", impl, "--host", host, "--mode", "seed", "--blocks",
                             str(blocks), "--size", str(BLOCK_SIZE), "--cids-file", str(cids),
                             cwd=tmp)
            procs.append(seeder)
            info = seeder.line()
            leecher = Program("--impl", impl, "--host", host, "--mode", "leech", "--cids-file",
                              str(cids), "--peer", info["addr"], cwd=tmp)
            procs.append(leecher)
            leechers[name] = (leecher, info["sha256"])
        results: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _ in VARIANTS}
        names = [name for name, _, _ in VARIANTS]
        for r in range(rounds):
            for name in names[r % len(names):] + names[:r % len(names)]:
                leecher, digest = leechers[name]
                res = leecher.ask("round")
                assert res["blocks"] == blocks, (name, res)
                assert res["bytes"] == blocks * BLOCK_SIZE, (name, res)
                assert res["sha256"] == digest, (name, res)
                results[name].append(res)
        return results
    finally:
        for p in procs:
            p.close()


@pytest.mark.benchmark(group="pylibp2p-bitswap")
def test_bench_pylibp2p_bitswap_three_ways(benchmark: Any, tmp_path: Path) -> None:
    env.ensure_installed()
    blocks, rounds = (SMOKE_BLOCKS, SMOKE_ROUNDS) if benchmark.disabled else (BLOCKS, ROUNDS)
    out: dict[str, list[dict[str, Any]]] = {}

    def compare() -> None:
        out.update(run_comparison(tmp_path, blocks, rounds))

    benchmark.pedantic(compare, rounds=1, iterations=1, warmup_rounds=0)
    nbytes = blocks * BLOCK_SIZE
    base = statistics.median(r["seconds"] for r in out[VARIANTS[0][0]])
    lines = [(f"{blocks} x {BLOCK_SIZE >> 10} KiB blocks, {rounds} interleaved rounds "
              "(get_blocks_batch, seconds: median [min-max])")]
    for name, _, _ in VARIANTS:
        secs = [r["seconds"] for r in out[name]]
        med = statistics.median(secs)
        speedup = base / med
        benchmark.extra_info[name] = {
            "seconds": [round(s, 3) for s in secs], "median_s": round(med, 3),
            "MB/s (median)": round(nbytes / med / 1e6, 1), "speedup": round(speedup, 2)}
        target = TARGETS.get(name)
        goal = f" (target {target:g}x)" if target else " (baseline)"
        lines.append(f"  {name:<26} {med:8.3f} s [{min(secs):.3f}-{max(secs):.3f}]  "
                     f"{nbytes / med / 1e6:7.1f} MB/s  {speedup:6.2f}x{goal}")
    print("\n" + "\n".join(lines))
