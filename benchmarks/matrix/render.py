"""BENCHMARKS.md and the plot, from a matrix JSON document (``results.to_benchmark_json``).

Rendering reads only the document, so a saved run can be re-rendered (``python -m
benchmarks.report --render FILE.json``) without measuring again.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from benchmarks.matrix.results import PairResult, from_benchmark_json, summarize
from benchmarks.matrix.systems import CLOCKS, NOT_REPORTED

__all__ = ["not_ahead", "render_markdown", "render_plot"]

_REF = ("fastswap", "fastswap")
_F = "fastswap"


def _fmt(v: float | None, digits: int = 1) -> str:
    if v is None:
        return "n/a"
    if v >= 100:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}"


def _headline(r: PairResult, figure: str) -> float | None:
    return summarize(r).get(figure) if r.rounds else None


def _own_pair(r: PairResult) -> tuple[str, str] | None:
    """For a pair mixing fastswap with a peer X: X -> X (what the peer's network does without
    fastswap). The CLI counts as fastswap."""
    sides = {r.seeder, r.leecher}
    others = [s for s in sides if not s.startswith(_F)]
    if len(others) == 1 and len(sides) == 2:
        return (others[0], others[0])
    return None


def not_ahead(results: list[PairResult], scenarios: dict[str, Any]) -> list[str]:
    """Plain sentences: every row of a scenario faster than fastswap -> fastswap, and every
    mixed pair slower than the peer's own pair (fastswap in the network made it slower)."""
    out = []
    by_sc: dict[str, list[PairResult]] = defaultdict(list)
    for r in results:
        by_sc[r.scenario].append(r)
    for sc_id, rows in by_sc.items():
        figure = scenarios[sc_id]["figure"]
        pairs = {(r.seeder, r.leecher): r for r in rows}
        ref = pairs.get(_REF)
        ref_v = _headline(ref, figure) if ref is not None else None
        for r in rows:
            v = _headline(r, figure)
            if v is None:
                continue
            if ref_v is not None and not (_F in (r.seeder, r.leecher)) and v > ref_v:
                out.append(f"`{sc_id}`: {r.name} ({_fmt(v)} {figure}) is ahead of fastswap -> "
                           f"fastswap ({_fmt(ref_v)} {figure}).")
            own = _own_pair(r)
            if own is not None and own in pairs:
                ov = _headline(pairs[own], figure)
                if ov is not None and v < ov:
                    out.append(f"`{sc_id}`: {r.name} ({_fmt(v)} {figure}) is slower than "
                               f"{pairs[own].name} ({_fmt(ov)} {figure}).")
        # pairs that could not give a figure, one line per reason
        why: dict[str, list[str]] = defaultdict(list)
        for r in rows:
            if r.failure or (r.not_run and _F in (r.seeder, r.leecher)):
                why[r.failure or f"not run: {r.not_run}"].append(r.name)
        for reason, names in why.items():
            out.append(f"`{sc_id}`: no full figure for {', '.join(names)}: {reason}")
    return out


def _table(rows: list[PairResult], figure: str) -> list[str]:
    pairs = {(r.seeder, r.leecher): r for r in rows}
    ref = pairs.get(_REF)
    ref_v = _headline(ref, figure) if ref is not None else None
    heads = ["seeder -> leecher", figure]
    if figure != "MB/s":
        heads.append("MB/s")
    heads += ["x fastswap", "x peer's own pair", "seeder CPU s/GB", "leecher CPU s/GB",
              "seeder RSS MiB", "leecher RSS MiB", "duplicate blocks",
              "messages sent (seeder / leecher)", "rounds"]
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for r in rows:
        if not r.rounds:
            why = f"failed: {r.failure}" if r.failure else f"not run: {r.not_run}"
            lines.append(f"| {r.name} | {why} |" + " |" * (len(heads) - 2))
            continue
        s = summarize(r)
        v = s[figure]
        cells = [r.name, _fmt(v)]
        if figure != "MB/s":
            cells.append(_fmt(s["MB/s"]))
        cells.append(f"{v / ref_v:.2f}x" if ref_v else "n/a")
        own = _own_pair(r)
        ov = _headline(pairs[own], figure) if own is not None and own in pairs else None
        cells.append(f"{v / ov:.2f}x vs {own[0]}" if ov and own else "")
        cells += [_fmt(s["seeder CPU s/GB"], 2), _fmt(s["leecher CPU s/GB"], 2),
                  _fmt(s["seeder peak RSS MiB"], 0), _fmt(s["leecher peak RSS MiB"], 0),
                  _fmt(s["duplicate blocks"], 0),
                  f"{_fmt(s['seeder messages sent'], 0)} / {_fmt(s['leecher messages sent'], 0)}"]
        rounds = str(len(r.rounds))
        if r.failure:
            rounds += f" (then failed: {r.failure})"
        cells.append(rounds)
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _micro_section(micro: dict[str, Any]) -> list[str]:
    from benchmarks.ratios import from_json, ratio_tables

    out = ["## Hot paths: compiled twin, pure twin, protobuf", "",
           ("The micro benchmarks of `benchmarks/` (pytest-benchmark, same run): each group's "
           "median per entry and its ratios -- the compiled twin against its pure-Python twin "
           "(`x pure`), against protobuf where protobuf is the reference, else against the "
           "group's slowest entry. Above 1: faster. Raw: `micro.json` beside `matrix.json`."),
           ""]
    for group, rows in ratio_tables(from_json(micro)).items():
        out += [f"**{group or '(no group)'}**", "", "| benchmark | median | ratios |",
                "|---|---|---|"]
        for e, ratios in rows:
            refs = ", ".join(f"{r:.2f}x vs {k}" for k, r in ratios.items()) or "-"
            out.append(f"| `{e.name}` | {e.median * 1e6:,.1f} us | {refs} |")
        out.append("")
    return out


def render_markdown(doc: dict[str, Any], *, plot: str | None, notes: str | None,
                    micro: dict[str, Any] | None = None) -> str:
    """BENCHMARKS.md for the document; *plot* is the PNG's path relative to the file,
    *notes* Markdown written by people (why fastswap is not ahead where it is not), *micro*
    the micro benchmarks' pytest-benchmark JSON."""
    results = from_benchmark_json(doc)
    m = doc["matrix"]
    scenarios = {s["id"]: s for s in m["scenarios"]}
    v = m["versions"]
    mi = m["machine"]
    out = [
        "# Benchmarks: Bitswap on loopback, fastswap against Kubo, Helia and py-libp2p",
        "",
        (f"Measured {doc['datetime'][:19].replace('T', ' ')} UTC with `{m['command']}` "
        f"(commit `{doc['commit_info'].get('id', '?')[:12]}`"
        f"{', dirty' if doc['commit_info'].get('dirty') else ''})."),
        "",
        (f"- Machine: {mi['cpu']}, {mi['cores']} cores, {mi['memory_gib']:.0f} GiB, "
         f"{mi['system']}; every process on 127.0.0.1. Load average (1 min) "
         f"{mi['load_before']:.2f} before the run, {mi['load_after']:.2f} after: whatever "
         "else ran on the machine slowed every system alike (rounds are interleaved), so "
         "compare ratios within this run."),
        (f"- fastswap {v['fastswap']} (installed at `{v['fastswap_file']}`, compiled twins), "
        f"Kubo {v['kubo']}, Helia {v['helia']}, py-libp2p {v['py-libp2p']}, "
        f"Python {v['python']}."),
        (f"- {m['rounds']} measured round(s) per pair (the median shown), {m['warmup']} "
        "warm-up round(s) discarded; rounds interleaved across pairs (round 1 of every pair, then "
        "round 2, ...). Fresh leecher processes and stores every round; each seeder started "
        "and loaded once per scenario, before the first round. Every transfer checked (sha256 "
        "of the file, or of every file of a directory) after its clock stopped."),
        "",
    ]
    if plot:
        out += [f"![Median transfer rate per scenario and pair]({plot})", ""]
    out += [
        "## Reading the tables",
        "",
        ("- **MB/s**: payload bytes (the file's, 10^6 B/s) delivered per second; with several "
        "leechers, all of them together over the round's wall time. **blocks/s**, "
        "**files/s**: the same for blocks and files."),
        ("- **x fastswap**: the row's figure over fastswap -> fastswap's (above 1: faster). "
        "**x peer's own pair**: a pair mixing fastswap with peer X over X -> X: what putting "
        "fastswap on one side does for a network of X."),
        ("- **CPU s/GB**: CPU seconds (user + system, every thread) of each side's processes "
        "during the timed fetch, per GB delivered. **RSS MiB**: each side's peak resident set "
        "during the round (`VmHWM`; file-backed pages such as an LMDB map count; the largest "
        "process of the side). Read from `/proc` by the harness, the same way for every system."),
        "- **duplicate blocks**, **messages sent**: Bitswap counters, where the system reports "
        "them (n/a otherwise: "
        + "; ".join(f"{k}: {why}" for k, why in NOT_REPORTED.items()) + ").",
        "",
        ("What each leecher's clock covers (the harness's clock, `perf_counter`, around the "
        "command that fetches):"),
        "",
        "| leecher | clock |",
        "|---|---|",
        *[f"| {k} | {c} |" for k, c in CLOCKS.items()],
        "",
        ("Every seeder serves the same DAG in the file scenarios (CIDv1, raw 256 KiB leaves or "
        "1 KiB ones, 174 links per node, built by fastswap's importer and loaded into each "
        "store as blocks: see `benchmarks/matrix/systems.py`)."),
        "",
        "## Where fastswap is not ahead",
        "",
    ]
    behind = not_ahead(results, scenarios)
    out += [f"- {s}" for s in behind] if behind else [
        ("Nowhere: fastswap -> fastswap leads every scenario, and no pair with fastswap on "
        "one side is slower than the peer's own pair.")]
    out.append("")
    if notes:
        out += ["### Why", "", notes.strip(), ""]
    by_sc: dict[str, list[PairResult]] = defaultdict(list)
    for r in results:
        by_sc[r.scenario].append(r)
    for sc_id, sc in scenarios.items():
        rows = by_sc.get(sc_id, [])
        if not rows:
            continue
        out += [f"## {sc['title']} (`{sc_id}`)", ""]
        if sc.get("note"):
            out += [sc["note"][0].upper() + sc["note"][1:] + ".", ""]
        out += _table(rows, sc["figure"])
        out.append("")
    if micro is not None:
        out += _micro_section(micro)
    out += ["## Reproduce", "", "```sh", m["command"], "```", "",
            (f"Raw rounds: `{m.get('json', 'the JSON file')}` (pytest-benchmark's JSON layout). "
            "Compare a later run with `python -m benchmarks.compare OLD.json NEW.json`."), ""]
    return "\n".join(out)


def render_plot(doc: dict[str, Any], path: Path) -> None:
    """One horizontal bar chart per scenario: the headline figure of every measured pair."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = from_benchmark_json(doc)
    scenarios = doc["matrix"]["scenarios"]
    by_sc: dict[str, list[PairResult]] = defaultdict(list)
    for r in results:
        if r.rounds:
            by_sc[r.scenario].append(r)
    shown = [s for s in scenarios if by_sc.get(s["id"])]
    if not shown:
        raise ValueError("nothing was measured: no plot")
    ncols = 2 if len(shown) > 1 else 1
    nrows = (len(shown) + ncols - 1) // ncols
    tall = max(len(by_sc[s["id"]]) for s in shown)
    fig, axes = plt.subplots(nrows, ncols, figsize=(7.5 * ncols, (0.32 * tall + 1.3) * nrows),
                             squeeze=False)
    for ax in axes.flat[len(shown):]:
        ax.set_visible(False)
    for ax, sc in zip(axes.flat, shown):
        rows = list(reversed(by_sc[sc["id"]]))
        vals = [_headline(r, sc["figure"]) or 0.0 for r in rows]
        colors = ["#c0392b" if (r.seeder, r.leecher) == _REF or (
            r.seeder == _F and r.leecher.startswith(_F)) else (
            "#e59866" if _F in (r.seeder, r.leecher) or r.leecher.startswith(_F)
            else "#95a5a6") for r in rows]
        ax.barh([r.name for r in rows], vals, color=colors)
        top = max(vals) if vals else 1.0
        for y, val in enumerate(vals):
            ax.text(val + top * 0.01, y, _fmt(val), va="center", fontsize=7)
        ax.set_xlim(0, top * 1.18 or 1)
        ax.set_title(sc["title"], fontsize=9)
        ax.set_xlabel(f"{sc['figure']} (median)", fontsize=8)
        ax.tick_params(labelsize=7)
    m = doc["matrix"]
    fig.suptitle(f"Bitswap over 127.0.0.1: fastswap {m['versions']['fastswap']} against "
                 f"Kubo, Helia and py-libp2p ({m['machine']['cores']} cores, "
                 f"{doc['datetime'][:10]})", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
