"""A running seeder's configuration (issue 9, "Serving controls" and "Observability"): SIGHUP
re-reads config.toml and applies the live limits without dropping a healthy peer mid-transfer;
a bad edit is refused, logged naming the key, and the running configuration kept whole (none of
it applied); connects are logged by default; ``--log-format json`` makes every log line one
JSON object.

The leecher is slowed by the seeder's own per-peer bandwidth limit, one 256 KiB block per
response, so it is mid-transfer at each reload; lifting the limit by a reload is what lets it
finish.
"""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

import psutil
import pytest

from tests.peers.fastswap_cli import Seeder, fastswap, start_get, wait_until

pytestmark = pytest.mark.timeout(90)

BLOCK = 256 * 1024
SLOW = BLOCK // 2  # bytes a second: the 4 MiB file would take the leecher 32 s
KEPT = "not reloading the configuration (the running one is kept)"


def _log(seeder: Seeder) -> list[dict]:
    """The seeder's log, each line parsed (a line that is not one JSON object fails)."""
    out = []
    for line in seeder.log().splitlines():
        rec = json.loads(line)
        assert {"ts", "level", "logger", "msg"} <= rec.keys(), rec
        out.append(rec)
    return out


def _messages(seeder: Seeder) -> list[str]:
    return [r["msg"] for r in _log(seeder)]


def _connection(pid: int, port: int) -> tuple:
    """The local address of process *pid*'s established TCP connection to *port* (one)."""
    conns = [c for c in psutil.Process(pid).net_connections(kind="tcp")
             if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED]
    assert len(conns) == 1, conns
    return tuple(conns[0].laddr)


def _edit(config: Path, **values: str) -> None:
    """Set ``name = value`` lines of config.toml by hand, as an operator's editor would."""
    text = config.read_text()
    for name, value in values.items():
        text, n = re.subn(rf"(?m)^#? ?{name} = .*$", f"{name} = {value}", text)
        assert n == 1, name
    config.write_text(text)


def test_sighup_applies_limits_keeps_the_peer_and_refuses_a_bad_config(tmp_path: Path) -> None:
    repo = tmp_path / "seed"
    assert fastswap(repo, "init").returncode == 0
    assert fastswap(repo, "config", "set", "bandwidth.peer_rate", str(SLOW)).returncode == 0
    assert fastswap(repo, "config", "set", "server.target_message_bytes",
                    str(BLOCK)).returncode == 0
    config = repo / "config.toml"
    src = tmp_path / "data.bin"
    data = os.urandom(4 * 1024 * 1024)
    src.write_bytes(data)
    seeder = Seeder(repo, str(src), global_args=("--log-format", "json"))
    port = int(seeder.addr.split("/tcp/")[1].split("/")[0])
    out = tmp_path / "out.bin"
    # the leecher waits for its wants as long as the limit makes it (the default want_timeout,
    # 5 s, would have it back off and ask again only after its search interval)
    leecher = start_get(tmp_path / "leech", seeder.info["roots"][0]["cid"], seeder.addr, out,
                        env={"FASTSWAP_CLIENT_WANT_TIMEOUT": "60"})
    try:
        wait_until("the leecher being served", lambda: any(
            led.get("connected") and led.get("blocks_sent", 0) >= 1
            for led in seeder.stat()["ledgers"].values()))
        (peer,) = seeder.stat()["peers"]
        conn = _connection(leecher.pid, port)
        assert any(m.startswith(f"connected: {peer} from /ip4/127.0.0.1/tcp/")
                   for m in _messages(seeder)), seeder.log()

        # a bad edit: a valid new rate and water marks that contradict each other; nothing of
        # it applies, the log names the keys
        _edit(config, peer_rate="0", low_water="50", high_water="10")
        seeder.proc.send_signal(signal.SIGHUP)
        refused = wait_until("the bad config to be refused", lambda: [
            m for m in _messages(seeder) if m.startswith(KEPT)])
        assert "host.low_water (50) must not exceed host.high_water (10)" in refused[0], refused
        assert "\n" not in refused[0]
        limits = seeder.stat()["limits"]
        assert limits["bandwidth"]["peer_rate"] == SLOW, limits
        assert (limits["low_water"], limits["high_water"]) != (50, 10), limits
        # a value the schema refuses: named with what is accepted
        _edit(config, peer_rate="-1", low_water="5", high_water="10")
        seeder.proc.send_signal(signal.SIGHUP)
        wait_until("the second bad config to be refused", lambda: [
            m for m in _messages(seeder) if m.startswith(KEPT) and "bandwidth.peer_rate" in m
            and "expected an integer of at least 0, got -1" in m])
        assert seeder.stat()["limits"]["bandwidth"]["peer_rate"] == SLOW
        assert leecher.poll() is None and not out.exists(), "the leecher finished while limited"

        # a good edit: the limit is lifted, and the peer's one connection is the same one
        _edit(config, peer_rate="0", drain_timeout="3.0")
        seeder.proc.send_signal(signal.SIGHUP)
        reloaded = wait_until("the reload", lambda: [
            m for m in _messages(seeder) if m.startswith("reloaded ")])
        assert "bandwidth.peer_rate = 0" in reloaded[0] and "host.low_water = 5" in reloaded[0]
        assert any("applied only at the next start: seed.drain_timeout" in m
                   for m in _messages(seeder))
        limits = seeder.stat()["limits"]
        assert limits["bandwidth"]["peer_rate"] == 0 and limits["low_water"] == 5, limits
        assert _connection(leecher.pid, port) == conn
        assert seeder.stat()["peers"].keys() == {peer}
        assert not any(m.startswith("disconnected:") for m in _messages(seeder))
        # unlimited, the rest of the file (about 28 s at the old rate) comes at once
        assert leecher.wait(15) == 0
        assert out.read_bytes() == data
        assert seeder.stat()["peers_disconnected"] == 0
    finally:
        if leecher.poll() is None:
            os.killpg(leecher.pid, signal.SIGKILL)
            leecher.wait(10)
        status = seeder.stop(signal.SIGTERM)
    assert status == 0, seeder.log()
    _log(seeder)  # still one JSON object a line, to the end
