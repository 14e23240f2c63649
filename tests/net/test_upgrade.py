"""The connection upgrade (fastswap/net/_connection.py, libp2p connections spec "Upgrading
Connections") against peers that are not libp2p or break it mid-way, on stock asyncio and on
uvloop: the host refuses them with a named error (dialling) or drops them (listening), and keeps
working for honest peers. The happy paths (dial, listen, echo, peer id checks, timeouts) are in
test_host.py."""

from __future__ import annotations

import asyncio

import pytest

from fastswap.errors import NegotiationError, NetError
from fastswap.net.host import Host
from fastswap.net.keys import Ed25519KeyPair
from fastswap.net.multistream import PROTOCOL_ID, encode_message

pytestmark = pytest.mark.timeout(60)

#: run()'s default timeout in this module (tests/conftest.py)
RUN_TIMEOUT = 30
LISTEN = "/ip4/127.0.0.1/tcp/0"


def test_dialling_a_server_that_is_not_libp2p(run) -> None:
    async def http_like(reader, writer):
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n" + b"x" * 100)
        await writer.drain()
        await reader.read(100)
        writer.close()

    async def main():
        server = await asyncio.start_server(http_like, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        peer = Ed25519KeyPair.generate().peer_id
        async with server, Host(connect_timeout=5) as b:
            with pytest.raises(NegotiationError):
                await b.dial(f"/ip4/127.0.0.1/tcp/{port}/p2p/{peer}")
            assert b.connections == [] and not b._conns

    run(main())


def test_listener_drops_broken_handshakes_and_serves_the_next_peer(run) -> None:
    async def main():
        async with Host(listen_addrs=[LISTEN], connect_timeout=5) as a, Host() as b:
            host, port = a.addrs[0].tcp_address()
            # negotiates /noise, then sends a frame too short to be Noise's first message
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(encode_message(PROTOCOL_ID) + encode_message("/noise") + b"\x00\x03abc")
            assert await asyncio.wait_for(reader.read(), 5) is not None  # dropped: EOF or RST
            writer.close()
            # negotiates, then hangs up in the middle of the handshake
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(encode_message(PROTOCOL_ID) + encode_message("/noise") + b"\x00\x20ab")
            writer.close()
            for _ in range(200):
                if not a._conns:
                    break
                await asyncio.sleep(0.01)
            assert not a._conns and a.connections == []
            # an honest peer is served as before
            conn = await b.dial(a.addrs[0])
            assert conn.remote_peer == a.peer_id

    run(main())


def test_dialling_a_peer_that_hangs_up_mid_handshake(run) -> None:
    async def hang_up(reader, writer):
        await reader.read(1)
        writer.close()

    async def main():
        server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        peer = Ed25519KeyPair.generate().peer_id
        async with server, Host(connect_timeout=5) as b:
            with pytest.raises(NetError, match="closed the connection during"):
                await b.dial(f"/ip4/127.0.0.1/tcp/{port}/p2p/{peer}")
            assert b.connections == [] and not b._conns

    run(main())
