"""Benchmarks measure the installed fastswap, and report medians as ratios.

* fastswap is imported here first, from where it is installed, not from the checkout
  (``benchmarks/_installed.py``): the checkout is on ``sys.path`` (pyproject's ``pythonpath``,
  and ``python -m``), and after a plain ``pip install .`` its tree has no compiled twins. When
  benchmarks are enabled (``--benchmark-enable``/``--benchmark-only``) a missing compiled twin
  stops the run with what to do; the suite's smoke run (benchmarks disabled) goes on.
* After a run with benchmarks enabled, every group gets a table of its medians as ratios
  (``benchmarks/ratios.py``): the compiled twin against its pure twin, every entry against
  protobuf where protobuf is the reference, the transfer group against Kubo and Helia, and
  any other group against its slowest entry. Above 1: faster.
"""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks._installed import (
    BenchmarkSetupError,
    import_installed_fastswap,
    require_compiled,
)
from benchmarks.ratios import Entry, ratio_lines

# before any benchmark module imports fastswap (and through it, the checkout's tree)
_fastswap = import_installed_fastswap()


def _enabled(config: Any) -> bool:
    session = getattr(config, "_benchmarksession", None)
    return session is not None and not session.disabled


def pytest_sessionstart(session: pytest.Session) -> None:
    if _enabled(session.config):
        try:
            require_compiled(_fastswap)
        except BenchmarkSetupError as exc:
            pytest.exit(f"benchmarks: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: Any) -> None:
    if not _enabled(config) or not config._benchmarksession.benchmarks:
        return
    entries = [Entry(b.group or "", b.name, b.fullname, dict(b.params or {}), b.stats.median,
                     b.stats.rounds) for b in config._benchmarksession.benchmarks]
    terminalreporter.write_sep("-", "medians as ratios per group (this run; above 1: faster)")
    for line in ratio_lines(entries):
        terminalreporter.write_line(line)
