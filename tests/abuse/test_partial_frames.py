"""Partial frames (issue 8, item 6): a peer holding unfinished 4 MiB Bitswap messages on many
streams is held to the per-connection and per-peer budgets (each excess stream reset, the peer
penalised until banned), the seeder's memory stays bounded, and a message must be finished
within the time limit."""

from __future__ import annotations

import asyncio

import pytest

from fastswap import _defaults
from fastswap.message import frame_length_prefix
from fastswap.net.bitswap import BITSWAP_1_2_0, BitswapNetwork
from fastswap.net.host import Host
from tests.abuse.conftest import FILE_SIZE, Seeder, rss_anon_kib, start_hostile

pytestmark = pytest.mark.timeout(180)


def test_unfinished_messages_on_200_streams(run_uv, net_log, tmp_path) -> None:
    async def main() -> None:
        async with Seeder(tmp_path) as seeder:
            base = rss_anon_kib()
            attack = await start_hostile("partial", seeder.addr, 8.0, "200")
            peak_partial = 0

            async def watch() -> None:
                nonlocal peak_partial
                while True:
                    peak_partial = max(peak_partial, seeder.node.net.partial_bytes())
                    await asyncio.sleep(0.01)

            watcher = asyncio.ensure_future(watch())
            try:
                got = await seeder.fetch()
                report = await attack.line()
            finally:
                watcher.cancel()
                await attack.close()
            assert got >= FILE_SIZE
            # never more than one peer budget (plus the message that broke it) was held
            assert peak_partial <= (_defaults.MAX_PARTIAL_MESSAGE_BYTES_PER_PEER
                                    + _defaults.MAX_MESSAGE_SIZE)
            assert rss_anon_kib() - base < 128 * 1024
            assert report["closed"] and report["redial"] == "refused", report
            assert seeder.node.net.partial_bytes() == 0
            assert len(net_log.records) <= 10, [r.getMessage() for r in net_log.records]

    run_uv(main())


def test_a_message_must_be_finished_in_time(run_uv) -> None:
    async def main() -> None:
        got: list = []
        async with Host(listen_addrs=["/ip4/127.0.0.1/tcp/0"]) as a, Host() as b:
            net = BitswapNetwork(a, lambda p, m, v: got.append(m), partial_timeout=0.5)
            net.start()
            s = await b.new_stream(a.addrs[0], [BITSWAP_1_2_0])
            s.write(frame_length_prefix(1000) + b"\x00" * 10)  # 10 of 1000 bytes, then silence
            await s.drain()
            for _ in range(50):
                if net.partial_bytes(b.peer_id):
                    break
                await asyncio.sleep(0.02)
            assert net.partial_bytes(b.peer_id) > 0
            await asyncio.sleep(1.0)
            assert net.partial_bytes(b.peer_id) == 0
            assert net.bad_frames(b.peer_id) == 1
            assert a.score(b.peer_id) > 0
            assert a.connection(b.peer_id) is not None  # the stream went, not the connection
            await net.stop()
            assert not got

    run_uv(main())
