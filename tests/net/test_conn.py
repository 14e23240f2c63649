"""Security upgrade over a real 127.0.0.1 TCP connection, on stock asyncio and on uvloop."""

from __future__ import annotations

import asyncio
import os

import pytest

from fastswap.errors import HandshakeError, NegotiationError, NetError, PeerIdMismatchError
from fastswap.net.conn import secure_inbound, secure_outbound
from fastswap.net.keys import Ed25519KeyPair

pytestmark = pytest.mark.timeout(60)


#: run()'s default timeout in this module (tests/conftest.py)
RUN_TIMEOUT = 30


async def _serve(handler):
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, port


def test_upgrade_and_echo(run) -> None:
    server_key, client_key = Ed25519KeyPair.generate(), Ed25519KeyPair.generate()
    data = os.urandom(3 * 1024 * 1024 + 7)
    seen = {}

    async def handler(reader, writer):
        conn = await secure_inbound(reader, writer, server_key)
        seen["client"] = conn.remote_peer
        while chunk := await conn.read():
            conn.write(chunk)
            await conn.drain()
        conn.close()

    async def main():
        server, port = await _serve(handler)
        async with server:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            conn = await secure_outbound(reader, writer, client_key, server_key.peer_id)
            assert conn.remote_peer == server_key.peer_id
            conn.writelines([data[:10], data[10:]])
            got = bytearray()
            while len(got) < len(data):
                chunk = await conn.read()
                assert chunk
                got += chunk
            assert got == data
            conn.close()
            await conn.wait_closed()

    run(main())
    assert seen["client"] == client_key.peer_id


def test_wrong_expected_peer(run) -> None:
    server_key = Ed25519KeyPair.generate()
    other = Ed25519KeyPair.generate().peer_id

    async def handler(reader, writer):
        try:
            await secure_inbound(reader, writer, server_key, timeout=5)
        except NetError:
            pass
        writer.close()

    async def main():
        server, port = await _serve(handler)
        async with server:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                with pytest.raises(PeerIdMismatchError):
                    await secure_outbound(reader, writer, Ed25519KeyPair.generate(), other)
            finally:
                writer.close()

    run(main())


def test_non_libp2p_server_and_silent_server(run) -> None:
    async def http_like(reader, writer):
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n" + b"x" * 100)
        await writer.drain()
        await reader.read(100)
        writer.close()

    async def silent(reader, writer):
        await reader.read(1 << 16)  # never answers; the client's deadline must fire
        await asyncio.sleep(5)
        writer.close()

    async def main():
        for handler, exc in [(http_like, NegotiationError), (silent, HandshakeError)]:
            server, port = await _serve(handler)
            async with server:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                try:
                    with pytest.raises(exc):
                        await secure_outbound(
                            reader, writer, Ed25519KeyPair.generate(), timeout=0.5
                        )
                finally:
                    writer.close()

    run(main())


def test_garbage_after_negotiation_and_early_close(run) -> None:
    server_key = Ed25519KeyPair.generate()
    results = []

    async def handler(reader, writer):
        try:
            await secure_inbound(reader, writer, server_key, timeout=5)
        except NetError as exc:
            results.append(exc)
        writer.close()

    async def main():
        from fastswap.net.multistream import PROTOCOL_ID, encode_message

        server, port = await _serve(handler)
        async with server:
            # negotiates /noise, then sends a frame too short to be Noise's first message
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(
                encode_message(PROTOCOL_ID) + encode_message("/noise") + b"\x00\x03abc"
            )
            await reader.read()
            writer.close()
            # negotiates, then hangs up mid-handshake
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(encode_message(PROTOCOL_ID) + encode_message("/noise") + b"\x00\x20ab")
            writer.close()
            for _ in range(100):
                if len(results) == 2:
                    break
                await asyncio.sleep(0.02)

    run(main())
    assert len(results) == 2
    assert isinstance(results[0], HandshakeError)
    # a hang-up is a connection error (clean close or reset), not a protocol error
    assert type(results[1]) is NetError
    assert "closed" in str(results[1]) or "reset" in str(results[1])
