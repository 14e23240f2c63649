"""The libp2p host (fastswap/net/host.py) between two fastswap hosts on 127.0.0.1, on stock
asyncio and on uvloop: dial/listen, identify both ways, ping, bulk echo over yamux and mplex,
concurrency, connection reuse, errors, limits and backpressure, and a clean stop."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import threading

import pytest

from fastswap.errors import (
    DialError,
    DialTimeoutError,
    IdentifyError,
    LimitExceededError,
    NegotiationError,
    NetError,
    PeerIdMismatchError,
    StreamClosedError,
    StreamResetError,
)
from fastswap.net.host import Host
from fastswap.net.identify import AGENT_VERSION, PROTOCOL_VERSION
from fastswap.net.keys import Ed25519KeyPair
from fastswap.net.multiaddr import Multiaddr
from fastswap.varint import encode as encode_varint

pytestmark = pytest.mark.timeout(120)

LISTEN = "/ip4/127.0.0.1/tcp/0"
YAMUX = "/yamux/1.0.0"
MPLEX = "/mplex/6.7.0"
ECHO = "/test/echo/1.0.0"



async def echo_handler(stream) -> None:
    while True:
        data = await stream.read()
        if not data:
            break
        stream.write(data)
        await stream.drain()
    stream.close()


async def wait_for(predicate, what: str, tries: int = 200) -> None:
    """Poll *predicate* (bounded: tries x 10 ms), for state that changes on the peer's side."""
    for _ in range(tries):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def echo_roundtrip(stream, data: bytes, write_chunk: int = 1 << 20) -> bytes:
    async def writer() -> None:
        view = memoryview(data)
        for i in range(0, len(data), write_chunk):
            stream.write(view[i : i + write_chunk])
            await stream.drain()
        stream.close()

    task = asyncio.ensure_future(writer())
    h = hashlib.sha256()
    got = 0
    while True:
        chunk = await stream.read()
        if not chunk:
            break
        h.update(chunk)
        got += len(chunk)
    await task
    assert got == len(data)
    return h.digest()


# -- dial, listen, identify, ping ---------------------------------------------------------


def test_dial_listen_identify_both_ways(run) -> None:
    async def main():
        async with Host(listen_addrs=[LISTEN]) as a, Host() as b:
            a.set_stream_handler(ECHO, echo_handler)
            (addr,) = a.addrs
            assert addr.peer_id == a.peer_id
            assert addr.tcp_address()[1] != 0
            conn = await b.dial(addr)
            assert conn.remote_peer == a.peer_id
            assert conn.muxer_protocol == YAMUX
            # b asks a
            info = await b.identify(a.peer_id)
            assert info.peer_id == a.peer_id
            assert set(info.protocols) == {
                "/ipfs/id/1.0.0", "/ipfs/id/push/1.0.0", "/ipfs/ping/1.0.0", ECHO
            }
            assert info.agent_version == AGENT_VERSION
            assert info.protocol_version == PROTOCOL_VERSION
            assert info.public_key == a.identity.public_key
            assert [str(x) for x in info.addrs] == [str(addr.without_p2p())]
            # a saw b's connection from b's local address
            assert info.observed_addr == conn.local_addr
            # a asks b (the inbound side identifies too)
            await wait_for(lambda: a.connection(b.peer_id) is not None, "a to register b")
            info_b = await a.identify(b.peer_id)
            assert info_b.agent_version == AGENT_VERSION
            assert ECHO not in info_b.protocols
            assert a.peerstore.supports(a.peer_id, ECHO) is False
            assert b.peerstore.supports(a.peer_id, ECHO)

    run(main())


def test_identify_push_announces_new_handler(run) -> None:
    async def main():
        async with Host(listen_addrs=[LISTEN]) as a, Host() as b:
            await b.dial(a.addrs[0])
            await b.identify(a.peer_id)
            await wait_for(lambda: a.connection(b.peer_id) is not None, "a to register b")
            await a.identify(b.peer_id)  # a knows b speaks push
            assert not b.peerstore.supports(a.peer_id, "/new/proto/1")
            a.set_stream_handler("/new/proto/1", echo_handler)
            await wait_for(lambda: b.peerstore.supports(a.peer_id, "/new/proto/1"), "the push")
            a.remove_stream_handler("/new/proto/1")
            await wait_for(lambda: not b.peerstore.supports(a.peer_id, "/new/proto/1"),
                           "the second push")

    run(main())


@pytest.mark.parametrize("answer", [
    encode_varint(10 << 20) + b"x" * 1000,  # a length over the limit
    encode_varint(100) + b"short",  # ends mid-message
    encode_varint(3) + b"\xff\xff\xff",  # not protobuf
])
def test_bad_identify_answers_are_refused(run, answer: bytes) -> None:
    async def liar(stream) -> None:
        stream.write(answer)
        stream.close()

    async def main():
        async with Host(listen_addrs=[LISTEN]) as a, Host() as b:
            a.set_stream_handler("/ipfs/id/1.0.0", liar)
            await b.dial(a.addrs[0])
            with pytest.raises(IdentifyError):
                await b.identify(a.peer_id)
            assert b.peerstore.get(a.peer_id) is None
            assert b.connection(a.peer_id) is not None  # a bad answer is not fatal

    run(main())


def test_ping(run) -> None:
    async def main():
        async with Host(listen_addrs=[LISTEN]) as a, Host() as b:
            rtts = await b.ping(a.addrs[0], count=5)
            assert len(rtts) == 5
            assert all(r > 0 for r in rtts)
            # and the other way, over the same (inbound, for a) connection
            await wait_for(lambda: a.connection(b.peer_id) is not None, "a to register b")
            assert len(await a.ping(b.peer_id, count=2)) == 2
            assert len(a.connections) == 1 and len(b.connections) == 1

    run(main())


def test_ipv6_loopback_listen_dial_and_echo(run) -> None:
    data = os.urandom(256 * 1024)

    async def main():
        async with Host(listen_addrs=["/ip6/::1/tcp/0"]) as a, Host() as b:
            (addr,) = a.addrs
            assert str(addr).startswith("/ip6/::1/tcp/") and str(addr).endswith(f"/p2p/{a.peer_id}")
            a.set_stream_handler(ECHO, echo_handler)
            stream = await b.new_stream(addr, [ECHO])
            assert await echo_roundtrip(stream, data) == hashlib.sha256(data).digest()
            assert len(await b.ping(a.peer_id, count=1)) == 1

    run(main())


# -- bulk data ------------------------------------------------------------------------------


@pytest.mark.parametrize("muxer", [YAMUX, MPLEX])
def test_echo_16_mib(run, muxer: str) -> None:
    data = os.urandom(16 * 1024 * 1024)

    async def main():
        async with Host(listen_addrs=[LISTEN]) as a, Host(muxers=[muxer]) as b:
            a.set_stream_handler(ECHO, echo_handler)
            stream = await b.new_stream(a.addrs[0], [ECHO])
            assert stream.protocol == ECHO
            assert stream.connection.muxer_protocol == muxer
            digest = await echo_roundtrip(stream, data)
            assert digest == hashlib.sha256(data).digest()

    run(main())


@pytest.mark.parametrize("muxer", [YAMUX, MPLEX])
def test_many_streams_concurrently(run, muxer: str) -> None:
    payloads = [os.urandom(64 * 1024 + i) for i in range(64)]

    async def one(b: Host, peer, data: bytes) -> bool:
        stream = await b.new_stream(peer, [ECHO])
        return await echo_roundtrip(stream, data, 7000) == hashlib.sha256(data).digest()

    async def main():
        async with Host(listen_addrs=[LISTEN]) as a, Host(muxers=[muxer]) as b:
            a.set_stream_handler(ECHO, echo_handler)
            await b.dial(a.addrs[0])
            results = await asyncio.gather(*(one(b, a.peer_id, p) for p in payloads))
            assert results == [True] * len(payloads)
            assert len(b.connections) == 1

    run(main())


def test_readexactly_and_half_close(run) -> None:
    async def server(stream) -> None:
        head = await stream.readexactly(5)
        rest = await stream.read()
        assert await stream.read() == b""  # the client half-closed
        stream.write(head[::-1] + rest)
        stream.close()

    async def main():
        async with Host(listen_addrs=[LISTEN]) as a, Host() as b:
            a.set_stream_handler("/t/1", server)
            s = await b.new_stream(a.addrs[0], "/t/1")
            s.write(b"hello world")
            s.close()
            with pytest.raises(StreamClosedError):
                s.write(b"after close")
            assert await s.readexactly(5) == b"olleh"
            assert await s.read(100) == b" world"
            assert await s.read() == b""
            assert s.at_eof()

    run(main())


# -- connections ----------------------------------------------------------------------------


def test_connection_reuse(run) -> None:
    async def main():
        async with Host(listen_addrs=[LISTEN]) as a, Host() as b:
            a.set_stream_handler(ECHO, echo_handler)
            first, second = await asyncio.gather(b.dial(a.addrs[0]), b.dial(a.addrs[0]))
            assert first is second
            assert await b.dial(str(a.addrs[0])) is first
            s = await b.new_stream(a.addrs[0], [ECHO])
            assert s.connection is first
            # dialled without /p2p/: the handshake names the peer, the old connection is kept
            assert await b.dial(a.addrs[0].without_p2p()) is first
            assert b.connections == [first]
            await wait_for(lambda: len(a.connections) == 1, "a to drop the duplicate")
            await wait_for(lambda: not any(c for c in a._conns if not c.ready), "upgrades")

    run(main())


def test_peer_id_mismatch(run) -> None:
    async def main():
        async with Host(listen_addrs=[LISTEN]) as a, Host() as b:
            wrong = a.addrs[0].with_p2p(Ed25519KeyPair.generate().peer_id)
            with pytest.raises(PeerIdMismatchError):
                await b.dial(wrong)
            assert b.connections == []
            assert b.connection(a.peer_id) is None
            # the right id still works afterwards
            assert (await b.dial(a.addrs[0])).remote_peer == a.peer_id

    run(main())


def test_connect_timeout_on_silent_listener(run) -> None:
    # a socket that listens (the kernel completes TCP handshakes) but never says anything
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(4)
    port = sock.getsockname()[1]
    peer = Ed25519KeyPair.generate().peer_id

    async def main():
        async with Host(connect_timeout=0.3) as b:
            with pytest.raises(DialTimeoutError):
                await b.dial(f"/ip4/127.0.0.1/tcp/{port}/p2p/{peer}")
            assert b.connections == []
            assert not b._conns

    try:
        run(main())
    finally:
        sock.close()


def test_dial_refused_and_bad_addresses(run) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now

    async def main():
        async with Host() as b:
            with pytest.raises(DialError):
                await b.dial(f"/ip4/127.0.0.1/tcp/{port}")
            with pytest.raises(DialError):
                await b.dial(f"/ip4/127.0.0.1/tcp/{port}/p2p/{b.peer_id}")  # ourselves
            with pytest.raises(NetError):
                await b.dial("/dns4/localhost")  # not a TCP address
            with pytest.raises(DialError):
                await b.new_stream(Ed25519KeyPair.generate().peer_id, [ECHO])  # not connected

    run(main())


def test_unsupported_protocol_keeps_connection(run) -> None:
    async def main():
        async with Host(listen_addrs=[LISTEN]) as a, Host() as b:
            a.set_stream_handler(ECHO, echo_handler)
            conn = await b.dial(a.addrs[0])
            with pytest.raises(NegotiationError):
                await b.new_stream(a.peer_id, ["/nope/1", "/nope/2"])
            s = await b.new_stream(a.peer_id, ["/nope/1", ECHO])  # falls back to the second
            assert s.protocol == ECHO
            assert b.connection(a.peer_id) is conn

    run(main())


def test_connection_events_and_close(run) -> None:
    async def main():
        async with Host(listen_addrs=[LISTEN]) as a, Host() as b:
            events: list[tuple[str, str]] = []
            a.subscribe(lambda c: events.append(("a+", str(c.remote_peer))),
                        lambda c: events.append(("a-", str(c.remote_peer))))
            unsub = b.subscribe(lambda c: events.append(("b+", str(c.remote_peer))),
                                lambda c: events.append(("b-", str(c.remote_peer))))
            conn = await b.dial(a.addrs[0])
            await wait_for(lambda: ("a+", str(b.peer_id)) in events, "a's connected event")
            assert ("b+", str(a.peer_id)) in events
            hold = asyncio.Event()

            async def holder(stream) -> None:
                await hold.wait()

            a.set_stream_handler("/hold/1", holder)
            s = await b.new_stream(a.peer_id, "/hold/1")
            conn.close()
            await conn.wait_closed()
            await wait_for(lambda: ("a-", str(b.peer_id)) in events, "a's disconnected event")
            assert ("b-", str(a.peer_id)) in events
            assert a.connections == [] and b.connections == []
            with pytest.raises(StreamResetError):
                await s.read()
            unsub()
            await b.dial(a.addrs[0])
            assert events.count(("b+", str(a.peer_id))) == 1  # unsubscribed

    run(main())


def test_peer_reset_reaches_reader(run) -> None:
    async def resetter(stream) -> None:
        await stream.readexactly(3)
        stream.reset()

    async def main():
        async with Host(listen_addrs=[LISTEN]) as a, Host() as b:
            a.set_stream_handler("/reset/1", resetter)
            s = await b.new_stream(a.addrs[0], "/reset/1")
            s.write(b"abc")
            with pytest.raises(StreamResetError):
                while await s.read():
                    pass
            with pytest.raises(StreamResetError):
                s.write(b"more")
            assert b.connections  # only the stream died

    run(main())


def test_data_before_connection_close_stays_readable(run) -> None:
    payload = os.urandom(200_000)  # within the first window: sent without the reader reading

    async def last_words(stream) -> None:
        stream.write(payload)
        stream.close()
        await stream.drain()
        stream.connection.close()  # hang up right after the stream's FIN

    async def main():
        async with Host(listen_addrs=[LISTEN]) as a, Host() as b:
            a.set_stream_handler("/bye/1", last_words)
            s = await b.new_stream(a.addrs[0], "/bye/1")
            conn = s.connection
            await conn.wait_closed()
            got = bytearray()
            while chunk := await s.read():
                got += chunk
            assert got == payload
            with pytest.raises(StreamClosedError):
                s.write(b"too late")

    run(main())


# -- limits and backpressure ----------------------------------------------------------------


def test_max_connections(run) -> None:
    async def main():
        async with Host(listen_addrs=[LISTEN], max_connections=1) as a, Host() as b, Host() as c:
            await b.dial(a.addrs[0])
            with pytest.raises(NetError):
                await c.dial(a.addrs[0])
            assert [x.remote_peer for x in a.connections] == [b.peer_id]
        async with Host(max_connections=1) as d, Host(listen_addrs=[LISTEN]) as e, \
                Host(listen_addrs=[LISTEN]) as f:
            await d.dial(e.addrs[0])
            with pytest.raises(LimitExceededError):
                await d.dial(f.addrs[0])
            assert await d.dial(e.addrs[0]) is d.connections[0]  # reuse is not a new one

    run(main())


@pytest.mark.parametrize("muxer", [YAMUX, MPLEX])
def test_too_many_streams_are_reset(run, muxer: str) -> None:
    limit = 4

    async def main():
        release = asyncio.Event()

        async def holder(stream) -> None:
            stream.write(b"k")
            await release.wait()
            stream.close()

        async with Host(listen_addrs=[LISTEN], max_streams_per_conn=limit) as a, \
                Host(muxers=[muxer]) as b:
            a.set_stream_handler("/hold/1", holder)
            await b.dial(a.addrs[0])
            await b.identify(a.peer_id)
            await wait_for(lambda: a.connection(b.peer_id) is not None, "a to register b")
            await a.identify(b.peer_id)
            a_conn = a.connection(b.peer_id)
            # let the identify streams finish closing on both sides
            await wait_for(lambda: not a_conn._muxer.stream_ids(), "identify streams to close")
            held = []
            for _ in range(limit):
                s = await b.new_stream(a.peer_id, "/hold/1")
                assert await s.readexactly(1) == b"k"
                held.append(s)
            with pytest.raises(StreamResetError):
                await b.new_stream(a.peer_id, "/hold/1")
            # the connection survives, and streams work again once the held ones finish
            release.set()
            for s in held:
                s.close()
                assert await s.read() == b""
            await wait_for(lambda: not a_conn._muxer.stream_ids(), "held streams to close")
            s = await b.new_stream(a.peer_id, "/hold/1")
            assert await s.readexactly(1) == b"k"

    run(main())


def test_outbound_stream_limit(run) -> None:
    async def main():
        release = asyncio.Event()

        async def holder(stream) -> None:
            await release.wait()

        async with Host(listen_addrs=[LISTEN]) as a, \
                Host(max_streams_per_conn=3, identify=False) as b:
            a.set_stream_handler("/hold/1", holder)
            await b.dial(a.addrs[0])
            for _ in range(3):
                await b.new_stream(a.peer_id, "/hold/1")
            with pytest.raises(LimitExceededError):
                await b.new_stream(a.peer_id, "/hold/1")
            release.set()

    run(main())


async def _writer_until_blocked(stream, total: int, chunk: bytes, progress: list[int]) -> None:
    sent = 0
    while sent < total:
        stream.write(chunk)
        await stream.drain()
        sent += len(chunk)
        progress[0] = sent
    stream.close()


async def _wait_stalled(progress: list[int], rounds: int = 20) -> None:
    """Wait until the writer makes no progress for `rounds` consecutive 20 ms polls."""
    last, still = -1, 0
    for _ in range(1000):
        if progress[0] == last:
            still += 1
            if still >= rounds:
                return
        else:
            last, still = progress[0], 0
        await asyncio.sleep(0.02)
    raise AssertionError("the writer never blocked")


def test_slow_reader_blocks_writer_yamux(run) -> None:
    bound = 1 << 20
    total = 64 << 20
    chunk = os.urandom(256 * 1024)

    async def main():
        received: list = []
        start_reading = asyncio.Event()

        async def lazy(stream) -> None:
            received.append(stream)
            await start_reading.wait()
            n = 0
            while data := await stream.read():
                n += len(data)
            stream.write(n.to_bytes(8, "big"))
            stream.close()

        async with Host(listen_addrs=[LISTEN], max_buffered_per_stream=bound) as a, \
                Host(muxers=[YAMUX]) as b:
            a.set_stream_handler("/lazy/1", lazy)
            s = await b.new_stream(a.addrs[0], "/lazy/1")
            progress = [0]
            writer = asyncio.ensure_future(_writer_until_blocked(s, total, chunk, progress))
            await _wait_stalled(progress)
            assert not writer.done()
            (rs,) = received
            # the reader's buffer is bounded by the window we grant...
            assert rs.buffered <= bound
            # ...and the writer holds at most one chunk it could not hand over
            assert s.write_buffered <= len(chunk)
            assert progress[0] < total // 2
            conn = s.connection
            assert conn.transport.get_write_buffer_size() <= 4 * bound
            # once the reader reads, everything arrives
            start_reading.set()
            await writer
            assert int.from_bytes(await s.readexactly(8), "big") == total

    run(main(), timeout=90)


def test_slow_reader_mplex_resets_instead_of_buffering(run) -> None:
    bound = 1 << 20
    chunk = os.urandom(256 * 1024)

    async def main():
        received: list = []
        never = asyncio.Event()

        async def lazy(stream) -> None:
            received.append(stream)
            await never.wait()

        async with Host(listen_addrs=[LISTEN], max_buffered_per_stream=bound) as a, \
                Host(muxers=[MPLEX]) as b:
            a.set_stream_handler("/lazy/1", lazy)
            s = await b.new_stream(a.addrs[0], "/lazy/1")
            progress = [0]
            with pytest.raises(StreamResetError):
                await _writer_until_blocked(s, 256 << 20, chunk, progress)
            assert progress[0] < 128 << 20
            (rs,) = received
            assert rs.is_reset
            assert rs.buffered == 0  # dropped with the reset, never more than the bound held
            assert b.connections  # the connection lives on

    run(main(), timeout=90)


# -- stop ---------------------------------------------------------------------------------


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_stop_leaves_nothing_running(run) -> None:
    async def main():
        # warm-up: libuv keeps one reserve fd per loop (/dev/null, for EMFILE) from the first
        # listen on; open it before counting
        async with Host(listen_addrs=[LISTEN]):
            pass
        await asyncio.sleep(0)
        fds_before = _open_fds()
        threads_before = threading.active_count()
        tasks_before = asyncio.all_tasks()  # this test's task and the runner's wait_for
        hang = asyncio.Event()

        async def stuck(stream) -> None:
            await hang.wait()

        a = Host(listen_addrs=[LISTEN, LISTEN])
        b = Host(listen_addrs=[LISTEN])
        await a.start()
        await b.start()
        a.set_stream_handler(ECHO, echo_handler)
        a.set_stream_handler("/stuck/1", stuck)
        await b.dial(a.addrs[0])
        await a.dial(b.addrs[0])  # reused: a already has b's inbound connection... or dials
        s = await b.new_stream(a.peer_id, [ECHO])
        assert await echo_roundtrip(s, b"x" * 100000) == hashlib.sha256(b"x" * 100000).digest()
        s2 = await b.new_stream(a.peer_id, "/stuck/1")
        s2.write(b"waiting")
        await b.ping(a.peer_id, 2)
        assert _open_fds() > fds_before
        await b.stop()
        await a.stop()
        for _ in range(3):
            await asyncio.sleep(0)
        assert asyncio.all_tasks() == tasks_before
        assert _open_fds() == fds_before
        assert threading.active_count() == threads_before
        assert a.connections == [] and b.connections == []
        with pytest.raises(NetError):
            await a.dial(f"/ip4/127.0.0.1/tcp/1/p2p/{b.peer_id}")  # a stopped host stays down

    run(main())


def test_multiaddr_forms(run) -> None:
    async def main():
        async with Host(listen_addrs=[Multiaddr.parse(LISTEN)]) as a:
            bound = await a.listen("/ip4/127.0.0.1/tcp/0")
            assert len(a.addrs) == 2
            assert all(str(x).endswith(f"/p2p/{a.peer_id}") for x in a.addrs)
            assert bound[0].peer_id is None

    run(main())


def test_peers_that_left_are_forgotten_within_bounds(run) -> None:
    """A seeder meets a new identity per connection (sybils; weeks of churn): what it keeps per
    peer must not grow with every identity ever seen. The identify future of a peer goes with
    its last connection (it held the peer's task and PeerInfo: one per identity, for ever), and
    the peerstore keeps only the ``max_disconnected`` most recent leavers' entries."""

    async def main():
        async with Host(listen_addrs=[LISTEN]) as a:
            a.peerstore.max_disconnected = 2
            (addr,) = a.addrs
            gone = []
            for _ in range(4):
                async with Host() as b:
                    await b.dial(addr)
                    await wait_for(lambda b=b: a.connection(b.peer_id) is not None, "a to see b")
                    await a.identify(b.peer_id)
                    assert b.peer_id in a.peerstore
                    gone.append(b.peer_id)
                await wait_for(lambda: a.connection(gone[-1]) is None, "a to lose b")
                assert gone[-1] not in a._identifying
            # the two most recent leavers are kept, the older ones forgotten
            assert [p in a.peerstore for p in gone] == [False, False, True, True]
            assert len(a._identifying) == 0

    run(main())
