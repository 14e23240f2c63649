"""Tests of the benchmark harness itself (issue 13): the regression guard's comparison on
synthetic runs, how the matrix splits content among seeders and picks pairs, and a smoke run
of ``python -m benchmarks.report`` -- the real command, real peer processes, tiny sizes, one
round -- that must measure and check every pair and write the table, the plot and the JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.compare import compare
from benchmarks.compare import main as compare_main
from benchmarks.matrix.content import BlockDir, BlockEntry
from benchmarks.matrix.scenarios import full, select, smoke

ROOT = Path(__file__).resolve().parent.parent


def _doc(medians: dict[tuple[str, str], float],
         unmeasured: dict[tuple[str, str], str] | None = None) -> dict:
    unmeasured = unmeasured or {}
    return {
        "benchmarks": [{"group": g, "name": n, "stats": {"median": m}}
                       for (g, n), m in medians.items()],
        "matrix": {"unmeasured": [{"group": g, "name": n, "extra_info": {"failure": why}}
                                  for (g, n), why in unmeasured.items()]},
    }


BASE = _doc({("1x1", "fastswap -> fastswap"): 1.0, ("1x1", "kubo -> kubo"): 4.0,
             ("1x1", "helia -> helia"): 3.0, ("codec", "encode[c]"): 0.002})


def test_compare_names_what_got_slower_and_what_went_missing() -> None:
    cur = _doc({("1x1", "fastswap -> fastswap"): 1.5,  # 50% slower
                ("1x1", "kubo -> kubo"): 4.2,  # 5%: noise
                ("codec", "encode[c]"): 0.001},  # faster
               {("1x1", "helia -> helia"): "TimeoutError: helia did not finish in 60 s"})
    changes, gone = compare(BASE, cur)
    assert [(c.name, round(c.ratio, 3)) for c in changes] == [
        ("fastswap -> fastswap", 1.5), ("kubo -> kubo", 1.05), ("encode[c]", 0.5)]
    assert gone == {("1x1", "helia -> helia"): "TimeoutError: helia did not finish in 60 s"}
    # a run of only some groups: the others are not missing, a group's absent entry is
    _, gone = compare(BASE, _doc({("1x1", "kubo -> kubo"): 4.0}))
    assert set(gone) == {("1x1", "fastswap -> fastswap"), ("1x1", "helia -> helia")}


def test_compare_relative_to_a_reference_forgives_a_uniformly_slower_machine() -> None:
    # everything 30% slower: absolute ratios flag all, relative ones nothing
    cur = _doc({k: v * 1.3 for k, v in {("1x1", "fastswap -> fastswap"): 1.0,
                                         ("1x1", "kubo -> kubo"): 4.0,
                                         ("1x1", "helia -> helia"): 3.0}.items()})
    changes, _ = compare(BASE, cur, relative_to="kubo -> kubo")
    assert all(abs(c.ratio - 1.0) < 1e-9 for c in changes)
    assert {c.reference for c in changes} == {"kubo -> kubo"}
    # ... but fastswap slower against Kubo is still named
    cur = _doc({("1x1", "fastswap -> fastswap"): 1.6, ("1x1", "kubo -> kubo"): 4.0 * 1.3,
                ("1x1", "helia -> helia"): 3.0 * 1.3})
    changes, _ = compare(BASE, cur, relative_to="kubo -> kubo")
    assert changes[0].name == "fastswap -> fastswap"
    assert changes[0].ratio == pytest.approx(1.6 / 1.3)


def test_compare_command_exit_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base, cur = tmp_path / "base.json", tmp_path / "cur.json"
    base.write_text(json.dumps(BASE))
    cur.write_text(json.dumps(_doc({("1x1", "fastswap -> fastswap"): 1.05,
                                    ("1x1", "kubo -> kubo"): 4.0,
                                    ("1x1", "helia -> helia"): 3.0,
                                    ("codec", "encode[c]"): 0.002})))
    assert compare_main([str(base), str(cur)]) == 0
    assert compare_main([str(base), str(cur), "--threshold", "0.02"]) == 1
    out = capsys.readouterr().out
    assert "SLOWER by 5%: 1x1 / fastswap -> fastswap" in out
    assert "kubo -> kubo" not in out.split("SLOWER")[-1]


def test_seeders_hold_disjoint_parts_that_make_the_whole_dag() -> None:
    blocks = tuple(BlockEntry(f"leaf{i}", 10, True) for i in range(10)) + (
        BlockEntry("inner", 5, False), BlockEntry("root", 5, False))
    bd = BlockDir(Path("/nowhere"), "root", 100, "0" * 64, blocks)
    parts = bd.parts(4)
    names = [b.cid for part in parts for b in part]
    assert sorted(names) == sorted(b.cid for b in blocks) and len(set(names)) == len(names)
    assert [b.cid for b in parts[0]][:2] == ["inner", "root"]  # inner nodes with the first
    assert [len([b for b in p if b.leaf]) for p in parts] == [2, 3, 2, 3]  # contiguous runs
    assert [b.cid for b in parts[1]] == ["leaf2", "leaf3", "leaf4"]


def test_scenarios_cover_the_issue_and_select_by_system() -> None:
    ids = [s.id for s in full()]
    assert ids == ["1x1-64MiB", "1x1-256MiB", "1x1-1GiB", "1x1-16MiB-1KiB-blocks",
                   "1x1-tree-2000", "1x4-256MiB", "1x8-128MiB", "4x1-256MiB", "cli-256MiB"]
    assert next(s.id for s in smoke()) == "1x1-2MiB"
    picked = select(smoke(), ids=["1x1-2MiB", "cli"], systems=["fastswap", "kubo"])
    assert [s.id for s in picked] == ["1x1-2MiB", "cli-2MiB"]
    assert picked[0].pairs == (("fastswap", "fastswap"), ("kubo", "kubo"),
                               ("fastswap", "kubo"), ("kubo", "fastswap"))
    assert picked[1].pairs == (("fastswap", "fastswap"), ("fastswap", "fastswap get"))


def _smoke(tmp_path: Path, systems: str, scenarios: str) -> tuple[dict, Path]:
    """Run the README's command in its smoke mode (real processes, every transfer checked);
    the JSON document and the output directory."""
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.report", "--smoke", "--no-install",
         "--systems", systems, "--scenarios", scenarios, "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=110, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    doc = json.loads((out / "matrix.json").read_text())
    assert doc["matrix"]["unmeasured"] == []
    for b in doc["benchmarks"]:
        ei = b["extra_info"]
        assert ei["failure"] is None and len(ei["rounds"]) == 1, b
        assert b["stats"]["rounds"] == 1 and b["stats"]["median"] > 0
        assert ei["MB/s"] > 0 and ei["leecher peak RSS MiB"] > 10 and ei["seeder CPU s/GB"] >= 0
        # counters where the leecher is fastswap's engine, n/a (None) where it cannot say
        if b["params"]["leecher"] == "fastswap":
            assert ei["duplicate blocks"] is not None and ei["leecher messages sent"] > 0
        else:
            assert ei["duplicate blocks"] is None
    return doc, out


def _pairs(*pairs: tuple[str, str]) -> set[str]:
    return {f"{s} -> {le}" for s, le in pairs}


MIXED = (("fastswap", "fastswap"), ("kubo", "kubo"), ("fastswap", "kubo"), ("kubo", "fastswap"))


@pytest.mark.interop
@pytest.mark.timeout(120)
def test_report_smoke_one_to_one_and_cli(tmp_path: Path) -> None:
    doc, out = _smoke(tmp_path, "fastswap,kubo,helia", "1x1-2MiB,cli")
    got = {(b["group"], b["name"]) for b in doc["benchmarks"]}
    assert got == {("1x1-2MiB", n) for n in _pairs(
        *MIXED, ("helia", "helia"), ("fastswap", "helia"), ("helia", "fastswap"))} | {
        ("cli-2MiB", n) for n in _pairs(("fastswap", "fastswap"), ("fastswap", "fastswap get"))}
    md = (out / "BENCHMARKS.md").read_text()
    assert "## 1 -> 1, a 2 MiB file (`1x1-2MiB`)" in md and "(matrix.png)" in md
    assert "| fastswap -> fastswap | " in md and "--smoke" in md
    assert (out / "matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.interop
@pytest.mark.timeout(120)
def test_report_smoke_four_seeders_with_quarters(tmp_path: Path) -> None:
    doc, _ = _smoke(tmp_path, "fastswap,kubo", "4x1")
    assert {(b["group"], b["name"]) for b in doc["benchmarks"]} == {
        ("4x1-2MiB", n) for n in _pairs(*MIXED)}


def test_the_bench_extra_installs_what_the_micro_benchmarks_import() -> None:
    """``python -m benchmarks.report`` after the README's first set-up command (``pip install
    .``, no test extra) installs the ``bench`` extra and runs the micro benchmarks; a module
    they (or the conftests pytest loads with them) import from outside the standard library,
    fastswap, benchmarks and tests must come from that extra or from fastswap's own
    dependencies. Missing hypothesis made the published run's micro benchmarks fail to
    collect."""
    import ast
    import importlib.metadata as md
    import tomllib

    from benchmarks.report import MICRO

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    from packaging.requirements import Requirement

    provided = {Requirement(r).name.lower().replace("_", "-")
                for r in [*project["dependencies"], *project["optional-dependencies"]["bench"]]}
    files = [ROOT / "benchmarks" / f for f in MICRO]
    files += [ROOT / "benchmarks" / "conftest.py", ROOT / "tests" / "conftest.py"]
    dists = md.packages_distributions()
    missing = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top in ("fastswap", "benchmarks", "tests"):
                    continue
                owners = {d.lower().replace("_", "-") for d in dists.get(top, [top])}
                if not owners & provided:
                    missing.append(f"{path.relative_to(ROOT)}: {name} ({', '.join(owners)})")
    assert not missing, missing
