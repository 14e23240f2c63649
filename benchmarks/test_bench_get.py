"""``fastswap get`` as a user runs it (issue 10, "Done when"): the CLI, one process per fetch,
timed from process start to exit (the output written, closed and moved into place), against
the real peers' fetch of the same content and against the engine's fetch-only time, in one
run, the systems interleaved round by round so a busy moment of the shared machine falls on
all of them alike. Built on the peer matrix's drivers (``benchmarks/matrix/systems.py``),
whose ``CLOCKS`` say what each leecher's clock covers:

* group ``get-file``: a 256 MiB random file (256 KiB raw leaves; every seeder serves the same
  DAG, loaded before the first round). Each leecher fetches from a seeder of its own kind:
  ``fastswap get`` and the engine from a fastswap seeder, Kubo from a Kubo seeder, Helia from
  a Helia seeder.

  - ``fastswap get CID --peer ADDR -o FILE``: process start (interpreter, imports, repo
    creation, connect) to exit; this harness's clock around ``Popen`` + ``wait4``;
  - engine: ``Node.fetch_dag`` in a fresh fastswap leecher process (every block verified and
    committed to LMDB, nothing written out), connected beforehand;
  - Kubo: ``Download`` (fetch into flatfs and write the file out), connected beforehand;
  - Helia: ``unixfs.cat`` drained (fetch into its memory blockstore), dialled beforehand.

  The real peers are connected outside their clocks and ``fastswap get`` connects inside its
  own: the comparison favours them. extra_info: each system's median seconds, and the ratios
  the issue names (Kubo / get and Helia / get: target >= 5; get / engine: target <= 1.25);
  also each leecher's CPU seconds over its fetch (``wait4``'s rusage for get, ``/proc`` for
  the others): on a shared machine a steadier figure than wall time.
  Also ``fastswap get`` of a one-block file (256 KiB, its own fastswap seeder) in every round:
  nearly all of it is the fixed cost of a get (process start, imports, a new repo, the
  connection, exit), so ``(get - get of one block) / engine`` says what streaming and writing
  the 256 MiB cost beyond the engine's fetch, and the rest of the issue's ratio is start-up.
* group ``get-tree``: a flat directory of 2,000 random files, 64 MiB in all, imported by each
  seeder itself (fastswap's default Kubo preset gives Kubo's root CID);
  ``fastswap get CID -o DIR`` (process start to exit) against Kubo's ``Download`` of it
  (connected beforehand). extra_info: medians and Kubo / get (target >= 5).
* group ``get-rss``: the peak resident set of ``fastswap get`` of a 1 GiB file and of a 64 MiB
  file, from a fastswap seeder. Two figures per process: ``VmHWM`` (``wait4``'s ru_maxrss, the
  high-water mark of everything resident, file-backed pages of the LMDB map included) and the
  peak of ``RssAnon`` (anonymous memory only: the issue's "file-backed LMDB pages aside"),
  sampled from ``/proc/PID/status`` every 5 ms (a peak shorter than that can be missed).
  extra_info: the medians of both, and the 1 GiB - 64 MiB differences (target: anonymous
  within 64 MiB).

Each test starts with an untimed warm-up ``fastswap get`` that fills the bytecode cache of the
get processes (see ``get_env``). Every output is checked afterwards (sha256 of the file, or of every file of the tree), outside
the clocks. There are no timing assertions: the figures are printed and recorded; the suite's
smoke run (benchmarks disabled) moves a few MiB and checks only that every leecher wrote the
right bytes. Measure with:

    python -m pytest benchmarks/test_bench_get.py --benchmark-enable --benchmark-only -s
"""

from __future__ import annotations

import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from benchmarks._installed import clean_env
from benchmarks.matrix.content import (
    dir_tree_digest,
    file_sha256,
    tree_digest,
    write_random_file,
)
from benchmarks.matrix.systems import (
    Content,
    Seeder,
    build_blockdir,
    start_leecher,
    start_seeder,
)

MIB = 1 << 20
#: issue 10 asks for medians of at least 3
ROUNDS = 3
#: (measured, smoke) sizes
FILE_SIZE = (256 * MIB, 4 * MIB)
#: (files, bytes) of the tree
TREE = ((2000, 64 * MIB), (40, 2 * MIB))
RSS_SIZES = ((64 * MIB, 1024 * MIB), (1 * MIB, 4 * MIB))
#: seconds any one fetch may take (Helia's cat of 256 MiB is the slowest here)
TIMEOUT = 600.0
#: how often the RSS sampler reads /proc/PID/status
_SAMPLE_EVERY = 0.005

pytestmark = pytest.mark.timeout(3600)


def _file_content(tmp: Path, size: int) -> Content:
    tmp.mkdir(parents=True)
    src = tmp / "source.bin"
    write_random_file(src, size)
    blockdir = build_blockdir(src, tmp / "blocks", 256 * 1024)
    src.unlink()
    return Content(blockdir=blockdir)


def _tree_content(root: Path, nfiles: int, nbytes: int) -> Content:
    """*nfiles* random files of (almost) equal size, *nbytes* in all, flat in *root*."""
    root.mkdir(parents=True)
    files = []
    for i in range(nfiles):
        size = nbytes // nfiles + (1 if i < nbytes % nfiles else 0)
        data = os.urandom(size)
        name = f"file-{i:05d}.bin"
        (root / name).write_bytes(data)
        files.append((name, hashlib.sha256(data).hexdigest()))
    return Content(tree=root, tree_digest=tree_digest(files), tree_files=nfiles,
                   tree_bytes=nbytes)


class GetRun:
    """One ``fastswap get`` process: its wall time, CPU time, VmHWM and sampled peak
    RssAnon."""

    def __init__(self, seconds: float, cpu: float, maxrss_kib: int, anon_kib: int) -> None:
        self.seconds = seconds
        self.cpu = cpu
        self.maxrss_kib = maxrss_kib
        self.anon_kib = anon_kib


def _rss_anon_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def get_env(pycache: Path) -> dict[str, str]:
    """The environment of a ``fastswap get`` process: this one's (checkout off the path), with
    bytecode caching on, into *pycache*. An installed wheel has its modules byte-compiled; an
    editable install run with PYTHONDONTWRITEBYTECODE (as this machine's shells are) compiles
    every module from source at each start (about 0.1 s of a get), which no user pays. The
    cache goes to *pycache*, not beside the sources; a warm-up get fills it, untimed."""
    env = clean_env()
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def run_get(seeder: Seeder, root: str, workdir: Path, env: dict[str, str]) -> GetRun:
    """``fastswap --repo WORKDIR/repo get ROOT --peer SEEDER -o WORKDIR/out`` in a fresh repo,
    timed from just before ``Popen`` to ``wait4``'s return."""
    exe = Path(sys.executable).with_name("fastswap")
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    argv = [str(exe), "--repo", str(workdir / "repo"), "get", root, "--peer", seeder.multiaddr,
            "-o", str(workdir / "out"), "--timeout", str(TIMEOUT), "-q"]
    peak = [0]
    with open(workdir / "cli.log", "wb") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=workdir, env=env, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=log, start_new_session=True)
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], _rss_anon_kib(proc.pid))
                stop.wait(_SAMPLE_EVERY)

        sampler = threading.Thread(target=sample, name="rss-sampler", daemon=True)
        sampler.start()
        try:
            _, status, rusage = os.wait4(proc.pid, 0)
            seconds = time.perf_counter() - t0
        finally:
            stop.set()
            sampler.join()
            if proc.poll() is None:
                os.killpg(proc.pid, 9)
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"fastswap get exited {proc.returncode}: "
                           + (workdir / "cli.log").read_text()[-2000:])
    return GetRun(seconds, rusage.ru_utime + rusage.ru_stime, int(rusage.ru_maxrss), peak[0])


def check_output(out: Path, content: Content) -> None:
    if content.is_tree:
        assert dir_tree_digest(out)[0] == content.tree_digest, "the tree written differs"
    else:
        assert content.blockdir is not None
        assert file_sha256(out) == content.blockdir.sha256, "the file written differs"


def run_peer(system: str, seeder: Seeder, content: Content, workdir: Path
             ) -> tuple[float, float]:
    """One fresh matrix leecher of *system*: connected (untimed), fetch timed by this
    harness's clock, output checked (untimed). (seconds, CPU seconds of the fetch)."""
    lee = start_leecher(system, workdir)
    try:
        lee.connect([seeder])
        assert seeder.root is not None
        lee.begin_measure()
        t0 = time.perf_counter()
        done = lee.fetch(seeder.root, content, TIMEOUT).result(TIMEOUT)
        seconds = done - t0
        cpu, _ = lee.end_measure()
        lee.verify(seeder.root, content)
        return seconds, cpu
    finally:
        lee.close()


def _median(xs: list[float]) -> float:
    return statistics.median(xs)


def _rounds(benchmark: Any, legs: dict[str, Callable[[], tuple[float, float]]]
            ) -> dict[str, float]:
    """Run every leg once per round, ROUNDS rounds (one in the smoke run); the medians of
    their seconds. Their CPU seconds (a figure the other engineers' load moves less) are
    recorded too."""
    secs: dict[str, list[float]] = {name: [] for name in legs}
    cpus: dict[str, list[float]] = {name: [] for name in legs}

    def one_round() -> None:
        for name, leg in legs.items():
            t, cpu = leg()
            secs[name].append(t)
            cpus[name].append(cpu)

    benchmark.pedantic(one_round, rounds=1 if benchmark.disabled else ROUNDS, iterations=1)
    meds = {name: _median(v) for name, v in secs.items()}
    for name, v in secs.items():
        benchmark.extra_info[f"{name} seconds (median)"] = round(meds[name], 3)
        benchmark.extra_info[f"{name} seconds (rounds)"] = [round(x, 3) for x in v]
        cpu = _median(cpus[name])
        benchmark.extra_info[f"{name} CPU seconds (median)"] = round(cpu, 3)
        print(f"\n{name}: median {meds[name]:.3f} s over {len(v)} rounds "
              f"({', '.join(f'{x:.3f}' for x in v)}); CPU {cpu:.3f} s", end="")
    print()
    return meds


def _ratio(benchmark: Any, label: str, value: float, target: str) -> None:
    benchmark.extra_info[label] = round(value, 2)
    print(f"{label}: {value:.2f} ({target if target.startswith('no target') else 'target ' + target})")


@pytest.mark.benchmark(group="get-file")
def test_bench_get_file(benchmark, tmp_path: Path) -> None:
    size = FILE_SIZE[benchmark.disabled]
    content = _file_content(tmp_path / "content", size)
    block = _file_content(tmp_path / "content-block", 256 * 1024)
    seeders: dict[str, Seeder] = {}
    try:
        for system in ("fastswap", "kubo", "helia"):
            seeders[system] = start_seeder(system, tmp_path / f"seed-{system}", content)
        seeders["block"] = start_seeder("fastswap", tmp_path / "seed-block", block)
        out, env = tmp_path / "get", get_env(tmp_path / "pycache")

        def getter(seeder: Seeder, what: Content) -> Callable[[], tuple[float, float]]:
            def get() -> tuple[float, float]:
                run = run_get(seeder, what.blockdir.root, out, env)  # type: ignore[union-attr]
                check_output(out / "out", what)
                shutil.rmtree(out)
                return run.seconds, run.cpu
            return get

        get = getter(seeders["fastswap"], content)
        get()  # untimed warm-up: the bytecode cache

        legs: dict[str, Callable[[], tuple[float, float]]] = {
            "fastswap get": get,
            "fastswap get of one block": getter(seeders["block"], block),
        }
        for name, system in (("engine fetch-only", "fastswap"), ("kubo", "kubo"),
                             ("helia", "helia")):
            legs[name] = (lambda s=system: run_peer(s, seeders[s], content,
                                                    tmp_path / f"leech-{s}"))
        meds = _rounds(benchmark, legs)
    finally:
        for s in seeders.values():
            s.close()
    benchmark.extra_info["MB"] = size / 1e6
    g = meds["fastswap get"]
    print(f"fastswap get {size >> 20} MiB: {size / g / 1e6:.1f} MB/s")
    _ratio(benchmark, "kubo / fastswap get", meds["kubo"] / g, ">= 5")
    _ratio(benchmark, "helia / fastswap get", meds["helia"] / g, ">= 5")
    _ratio(benchmark, "fastswap get / engine fetch-only", g / meds["engine fetch-only"],
           "<= 1.25")
    # the same without the fixed cost of a get (process start, imports, a new repo, the
    # connection, exit), which one block's get is nearly all of: what streaming and writing
    # the file cost beyond the engine's fetch
    fixed = meds["fastswap get of one block"]
    _ratio(benchmark, "(fastswap get - get of one block) / engine fetch-only",
           (g - fixed) / meds["engine fetch-only"], "no target: the one above less start-up")


@pytest.mark.benchmark(group="get-tree")
def test_bench_get_tree(benchmark, tmp_path: Path) -> None:
    nfiles, nbytes = TREE[benchmark.disabled]
    content = _tree_content(tmp_path / "content" / "tree", nfiles, nbytes)
    seeders: dict[str, Seeder] = {}
    try:
        for system in ("fastswap", "kubo"):
            seeders[system] = start_seeder(system, tmp_path / f"seed-{system}", content)
        # the same importer settings: one root CID (else the two fetch different DAGs)
        assert seeders["fastswap"].root == seeders["kubo"].root, (
            f"fastswap's root {seeders['fastswap'].root} is not Kubo's {seeders['kubo'].root}")
        out, env = tmp_path / "get", get_env(tmp_path / "pycache")

        def get() -> tuple[float, float]:
            run = run_get(seeders["fastswap"], seeders["fastswap"].root or "", out, env)
            check_output(out / "out", content)
            shutil.rmtree(out)
            return run.seconds, run.cpu

        get()  # untimed warm-up: the bytecode cache

        meds = _rounds(benchmark, {
            "fastswap get": get,
            "kubo": lambda: run_peer("kubo", seeders["kubo"], content, tmp_path / "leech-kubo"),
        })
    finally:
        for s in seeders.values():
            s.close()
    benchmark.extra_info["files"] = nfiles
    benchmark.extra_info["MB"] = nbytes / 1e6
    _ratio(benchmark, "kubo / fastswap get", meds["kubo"] / meds["fastswap get"], ">= 5")


@pytest.mark.benchmark(group="get-rss")
def test_bench_get_rss(benchmark, tmp_path: Path) -> None:
    small, large = RSS_SIZES[benchmark.disabled]
    contents = {n: _file_content(tmp_path / f"content-{n}", n) for n in (small, large)}
    runs: dict[int, list[GetRun]] = {small: [], large: []}
    seeders: dict[int, Seeder] = {}
    try:
        for n, c in contents.items():
            seeders[n] = start_seeder("fastswap", tmp_path / f"seed-{n}", c)
        out, env = tmp_path / "get", get_env(tmp_path / "pycache")

        def one_round() -> None:
            for n, c in contents.items():
                assert c.blockdir is not None
                runs[n].append(run_get(seeders[n], c.blockdir.root, out, env))
                check_output(out / "out", c)
                shutil.rmtree(out)

        one_round()  # untimed warm-up: the bytecode cache
        for rs in runs.values():
            rs.clear()

        benchmark.pedantic(one_round, rounds=1 if benchmark.disabled else ROUNDS, iterations=1)
    finally:
        for s in seeders.values():
            s.close()
    med: dict[tuple[int, str], float] = {}
    for n, rs in runs.items():
        label = f"{n >> 20} MiB"
        med[n, "hwm"] = _median([r.maxrss_kib / 1024 for r in rs])
        med[n, "anon"] = _median([r.anon_kib / 1024 for r in rs])
        med[n, "s"] = _median([r.seconds for r in rs])
        benchmark.extra_info[f"{label} VmHWM MiB (median)"] = round(med[n, "hwm"], 1)
        benchmark.extra_info[f"{label} peak RssAnon MiB (median)"] = round(med[n, "anon"], 1)
        benchmark.extra_info[f"{label} seconds (median)"] = round(med[n, "s"], 3)
        print(f"\nfastswap get {label}: VmHWM {med[n, 'hwm']:.1f} MiB, peak RssAnon "
              f"{med[n, 'anon']:.1f} MiB, {med[n, 's']:.3f} s (medians of {len(rs)})", end="")
    print()
    _ratio(benchmark, "VmHWM MiB, large - small", med[large, "hwm"] - med[small, "hwm"],
           "file-backed LMDB pages included")
    _ratio(benchmark, "RssAnon MiB, large - small", med[large, "anon"] - med[small, "anon"],
           "<= 64")
