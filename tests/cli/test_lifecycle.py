"""A seeder's life as an operator sees it (issue 9, "Lifecycle"): SIGTERM or SIGINT during a
transfer to four ``fastswap get`` leechers stops accepting, lets the responses in flight go out
(up to ``seed.drain_timeout``), exits 0 within that timeout and leaves no process, listening
socket, control socket or repo lock behind; a second signal exits at once; a second seeder on
the repo is refused naming the first, and the lock of a SIGKILLed seeder is cleared by the next.

The transfers are slowed by the seeder's own per-peer bandwidth limit, one 256 KiB block per
response, so they are still in flight when the signal comes and the drain has a known length.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from fastswap.repo import RepoLock
from tests.peers.fastswap_cli import Seeder, fastswap, one_line_error, start_get, wait_until

pytestmark = pytest.mark.timeout(90)

BLOCK = 256 * 1024
#: one block per response: what is in flight for a peer is one block being written and one built
ONE_BLOCK_PER_RESPONSE = {"FASTSWAP_SERVER_TARGET_MESSAGE_BYTES": str(BLOCK)}
DRAINING = "stopping: no new connections"


def _random_file(path: Path, size: int) -> Path:
    path.write_bytes(os.urandom(size))
    return path


def _port(addr: str) -> int:
    return int(addr.split("/tcp/")[1].split("/")[0])


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def _in_flight(stat: dict) -> int:
    """Connected peers with a block response handed to the seeder's writer and not yet sent."""
    return sum(1 for led in stat["ledgers"].values()
               if led.get("connected") and led.get("inflight_bytes", 0) >= BLOCK)


def _assert_nothing_left(seeder: Seeder, port: int) -> None:
    """No process of the seeder's group, no listener on its port, no control socket, no lock."""
    assert seeder.proc.poll() is not None
    with pytest.raises(ProcessLookupError):
        os.killpg(seeder.pid, 0)  # the group is empty: nothing it started outlives it
    assert _refused(port), f"something still listens on port {port}"
    assert not (seeder.repo / "control.sock").exists()
    assert not (seeder.repo / "repo.lock").exists()
    with RepoLock(seeder.repo) as lock:  # and nobody holds it
        assert lock.held


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_drains_four_leechers_and_leaves_nothing(tmp_path: Path, sig: int) -> None:
    src = _random_file(tmp_path / "data.bin", 8 * 1024 * 1024)
    drain_timeout = 10.0
    # 512 KiB/s a peer: 8 MiB takes each leecher 16 s; what is in flight drains in about 1 s
    env = {**ONE_BLOCK_PER_RESPONSE, "FASTSWAP_BANDWIDTH_PEER_RATE": str(2 * BLOCK),
           "FASTSWAP_SEED_DRAIN_TIMEOUT": str(drain_timeout)}
    seeder = Seeder(tmp_path / "seed", str(src), env=env)
    cid = seeder.info["roots"][0]["cid"]
    port = _port(seeder.addr)
    leechers = [start_get(tmp_path / f"leech{i}", cid, seeder.addr, tmp_path / f"out{i}")
                for i in range(4)]
    try:
        wait_until("four leechers being served", lambda: _in_flight(seeder.stat()) == 4)
        before = seeder.stat()["server"]["blocks_sent"]
        t0 = time.monotonic()
        seeder.proc.send_signal(sig)
        wait_until("the seeder to start draining", lambda: DRAINING in seeder.log())
        # draining: the process still runs, but accepts no new connection
        assert seeder.proc.poll() is None, "the seeder exited without draining"
        assert _refused(port), "a draining seeder still accepts connections"
        status = seeder.proc.wait(drain_timeout + 10)
        elapsed = time.monotonic() - t0
        assert status == 0, seeder.log()
        # within the drain timeout (and the drain itself needed about a second, not all of it)
        assert elapsed < drain_timeout, elapsed
        assert "still in flight" not in seeder.log(), seeder.log()
        # the responses in flight at the signal went out after it: blocks were sent after
        # `before` was read, and the leechers were still short of the file (in flight)
        served = seeder.served()
        assert before < served["blocks_sent"] < 4 * 33, (before, served)
        assert all(p.poll() is None or p.returncode != 0 for p in leechers), \
            "a leecher finished: the transfer was not in flight"
    finally:
        for p in leechers:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(10)
        seeder.kill()
    _assert_nothing_left(seeder, port)


def _one_slow_leecher(tmp_path: Path, rate: int,
                      drain_timeout: float) -> tuple[Seeder, int, subprocess.Popen]:
    """A seeder of 2 MiB limited to *rate* bytes a second a peer, its port, and a leecher
    with a block in flight from it."""
    src = _random_file(tmp_path / "data.bin", 2 * 1024 * 1024)
    env = {**ONE_BLOCK_PER_RESPONSE, "FASTSWAP_BANDWIDTH_PEER_RATE": str(rate),
           "FASTSWAP_SEED_DRAIN_TIMEOUT": str(drain_timeout)}
    seeder = Seeder(tmp_path / "seed", str(src), env=env)
    leecher = start_get(tmp_path / "leech", seeder.info["roots"][0]["cid"], seeder.addr,
                        tmp_path / "out")
    try:
        wait_until("a block in flight", lambda: _in_flight(seeder.stat()))
    except BaseException:
        os.killpg(leecher.pid, signal.SIGKILL)
        seeder.kill()
        raise
    return seeder, _port(seeder.addr), leecher


def test_drain_gives_up_at_the_timeout_and_exits_0(tmp_path: Path) -> None:
    # 32 KiB/s: one 256 KiB response takes 8 s, more than the 1.5 s the drain may take
    seeder, port, leecher = _one_slow_leecher(tmp_path, BLOCK // 8, 1.5)
    try:
        t0 = time.monotonic()
        seeder.proc.send_signal(signal.SIGTERM)
        assert seeder.proc.wait(15) == 0, seeder.log()
        elapsed = time.monotonic() - t0
        assert 1.5 <= elapsed < 1.5 + 3.0, elapsed  # it waited the timeout, then stopped
        assert "still in flight after 1.5 s (seed.drain_timeout)" in seeder.log(), seeder.log()
    finally:
        os.killpg(leecher.pid, signal.SIGKILL)
        leecher.wait(10)
        seeder.kill()
    _assert_nothing_left(seeder, port)


@pytest.mark.parametrize("first,second", [(signal.SIGINT, signal.SIGINT),
                                          (signal.SIGTERM, signal.SIGINT)],
                         ids=["SIGINT-SIGINT", "SIGTERM-SIGINT"])
def test_second_signal_exits_at_once(tmp_path: Path, first: int, second: int) -> None:
    # 16 KiB/s: the response in flight would take 16 s to drain, the drain may take 60
    seeder, port, leecher = _one_slow_leecher(tmp_path, BLOCK // 16, 60)
    try:
        seeder.proc.send_signal(first)
        wait_until("the seeder to start draining", lambda: DRAINING in seeder.log())
        time.sleep(0.3)
        assert seeder.proc.poll() is None, "the drain ended by itself: nothing was in flight"
        t0 = time.monotonic()
        seeder.proc.send_signal(second)
        status = seeder.proc.wait(10)
        assert time.monotonic() - t0 < 3.0
        assert status == 130, seeder.log()
        assert "second signal: exiting at once" in seeder.log()
    finally:
        os.killpg(leecher.pid, signal.SIGKILL)
        leecher.wait(10)
        seeder.kill()
    _assert_nothing_left(seeder, port)


def test_second_seeder_is_refused_and_a_killed_seeders_lock_is_cleared(tmp_path: Path) -> None:
    src = _random_file(tmp_path / "data.bin", 100_000)
    repo = tmp_path / "seed"
    first = Seeder(repo, str(src))
    try:
        p = fastswap(repo, "seed", str(src), timeout=30)
        line = one_line_error(p, f"is in use by process {first.pid} ", "fastswap", "seed",
                              status=1)
        assert str(repo) in line
        assert first.stat()["peer_id"] == first.info["peer_id"]  # the first one carries on
        first.kill()  # SIGKILL: no chance to clean up
        assert (repo / "repo.lock").exists() and (repo / "control.sock").exists()
        assert (repo / "repo.lock").read_text().split("\n")[0] == str(first.pid)
        # the next start sees the lock is stale (nobody holds it), says so and takes over
        second = Seeder(repo, str(src))
        try:
            assert f"cleared a stale lock on {repo} left by process {first.pid}" in second.log()
            assert (repo / "repo.lock").read_text().split("\n")[0] == str(second.pid)
            assert second.stat()["peer_id"] == first.info["peer_id"]  # the socket is its own
            assert second.stop(signal.SIGTERM) == 0
        finally:
            second.kill()
        _assert_nothing_left(second, _port(second.addr))
    finally:
        first.kill()
