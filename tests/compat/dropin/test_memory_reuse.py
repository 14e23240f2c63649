"""A py-libp2p program on the drop-in's host makes a host, store and client per task and drops
them after; the next task's blocks must reuse that memory, not page-fault in fresh pages (the
import puts every thread on one glibc arena, ``new_host`` keeps freed heap for the host to trim
when quiet). The task shape is ``tests/net/test_keep_freed_heap.py``'s, run here in the drop-in
venv."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location(
    "_keep_freed_heap", Path(__file__).resolve().parents[2] / "net" / "test_keep_freed_heap.py")
assert _SPEC is not None and _SPEC.loader is not None
churn = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(churn)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_dropin_host_reuses_the_last_tasks_memory() -> None:
    default, dropin = churn._thread_faults("default"), churn._thread_faults("dropin")
    assert default > 150_000, default
    assert dropin < default // 100, (dropin, default)
