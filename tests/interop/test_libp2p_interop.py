"""fastswap's libp2p host against real peers (Kubo 0.22 / go-libp2p 0.29, Helia 7 / js-libp2p 3)
from the harness in tests/peers: the full upgrade (multistream, Noise XX, yamux or mplex) in both
directions, identify both ways, ping both ways, a 16 MiB echo stream both ways (yamux with Kubo,
yamux and mplex with Helia), and the ``fastswap id``/``ping`` commands.

"They see ours" is shown by behaviour: Helia opens Bitswap streams only to peers whose identify
answer lists ``/ipfs/bitswap/1.2.0``, so when it asks for a block and a Bitswap stream arrives at
our handler, it has read our identify. Kubo's harness cannot show its peer store, so for Kubo
the same check only shows it uses the protocol we registered.

Echo: ``/fastswap/echo/1.0.0`` as tests/peers/pylibp2p_driver.py serves it (every byte back
until the writer half-closes, then close). Helia serves it itself and has an ``echo`` client
command; Kubo reaches it only through libp2p stream mounting (``ipfs p2p``), whose protocol
names must start with ``/x/``: ``ipfs p2p listen`` forwards our stream to a TCP echo server in
Kubo's driver, ``ipfs p2p forward`` turns a TCP connection into a stream to our handler. Kubo's
relay closes both ends as soon as either direction ends, so echoes through Kubo are
count-bounded (write N, read N back, close) instead of half-closed. Every payload is
``stream_payload(n, seed)`` (Python's ``random.Random(seed).randbytes``; peer.mjs carries the
same generator), so each side's sha256 is checked against one computed here independently.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys

import pytest

from fastswap.net.host import Host
from fastswap.net.keys import PeerId
from tests.peers.pylibp2p import expected_stream_sha256, stream_payload

pytestmark = [pytest.mark.interop, pytest.mark.timeout(180)]

BITSWAP = "/ipfs/bitswap/1.2.0"
ECHO = "/fastswap/echo/1.0.0"
KUBO_ECHO = "/x/fastswap/echo/1.0.0"  # Kubo stream mounting takes only /x/ protocols
MiB = 1 << 20
ECHO_BYTES = 16 * MiB
LISTEN = "/ip4/127.0.0.1/tcp/0"
#: a raw-leaf CID of a block nobody has (sha256 of b"fastswap interop: nobody has this")
MISSING_CID = "bafkreiep2vwozbknnegcffb47atrncfyzg4sd24flj3fqubnytnie3lhpm"


def run(coro, timeout: float = 90.0):
    import uvloop

    return uvloop.run(asyncio.wait_for(coro, timeout))


def _bitswap_recorder(host: Host) -> asyncio.Event:
    """Register a Bitswap handler that records the first inbound stream (and reads its message)."""
    seen = asyncio.Event()

    async def handler(stream) -> None:
        data = await stream.read()
        if data:
            seen.set()
        stream.reset()

    host.set_stream_handler(BITSWAP, handler)
    return seen


def _echo_server(host: Host, protocol: str) -> list[int]:
    """Register an echo handler; the list counts the bytes it echoed per stream it served."""
    served: list[int] = []

    async def handler(stream) -> None:
        served.append(0)
        while chunk := await stream.read(MiB):
            served[-1] += len(chunk)
            stream.write(chunk)
            await stream.drain()
        stream.close()

    host.set_stream_handler(protocol, handler)
    return served


async def _echo_through(stream, payload: bytes, *, half_close: bool = True) -> bytes:
    """Write payload while reading the echo. half_close: close our write side after the last
    byte and read until the remote closes; otherwise read exactly len(payload), then close."""

    async def writer() -> None:
        view = memoryview(payload)
        for off in range(0, len(view), 256 * 1024):
            stream.write(view[off : off + 256 * 1024])
            await stream.drain()
        if half_close:
            stream.close()

    task = asyncio.ensure_future(writer())
    got = bytearray()
    try:
        while half_close or len(got) < len(payload):
            # count-bounded: never ask for more than is still owed
            want = MiB if half_close else min(MiB, len(payload) - len(got))
            chunk = await stream.read(want)
            if not chunk:
                break
            got += chunk
            assert len(got) <= len(payload), "the echo sent back more than was written"
        await task
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    if not half_close:
        stream.close()
    return bytes(got)


# -- Kubo -----------------------------------------------------------------------------------


def test_we_dial_kubo_identify_and_ping(kubo) -> None:
    async def main():
        async with Host(listen_addrs=[LISTEN]) as host:
            conn = await host.dial(kubo.multiaddr)
            assert str(conn.remote_peer) == kubo.peer_id
            assert conn.muxer_protocol == "/yamux/1.0.0"
            info = await host.identify(conn.remote_peer)
            assert BITSWAP in info.protocols
            assert "/ipfs/ping/1.0.0" in info.protocols
            assert info.agent_version.startswith("kubo/")
            assert info.protocol_version is not None  # go-libp2p 0.29 sends it empty
            assert info.public_key is not None
            assert PeerId.from_public_key(info.public_key) == conn.remote_peer
            assert info.addrs, "Kubo listed no listen addresses"
            rtts = await host.ping(conn.remote_peer, count=3)
            assert len(rtts) == 3
            peers = await asyncio.get_running_loop().run_in_executor(None, kubo.peers)
            assert any(p.endswith(str(host.peer_id)) for p in peers), peers

    run(main())


def test_kubo_dials_us(kubo) -> None:
    async def main():
        async with Host(listen_addrs=[LISTEN]) as host:
            connected = asyncio.Event()
            host.subscribe(on_connected=lambda c: connected.set())
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, kubo.connect, str(host.addrs[0]))
            await asyncio.wait_for(connected.wait(), 20)
            (conn,) = host.connections
            assert str(conn.remote_peer) == kubo.peer_id
            assert not conn.initiator
            info = await host.identify(conn.remote_peer)
            assert BITSWAP in info.protocols
            # ping over the connection Kubo opened
            assert len(await host.ping(conn.remote_peer, count=2)) == 2

    run(main())


def test_kubo_opens_bitswap_stream_to_us(kubo_factory) -> None:
    kubo = kubo_factory()

    async def main():
        async with Host(listen_addrs=[LISTEN]) as host:
            seen = _bitswap_recorder(host)
            await host.dial(kubo.multiaddr)
            await host.identify(PeerId.from_string(kubo.peer_id))
            fetch = asyncio.ensure_future(kubo.adownload(MISSING_CID, "/dev/null", timeout=8))
            try:
                await asyncio.wait_for(seen.wait(), 20)
            finally:
                fetch.cancel()
                await asyncio.gather(fetch, return_exceptions=True)

    run(main())


def test_we_echo_16mib_through_kubo(kubo_factory) -> None:
    """fastswap opens /x/fastswap/echo/1.0.0 to Kubo, which relays it to a TCP echo server."""
    kubo = kubo_factory()
    assert kubo.config()["Experimental"]["Libp2pStreamMounting"] is True
    kubo.echo_listen(KUBO_ECHO)

    async def main():
        async with Host(listen_addrs=[LISTEN]) as host:
            payload = stream_payload(ECHO_BYTES, 11)
            stream = await host.new_stream(kubo.multiaddr, [KUBO_ECHO])
            assert stream.protocol == KUBO_ECHO
            conn = host.connection(PeerId.from_string(kubo.peer_id))
            assert conn is not None and conn.muxer_protocol == "/yamux/1.0.0"
            got = await _echo_through(stream, payload, half_close=False)
            assert len(got) == ECHO_BYTES
            assert hashlib.sha256(got).hexdigest() == expected_stream_sha256(ECHO_BYTES, 11)

    run(main())


def test_kubo_echoes_16mib_through_us(kubo_factory) -> None:
    """Kubo's `ipfs p2p forward` opens /x/fastswap/echo/1.0.0 to our handler."""
    kubo = kubo_factory()

    async def main():
        async with Host(listen_addrs=[LISTEN]) as host:
            served = _echo_server(host, KUBO_ECHO)
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, kubo.connect, str(host.addrs[0]))
            res = await kubo.aecho_forward(
                KUBO_ECHO, str(host.peer_id), ECHO_BYTES, seed=12, timeout=60
            )
            assert res["sent"] == res["received"] == ECHO_BYTES
            assert (
                res["sha256Sent"] == res["sha256Received"] == expected_stream_sha256(ECHO_BYTES, 12)
            )
            # it went through our handler, on a stream Kubo opened
            assert served and served[0] == ECHO_BYTES
            (conn,) = host.connections
            assert str(conn.remote_peer) == kubo.peer_id and not conn.initiator

    run(main())


# -- Helia ----------------------------------------------------------------------------------


@pytest.mark.parametrize("muxer", ["/yamux/1.0.0", "/mplex/6.7.0"])
def test_we_dial_helia_and_it_sees_our_protocols(helia, muxer: str) -> None:
    async def main():
        async with Host(listen_addrs=[LISTEN], muxers=[muxer]) as host:
            seen = _bitswap_recorder(host)
            conn = await host.dial(helia.multiaddr)
            assert str(conn.remote_peer) == helia.peer_id
            assert conn.muxer_protocol == muxer
            info = await host.identify(conn.remote_peer)
            assert BITSWAP in info.protocols
            assert info.agent_version.startswith("helia/")
            conns = await helia.arequest("peers")
            mine = [c for c in conns["connections"] if c["peerId"] == str(host.peer_id)]
            assert mine and mine[0]["multiplexer"] == muxer and mine[0]["encryption"] == "/noise"
            # Helia wants blocks only from peers whose identify lists Bitswap: ours does
            fetch = asyncio.ensure_future(helia.acat(MISSING_CID, timeout=8))
            try:
                await asyncio.wait_for(seen.wait(), 20)
            finally:
                await asyncio.gather(fetch, return_exceptions=True)
            await helia.arequest("hangup", multiaddr=str(host.addrs[0]))

    run(main())


def test_helia_dials_us(helia) -> None:
    async def main():
        async with Host(listen_addrs=[LISTEN]) as host:
            seen = _bitswap_recorder(host)
            answer = await helia.adial(str(host.addrs[0]))
            assert answer["peerId"] == str(host.peer_id)
            await asyncio.sleep(0)
            conn = host.connection(PeerId.from_string(helia.peer_id))
            assert conn is not None and not conn.initiator
            info = await host.identify(conn.remote_peer)
            assert BITSWAP in info.protocols
            fetch = asyncio.ensure_future(helia.acat(MISSING_CID, timeout=8))
            try:
                await asyncio.wait_for(seen.wait(), 20)
            finally:
                await asyncio.gather(fetch, return_exceptions=True)
            await helia.arequest("hangup", multiaddr=str(host.addrs[0]))

    run(main())


MUXERS = ["/yamux/1.0.0", "/mplex/6.7.0"]


@pytest.mark.parametrize("muxer", MUXERS)
def test_we_echo_16mib_through_helia(helia, muxer: str) -> None:
    async def main():
        async with Host(listen_addrs=[LISTEN], muxers=[muxer]) as host:
            payload = stream_payload(ECHO_BYTES, 21)
            stream = await host.new_stream(helia.multiaddr, [ECHO])
            assert stream.protocol == ECHO
            conn = host.connection(PeerId.from_string(helia.peer_id))
            assert conn is not None and conn.muxer_protocol == muxer
            got = await _echo_through(stream, payload)
            assert len(got) == ECHO_BYTES
            assert hashlib.sha256(got).hexdigest() == expected_stream_sha256(ECHO_BYTES, 21)
            await helia.arequest("hangup", multiaddr=str(host.addrs[0]))

    run(main())


@pytest.mark.parametrize("muxer", MUXERS)
def test_helia_echoes_16mib_through_us(helia, muxer: str) -> None:
    async def main():
        async with Host(listen_addrs=[LISTEN], muxers=[muxer]) as host:
            served = _echo_server(host, ECHO)
            # Helia dials us (yamux first; we offer only `muxer`) and streams through
            res = await helia.aecho(str(host.addrs[0]), ECHO_BYTES, seed=22, timeout=60)
            assert res["muxer"] == muxer
            assert res["sent"] == res["received"] == ECHO_BYTES
            assert (
                res["sha256Sent"] == res["sha256Received"] == expected_stream_sha256(ECHO_BYTES, 22)
            )
            assert served == [ECHO_BYTES]
            conn = host.connection(PeerId.from_string(helia.peer_id))
            assert conn is not None and not conn.initiator and conn.muxer_protocol == muxer
            await helia.arequest("hangup", multiaddr=str(host.addrs[0]))

    run(main())


def test_we_ping_helia_and_helia_pings_us(helia) -> None:
    async def main():
        async with Host(listen_addrs=[LISTEN]) as host:
            conn = await host.dial(helia.multiaddr)
            info = await host.identify(conn.remote_peer)
            assert "/ipfs/ping/1.0.0" in info.protocols
            rtts = await host.ping(conn.remote_peer, count=3)
            assert len(rtts) == 3 and all(r >= 0 for r in rtts)
            # the other way, over the same connection (Helia pings a connected peer id)
            theirs = await helia.aping(str(host.peer_id), count=3)
            assert len(theirs) == 3 and all(r >= 0 for r in theirs)
            await helia.arequest("hangup", multiaddr=str(host.addrs[0]))

    run(main())


def test_helia_echo_command_errors_are_answers(helia) -> None:
    from tests.peers import PeerCommandError

    with pytest.raises(PeerCommandError, match="nbytes"):
        helia.echo(helia.peer_id, -1)

    async def main():
        async with Host(listen_addrs=[LISTEN]) as host:  # serves no echo protocol
            with pytest.raises(PeerCommandError):
                await helia.aecho(str(host.addrs[0]), 10, timeout=10)
            await helia.arequest("hangup", multiaddr=str(host.addrs[0]))

    run(main())
    assert helia.info()["peerId"] == helia.peer_id  # still serving


# -- the command line -----------------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fastswap.cli", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_id_and_ping_kubo(kubo) -> None:
    done = _cli("id", kubo.multiaddr)
    assert done.returncode == 0, done.stderr
    assert f"peer id:          {kubo.peer_id}" in done.stdout
    assert "agent version:    kubo/" in done.stdout
    assert f"  {BITSWAP}\n" in done.stdout
    done = _cli("ping", "-n", "2", kubo.multiaddr)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(f"from {kubo.peer_id}: time=") == 2


def test_cli_id_json_helia(helia) -> None:
    done = _cli("id", "--json", helia.multiaddr)
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["id"] == helia.peer_id
    assert info["agentVersion"].startswith("helia/")
    assert BITSWAP in info["protocols"]
