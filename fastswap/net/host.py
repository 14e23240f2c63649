"""The libp2p host on asyncio (stock or uvloop): libp2p/specs ``connections/README.md``
(dialing, listening, upgrading, stream negotiation) plus identify and ping.

A ``Host`` owns one identity, its TCP listeners and its connections (``_connection.py``), at
most one dialled connection per peer: ``dial`` reuses a live connection to the same peer id and
coalesces concurrent dials. Inbound streams are answered by multistream-select against the
handler registry (``set_stream_handler``) and handed to their handler in a task the host owns.
Every new connection is identified (``identify.py``), results in ``host.peerstore``.

Limits: ``max_connections`` (inbound past it are dropped at accept, dials raise
``LimitExceededError``), ``max_streams_per_conn`` (the muxer resets inbound streams past it,
``new_stream`` raises), ``max_buffered_per_stream`` (the largest yamux window we grant; mplex
resets a stream whose peer overruns it), ``connect_timeout`` (TCP connect plus the whole
upgrade).

``stop()`` closes listeners and connections and cancels every task the host started, and waits
for all of it: nothing is left running.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Self

from .. import _defaults
from ..errors import (
    DialError,
    DialTimeoutError,
    LimitExceededError,
    NegotiationError,
    NetError,
)
from . import identify as _identify
from . import ping as _ping
from ._connection import SUPPORTED_MUXERS, Connection
from ._streams import Stream, negotiate_inbound, negotiate_outbound
from .keys import Ed25519KeyPair, PeerId
from .multiaddr import Multiaddr, parse_multiaddr

__all__ = ["Connection", "Host", "Stream", "StreamHandler"]

log = logging.getLogger("fastswap.net")

StreamHandler = Callable[[Stream], Awaitable[None]]
ConnectionCallback = Callable[[Connection], None]


class Host:
    """A libp2p node: identity, listeners, connections, stream handlers.

    Use as ``async with Host(identity, listen_addrs=["/ip4/127.0.0.1/tcp/0"]) as host: ...``
    (or ``await host.start()`` ... ``await host.stop()``).
    """

    def __init__(
        self,
        identity: Ed25519KeyPair | None = None,
        *,
        listen_addrs: Iterable[Multiaddr | str] = (),
        connect_timeout: float = _defaults.CONNECT_TIMEOUT_SECONDS,
        max_connections: int = _defaults.MAX_CONNECTIONS,
        max_streams_per_conn: int = _defaults.MAX_STREAMS_PER_CONNECTION,
        max_buffered_per_stream: int = _defaults.MAX_BUFFERED_PER_STREAM,
        muxers: Sequence[str] = SUPPORTED_MUXERS,
        agent_version: str = _identify.AGENT_VERSION,
        identify: bool = True,
    ) -> None:
        if not muxers or any(m not in SUPPORTED_MUXERS for m in muxers):
            raise NetError(f"muxers must be a non-empty subset of {list(SUPPORTED_MUXERS)}")
        if max_connections < 1 or max_streams_per_conn < 1 or max_buffered_per_stream < 1:
            raise NetError("host limits must be positive")
        self.identity = identity or Ed25519KeyPair.generate()
        self.peer_id: PeerId = self.identity.peer_id
        self.connect_timeout = connect_timeout
        self.max_connections = max_connections
        self.max_streams_per_conn = max_streams_per_conn
        self.max_buffered_per_stream = max_buffered_per_stream
        self.muxers = list(muxers)
        self.agent_version = agent_version
        self.peerstore = _identify.PeerStore()
        self._listen_addrs = [parse_multiaddr(a) for a in listen_addrs]
        self._handlers: dict[str, StreamHandler] = {}
        self._servers: list[asyncio.base_events.Server] = []
        self._bound: list[Multiaddr] = []
        self._conns: set[Connection] = set()  # every connection, upgrading or ready
        self._by_peer: dict[PeerId, list[Connection]] = {}
        self._dialing: dict[PeerId, asyncio.Future[Connection]] = {}
        self._identifying: dict[PeerId, asyncio.Future[_identify.PeerInfo]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._on_connected: list[ConnectionCallback] = []
        self._on_disconnected: list[ConnectionCallback] = []
        self._auto_identify = identify
        self._push_scheduled = False
        self._started = False
        self._stopping = False
        self.set_stream_handler(_identify.PROTOCOL_ID, self._identify_handler)
        self.set_stream_handler(_identify.PUSH_PROTOCOL_ID, self._push_handler)
        self.set_stream_handler(_ping.PROTOCOL_ID, self._ping_handler)

    # -- facts -----------------------------------------------------------------------------

    @property
    def addrs(self) -> list[Multiaddr]:
        """Bound listen addresses, each ending in ``/p2p/<our peer id>``."""
        return [a.with_p2p(self.peer_id) for a in self._bound]

    @property
    def connections(self) -> list[Connection]:
        """Upgraded, open connections."""
        return [c for conns in self._by_peer.values() for c in conns]

    @property
    def protocols(self) -> list[str]:
        """The protocols we handle (what identify tells peers)."""
        return list(self._handlers)

    def connection(self, peer: PeerId) -> Connection | None:
        """A live connection to *peer*, if any (the oldest)."""
        for conn in self._by_peer.get(peer, ()):
            if not conn.is_closed:
                return conn
        return None

    def __repr__(self) -> str:
        return f"<Host {self.peer_id} {len(self._conns)} connections>"

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        for addr in self._listen_addrs:
            await self.listen(addr)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        """Close listeners and connections, cancel the host's tasks, and wait for all of it."""
        if self._stopping:
            return
        self._stopping = True
        for server in self._servers:
            server.close()
        for fut in self._dialing.values():
            fut.cancel()
        conns = list(self._conns)
        for conn in conns:
            conn.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if conns:
            # close() flushes first; a peer that reads nothing must not hold us here
            _, waiting = await asyncio.wait([c.lost for c in conns], timeout=2.0)
            for conn in conns:
                if not conn.lost.done():
                    conn.abort()
            if waiting:
                await asyncio.wait(waiting, timeout=2.0)
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
        self._bound.clear()
        for fut in self._identifying.values():
            if not fut.done():
                fut.cancel()
        self._identifying.clear()

    def _spawn(self, coro: Awaitable[Any], name: str | None = None) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        if name:
            task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- listening -------------------------------------------------------------------------

    async def listen(self, maddr: Multiaddr | str) -> list[Multiaddr]:
        """Listen on a TCP multiaddr (port 0 picks a free port); the bound addresses."""
        if self._stopping:
            raise NetError("the host is stopped; create a new one")
        ma = parse_multiaddr(maddr)
        host, port = ma.tcp_address()
        loop = asyncio.get_running_loop()
        try:
            server = await loop.create_server(
                lambda: Connection(self, initiator=False), host, port, reuse_address=True
            )
        except OSError as exc:
            raise NetError(f"cannot listen on {ma}: {exc.strerror or exc}") from exc
        self._servers.append(server)
        bound = []
        for sock in server.sockets:
            name = sock.getsockname()
            proto = "ip6" if ":" in name[0] else "ip4"
            bound.append(Multiaddr.parse(f"/{proto}/{name[0]}/tcp/{name[1]}"))
        self._bound.extend(bound)
        return bound

    def _on_inbound(self, conn: Connection) -> None:
        if self._stopping or len(self._conns) >= self.max_connections:
            log.info("refusing inbound connection from %s: connection limit", conn.remote_addr)
            assert conn.transport is not None
            conn.transport.abort()
            return
        self._conns.add(conn)
        self._spawn(self._upgrade_inbound(conn), "fastswap-upgrade-in")

    async def _upgrade_inbound(self, conn: Connection) -> None:
        try:
            async with asyncio.timeout(self.connect_timeout):
                await conn.upgrade(self.identity, self.muxers)
        except (NetError, TimeoutError, OSError) as exc:
            log.debug("inbound upgrade from %s failed: %s", conn.remote_addr, exc)
            self._drop(conn, exc)
            return
        except BaseException:
            self._drop(conn)
            raise
        if conn.is_closed:
            return
        self._register(conn)

    # -- dialing ---------------------------------------------------------------------------

    async def dial(self, maddr: Multiaddr | str) -> Connection:
        """A connection to the peer at *maddr* (``/ip4/../tcp/../p2p/<id>``): an existing one
        to that peer id if open, else a new one (TCP, ``/noise`` with the id checked, muxer)."""
        if self._stopping:
            raise NetError("the host is stopped; create a new one")
        ma = parse_multiaddr(maddr)
        peer = ma.peer_id
        if peer is not None:
            if peer == self.peer_id:
                raise DialError(f"{ma} is this host itself; dial another peer")
            existing = self.connection(peer)
            if existing is not None:
                return existing
            pending = self._dialing.get(peer)
            if pending is not None:
                return await asyncio.shield(pending)
            fut: asyncio.Future[Connection] = asyncio.get_running_loop().create_future()
            self._dialing[peer] = fut
            try:
                conn = await self._dial_new(ma, peer)
            except BaseException as exc:
                if not fut.done():
                    if isinstance(exc, Exception):
                        fut.set_exception(exc)
                        fut.exception()  # retrieved: waiters re-raise it themselves
                    else:
                        fut.cancel()
                raise
            finally:
                self._dialing.pop(peer, None)
            if not fut.done():
                fut.set_result(conn)
            return conn
        conn = await self._dial_new(ma, None)
        return conn

    async def _dial_new(self, ma: Multiaddr, peer: PeerId | None) -> Connection:
        host, port = ma.tcp_address()
        if len(self._conns) >= self.max_connections:
            raise LimitExceededError(
                f"{len(self._conns)} connections are open, the max_connections limit; close "
                "some or raise the limit"
            )
        loop = asyncio.get_running_loop()
        conn: Connection | None = None
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, conn = await loop.create_connection(
                    lambda: Connection(self, initiator=True, expected_peer=peer), host, port
                )
                self._conns.add(conn)
                await conn.upgrade(self.identity, self.muxers)
        except TimeoutError:
            self._drop(conn)
            raise DialTimeoutError(
                f"connecting to {ma} did not finish within {self.connect_timeout} s (TCP connect "
                "and the Noise/muxer upgrade); is a libp2p node listening there?"
            ) from None
        except OSError as exc:
            self._drop(conn)
            raise DialError(f"cannot connect to {ma}: {exc.strerror or exc}") from exc
        except BaseException as exc:
            self._drop(conn, exc)
            raise
        if conn.is_closed:
            raise DialError(f"the connection to {ma} closed right after the upgrade")
        if self._stopping:
            self._drop(conn)
            raise NetError("the host was stopped while dialling")
        existing = self.connection(conn.remote_peer)
        if existing is not None:
            # dialled without /p2p/ a peer we were already connected to: keep the old one
            conn.close()
            return existing
        self._register(conn)
        return conn

    def _drop(self, conn: Connection | None, exc: BaseException | None = None) -> None:
        """Abort a connection that failed its upgrade (it was never registered)."""
        if conn is not None:
            self._conns.discard(conn)
            conn.abort(exc if isinstance(exc, Exception) else None)

    def _register(self, conn: Connection) -> None:
        conn.ready = True
        self._by_peer.setdefault(conn.remote_peer, []).append(conn)
        for cb in list(self._on_connected):
            try:
                cb(conn)
            except Exception:
                log.exception("connected callback failed")
        if self._auto_identify:
            self._start_identify(conn)

    def _on_connection_lost(self, conn: Connection) -> None:
        self._conns.discard(conn)
        if not conn.ready:
            return
        conns = self._by_peer.get(conn.remote_peer)
        if conns is not None and conn in conns:
            conns.remove(conn)
            if not conns:
                del self._by_peer[conn.remote_peer]
        for cb in list(self._on_disconnected):
            try:
                cb(conn)
            except Exception:
                log.exception("disconnected callback failed")

    def subscribe(
        self,
        on_connected: ConnectionCallback | None = None,
        on_disconnected: ConnectionCallback | None = None,
    ) -> Callable[[], None]:
        """Call these (synchronously, on the loop) when a connection is ready / is gone.
        Returns a function that unsubscribes."""
        if on_connected is not None:
            self._on_connected.append(on_connected)
        if on_disconnected is not None:
            self._on_disconnected.append(on_disconnected)

        def unsubscribe() -> None:
            if on_connected in self._on_connected:
                self._on_connected.remove(on_connected)  # type: ignore[arg-type]
            if on_disconnected in self._on_disconnected:
                self._on_disconnected.remove(on_disconnected)  # type: ignore[arg-type]

        return unsubscribe

    # -- streams ---------------------------------------------------------------------------

    def set_stream_handler(self, protocol: str, handler: StreamHandler) -> None:
        """Answer streams for *protocol* with ``await handler(stream)`` (the handler owns the
        stream: close or reset it). Connected peers learn about it by identify push."""
        if not protocol.startswith("/") or len(protocol) > 1000:
            raise NegotiationError(f"protocol id {protocol!r} must start with '/' and be short")
        changed = protocol not in self._handlers
        self._handlers[protocol] = handler
        if changed:
            self._schedule_push()

    def remove_stream_handler(self, protocol: str) -> None:
        if self._handlers.pop(protocol, None) is not None:
            self._schedule_push()

    async def new_stream(
        self, peer: PeerId | Multiaddr | str, protocols: Sequence[str] | str
    ) -> Stream:
        """Open a stream to *peer* (dialled first if given as an address) and agree on the
        first of *protocols* it supports."""
        if isinstance(protocols, str):
            protocols = [protocols]
        if isinstance(peer, PeerId):
            conn = self.connection(peer)
            if conn is None:
                raise DialError(f"not connected to {peer}; dial one of its addresses first")
        else:
            conn = await self.dial(peer)
        return await self.new_stream_on(conn, protocols)

    async def new_stream_on(self, conn: Connection, protocols: Sequence[str]) -> Stream:
        stream = conn.open_stream()
        try:
            async with asyncio.timeout(_defaults.STREAM_NEGOTIATION_TIMEOUT_SECONDS):
                await negotiate_outbound(stream, protocols)
        except TimeoutError:
            stream.reset()
            raise NegotiationError(
                f"{conn.remote_peer} did not agree on {list(protocols)} within "
                f"{_defaults.STREAM_NEGOTIATION_TIMEOUT_SECONDS} s"
            ) from None
        except BaseException:
            stream.reset()
            raise
        return stream

    def _on_inbound_stream(self, stream: Stream) -> None:
        if self._stopping:
            stream.reset()
            return
        self._spawn(self._serve_stream(stream))

    async def _serve_stream(self, stream: Stream) -> None:
        try:
            async with asyncio.timeout(_defaults.STREAM_NEGOTIATION_TIMEOUT_SECONDS):
                protocol = await negotiate_inbound(stream, self._handlers)
            handler = self._handlers.get(protocol)
            if handler is None:  # removed meanwhile
                stream.reset()
                return
            await handler(stream)
        except (NetError, TimeoutError) as exc:
            log.debug("stream %r failed: %s", stream, exc)
            stream.reset()
        except asyncio.CancelledError:
            stream.reset()
            raise
        except Exception:
            log.exception("handler for %s failed", stream.protocol)
            stream.reset()

    # -- identify --------------------------------------------------------------------------

    async def _identify_handler(self, stream: Stream) -> None:
        await _identify.handle_identify(self, stream)

    async def _push_handler(self, stream: Stream) -> None:
        await _identify.handle_push(self, stream)

    async def _ping_handler(self, stream: Stream) -> None:
        await _ping.handle_ping(self, stream)

    def _start_identify(self, conn: Connection) -> asyncio.Future[_identify.PeerInfo]:
        fut = self._spawn(_identify.request_identify(self, conn), "fastswap-identify")
        self._identifying[conn.remote_peer] = fut

        def done(f: asyncio.Future[Any]) -> None:
            if not f.cancelled() and f.exception() is not None:
                log.info("identify of %s failed: %s", conn.remote_peer, f.exception())

        fut.add_done_callback(done)
        return fut

    async def identify(self, peer: PeerId) -> _identify.PeerInfo:
        """What *peer* says about itself: the answer to the identify this host sends every new
        connection (waited for if still running; asked again if it failed)."""
        fut = self._identifying.get(peer)
        if fut is None or (fut.done() and (fut.cancelled() or fut.exception() is not None)):
            conn = self.connection(peer)
            if conn is None:
                raise DialError(f"not connected to {peer}; dial it first")
            fut = self._start_identify(conn)
        return await asyncio.shield(fut)

    def _schedule_push(self) -> None:
        if self._push_scheduled or not self._by_peer or self._stopping:
            return
        self._push_scheduled = True
        asyncio.get_running_loop().call_soon(self._push_all)

    def _push_all(self) -> None:
        self._push_scheduled = False
        if self._stopping:
            return
        for conn in self.connections:
            if self.peerstore.supports(conn.remote_peer, _identify.PUSH_PROTOCOL_ID):
                self._spawn(self._push_one(conn))

    async def _push_one(self, conn: Connection) -> None:
        try:
            await _identify.push_identify(self, conn)
        except NetError as exc:
            log.debug("identify push to %s failed: %s", conn.remote_peer, exc)

    # -- ping ------------------------------------------------------------------------------

    async def ping(self, peer: PeerId | Multiaddr | str, count: int = 1) -> list[float]:
        """``/ipfs/ping/1.0.0`` round-trip times in seconds."""
        return await _ping.ping(self, peer, count)
