"""Medians as ratios, per benchmark group: the compiled twin against its pure-Python twin,
every entry against protobuf where protobuf is the reference, and against named baselines.

Machines are noisy and acceptance criteria are ratios within one run, so absolute times
matter less than these. Used by ``benchmarks/conftest.py`` (the table pytest prints after a
benchmark run) and by ``benchmarks/report.py`` (the hot-path section of BENCHMARKS.md, from
pytest-benchmark's JSON), so both show the same numbers.

For each group, each entry gets:
* ``x pure``: its pure twin's median over its own, when it ran the compiled twin of a pair
  registered in ``fastswap._compat.TWINS`` and the same benchmark ran the pure twin too
  (matched on the benchmark function and every other parameter);
* ``x protobuf``: the group's protobuf entry's median over its own (the wire codec's oracle);
* ``x NAME`` for each baseline of ``BASELINES`` present in the group;
* in a group with none of these, ``x slowest``: the group's slowest entry over its own.
Above 1: faster than that reference.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

__all__ = ["BASELINES", "Entry", "from_json", "ratio_lines", "ratio_tables"]

#: baseline name fragments per benchmark group, beside the pure twin and protobuf
BASELINES: dict[str, tuple[str, ...]] = {
    # issue 4: fastswap -> fastswap against Kubo -> Kubo and Helia -> Helia, same file
    "transfer": ("kubo_to_kubo", "helia_to_helia"),
    # issue 12: time to first byte from a bootstrap peer only, against Kubo in one topology
    "routing-ttfb": ("kubo_via_dht",),
}
_PROTOBUF = "protobuf"


@dataclass(frozen=True)
class Entry:
    group: str
    name: str
    fullname: str
    params: dict[str, Any]
    median: float  # seconds
    rounds: int


def from_json(doc: dict[str, Any]) -> list[Entry]:
    """The entries of a pytest-benchmark JSON document."""
    return [Entry(b.get("group") or "", b["name"], b.get("fullname", b["name"]),
                  dict(b.get("params") or {}), float(b["stats"]["median"]),
                  int(b["stats"]["rounds"]))
            for b in doc.get("benchmarks", []) if b.get("stats")]


def _twins() -> dict[str, str]:
    from fastswap._compat import TWINS

    return TWINS


def _sibling_key(e: Entry, twins: dict[str, str]) -> tuple[str, tuple[tuple[str, str], ...]]:
    """Which benchmark *e* is, the twin it ran set aside: the function, and its parameters with
    every compiled twin's name replaced by its pure twin's."""
    func = e.fullname.split("[", 1)[0]
    return func, tuple(sorted((k, twins.get(str(v), str(v))) for k, v in e.params.items()))


def ratio_tables(entries: list[Entry]) -> dict[str, list[tuple[Entry, dict[str, float]]]]:
    """Per group (sorted), its entries fastest first, each with {reference: ratio}."""
    twins = _twins()
    compiled = set(twins)
    groups: dict[str, list[Entry]] = defaultdict(list)
    for e in entries:
        groups[e.group].append(e)
    out: dict[str, list[tuple[Entry, dict[str, float]]]] = {}
    for group in sorted(groups):
        benches = sorted(groups[group], key=lambda e: e.median)
        pure_of: dict[tuple[str, tuple[tuple[str, str], ...]], Entry] = {}
        for e in benches:
            if not any(str(v) in compiled for v in e.params.values()):
                pure_of.setdefault(_sibling_key(e, twins), e)
        refs: list[tuple[str, Entry]] = []
        for key in (_PROTOBUF, *BASELINES.get(group, ())):
            found = [b for b in benches if key in b.name]
            if found:
                refs.append((key, found[0]))
        rows = []
        for e in benches:
            ratios: dict[str, float] = {}
            if any(str(v) in compiled for v in e.params.values()):
                pure = pure_of.get(_sibling_key(e, twins))
                if pure is not None and pure is not e:
                    ratios["pure"] = pure.median / e.median
            for key, ref in refs:
                ratios[key] = ref.median / e.median
            rows.append((e, ratios))
        if not any(r for _, r in rows):
            slowest = benches[-1]
            rows = [(e, {"slowest": slowest.median / e.median}) for e in benches]
        out[group] = rows
    return out


def ratio_lines(entries: list[Entry]) -> list[str]:
    """The tables as text lines (what pytest prints)."""
    lines = []
    for group, rows in ratio_tables(entries).items():
        lines.append(group or "(no group)")
        for e, ratios in rows:
            refs = "  ".join(f"{r:>7.2f}x vs {k}" for k, r in ratios.items())
            lines.append(f"    {e.name:<60} median {e.median * 1e6:>12.1f} us  rounds "
                         f"{e.rounds:>6}  {refs}")
    return lines
