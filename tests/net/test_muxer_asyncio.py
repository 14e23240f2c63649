"""asyncio muxer driver over real 127.0.0.1 TCP, on stock asyncio and on uvloop, both twins.

Every test is bounded by asyncio.wait_for and checks that no task is left running.
"""

from __future__ import annotations

import asyncio
import hashlib

import pytest
import uvloop

from fastswap.errors import StreamClosedError
from fastswap.net.muxer_asyncio import MuxedConnection, StreamTransport
from tests.conftest import import_twin, twin_params

MIB = 1024 * 1024
LIMIT = 30  # seconds: a hang fails the test instead of stalling the suite


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request):
    factory = asyncio.new_event_loop if request.param == "asyncio" else uvloop.new_event_loop

    def runner(coro_fn):
        async def guarded():
            try:
                return await asyncio.wait_for(coro_fn(), LIMIT)
            finally:
                leftover = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                assert leftover == [], f"tasks left running: {leftover}"

        with asyncio.Runner(loop_factory=factory) as r:
            return r.run(guarded())

    return runner


@pytest.fixture(params=twin_params("fastswap.net._yamux_c", "fastswap.net._yamux_py"))
def ym(request):
    return import_twin(request.param)


@pytest.fixture(params=twin_params("fastswap.net._mplex_c", "fastswap.net._mplex_py"))
def mp(request):
    return import_twin(request.param)


async def tcp_pair(make_session):
    """A connected (client, server) MuxedConnection pair over 127.0.0.1, and the TCP server."""
    accepted: asyncio.Future = asyncio.get_running_loop().create_future()

    async def on_conn(reader, writer):
        accepted.set_result(StreamTransport(reader, writer))

    server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    client = MuxedConnection(StreamTransport(reader, writer), make_session(True)).start()
    srv = MuxedConnection(await accepted, make_session(False)).start()
    return client, srv, server


async def close_all(client, srv, server) -> None:
    await client.close()
    await srv.close()
    server.close()
    await server.wait_closed()


def _payload(i: int, size: int) -> bytes:
    return (hashlib.sha256(bytes([i])).digest() * (size // 32 + 1))[:size]


async def _transfer(make_session, n_streams: int = 4, size: int = 4 * MIB) -> None:
    client, srv, server = await tcp_pair(make_session)

    async def serve_one():
        stream = await srv.accept_stream()
        data = bytearray()
        while chunk := await stream.read(100_000):
            data += chunk
        stream.write(hashlib.sha256(data).digest())
        await stream.close()
        return bytes(data)

    async def send_one(i):
        stream = client.open_stream()
        p = _payload(i, size)
        for off in range(0, size, 1 * MIB):
            stream.write(p[off:off + MIB])
            await stream.drain()
        await stream.close()
        digest = await stream.readexactly(32)
        assert await stream.read() == b""
        assert digest == hashlib.sha256(p).digest()
        return p

    servers = [asyncio.ensure_future(serve_one()) for _ in range(n_streams)]
    sent = await asyncio.gather(*(send_one(i) for i in range(n_streams)))
    received = await asyncio.gather(*servers)
    assert sorted(sent) == sorted(received)
    await close_all(client, srv, server)


def test_yamux_transfer_over_tcp(run, ym) -> None:
    run(lambda: _transfer(lambda c: ym.YamuxSession(c)))


def test_mplex_transfer_over_tcp(run, mp) -> None:
    run(lambda: _transfer(lambda c: mp.MplexSession(c)))


def test_yamux_backpressure_and_resume(run, ym) -> None:
    async def main():
        client, srv, server = await tcp_pair(lambda c: ym.YamuxSession(c))
        stream = client.open_stream()
        stream.write(bytes(MIB))
        drain = asyncio.ensure_future(stream.drain())
        peer = await srv.accept_stream()
        # the peer reads nothing: the writer stops exactly at the 256 KiB window
        for _ in range(500):
            if client._session.send_window(stream.stream_id) == 0:
                break
            await asyncio.sleep(0.01)
        assert client._session.send_window(stream.stream_id) == 0
        await asyncio.sleep(0.05)
        assert not drain.done()
        got = 0
        while got < MIB:
            got += len(await peer.read())
        await drain  # the reads granted window: the writer finished
        assert got == MIB
        await close_all(client, srv, server)

    run(main)


def test_yamux_reset_and_ping(run, ym) -> None:
    async def main():
        client, srv, server = await tcp_pair(lambda c: ym.YamuxSession(c))
        await client.ping()
        await srv.ping()
        stream = client.open_stream()
        stream.write(b"hello")
        await stream.drain()
        peer = await srv.accept_stream()
        assert await peer.readexactly(5) == b"hello"
        peer.reset()
        with pytest.raises(StreamClosedError):
            for _ in range(1000):  # until the RST arrives
                await stream.read()
        with pytest.raises(StreamClosedError):
            stream.write(b"x")
        await close_all(client, srv, server)

    run(main)


def test_peer_disconnect_fails_streams_and_accept(run, ym) -> None:
    async def main():
        client, srv, server = await tcp_pair(lambda c: ym.YamuxSession(c))
        stream = client.open_stream()
        await srv.accept_stream()
        await srv.close()
        with pytest.raises(StreamClosedError):
            for _ in range(1000):
                await stream.read()
        with pytest.raises(StreamClosedError):
            await client.accept_stream()
        await client.close()
        server.close()
        await server.wait_closed()

    run(main)


class MemoryPipe:
    """The brief's minimal transport shape: ``async read()`` and ``async write()`` only."""

    def __init__(self, inbox: asyncio.Queue, outbox: asyncio.Queue) -> None:
        self._inbox, self._outbox = inbox, outbox

    async def read(self) -> bytes:
        return await self._inbox.get()

    async def write(self, data) -> None:
        await self._outbox.put(bytes(data))

    async def close(self) -> None:
        await self._outbox.put(b"")


def test_yamux_over_async_read_write_transport(run, ym) -> None:
    async def main():
        a, b = asyncio.Queue(), asyncio.Queue()
        client = MuxedConnection(MemoryPipe(a, b), ym.YamuxSession(True)).start()
        srv = MuxedConnection(MemoryPipe(b, a), ym.YamuxSession(False)).start()
        stream = client.open_stream()
        payload = _payload(7, 3 * MIB)
        stream.write(payload)
        closing = asyncio.ensure_future(stream.close())  # waits for the reader's window
        peer = await srv.accept_stream()
        got = bytearray()
        while chunk := await peer.read():
            got += chunk
        await closing
        assert bytes(got) == payload
        await client.close()
        await srv.close()

    run(main)
