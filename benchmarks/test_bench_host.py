"""The libp2p host end to end: one stream over Noise + yamux between two fastswap hosts on
127.0.0.1, each in its own process (the far end is ``benchmarks/_host_peer.py``), so sender and
receiver each have a core. Also the connection setup time (TCP + multistream + Noise XX +
multistream yamux).

Measure with: python -m pytest benchmarks/test_bench_host.py --benchmark-enable --benchmark-only
(``extra_info["MB/s (median)"]`` is in the JSON output, --benchmark-json; the table's times
are per 64 MiB round).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvloop

from benchmarks._host_peer import SINK, SOURCE
from fastswap.net.host import Host

PEER = Path(__file__).with_name("_host_peer.py")
ROOT = Path(__file__).resolve().parent.parent
BULK = 64 * 1024 * 1024
CHUNK = bytes(1024 * 1024)


class _Side:
    """This process's host on a persistent loop, connected to the far end."""

    def __init__(self, loop_kind: str) -> None:
        self.loop = uvloop.new_event_loop() if loop_kind == "uvloop" else asyncio.new_event_loop()
        env = dict(os.environ)
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        self.proc = subprocess.Popen(
            [sys.executable, str(PEER), loop_kind],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode().strip()
        if not line.startswith("/ip4/"):
            self.close()
            raise RuntimeError(f"the benchmark peer did not start (printed {line!r})")
        self.addr = line
        self.host = Host()
        self.run(self.host.start())
        self.conn = self.run(self.host.dial(self.addr))

    def run(self, coro: Any, timeout: float = 120.0) -> Any:
        return self.loop.run_until_complete(asyncio.wait_for(coro, timeout))

    def close(self) -> None:
        try:
            if hasattr(self, "host"):
                self.run(self.host.stop())
            self.loop.close()
        finally:
            if self.proc.stdin:
                self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(10)


@pytest.fixture(scope="module", params=["uvloop", "asyncio"])
def side(request: pytest.FixtureRequest) -> Iterator[_Side]:
    s = _Side(request.param)
    try:
        yield s
    finally:
        s.close()


async def _send(host: Host, side: _Side, nbytes: int) -> int:
    stream = await host.new_stream(side.conn.remote_peer, [SINK])
    left = nbytes
    while left:
        n = min(left, len(CHUNK))
        stream.write(CHUNK if n == len(CHUNK) else CHUNK[:n])
        await stream.drain()
        left -= n
    stream.close()
    return int.from_bytes(await stream.readexactly(8), "big")


async def _receive(host: Host, side: _Side, nbytes: int) -> int:
    stream = await host.new_stream(side.conn.remote_peer, [SOURCE])
    stream.write(nbytes.to_bytes(8, "big"))
    got = 0
    while True:
        data = await stream.read()
        if not data:
            return got
        got += len(data)


def _record(benchmark: Any, nbytes: int) -> None:
    stats = getattr(benchmark, "stats", None)
    if stats is not None and getattr(stats, "stats", None) is not None:
        median = stats.stats.median
        if median:
            benchmark.extra_info["MB/s (median)"] = round(nbytes / median / 1e6, 1)
    benchmark.extra_info["MB per round"] = nbytes / 1e6


def test_bench_host_send_one_stream(benchmark, side: _Side) -> None:
    """64 MiB written on one yamux stream to the far end, which counts it and answers."""
    result = benchmark.pedantic(
        lambda: side.run(_send(side.host, side, BULK)), rounds=5, warmup_rounds=1
    )
    assert result == BULK
    _record(benchmark, BULK)


def test_bench_host_receive_one_stream(benchmark, side: _Side) -> None:
    """64 MiB read from one yamux stream that the far end writes."""
    result = benchmark.pedantic(
        lambda: side.run(_receive(side.host, side, BULK)), rounds=5, warmup_rounds=1
    )
    assert result == BULK
    _record(benchmark, BULK)


def test_bench_host_connection_setup(benchmark, side: _Side) -> None:
    """A new connection: TCP connect, multistream /noise, Noise XX, multistream yamux."""
    host = Host()
    side.run(host.start())
    conns: list[Any] = []

    def close_previous() -> None:
        while conns:
            conn = conns.pop()
            conn.close()
            side.run(conn.wait_closed())

    def dial() -> None:
        conns.append(side.run(host.dial(side.addr)))

    try:
        benchmark.pedantic(dial, setup=close_previous, rounds=20, warmup_rounds=2)
        assert conns and conns[0].muxer_protocol == "/yamux/1.0.0"
    finally:
        close_previous()
        side.run(host.stop())
