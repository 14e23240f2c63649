"""Benchmark reporting: per group, each entry's median against the protobuf baseline's.

pytest-benchmark prints absolute times; the acceptance criteria here are ratios measured in one
run (machines are noisy, ratios less so). When benchmarks ran (``--benchmark-enable``), every
group that has an entry whose name contains "protobuf" gets a table of
``protobuf median / entry median`` (above 1: faster than protobuf).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: Any) -> None:
    session = getattr(config, "_benchmarksession", None)
    if session is None or session.disabled or not session.benchmarks:
        return
    groups: dict[str, list] = defaultdict(list)
    for bench in session.benchmarks:
        groups[bench.group or ""].append(bench)
    lines = []
    for group in sorted(groups):
        benches = groups[group]
        baseline = [b for b in benches if "protobuf" in b.name]
        if not baseline:
            continue
        base = baseline[0].stats.median
        lines.append(f"{group}  (baseline {baseline[0].name}: median {base * 1e6:.1f} us)")
        for b in sorted(benches, key=lambda b: b.stats.median):
            med = b.stats.median
            ratio = base / med if med else float("inf")
            lines.append(
                f"    {b.name:<55} median {med * 1e6:>10.1f} us  rounds {b.stats.rounds:>6}"
                f"  {ratio:>7.2f}x vs protobuf"
            )
    if lines:
        terminalreporter.write_sep("-", "speedup vs protobuf (median ratios, this run)")
        for line in lines:
            terminalreporter.write_line(line)
