"""The DHT on real fastswap hosts over loopback (routing/kad/dht.py): peers join tables through
identify, a client-only node finds a provider it was never connected to and fetches from it,
client mode stays out of identify and out of tables, re-announcement runs on its interval, and a
hostile peer's garbage, forgeries and floods cost it its streams and then its standing."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from fastswap import Node, _defaults
from fastswap.cid import compute_cid
from fastswap.errors import StreamClosedError
from fastswap.message import frame_length_prefix
from fastswap.net.host import Host
from fastswap.routing import PROTOCOL_LAN_KAD, KadConfig, KadDHT, Provider, Router
from fastswap.routing.kad.dht import cid_key
from fastswap.routing.kad.messages import KadMessage, KadPeer, MessageType, encode
from fastswap.varint import encode as encode_varint

RUN_TIMEOUT = 60.0


async def _swarm(tmp: Path, n: int) -> tuple[list[Node], list[KadDHT]]:
    nodes: list[Node] = []
    dhts: list[KadDHT] = []
    for i in range(n):
        node = Node(tmp / f"n{i}")
        await node.start()
        boot = [nodes[0].addrs[0]] if nodes else []
        dht = KadDHT(node.host, datastore=tmp / f"n{i}" / "providers", bootstrap=boot)
        await dht.start()
        nodes.append(node)
        dhts.append(dht)
    return nodes, dhts


async def _close(nodes, dhts) -> None:
    for d in dhts:
        await d.stop()
    for n in nodes:
        await n.stop()


def test_client_finds_provider_through_the_dht_and_fetches(run, tmp_path: Path) -> None:
    async def go() -> None:
        nodes, dhts = await _swarm(tmp_path, 6)
        fetcher = Node(tmp_path / "fetcher", listen=[])
        await fetcher.start()
        dht = KadDHT(fetcher.host, server=False, bootstrap=[nodes[0].addrs[0]])
        try:
            assert all(len(d.table) >= 4 for d in dhts)
            seeder = nodes[4]
            data = os.urandom(600_000)
            (tmp_path / "f.bin").write_bytes(data)
            root = await seeder.add_file(tmp_path / "f.bin")
            (report,) = await Provider([dhts[4]]).add([root])
            assert len(report.peers) == 5 and report.lookups == 1
            await dht.start()
            assert len(dht.table) == 1  # a client does not walk at bootstrap: only A
            assert fetcher.host.connection(seeder.peer_id) is None
            router = Router([dht])
            fetcher.routing = router
            assert await fetcher.fetch_dag(root, timeout=20) == 4  # the root and 3 leaves
            assert router.counters["queries"] >= 1
            assert seeder.peer_id in fetcher.peers
        finally:
            await dht.stop()
            await fetcher.stop()
            await _close(nodes, dhts)

    run(go())


def test_all_strategy_provides_every_block(run, tmp_path: Path) -> None:
    async def go() -> None:
        nodes, dhts = await _swarm(tmp_path, 3)
        try:
            (tmp_path / "f.bin").write_bytes(os.urandom(1_000_000))
            root = await nodes[2].add_file(tmp_path / "f.bin")
            (report,) = await Provider([dhts[2]], blockstore=nodes[2].store,
                                       strategy="all").add([root])
            assert report.keys == len(nodes[2].store) == 5  # the root and 4 leaves
            for cid in nodes[2].store.cids():
                found = await dhts[0].find_providers(cid)
                assert [ma.peer_id for ma in found] == [nodes[2].peer_id]
        finally:
            await _close(nodes, dhts)

    run(go())


def test_client_mode_is_not_advertised_and_stays_out_of_tables(run, tmp_path: Path) -> None:
    async def go() -> None:
        nodes, dhts = await _swarm(tmp_path, 2)
        async with Host(listen_addrs=["/ip4/127.0.0.1/tcp/0"]) as h:
            client = KadDHT(h, server=False, bootstrap=[nodes[0].addrs[0]])
            await client.start()
            try:
                info = await nodes[0].host.identify(h.peer_id)
                assert PROTOCOL_LAN_KAD not in info.protocols
                me = await h.identify(nodes[0].peer_id)
                assert PROTOCOL_LAN_KAD in me.protocols  # a server says so
                assert h.peer_id not in dhts[0].table
                assert nodes[0].peer_id in client.table
                # a client still finds: the provider's record is on the servers
                cid = compute_cid(b"x")
                await dhts[1].provide(cid)
                found = await client.find_providers(cid)
                assert [ma.peer_id for ma in found] == [nodes[1].peer_id]
            finally:
                await client.stop()
        await _close(nodes, dhts)

    run(go())


def test_reprovide_runs_on_its_interval(run, tmp_path: Path) -> None:
    async def go() -> None:
        nodes, dhts = await _swarm(tmp_path, 3)
        provider = Provider([dhts[2]], interval=0.2)
        try:
            cid = compute_cid(b"kept alive")
            await provider.add([cid])
            added = [d.core.counters["records_added"] for d in dhts[:2]]
            assert added == [1, 1]
            provider.start()
            await asyncio.sleep(0.7)
            assert provider.rounds >= 2
            assert all(d.core.counters["records_added"] >= 3 for d in dhts[:2])
            assert len(dhts[0].store) == 1  # refreshed, not duplicated
        finally:
            await provider.stop()
            await _close(nodes, dhts)

    run(go())


def test_hostile_peer_loses_streams_then_standing(run, tmp_path: Path) -> None:
    async def go() -> None:
        nodes, dhts = await _swarm(tmp_path, 1)
        target = dhts[0]
        target.core.config = KadConfig(max_strikes=4, ban_seconds=60.0)
        async with Host() as evil:
            await evil.dial(nodes[0].addrs[0])

            async def send(raw: bytes) -> bytes:
                out = b""
                try:
                    s = await evil.new_stream(nodes[0].peer_id, [PROTOCOL_LAN_KAD])
                    s.write(raw)
                    while chunk := await s.read():
                        out += chunk
                except StreamClosedError:  # a reset is what we expect
                    return b"<reset>"
                return out

            # streams held open past the per-peer bound: the extra one is reset, a strike
            held = [await evil.new_stream(nodes[0].peer_id, [PROTOCOL_LAN_KAD])
                    for _ in range(_defaults.KAD_MAX_INBOUND_STREAMS_PER_PEER)]
            await asyncio.sleep(0.1)
            assert await send(b"") == b"<reset>"
            for h in held:
                h.reset()
            await asyncio.sleep(0.1)
            assert not target._inbound
            # garbage: the stream is reset, a strike
            assert await send(frame_length_prefix(4) + b"\xff\xff\xff\xff") == b"<reset>"
            # a frame over the size limit: reset before it is buffered
            assert await send(encode_varint(64 << 20)) == b"<reset>"
            # a forged provider record: not stored, a strike
            victim = KadPeer(nodes[0].peer_id, ())
            forged = KadMessage(MessageType.ADD_PROVIDER, cid_key(compute_cid(b"v")),
                                providers=[victim])
            s = await evil.new_stream(nodes[0].peer_id, [PROTOCOL_LAN_KAD])
            s.write(encode(forged))
            s.close()
            await asyncio.sleep(0.2)
            assert len(target.store) == 0
            assert target.core.is_banned(evil.peer_id, target._now())
            # banned: even a valid request is refused now
            ping = encode(KadMessage(MessageType.PING))
            assert await send(ping) == b"<reset>"
            assert target.core.counters["bans"] == 1
        await _close(nodes, dhts)

    run(go())
