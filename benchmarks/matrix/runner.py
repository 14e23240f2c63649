"""Runs the matrix: per scenario, its content made once, its seeders started and loaded once,
then rounds interleaved across pairs (round 1 of every pair, then round 2 of every pair, ...),
so that a noisy neighbour on a shared machine slows every system alike and the ratios hold.

A round of one pair (untimed unless said):
1. start fresh leecher processes (fresh stores), connect them to the seeders;
2. reset the seeders' peak-RSS marks, note every process's CPU time;
3. timed: start every leecher's fetch at once; each leecher's clock stops when its answer
   arrives (``systems.CLOCKS``), the round's when the last one did;
4. CPU time and peak RSS of each side; every leecher's content checked against the source
   (sha256 of the file, or the directory's tree digest); Bitswap counters;
5. stop the leechers, delete their stores.

A pair that fails a round (an error, a timeout, a failed check) stops there; what it measured
before stays, and the report says why it stopped. A check that fails is a failure of the whole
run too (``Run.bad_checks``): a benchmark that moved the wrong bytes measured nothing.
"""

from __future__ import annotations

import shutil
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.matrix import procfs
from benchmarks.matrix.content import make_tree, write_random_file
from benchmarks.matrix.results import PairResult, Round
from benchmarks.matrix.scenarios import Scenario
from benchmarks.matrix.systems import (
    Content,
    Leecher,
    Seeder,
    VerificationError,
    build_blockdir,
    start_leecher,
    start_seeder,
)

__all__ = ["Run", "round_timeout", "run_matrix"]


def round_timeout(nbytes: int, nblocks: int | None) -> float:
    """Seconds a round may take: a minute, plus the bytes at 2 MB/s (py-libp2p, the slowest
    peer, moves 11-55 MB/s here), plus the blocks at 100 a second (Helia and py-libp2p move
    about a thousand 1 KiB blocks a second here)."""
    return 60.0 + nbytes / 2e6 + (nblocks or 0) / 100


@dataclass
class Run:
    results: list[PairResult] = field(default_factory=list)
    #: checks that failed: the bytes a leecher got were not the seeder's
    bad_checks: list[str] = field(default_factory=list)


class _Contents:
    """Content per ``Scenario.content_key``, made on first use, deleted after the last
    scenario that needs it."""

    def __init__(self, workdir: Path, scenarios: list[Scenario], log: Callable[[str], None]):
        self.workdir = workdir
        self.log = log
        self.left = [sc.content_key for sc in scenarios]
        self.made: dict[tuple[str, int, int], Content] = {}

    def get(self, sc: Scenario) -> Content:
        key = sc.content_key
        if key not in self.made:
            d = self.workdir / f"content-{len(self.made)}"
            d.mkdir(parents=True)
            t0 = time.perf_counter()
            if sc.kind == "tree":
                digest, nbytes = make_tree(d / "tree", sc.size)
                self.made[key] = Content(tree=d / "tree", tree_digest=digest,
                                         tree_files=sc.size, tree_bytes=nbytes)
            else:
                write_random_file(d / "source.bin", sc.size)
                bd = build_blockdir(d / "source.bin", d / "blocks", sc.chunk)
                (d / "source.bin").unlink()
                self.made[key] = Content(blockdir=bd)
            self.log(f"  content for {sc.id} made in {time.perf_counter() - t0:.1f} s")
        return self.made[key]

    def done(self, sc: Scenario) -> None:
        self.left.remove(sc.content_key)
        if sc.content_key not in self.left and sc.content_key in self.made:
            content = self.made.pop(sc.content_key)
            target = content.tree if content.is_tree else (
                content.blockdir.path if content.blockdir else None)
            if target is not None:
                shutil.rmtree(target.parent, ignore_errors=True)


def run_matrix(scenarios: list[Scenario], *, rounds: int, warmup: int, workdir: Path,
               log: Callable[[str], None] = print) -> Run:
    """Run every scenario (see the module docstring); results in scenario and pair order."""
    run = Run()
    contents = _Contents(workdir, scenarios, log)
    for sc in scenarios:
        log(f"[{sc.id}] {sc.title}")
        try:
            content = contents.get(sc)
            _run_scenario(sc, content, rounds, warmup, workdir / sc.id, run, log)
        finally:
            contents.done(sc)
    return run


def _run_scenario(sc: Scenario, content: Content, rounds: int, warmup: int, workdir: Path,
                  run: Run, log: Callable[[str], None]) -> None:
    per_round = content.nbytes * sc.leechers
    results = {p: PairResult(
        sc.id, p[0], p[1], per_round,
        None if content.nblocks is None else content.nblocks * sc.leechers,
        content.tree_files * sc.leechers if content.is_tree else None) for p in sc.pairs}
    run.results.extend(results.values())
    seeders: dict[str, list[Seeder]] = {}
    active = list(sc.pairs)
    try:
        for system in dict.fromkeys(s for s, _ in sc.pairs):
            why = _start_seeders(sc, content, system, workdir / f"seed-{system}", seeders)
            if why is not None:
                for p in active:
                    if p[0] == system:
                        setattr(results[p], *why)
                        log(f"  {results[p].name:<44} not measured: {why[1]}")
                active = [p for p in active if p[0] != system]
        timeout = round_timeout(per_round, results[sc.pairs[0]].blocks_per_round)
        for i in range(warmup + rounds):
            label = "warm-up" if i < warmup else f"round {i - warmup + 1}/{rounds}"
            for pair in list(active):
                res = results[pair]
                try:
                    rnd = _round(sc, content, seeders[pair[0]], pair[1],
                                 workdir / f"leech-{i}", timeout)
                except VerificationError as exc:
                    res.failure = f"check failed: {exc}"
                    run.bad_checks.append(f"{sc.id} {res.name}: {exc}")
                except NotImplementedError as exc:
                    res.not_run = str(exc)
                except Exception as exc:  # noqa: BLE001 - reported in the table, run goes on
                    res.failure = _first_line(exc)
                    log(traceback.format_exc(limit=3))
                else:
                    if i >= warmup:
                        res.rounds.append(rnd)
                    mbs = per_round / rnd.seconds / 1e6
                    log(f"  {label:>11} {res.name:<32} {rnd.seconds:8.3f} s {mbs:9.1f} MB/s")
                    continue
                log(f"  {label:>11} {res.name:<32} stopped: {res.failure or res.not_run}")
                active.remove(pair)
    finally:
        for group in seeders.values():
            for s in group:
                s.close()
        shutil.rmtree(workdir, ignore_errors=True)


def _start_seeders(sc: Scenario, content: Content, system: str, workdir: Path,
                   seeders: dict[str, list[Seeder]]) -> tuple[str, str] | None:
    """Start *system*'s seeders for *sc* into *seeders*; None, or ("not_run"|"failure",
    why) if they cannot seed."""
    group: list[Seeder] = []
    try:
        if sc.seeders == 1:
            group.append(start_seeder(system, workdir, content))
        else:
            assert content.blockdir is not None, "several seeders share a file's blocks"
            for k, part in enumerate(content.blockdir.parts(sc.seeders)):
                group.append(start_seeder(system, workdir / str(k), content, part))
    except NotImplementedError as exc:
        for s in group:
            s.close()
        return "not_run", f"{system} cannot seed this: {exc}"
    except Exception as exc:  # noqa: BLE001 - reported in the table
        for s in group:
            s.close()
        return "failure", f"{system} seeder did not start: {_first_line(exc)}"
    seeders[system] = group
    return None


def _round(sc: Scenario, content: Content, seeders: list[Seeder], system: str, workdir: Path,
           timeout: float) -> Round:
    root = seeders[0].root
    assert root is not None
    leechers: list[Leecher] = []
    try:
        for k in range(sc.leechers):
            leechers.append(start_leecher(system, workdir / str(k)))
        for lee in leechers:
            lee.connect(seeders)
        msgs0 = [s.messages_sent() for s in seeders]
        cpu0 = []
        for s in seeders:
            procfs.reset_peak_rss(s.pid)
            cpu0.append(procfs.cpu_seconds(s.pid))
        for lee in leechers:
            lee.begin_measure()
        t0 = time.perf_counter()
        futures = [lee.fetch(root, content, timeout) for lee in leechers]
        done = []
        for f in futures:
            left = t0 + timeout - time.perf_counter()
            try:
                done.append(f.result(timeout=max(left, 0.0)))
            except TimeoutError:
                raise TimeoutError(f"{system} did not finish in {timeout:.0f} s") from None
        cpu_seeders = sum(procfs.cpu_seconds(s.pid) - c for s, c in zip(seeders, cpu0))
        rss_seeder = max(procfs.peak_rss_kib(s.pid) for s in seeders)
        measured = [lee.end_measure() for lee in leechers]
        for lee in leechers:
            lee.verify(root, content)
        counters = [lee.counters() for lee in leechers]
        msgs1 = [s.messages_sent() for s in seeders]
        return Round(
            seconds=max(done) - t0,
            leecher_seconds=[t - t0 for t in done],
            cpu_seeders=cpu_seeders,
            cpu_leechers=sum(c for c, _ in measured),
            rss_seeder_kib=rss_seeder,
            rss_leecher_kib=max(r for _, r in measured),
            duplicates=_sum([c["duplicates"] for c in counters]),
            messages_seeders=_sum([None if a is None or b is None else b - a
                                   for a, b in zip(msgs0, msgs1)]),
            messages_leechers=_sum([c["messages_sent"] for c in counters]),
        )
    finally:
        for lee in leechers:
            lee.close()
        shutil.rmtree(workdir, ignore_errors=True)


def _sum(values: list[int | None]) -> int | None:
    return None if any(v is None for v in values) else sum(v for v in values if v is not None)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]
