"""Shared pieces of the abuse tests (issue 8): an in-process seeder Node with a file, an honest
in-process leecher, and the hostile peer (``benchmarks/_hostile_peer.py``) as its own process, all on
127.0.0.1 and bounded in time. Each test runs once, on uvloop (the loop ``fastswap seed``
uses); the host's defences are loop-independent and tests/net covers both loops."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Self

import pytest
import uvloop

from fastswap.node import Node

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = ROOT / "benchmarks" / "_hostile_peer.py"
FILE_SIZE = 8 * 1024 * 1024


def rss_anon_kib() -> int:
    """This process's anonymous resident memory (Linux /proc)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    raise AssertionError("no RssAnon in /proc/self/status")


class Hostile:
    """One hostile peer process; ``line()`` reads its next JSON line."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    async def line(self, timeout: float = 60.0) -> dict[str, Any]:
        assert self.proc.stdout is not None
        raw = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not raw:
            raise AssertionError("the hostile peer exited without reporting (stderr above)")
        return json.loads(raw)

    async def close(self) -> None:
        if self.proc.returncode is None:
            try:
                await asyncio.wait_for(self.proc.wait(), 20)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


async def start_hostile(mode: str, addr: str, seconds: float, arg: str | None = None) -> Hostile:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    args = [str(HOSTILE), mode, addr, str(seconds), *([arg] if arg is not None else [])]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *args, stdout=asyncio.subprocess.PIPE, env=env
    )
    return Hostile(proc)


async def hostile(mode: str, addr: str, seconds: float, arg: str | None = None) -> dict[str, Any]:
    """Run one attack to its end; its report."""
    h = await start_hostile(mode, addr, seconds, arg)
    try:
        return await h.line(seconds + 60)
    finally:
        await h.close()


class Seeder:
    """A seeding Node with an 8 MiB file; ``fetch()`` is an honest leecher's whole get."""

    def __init__(self, tmp: Path, host_options: dict[str, Any] | None = None) -> None:
        self.tmp = tmp
        self.node = Node(tmp / "seed", host_options=host_options)
        self.root: bytes = b""
        self.fetches = 0

    async def __aenter__(self) -> Self:
        await self.node.start()
        path = self.tmp / "file.bin"
        path.write_bytes(os.urandom(FILE_SIZE))
        self.root = await self.node.add_file(path, cid_version=1, raw_leaves=True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.node.stop()

    @property
    def addr(self) -> str:
        return str(self.node.addrs[0])

    @property
    def host(self) -> Any:
        return self.node.host

    async def fetch(self, timeout: float = 60.0) -> int:
        """An honest leecher (its own Node) fetches the whole file; the bytes it stored."""
        self.fetches += 1
        async with Node(self.tmp / f"leech{self.fetches}", listen=[]) as leech:
            await leech.connect(self.addr)
            await leech.fetch_dag(self.root, timeout=timeout)
            return leech.store.size_bytes()


@pytest.fixture
def run_uv() -> Callable[[Awaitable[Any], float], Any]:
    def runner(coro: Awaitable[Any], timeout: float = 120.0) -> Any:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as r:
            return r.run(asyncio.wait_for(coro, timeout))

    return runner


@pytest.fixture
def net_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.WARNING, logger="fastswap")
    return caplog
