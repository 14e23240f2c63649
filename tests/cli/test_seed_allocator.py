"""``fastswap seed`` runs Python's objects on the C allocator (issue 8: memory back within 64 MB
after an attack). pymalloc returns an arena only when all of it is free, and the few objects
that outlive a burst of hostile peers pin most arenas; glibc's ``malloc_trim`` (the host trims
when quiet) returns free pages wherever they are. ``seed`` restarts itself in place (same pid,
same arguments) with ``PYTHONMALLOC=malloc`` before it opens the repo, unless the operator chose
an allocator. What this changes in memory is measured by
``tests/abuse/test_memory.py::test_memory_comes_back_after_a_sybil_want_burst``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.peers.fastswap_cli import Seeder

pytestmark = [pytest.mark.timeout(90),
              pytest.mark.skipif(sys.platform != "linux", reason="glibc malloc_trim; /proc")]


def _pythonmalloc(pid: int) -> str | None:
    """PYTHONMALLOC in the environment the process was exec'd with."""
    for item in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
        if item.startswith(b"PYTHONMALLOC="):
            return item.split(b"=", 1)[1].decode()
    return None


@pytest.mark.parametrize(("chosen", "runs_on"), [(None, "malloc"), ("pymalloc", "pymalloc")],
                         ids=["default", "operator-chose-pymalloc"])
def test_seed_restarts_itself_on_the_c_allocator(tmp_path: Path, chosen: str | None,
                                                 runs_on: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "file"
    src.write_bytes(os.urandom(300_000))
    monkeypatch.delenv("PYTHONMALLOC", raising=False)
    env = {"PYTHONMALLOC": chosen} if chosen else {}
    seeder = Seeder(tmp_path / "repo", str(src), env=env)
    try:
        # the process the test started (its pid, its pipes) is the one serving
        assert seeder.info["addrs"]
        assert seeder.stat()["ledgers"] == {}
        assert _pythonmalloc(seeder.pid) == runs_on
    finally:
        assert seeder.stop() == 0, seeder.log()
