"""The seeder's connect and disconnect lines (issue 9, "Observability": logged by default, at
rates a terminal can take): one line of each kind a second whatever the churn, the next line
counting those left out."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

from fastswap._defaults import CONNECTION_LOG_INTERVAL_SECONDS
from fastswap.cli.seed import log_connections


class _Host:
    """What log_connections uses of a Host: subscribe() and connection_count()."""

    def __init__(self) -> None:
        self.on: list[Any] = []
        self.count = 0

    def subscribe(self, connected: Any, disconnected: Any) -> Any:
        self.on = [connected, disconnected]
        return lambda: self.on.clear()

    def connection_count(self) -> int:
        return self.count


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_a_thousand_connects_a_second_make_one_line_each_way() -> None:
    logger = logging.getLogger("fastswap.seed")
    lines, level = _Lines(), logger.level
    logger.addHandler(lines)
    logger.setLevel(logging.INFO)  # the seeder's default (log.level = info)
    now = [0.0]
    host = _Host()
    stop = log_connections(host, clock=lambda: now[0])
    try:
        connected, disconnected = host.on
        for i in range(1000):
            now[0] = i * CONNECTION_LOG_INTERVAL_SECONDS / 1000
            conn = SimpleNamespace(remote_peer=f"peer{i}", remote_addr=f"/ip4/127.0.0.1/tcp/{i}")
            host.count += 1
            connected(conn)
            host.count -= 1
            disconnected(conn)
        assert lines.lines == ["connected: peer0 from /ip4/127.0.0.1/tcp/0 (1 connections)",
                               "disconnected: peer0 (0 connections)"]
        now[0] = CONNECTION_LOG_INTERVAL_SECONDS * 1.5
        connected(SimpleNamespace(remote_peer="late", remote_addr="/ip4/127.0.0.2/tcp/1"))
        assert lines.lines[2] == ("connected: late from /ip4/127.0.0.2/tcp/1 (0 connections) "
                                  "(999 similar messages suppressed in the last 1 s)")
        stop()
        assert host.on == []
    finally:
        logger.removeHandler(lines)
        logger.setLevel(level)
