"""The generated references: ``docs/CONFIG.md`` (every setting of ``fastswap/config.py``:
key, type, default, environment variable and help) and ``docs/METRICS.md`` (every family
``fastswap/metrics.py`` exports: name, type, labels, help).

Run from the checkout after changing a setting or a metric::

    python -m scripts.gen_docs            # rewrite what is out of date
    python -m scripts.gen_docs --check    # exit 1, naming the stale files (what the tests run)

Both are rendered from the code itself, never from a copy of it: the settings from
:func:`fastswap.config.settings` (which reads the engines' config dataclasses and the comments
in ``fastswap/_defaults.py``), the metrics from what :class:`fastswap.metrics.NodeCollector`
yields for a node that has done nothing yet (every family is there, with no samples).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CONFIG_MD = ROOT / "docs" / "CONFIG.md"
METRICS_MD = ROOT / "docs" / "METRICS.md"
_GENERATED = ("<!-- Generated from {src} by `python -m scripts.gen_docs`; do not edit: "
              "a test (tests/docs/test_generated.py) fails when this file is out of date. -->")

_KINDS = {"int": "integer", "float": "number", "bool": "true/false", "str": "string",
          "list": "list of strings", "int?": "integer or unset", "float?": "number or unset"}


def _cell(text: str) -> str:
    """*text* safe inside a Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def _toml(value: Any) -> str:
    """A default as it reads in config.toml (unset: a key left out)."""
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(f'"{v}"' for v in value) + "]"
    return repr(value)


def render_config() -> str:
    """docs/CONFIG.md: one table per section, in the order of config.toml."""
    from fastswap.config import CONFIG_FILE, settings

    out = [
        "# Configuration reference",
        "",
        _GENERATED.format(src="fastswap/config.py"),
        "",
        (f"Every setting of a fastswap repo (`<repo>/{CONFIG_FILE}`), generated from "
        "`fastswap/config.py`. A value comes from, lowest first: the default below, "
        f"`{CONFIG_FILE}`, the environment variable, a command-line flag. "
        "`fastswap config show` prints each key's effective value and where it came from; "
        "`fastswap config set KEY VALUE` writes one to the file. Lists are TOML arrays in the "
        "file and comma-separated (or TOML arrays) in variables and `config set`. An unknown "
        "key or a bad value is an error that names it. `SIGHUP` makes a running seeder re-read "
        "the file and apply `bandwidth.*`, `peers.*` and the connection manager's "
        "`host.low_water`/`host.high_water` at once; the rest applies at the next start."),
        "",
    ]
    by_section: dict[str, list[Any]] = {}
    for s in settings().values():
        by_section.setdefault(s.section, []).append(s)
    out.append("Sections: " + ", ".join(f"[`{sec}`](#{sec})" for sec in by_section) + ".")
    for section, items in by_section.items():
        out += ["", f"## {section}", "",
                "| key | type | default | environment variable | what it does |",
                "| --- | --- | --- | --- | --- |"]
        for s in items:
            kind = _KINDS[s.kind]
            if s.choices:
                kind = "one of " + ", ".join(f"`{c}`" for c in s.choices)
            out.append(f"| `{s.key}` | {kind} | `{_cell(_toml(s.default))}` | `{s.env}` | "
                       f"{_cell(s.help)} |")
    return "\n".join(out) + "\n"


def metric_families() -> list[tuple[str, str, tuple[str, ...], str]]:
    """(exposed name, type, label names, help) of every family the node's collector yields."""
    import asyncio
    import tempfile

    from fastswap.metrics import NodeCollector
    from fastswap.node import Node

    async def collect(repo: str) -> list[Any]:
        # a node on a repo, as a seeder's, that has done nothing: every family, no samples
        async with Node(repo, listen=[]) as node:
            return list(NodeCollector(node).collect())

    with tempfile.TemporaryDirectory(prefix="fastswap-gen-docs-") as repo:
        families = asyncio.run(collect(repo))
    out = []
    for f in families:
        # the names a scrape shows: a counter's samples end in _total, a histogram's in
        # _bucket/_sum/_count (prometheus_client strips the suffix from the family's name)
        name = {"counter": f"{f.name}_total",
                "histogram": f"{f.name}_bucket, _sum, _count"}.get(f.type, f.name)
        # prometheus_client keeps the label names of a family built with labels=[...] here
        labels = tuple(getattr(f, "_labelnames", ()))
        out.append((name, f.type, labels, f.documentation))
    return out


def render_metrics() -> str:
    """docs/METRICS.md: one row per family, in the order the collector yields them."""
    out = [
        "# Metrics reference",
        "",
        _GENERATED.format(src="fastswap/metrics.py"),
        "",
        ("`fastswap seed --metrics HOST:PORT` (a bare port means 127.0.0.1; the setting "
        "`metrics.listen`) serves these in the Prometheus text format at "
        "`http://HOST:PORT/metrics`; off by default. In Python, "
        "`fastswap.metrics.NodeCollector(node)` is a `prometheus_client` collector of the same "
        "families for a registry of your own."),
        "",
        "| metric | type | labels | what it counts |",
        "| --- | --- | --- | --- |",
    ]
    for name, kind, labels, doc in metric_families():
        out.append(f"| `{name}` | {kind} | {', '.join(f'`{x}`' for x in labels) or '-'} | "
                   f"{_cell(doc)} |")
    return "\n".join(out) + "\n"


def expected() -> dict[Path, str]:
    """Each generated file -> the text it should have."""
    return {CONFIG_MD: render_config(), METRICS_MD: render_metrics()}


def stale() -> list[Path]:
    """The generated files whose committed text differs from what the code gives now."""
    return [p for p, text in expected().items()
            if not p.exists() or p.read_text(encoding="utf-8") != text]


def _shown(path: Path) -> str:
    """*path* as the user knows it: relative to the checkout when inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m scripts.gen_docs", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true",
                   help="change nothing; exit 1 if a generated file is out of date")
    args = p.parse_args(argv)
    if args.check:
        bad = stale()
        for path in bad:
            print(f"{_shown(path)} is out of date: run python -m scripts.gen_docs",
                  file=sys.stderr)
        return 1 if bad else 0
    for path, text in expected().items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {_shown(path)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
