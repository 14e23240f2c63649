"""Benchmark reporting: per group, each entry's median against its baselines' medians.

pytest-benchmark prints absolute times; the acceptance criteria here are ratios measured in one
run (machines are noisy, ratios less so). When benchmarks ran (``--benchmark-enable``), every
group that has an entry whose name contains one of its baseline names (``BASELINES``: per
group, "protobuf" by default) gets a table of ``baseline median / entry median`` per baseline
(above 1: faster than that baseline). An entry that times its own work records it as
``extra_info["seconds (median)"]`` (the transfers: pytest-benchmark's clock around a round also
covers each side's IPC and checks, which differ by side); that is the median compared.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

#: baseline name fragments per benchmark group (the others: ``DEFAULT_BASELINES``)
BASELINES: dict[str, tuple[str, ...]] = {
    # issue 4: fastswap -> fastswap against Kubo -> Kubo and Helia -> Helia, same file
    "transfer": ("kubo_to_kubo", "helia_to_helia"),
    # issue 12: time to first byte from a bootstrap peer only, against Kubo in one topology
    "routing-ttfb": ("kubo_via_dht",),
}
DEFAULT_BASELINES: tuple[str, ...] = ("protobuf",)


def _median(bench: Any) -> float:
    """The entry's own clock of its work if it kept one, else pytest-benchmark's."""
    return float(bench.extra_info.get("seconds (median)", bench.stats.median))


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
        for key in BASELINES.get(group, DEFAULT_BASELINES):
            baseline = [b for b in benches if key in b.name]
            if not baseline:
                continue
            base = _median(baseline[0])
            lines.append(f"{group}  (baseline {baseline[0].name}: median {base * 1e6:.1f} us)")
            for b in sorted(benches, key=_median):
                med = _median(b)
                ratio = base / med if med else float("inf")
                lines.append(
                    f"    {b.name:<55} median {med * 1e6:>10.1f} us  rounds {b.stats.rounds:>6}"
                    f"  {ratio:>7.2f}x vs {key}"
                )
    if lines:
        terminalreporter.write_sep("-", "speedup vs baselines (median ratios, this run)")
        for line in lines:
            terminalreporter.write_line(line)
