"""``python -m benchmarks.compare BASELINE.json CURRENT.json``: the regression guard.

Both files are pytest-benchmark JSON from the same machine: a matrix run
(``benchmarks/results/matrix.json``) or a micro-benchmark run (``pytest benchmarks
--benchmark-enable --benchmark-json=FILE``). Every entry present in both (same group, same
name) is compared as a ratio of medians, ``current / baseline`` of its time (above 1:
slower). With ``--relative-to NAME``, each entry's ratio is divided by the ratio of the entry
of its group whose name contains NAME (say ``"kubo -> kubo"``, or a pure twin): a machine that
is uniformly slower today then flags nothing, a fastswap that got slower against Kubo does.

What got slower than ``1 + threshold`` is named, and so is every baseline entry the current run
no longer measured (a pair that failed, a benchmark that disappeared from a group it ran);
either makes the exit status 1. Groups the current run did not run at all are left out. Timing on a shared machine is noisy: compare runs of several rounds each (the
matrix's medians of 5), and keep the threshold above the noise (10% by default).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Change", "compare", "main"]


@dataclass(frozen=True)
class Change:
    group: str
    name: str
    baseline: float  # median seconds
    current: float
    #: current / baseline time, divided by the reference's when comparing relatively
    ratio: float
    reference: str | None = None


def _medians(doc: dict[str, Any]) -> dict[tuple[str, str], float]:
    out = {}
    for b in doc.get("benchmarks", []):
        stats = b.get("stats") or {}
        if stats.get("median"):
            out[(b.get("group") or "", b["name"])] = float(stats["median"])
    return out


def _unmeasured(doc: dict[str, Any]) -> dict[tuple[str, str], str]:
    """Entries the run attempted but could not measure (the matrix lists them), and why."""
    out = {}
    for b in doc.get("matrix", {}).get("unmeasured", []):
        ei = b.get("extra_info", {})
        out[(b["group"], b["name"])] = ei.get("failure") or f"not run: {ei.get('not run')}"
    return out


def compare(baseline: dict[str, Any], current: dict[str, Any], *,
            relative_to: str | None = None) -> tuple[list[Change], dict[tuple[str, str], str]]:
    """(every entry in both runs, slowest first; baseline entries the current run lacks in the
    groups it ran, with why). See the module docstring for the ratio."""
    base, cur = _medians(baseline), _medians(current)
    refs: dict[str, tuple[str, float]] = {}
    if relative_to:
        for (group, name) in base.keys() & cur.keys():
            if relative_to in name:
                refs[group] = (name, cur[(group, name)] / base[(group, name)])
    changes = []
    for key in base.keys() & cur.keys():
        ratio = cur[key] / base[key]
        ref = refs.get(key[0])
        if ref is not None:
            ratio /= ref[1]
        changes.append(Change(key[0], key[1], base[key], cur[key], ratio,
                              None if ref is None else ref[0]))
    changes.sort(key=lambda c: -c.ratio)
    unmeasured = _unmeasured(current)
    # a group the current run did not attempt at all (a run of some scenarios) is not missing
    groups = {g for g, _ in cur} | {g for g, _ in unmeasured}
    gone = {k: unmeasured.get(k, "not in the current run")
            for k in base.keys() - cur.keys() if k[0] in groups}
    return changes, gone


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.compare", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("baseline", type=Path)
    p.add_argument("current", type=Path)
    p.add_argument("--threshold", type=float, default=0.10,
                   help="name what got slower by more than this fraction (default 0.10)")
    p.add_argument("--relative-to", metavar="NAME",
                   help="divide each ratio by that of the entry of its group named NAME")
    args = p.parse_args(argv)
    changes, gone = compare(json.loads(args.baseline.read_text()),
                            json.loads(args.current.read_text()),
                            relative_to=args.relative_to)
    if not changes and not gone:
        print("nothing to compare: the two runs share no benchmark")
        return 2
    slower = [c for c in changes if c.ratio > 1 + args.threshold]
    print(f"{'group':<32} {'name':<44} {'baseline':>10} {'current':>10} {'ratio':>7}")
    for c in changes:
        rel = f"  (vs {c.reference})" if c.reference and c.reference != c.name else ""
        print(f"{c.group[:32]:<32} {c.name[:44]:<44} {c.baseline:>9.4f}s {c.current:>9.4f}s "
              f"{c.ratio:>6.2f}x{rel}")
    for c in slower:
        print(f"SLOWER by {100 * (c.ratio - 1):.0f}%: {c.group} / {c.name}")
    for (group, name), why in sorted(gone.items()):
        print(f"NO LONGER MEASURED: {group} / {name}: {why}")
    if not slower and not gone:
        print(f"nothing slower than {100 * args.threshold:.0f}% beyond the baseline")
    return 1 if slower or gone else 0


if __name__ == "__main__":
    sys.exit(main())
