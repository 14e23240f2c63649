"""The one event-loop picker (fastswap/_loop.py): uvloop where it is installed, asyncio's own
loop where it is not (pyproject leaves uvloop out on Windows and off CPython), for the CLI and the
py-libp2p drop-in's loop thread alike."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

import pytest
import uvloop

from fastswap import _loop
from fastswap.net.keys import load_or_create_identity

ROOT = Path(__file__).resolve().parents[1]


async def _running_loop_type() -> type:
    return type(asyncio.get_running_loop())


def test_uvloop_where_installed() -> None:
    loop = _loop.new_event_loop()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()
    assert _loop.run(_running_loop_type()) is uvloop.Loop


def test_stock_asyncio_where_uvloop_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # `import uvloop` raises ImportError
    loop = _loop.new_event_loop()
    try:
        assert isinstance(loop, asyncio.BaseEventLoop) and not isinstance(loop, uvloop.Loop)
    finally:
        loop.close()
    assert issubclass(_loop.run(_running_loop_type()), asyncio.BaseEventLoop)


def test_only_the_picker_imports_uvloop() -> None:
    # an unconditional `import uvloop` elsewhere (as the drop-in's loop thread had) fails where
    # uvloop is not installed, while the CLI falls back
    importers = [str(p.relative_to(ROOT)) for p in sorted((ROOT / "fastswap").rglob("*.py"))
                 if re.search(r"^\s*(import uvloop|from uvloop)", p.read_text(), re.MULTILINE)]
    assert importers == ["fastswap/_loop.py"]


def test_cli_runs_without_uvloop(tmp_path: Path) -> None:
    # `cat --peer` runs a node on the picked loop (fastswap.cli._base.run_loop); the peer is this
    # repo's own node, so it reads the repo without dialling (nothing listens on port 1)
    (tmp_path / "f").write_bytes(b"no uvloop here\n")
    repo = str(tmp_path / "repo")

    def cli(*argv: str) -> str:
        code = ("import sys; sys.modules['uvloop'] = None\n"
                "from fastswap.cli import main\n"
                f"sys.exit(main({['--repo', repo, *argv]!r}))")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout

    cid = cli("add", "-q", str(tmp_path / "f")).strip()
    me = load_or_create_identity(repo).peer_id
    assert cli("cat", cid, "--peer", f"/ip4/127.0.0.1/tcp/1/p2p/{me}") == "no uvloop here\n"
