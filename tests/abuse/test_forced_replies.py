"""Frames that force a reply (issue 8, item 1; go-yamux session.go is the model): a peer that
floods pings, data for unknown streams or SYNs past the stream limit, and never reads, is cut
off within its budget and banned, the seeder's memory stays flat, and an honest leecher's
fetch completes meanwhile. Also: the write backlog of a peer that stops reading is bounded and
a connection stalled past the write-stall timeout is closed."""

from __future__ import annotations

import asyncio
import logging

import pytest

from fastswap.net.host import Host
from fastswap.net.keys import PeerId
from tests.abuse.conftest import FILE_SIZE, Seeder, rss_anon_kib, start_hostile

pytestmark = pytest.mark.timeout(180)

#: the seeder's anonymous memory may grow this much while attacked and serving a fetch
GROWTH_BOUND_KIB = 64 * 1024


@pytest.mark.parametrize("mode", ["ping", "unknown", "syn"])
def test_reply_flood_is_cut_off_and_banned(run_uv, net_log, tmp_path, mode: str) -> None:
    async def main() -> None:
        async with Seeder(tmp_path) as seeder:
            base = rss_anon_kib()
            attack = await start_hostile(mode, seeder.addr, 8.0)
            try:
                got = await seeder.fetch()
                report = await attack.line()
            finally:
                await attack.close()
            growth = rss_anon_kib() - base
            assert got >= FILE_SIZE
            assert report["closed"], f"the seeder kept the {mode} flooder: {report}"
            assert report["redial"] == "refused", report
            assert seeder.host.is_banned(PeerId.parse(report["peer"]))
            assert growth < GROWTH_BOUND_KIB, f"seeder anon memory grew {growth} KiB"
            warnings = [r for r in net_log.records if r.levelno >= logging.WARNING]
            assert len(warnings) <= 10, [r.getMessage() for r in warnings]

    run_uv(main())


def test_peer_that_stops_reading_is_closed_after_the_stall_timeout(run_uv) -> None:
    """A peer that opens streams, has us write into them and never reads: our transport fills
    past its high-water mark and stays there; the connection is closed after
    write_stall_timeout, and its write backlog never exceeded the bound meanwhile. (mplex: it
    has no windows, so only the transport stops the writer; yamux windows stop it sooner.)"""

    async def main() -> None:
        async def firehose(stream) -> None:
            chunk = b"z" * (256 * 1024)
            while True:
                stream.write(chunk)
                await stream.drain()

        async with Host(listen_addrs=["/ip4/127.0.0.1/tcp/0"], write_stall_timeout=1.5) as a, \
                Host(muxers=["/mplex/6.7.0"]) as b:
            a.set_stream_handler("/firehose/1", firehose)
            conn = await b.dial(a.addrs[0])
            for _ in range(16):
                await b.new_stream_on(conn, ["/firehose/1"])
            conn.transport.pause_reading()
            peak = 0
            for _ in range(100):
                a_conn = a.connection(b.peer_id)
                if a_conn is None:
                    break
                if a_conn.transport is not None:
                    peak = max(peak, a_conn.transport.get_write_buffer_size())
                await asyncio.sleep(0.1)
            assert a.connection(b.peer_id) is None, "the stalled connection was kept"
            assert peak < 4 * 1024 * 1024, peak

    run_uv(main())
