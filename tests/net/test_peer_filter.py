"""The host's allow and deny lists (issue 9, "Serving controls": ``peers.allow``/``peers.deny``,
changed live by a reload): a new filter closes only the connections of the peers it now refuses,
a refused peer's redials are refused, and the refusals make one rate-limited log line however
many there are."""

from __future__ import annotations

import asyncio
import logging

import pytest

from fastswap.net.host import Host

pytestmark = pytest.mark.timeout(60)

LISTEN = "/ip4/127.0.0.1/tcp/0"
REFUSING = "refusing inbound connection from"


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


async def _until(predicate, what: str) -> None:
    for _ in range(500):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_new_filter_closes_only_the_refused_and_logs_refusals_once(run) -> None:
    logger = logging.getLogger("fastswap.net")
    lines, level = _Lines(), logger.level
    logger.addHandler(lines)
    logger.setLevel(logging.INFO)

    async def main() -> None:
        async with Host(listen_addrs=[LISTEN]) as a, Host() as b, Host() as c:
            (addr,) = a.addrs
            await b.dial(addr)
            await c.dial(addr)
            await _until(lambda: a.connection_count() == 2, "a to register b and c")
            kept = a.connection(c.peer_id)

            a.set_peer_filter(deny=[b.peer_id])
            assert a.connection(b.peer_id) is None
            assert a.connection(c.peer_id) is kept and not kept.is_closed
            await _until(lambda: b.connection(a.peer_id) is None, "b to see a close it")
            for _ in range(20):  # b comes back, again and again
                try:
                    await b.dial(addr)
                except Exception:  # noqa: BLE001, S112 - refused, however the dialler sees it
                    continue
                await _until(lambda: b.connection(a.peer_id) is None, "a to drop b again")
            await _until(lambda: a.refused.get("banned", 0) == 20, "20 refusals")
            assert a.connection(b.peer_id) is None
            refusals = [m for m in lines.lines if m.startswith(REFUSING)]
            assert len(refusals) == 1 and str(b.peer_id) in refusals[0], lines.lines
            assert "denied (peers.deny)" in refusals[0]

            # an allow list naming c: c stays, on the same connection
            a.set_peer_filter(allow=[c.peer_id])
            assert a.connection(c.peer_id) is kept and not kept.is_closed
            assert a.peer_filter == (frozenset({c.peer_id}), frozenset())

    try:
        run(main())
    finally:
        logger.removeHandler(lines)
        logger.setLevel(level)
