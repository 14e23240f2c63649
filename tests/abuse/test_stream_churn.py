"""Stream churn (issue 8, item 2): a peer that opens and resets streams as fast as it can is
closed once over its budget of inbound stream opens, and refused for a while; an honest
leecher's fetch completes meanwhile. The per-peer budget holds across connections."""

from __future__ import annotations

import asyncio

import pytest

from fastswap.cid import compute_cid
from fastswap.errors import NetError
from fastswap.message import HAVE, BlockPresence, Message, encode_message, frame_length_prefix
from fastswap.net.bitswap import BITSWAP_1_2_0, BitswapNetwork
from fastswap.net.host import Host
from fastswap.net.keys import PeerId
from tests.abuse.conftest import FILE_SIZE, Seeder, hostile

pytestmark = pytest.mark.timeout(180)


def test_open_and_reset_churn_is_cut_off_and_banned(run_uv, net_log, tmp_path) -> None:
    async def main() -> None:
        async with Seeder(tmp_path) as seeder:
            attack = asyncio.ensure_future(hostile("churn", seeder.addr, 8.0))
            got = await seeder.fetch()
            report = await attack
            assert got >= FILE_SIZE
            assert report["closed"] and report["closed_after"] < 5, report
            assert report["redial"] == "refused", report
            ban = seeder.host.banned(PeerId.parse(report["peer"]))
            assert ban is not None and "churn" in ban[1]
            assert len(net_log.records) <= 10, [r.getMessage() for r in net_log.records]

    run_uv(main())


def test_per_peer_budget_spans_connections(run_uv) -> None:
    """Two connections of one peer share the per-peer budget: neither alone is over its
    per-connection budget, together they are."""

    async def main() -> None:
        async def hold(stream) -> None:
            await stream.read()

        async with Host(listen_addrs=["/ip4/127.0.0.1/tcp/0"], stream_open_rate=0.001,
                        stream_open_burst=30, peer_stream_open_rate=0.001,
                        peer_stream_open_burst=40) as a, Host(identify=False) as b, \
                Host(b.identity, identify=False) as b2:
            a.set_stream_handler("/hold/1", hold)
            # one peer id, two connections (two hosts sharing the identity)
            c1 = await b.dial(a.addrs[0])
            c2 = await b2.dial(a.addrs[0])
            assert a.connection_count(b.peer_id) == 2
            opened = 0
            for conn in (c1, c2) * 25:
                if conn.is_closed:
                    continue
                try:
                    conn.open_stream()
                except NetError:
                    continue  # the connection went meanwhile
                opened += 1
                await asyncio.sleep(0)
            for _ in range(100):
                if a.is_banned(b.peer_id):
                    break
                await asyncio.sleep(0.02)
            assert a.is_banned(b.peer_id)
            assert 40 < opened <= 50

    run_uv(main())


@pytest.mark.parametrize("answers", [True, False])
def test_streams_that_answer_us_are_not_churn(run_uv, answers: bool) -> None:
    """Kubo and Helia answer on a stream per message: a fast fetch of a 2,000-file directory
    from Kubo opened thousands a second and was banned for stream churn. A stream whose message
    answers what we asked the peer (BitswapNetwork's is_answer) is refunded to the budgets; a
    peer opening as many streams that answer nothing is still cut off."""

    async def main() -> None:
        got: list = []
        async with Host(listen_addrs=["/ip4/127.0.0.1/tcp/0"], stream_open_rate=0.001,
                        stream_open_burst=20, peer_stream_open_rate=0.001,
                        peer_stream_open_burst=20) as a, Host() as b:
            net = BitswapNetwork(a, lambda p, m, v: got.append(m),
                                 is_answer=lambda peer, msg: answers)
            net.start()
            body = encode_message(Message(presences=[BlockPresence(compute_cid(b"x"), HAVE)]))
            frame = frame_length_prefix(len(body)) + body
            sent = 0
            for _ in range(60):  # three times the burst, one message a stream
                try:
                    s = await b.new_stream(a.addrs[0], [BITSWAP_1_2_0])
                    s.write(frame)
                    await s.drain()
                    s.close()
                except NetError:
                    break
                sent += 1
                for _ in range(100):  # one at a time: each answered before the next opens
                    if len(got) == sent or a.connection(b.peer_id) is None:
                        break
                    await asyncio.sleep(0.005)
            if answers:
                assert sent == 60 and len(got) == 60
                assert a.connection(b.peer_id) is not None
                assert a.banned(b.peer_id) is None
            else:
                assert sent < 60
                ban = a.banned(b.peer_id)
                assert ban is not None and "churn" in ban[1]
            await net.stop()

    run_uv(main())
