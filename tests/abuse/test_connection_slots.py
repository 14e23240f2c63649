"""Connection slots (issue 8, item 3; go-libp2p's conn limiter and connmgr are the models):
silent sockets from one address hit the per-IP handshake budget, silent sockets filling the
global handshake budget give way to newcomers, idle upgraded peers filling every slot are
evicted for newcomers and closed by the idle timeout, and the connection manager trims by
value, sparing protected peers and peers in their grace period. Refusals are WARNINGs,
rate-limited."""

from __future__ import annotations

import asyncio
import logging

import pytest

from fastswap.net.host import Host
from tests.abuse.conftest import FILE_SIZE, Seeder, start_hostile

pytestmark = pytest.mark.timeout(180)
LISTEN = "/ip4/127.0.0.1/tcp/0"


def test_silent_sockets_from_one_address(run_uv, net_log, tmp_path) -> None:
    async def main() -> None:
        async with Seeder(tmp_path) as seeder:
            attack = await start_hostile("silent", seeder.addr, 6.0, "1100,127.0.0.2")
            try:
                await attack.line()
                await asyncio.sleep(0.5)
                assert seeder.host.handshaking <= seeder.host.max_handshaking_per_ip
                assert await seeder.fetch() >= FILE_SIZE
                # (the kernel backlog holds some sockets back; hundreds reach accept and are refused)
                assert seeder.host.refused.get("handshaking-ip", 0) >= 100
            finally:
                await attack.close()
            refusals = [r for r in net_log.records if "refusing" in r.getMessage()]
            assert refusals and all(r.levelno == logging.WARNING for r in refusals)
            assert len(refusals) <= 3, "refusals are rate-limited"
            assert "suppressed" in refusals[-1].getMessage() or len(refusals) == 1

    run_uv(main())


def test_silent_sockets_filling_the_handshake_budget_give_way(run_uv, tmp_path) -> None:
    async def main() -> None:
        opts = {"max_handshaking": 32, "max_handshaking_per_ip": 1000,
                "inbound_handshake_timeout": 30.0}
        async with Seeder(tmp_path, opts) as seeder:
            attack = await start_hostile("silent", seeder.addr, 8.0, "300,127.0.0.3")
            try:
                await attack.line()
                await asyncio.sleep(1.0)  # every silent handshake is past the eviction age
                assert seeder.host.handshaking == 32
                assert await seeder.fetch() >= FILE_SIZE
                assert seeder.host.refused.get("handshake-evicted", 0) >= 1
            finally:
                await attack.close()

    run_uv(main())


def test_idle_peers_are_evicted_for_newcomers_and_time_out(run_uv, tmp_path) -> None:
    async def main() -> None:
        opts = {"max_connections": 40, "idle_timeout": 4.0}
        async with Seeder(tmp_path, opts) as seeder:
            attack = await start_hostile("idle", seeder.addr, 7.0, "60")
            try:
                first = await attack.line()
                # every slot taken: the newest ones are refused while no peer may be evicted
                assert first["sent"] >= 40 and first["sent"] + first["refused"] == 60
                assert seeder.host.connection_count() <= 40
                await asyncio.sleep(2.2)  # past the emergency-eviction floor
                assert await seeder.fetch() >= FILE_SIZE
                assert seeder.host.connmgr.evicted >= 1
                last = await attack.line()
                assert last["alive"] == 0, "idle peers outlived the idle timeout"
            finally:
                await attack.close()

    run_uv(main())


def test_connmgr_trims_by_value_sparing_protected_and_grace(run_uv) -> None:
    async def main() -> None:
        async with Host(listen_addrs=[LISTEN], low_water=2, high_water=3,
                        grace_period=0.3) as a:
            clients = [Host(identify=False) for _ in range(5)]
            try:
                for c in clients:
                    await c.start()
                    await c.dial(a.addrs[0])
                peers = [c.peer_id for c in clients]
                cm = a.connmgr
                cm.tag_peer(peers[0], "bitswap", 50)
                cm.tag_peer(peers[1], "bitswap", 10)
                cm.upsert_tag(peers[1], "bitswap", lambda v: v + 5)
                cm.protect(peers[2], "session")
                assert cm.value(peers[1]) == 15
                assert cm.trim(force=True) == 0  # everyone is in the grace period
                await asyncio.sleep(0.4)
                assert cm.trim(force=True) == 3
                kept = {p for p in peers if a.connection(p) is not None}
                assert kept == {peers[0], peers[2]}  # highest value, and the protected one
                assert not cm.unprotect(peers[2], "session")
                assert not cm.is_protected(peers[2])
            finally:
                await asyncio.gather(*(c.stop() for c in clients))

    run_uv(main())


def test_in_use_peers_are_kept_idle(run_uv) -> None:
    async def main() -> None:
        async with Host(listen_addrs=[LISTEN], idle_timeout=0.5) as a, \
                Host(identify=False) as b, Host(identify=False) as c:
            await b.dial(a.addrs[0])
            await c.dial(a.addrs[0])
            a.connmgr.set_in_use(b.peer_id)
            await asyncio.sleep(0.7)
            a.maintain()
            assert a.connection(b.peer_id) is not None
            assert a.connection(c.peer_id) is None

    run_uv(main())


def test_a_full_handshake_budget_evicts_from_the_address_holding_most(run_uv) -> None:
    """The victim is the oldest handshake of the heaviest address, not the oldest overall, and
    an address crowding the others out gives way however young its handshakes are (a flood
    refreshes them faster than any age rule): a slow honest handshake (here: the oldest)
    survives, and a newcomer from elsewhere gets in."""

    async def silent_from(ip: str, port: int) -> asyncio.StreamWriter:
        _, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(ip, 0))
        return writer

    async def main() -> None:
        async with Host(listen_addrs=[LISTEN], max_handshaking=8, max_handshaking_per_ip=100,
                        inbound_handshake_timeout=30.0) as host:
            port = host.addrs[0].tcp_address()[1]
            writers = [await silent_from("127.0.0.4", port)]  # the oldest: one "slow" peer
            await asyncio.sleep(0.05)
            for _ in range(7):
                writers.append(await silent_from("127.0.0.5", port))
            await asyncio.sleep(0.05)
            assert host.handshaking == 8
            writers.append(await silent_from("127.0.0.6", port))  # a newcomer: someone goes
            await asyncio.sleep(0.1)
            ips = sorted(host._handshaking.values())
            assert ips.count("127.0.0.4") == 1 and ips.count("127.0.0.5") == 6, ips
            assert ips.count("127.0.0.6") == 1
            for w in writers:
                w.close()

    run_uv(main())
