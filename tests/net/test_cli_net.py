"""``fastswap id`` and ``fastswap ping`` (run as subprocesses) against a fastswap host that runs
on its own loop in a background thread of the test process."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from fastswap.net.host import Host

pytestmark = pytest.mark.timeout(120)


class _Background:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.host = Host(listen_addrs=["/ip4/127.0.0.1/tcp/0"])
        self.call(self.host.start())

        async def echo(stream) -> None:
            stream.close()

        self.host.set_stream_handler("/cli-test/1.0.0", echo)

    def call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def close(self) -> None:
        try:
            self.call(self.host.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


@pytest.fixture
def peer() -> Iterator[_Background]:
    bg = _Background()
    try:
        yield bg
    finally:
        bg.close()


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fastswap.cli", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_id_prints_the_peer(peer: _Background) -> None:
    addr = str(peer.host.addrs[0])
    done = cli("id", addr)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"peer id:          {peer.host.peer_id}"
    assert lines[1].startswith("agent version:    fastswap/")
    assert lines[2] == "protocol version: ipfs/0.1.0"
    assert "  /cli-test/1.0.0" in lines
    assert "  /ipfs/ping/1.0.0" in lines
    assert f"  {peer.host.addrs[0].without_p2p()}" in lines


def test_id_json_without_p2p_part(peer: _Background) -> None:
    done = cli("id", "--json", str(peer.host.addrs[0].without_p2p()))
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["id"] == str(peer.host.peer_id)
    assert "/cli-test/1.0.0" in info["protocols"]
    assert info["observedAddr"].startswith("/ip4/127.0.0.1/tcp/")


def test_ping_prints_rtts(peer: _Background) -> None:
    done = cli("ping", "-n", "3", str(peer.host.addrs[0]))
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(f"from {peer.host.peer_id}: time=") == 3
    assert "3 pings: min/avg/max" in done.stdout


def test_errors_are_one_line(peer: _Background) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)  # accepts TCP, never answers
    try:
        port = sock.getsockname()[1]
        done = cli("id", "--timeout", "0.5", f"/ip4/127.0.0.1/tcp/{port}")
        assert done.returncode == 1
        assert done.stderr.startswith("fastswap: error: ")
        assert len(done.stderr.strip().splitlines()) == 1
    finally:
        sock.close()
    done = cli("ping", "/ip4/127.0.0.1/udp/1")
    assert done.returncode == 1 and "fastswap: error:" in done.stderr
    wrong = str(peer.host.addrs[0].without_p2p()) + "/p2p/12D3KooWQTozWgVNWdGw5d5KZVmfHVffkfUPHnnHKs7RN69Jhg65"
    done = cli("id", wrong)
    assert done.returncode == 1 and "/p2p/" in done.stderr
