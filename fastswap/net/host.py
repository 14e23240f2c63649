"""The libp2p host on asyncio (stock or uvloop): libp2p/specs ``connections/README.md``
(dialing, listening, upgrading, stream negotiation) plus identify and ping.

A ``Host`` owns one identity, its TCP listeners and its connections (``_connection.py``), at
most one dialled connection per peer: ``dial`` reuses a live connection to the same peer id and
coalesces concurrent dials. Inbound streams are answered by multistream-select against the
handler registry (``set_stream_handler``) and handed to their handler in a task the host owns.
Every new connection is identified (``identify.py``), results in ``host.peerstore``.

Limits (issue 8; go-libp2p's resource manager and connection manager are the models):

* **Handshaking sockets** have their own budget: ``max_handshaking`` inbound at once and
  ``max_handshaking_per_ip`` from one address (over it the socket is dropped at accept; when
  the global budget is full the oldest handshake that has run for a while is dropped for the
  newcomer), and ``inbound_handshake_timeout`` to finish Noise and the muxer
  (``connect_timeout`` bounds our dials).
* **Established connections**: ``max_connections`` in all, ``max_connections_per_peer`` per
  peer id. When every slot is taken, a newcomer evicts the least useful peer (``connmgr``);
  only if none may go is it refused (WARNING, rate-limited). The connection manager
  (``host.connmgr``, see ``connmgr.py``) trims peers above its high water mark down to the low
  one; the application tags, protects and marks peers in use through it. A connection with no
  stream data for ``idle_timeout`` seconds whose peer is neither protected nor in use is closed.
* **Streams**: ``max_streams_per_conn`` (the muxer resets inbound streams past it,
  ``new_stream`` raises), ``max_buffered_per_stream`` (the largest yamux window we grant; mplex
  resets a stream whose peer overruns it), and a budget of inbound stream opens per second per
  connection and per peer (stream churn: over it the connection closes and the peer is banned).
* **Penalties and bans**: ``penalise(peer, reason, weight)`` adds to a score that halves every
  ``PEER_SCORE_HALF_LIFE_SECONDS``; at ``PEER_BAN_SCORE`` the peer is banned. ``ban(peer,
  seconds, reason)`` closes its connections and refuses its inbound connections and our dials
  (``PeerBannedError``) until it expires. Malformed muxer frames penalise; floods and churn ban.
* **Housekeeping** every ``HOST_MAINTENANCE_INTERVAL_SECONDS``: idle and write-stall timeouts,
  trimming, giving idle connections' receive buffers back to the pool, and after a busy spell
  followed by a quiet one, returning freed heap memory to the OS (``resources.trim_heap``).

Every per-peer log line goes through a rate limiter (``resources.RateLimitedLog``).

``stop()`` closes listeners and connections and cancels every task the host started, and waits
for all of it: nothing is left running.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Self

from .. import _defaults
from .._tasks import TaskSet
from ..errors import (
    DialError,
    DialTimeoutError,
    LimitExceededError,
    NegotiationError,
    NetError,
    PeerBannedError,
)
from ..message import release_freelists
from . import identify as _identify
from . import ping as _ping
from ._connection import SUPPORTED_MUXERS, Connection
from ._streams import Stream, negotiate_inbound, negotiate_outbound
from .connmgr import ConnManager
from .keys import Ed25519KeyPair, PeerId
from .multiaddr import Multiaddr, parse_multiaddr
from .resources import BufferPool, PeerScores, RateLimitedLog, TokenBucket, trim_heap

__all__ = ["Connection", "Host", "Stream", "StreamHandler", "expand_unspecified"]

log = logging.getLogger("fastswap.net")

StreamHandler = Callable[[Stream], Awaitable[None]]
ConnectionCallback = Callable[[Connection], None]


def expand_unspecified(addrs: Iterable[Multiaddr]) -> list[Multiaddr]:
    """*addrs* with each unspecified IP (``/ip4/0.0.0.0``, ``/ip6/::``) replaced by this
    machine's addresses of that family (loopback included; IPv6 link-local left out: it needs a
    zone). Interfaces are read with psutil."""
    out: list[Multiaddr] = []
    for a in addrs:
        host, port = a.tcp_address()
        if host not in ("0.0.0.0", "::"):
            out.append(a)
            continue
        import socket

        import psutil

        family = socket.AF_INET if host == "0.0.0.0" else socket.AF_INET6
        proto = "ip4" if family == socket.AF_INET else "ip6"
        seen = []
        for nics in psutil.net_if_addrs().values():
            for nic in nics:
                ip = nic.address.split("%")[0]
                if nic.family != family or ip in seen or ip.lower().startswith("fe80:"):
                    continue
                seen.append(ip)
                out.append(Multiaddr.parse(f"/{proto}/{ip}/tcp/{port}"))
    return out


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
        max_handshaking: int = _defaults.MAX_HANDSHAKING_INBOUND,
        max_handshaking_per_ip: int = _defaults.MAX_HANDSHAKING_PER_IP,
        inbound_handshake_timeout: float = _defaults.INBOUND_HANDSHAKE_TIMEOUT_SECONDS,
        max_connections_per_peer: int = _defaults.MAX_CONNECTIONS_PER_PEER,
        idle_timeout: float = _defaults.CONNECTION_IDLE_TIMEOUT_SECONDS,
        write_stall_timeout: float = _defaults.WRITE_STALL_TIMEOUT_SECONDS,
        low_water: int | None = None,
        high_water: int | None = None,
        grace_period: float = _defaults.CONNMGR_GRACE_SECONDS,
        stream_open_rate: float = _defaults.STREAM_OPEN_RATE_PER_CONNECTION,
        stream_open_burst: int = _defaults.STREAM_OPEN_BURST_PER_CONNECTION,
        peer_stream_open_rate: float = _defaults.STREAM_OPEN_RATE_PER_PEER,
        peer_stream_open_burst: int = _defaults.STREAM_OPEN_BURST_PER_PEER,
        trim_memory: bool = True,
        announce_addrs: Iterable[Multiaddr | str] = (),
    ) -> None:
        if not muxers or any(m not in SUPPORTED_MUXERS for m in muxers):
            raise NetError(f"muxers must be a non-empty subset of {list(SUPPORTED_MUXERS)}")
        if (
            max_connections < 1
            or max_streams_per_conn < 1
            or max_buffered_per_stream < 1
            or max_handshaking < 1
            or max_handshaking_per_ip < 1
            or max_connections_per_peer < 1
        ):
            raise NetError("host limits must be positive")
        #: addresses announced instead of the listen addresses (identify, printed addresses)
        self.announce_addrs = [parse_multiaddr(a).without_p2p() for a in announce_addrs]
        #: peers.allow / peers.deny (set_peer_filter)
        self._allow: frozenset[PeerId] = frozenset()
        self._deny: frozenset[PeerId] = frozenset()
        self.identity = identity or Ed25519KeyPair.generate()
        self.peer_id: PeerId = self.identity.peer_id
        self.connect_timeout = connect_timeout
        self.max_connections = max_connections
        self.max_streams_per_conn = max_streams_per_conn
        self.max_buffered_per_stream = max_buffered_per_stream
        self.max_handshaking = max_handshaking
        self.max_handshaking_per_ip = max_handshaking_per_ip
        self.inbound_handshake_timeout = inbound_handshake_timeout
        self.max_connections_per_peer = max_connections_per_peer
        self.idle_timeout = idle_timeout
        self.write_stall_timeout = write_stall_timeout
        self.stream_open_rate = stream_open_rate
        self.stream_open_burst = stream_open_burst
        self.peer_stream_open_rate = peer_stream_open_rate
        self.peer_stream_open_burst = peer_stream_open_burst
        self.trim_memory = trim_memory
        # the water marks scale with max_connections unless given (the defaults are for 1024)
        scale = max_connections / _defaults.MAX_CONNECTIONS
        if high_water is None:
            high_water = max(1, int(_defaults.CONNMGR_HIGH_WATER * scale))
        if low_water is None:
            low_water = min(high_water, max(1, int(_defaults.CONNMGR_LOW_WATER * scale)))
        #: the connection manager: tag, protect and mark peers in use (see connmgr.py)
        self.connmgr = ConnManager(
            self, low_water=low_water, high_water=high_water, grace=grace_period
        )
        self._scores = PeerScores(
            half_life=_defaults.PEER_SCORE_HALF_LIFE_SECONDS,
            ban_score=_defaults.PEER_BAN_SCORE,
            ban_seconds=_defaults.PEER_BAN_SECONDS,
            max_peers=_defaults.MAX_TRACKED_PEERS,
        )
        self._peer_open_buckets: OrderedDict[PeerId, TokenBucket] = OrderedDict()
        #: rate-limited WARNINGs for everything a peer can make us log
        self.ratelog = RateLimitedLog(log, _defaults.LOG_RATE_LIMIT_SECONDS, time.monotonic)
        # the upgrade's read buffer, shared: buffer_updated copies out of it at once
        self._scratch = memoryview(bytearray(64 * 1024))
        self._recv_pool = BufferPool(_defaults.RECV_BUFFER_SIZE, _defaults.RECV_BUFFER_POOL_SIZE)
        self._send_pool = BufferPool(
            _defaults.STREAM_WRITE_CHUNK + 64 * 1024, _defaults.SEND_BUFFER_POOL_SIZE
        )
        # inbound connections still handshaking, oldest first, and how many per IP
        self._handshaking: OrderedDict[Connection, str | None] = OrderedDict()
        self._handshaking_ips: dict[str | None, int] = {}
        self._maintenance: asyncio.Task[None] | None = None
        self._bytes_at_tick = 0
        self._bytes_since_trim = 0
        # connections accepted or closed (for heap trimming after churn: what a crowd of peers
        # left behind when it went is freed then, not when it came)
        self._churn = 0
        self._moved_by_closed = 0  # bytes moved by connections since closed
        self._churn_at_trim = 0
        #: refusals and evictions, for stats and tests
        self.refused: dict[str, int] = {}
        #: penalties given so far (``fastswap_penalties_total{layer="host"}``)
        self.penalties = 0
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
        self._tasks = TaskSet(log, "host", (NetError, OSError))
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
        """The addresses peers can reach us at, each ending in ``/p2p/<our peer id>``: the
        announce addresses if any were set, else the bound listen addresses with an unspecified
        one (``0.0.0.0``, ``::``) replaced by this machine's interface addresses (identify
        tells peers these, and a seeder prints them)."""
        if self.announce_addrs:
            return [a.with_p2p(self.peer_id) for a in self.announce_addrs]
        return [a.with_p2p(self.peer_id) for a in expand_unspecified(self._bound)]

    @property
    def listen_addrs(self) -> list[Multiaddr]:
        """The bound listen addresses as bound (``0.0.0.0`` stays), without ``/p2p``."""
        return list(self._bound)

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

    def connection_count(self, peer: PeerId | None = None) -> int:
        """Established connections (to *peer*, if given)."""
        if peer is not None:
            return len(self._by_peer.get(peer, ()))
        return sum(len(c) for c in self._by_peer.values())

    @property
    def handshaking(self) -> int:
        """Inbound connections still handshaking."""
        return len(self._handshaking)

    # -- penalties and bans ----------------------------------------------------------------

    def _now(self) -> float:
        return time.monotonic()

    def penalise(self, peer: PeerId, reason: str, weight: float) -> bool:
        """Count a misdeed of *peer* (*weight* adds to a score that halves every
        ``PEER_SCORE_HALF_LIFE_SECONDS``); at ``PEER_BAN_SCORE`` the peer is banned for
        ``PEER_BAN_SECONDS``. Returns True if this banned it."""
        self.penalties += 1
        if self._scores.penalise(peer, weight, self._now()):
            self.ban(peer, _defaults.PEER_BAN_SECONDS, f"penalty score reached ({reason})")
            return True
        return False

    def score(self, peer: PeerId) -> float:
        """The peer's current (decayed) penalty score."""
        return self._scores.score(peer, self._now())

    def ban(self, peer: PeerId, seconds: float, reason: str) -> None:
        """Close every connection of *peer* and refuse it (inbound and our dials) for
        *seconds*."""
        self._scores.ban(peer, seconds, reason, self._now())
        self.ratelog.warning(
            "ban", "banning %s for %.0f s: %s", peer, seconds, reason
        )
        self._close_peer(peer, f"banned: {reason}")

    def unban(self, peer: PeerId) -> None:
        """Lift a ban and forget the peer's penalty score."""
        self._scores.unban(peer)

    def banned(self, peer: PeerId) -> tuple[float, str] | None:
        """``(seconds left, reason)`` while *peer* is banned, else None."""
        return self._scores.banned(peer, self._now())

    @property
    def banned_count(self) -> int:
        """Peers banned now (a scrape-time count over the bounded ban table)."""
        return self._scores.ban_count(self._now())

    def is_banned(self, peer: PeerId) -> bool:
        return self.banned(peer) is not None

    def set_peer_filter(self, allow: Iterable[PeerId] = (), deny: Iterable[PeerId] = ()) -> None:
        """Only peers in *allow* (if it is not empty) and none in *deny* may connect, in or out.
        Connections of peers the new filter refuses are closed; others are untouched (a
        configuration reload keeps healthy peers)."""
        self._allow = frozenset(allow)
        self._deny = frozenset(deny)
        for peer in list(self._by_peer):
            why = self._filtered(peer)
            if why is not None:
                self._close_peer(peer, why)

    @property
    def peer_filter(self) -> tuple[frozenset[PeerId], frozenset[PeerId]]:
        """``(allow, deny)`` as :meth:`set_peer_filter` last set them."""
        return self._allow, self._deny

    def _filtered(self, peer: PeerId) -> str | None:
        if peer in self._deny:
            return "denied (peers.deny)"
        if self._allow and peer not in self._allow:
            return "not allowed (peers.allow)"
        return None

    def refusal(self, peer: PeerId) -> str | None:
        """Why *peer* may not connect now (a ban or the allow/deny filter), or None."""
        why = self._filtered(peer)
        if why is not None:
            return why
        ban = self.banned(peer)
        return None if ban is None else f"banned for {ban[0]:.0f} more s ({ban[1]})"

    def _refuse(self, kind: str, msg: str, *args: object) -> None:
        self.refused[kind] = self.refused.get(kind, 0) + 1
        self.ratelog.warning("refuse-" + kind, msg, *args)

    def _protocol_error(self, conn: Connection, what: str, exc: BaseException) -> None:
        """A peer broke a protocol on *conn* (already closed): log (rate-limited), penalise."""
        peer = conn.remote_peer
        if peer is None:
            return
        self.ratelog.warning(
            "protocol-" + what, "closed the connection to %s: %s: %s", peer, what, exc
        )
        self.penalise(peer, what, _defaults.PENALTY_MALFORMED)

    def _abuse(
        self, conn: Connection, what: str, ban_seconds: float, exc: BaseException
    ) -> None:
        """A peer went over a budget on *conn* (already closed): ban it."""
        if conn.remote_peer is not None:
            self.ban(conn.remote_peer, ban_seconds, what)

    def _stream_budget(self, conn: Connection, now: float) -> bool:
        """Take one inbound stream open from *conn*'s peer's budget; False when spent."""
        peer = conn.remote_peer
        bucket = self._peer_open_buckets.get(peer)
        if bucket is None:
            bucket = TokenBucket(self.peer_stream_open_rate, self.peer_stream_open_burst, now)
            self._peer_open_buckets[peer] = bucket
            while len(self._peer_open_buckets) > _defaults.MAX_TRACKED_PEERS:
                self._peer_open_buckets.popitem(last=False)
        else:
            self._peer_open_buckets.move_to_end(peer)
        return bucket.take(now)

    def _refund_stream(self, conn: Connection) -> None:
        """Give back the peer-wide stream open of an inbound stream that answered us."""
        bucket = self._peer_open_buckets.get(conn.remote_peer)
        if bucket is not None:
            bucket.give()

    def __repr__(self) -> str:
        return f"<Host {self.peer_id} {len(self._conns)} connections>"

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        self._start_maintenance()
        for addr in self._listen_addrs:
            await self.listen(addr)

    def _start_maintenance(self) -> None:
        if self._maintenance is None and not self._stopping:
            self._maintenance = self._spawn(self._maintain(), "fastswap-host-maintenance")

    async def _maintain(self) -> None:
        interval = _defaults.HOST_MAINTENANCE_INTERVAL_SECONDS
        while True:
            await asyncio.sleep(interval)
            try:
                self.maintain()
            except Exception:  # housekeeping must outlive a bug in one pass
                log.exception("host housekeeping failed")

    def maintain(self) -> None:
        """One housekeeping pass (the host runs it every HOST_MAINTENANCE_INTERVAL_SECONDS):
        idle and write-stall timeouts, giving idle connections' buffers back, trimming, and
        returning freed memory to the OS after a busy spell."""
        now = asyncio.get_running_loop().time()
        moved = self._moved_by_closed
        for conn in list(self._conns):
            moved += conn.bytes_received + conn.bytes_sent
            if conn.is_closed or not conn.ready:
                continue
            if conn.reads == conn._reads_at_tick:
                conn.release_buffers()
            conn._reads_at_tick = conn.reads
            peer = conn.remote_peer
            if (
                conn.paused_since is not None
                and now - conn.paused_since > self.write_stall_timeout
            ):
                self.ratelog.warning(
                    "write-stall", "closing the connection to %s: it read nothing of %d "
                    "queued bytes for %.0f s", peer,
                    conn.transport.get_write_buffer_size() if conn.transport else 0,
                    self.write_stall_timeout,
                )
                conn.abort(NetError(f"{peer} stopped reading for {self.write_stall_timeout} s"))
                self._unregister(conn)
            elif now - conn.last_active > self.idle_timeout and not self.connmgr.keeps(peer):
                log.debug("closing idle connection to %s", peer)
                self.close_connection(conn)
        self.connmgr.trim()
        # bytes moved since the last pass (closed connections' counts stay in the sum, so a
        # burst of short-lived connections -- partial messages reset at once -- counts too)
        delta = max(0, moved - self._bytes_at_tick)
        self._bytes_at_tick = moved
        self._bytes_since_trim += delta
        churn = self._churn - self._churn_at_trim
        if (
            self.trim_memory
            and (
                self._bytes_since_trim >= _defaults.HEAP_TRIM_AFTER_BYTES
                or churn >= _defaults.HEAP_TRIM_AFTER_CONNECTIONS
            )
            and delta < _defaults.HEAP_TRIM_AFTER_BYTES // 64
        ):
            self._bytes_since_trim = 0
            self._churn_at_trim = self._churn
            self._recv_pool.clear()
            self._send_pool.clear()
            # the wire decoder's kept entries and CIDs, made during the spell, would each keep
            # a pymalloc arena of the spell's alive (sybil-wants: 99 arenas for 12 MB live)
            release_freelists()
            # what the busy spell left in reference cycles (a stream reader that ended in an
            # exception keeps its frame, the message it decoded and the stream's chunks) is
            # freed by a full collection, which an idle process may not run for a long time
            gc.collect()
            trim_heap()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop_listening(self) -> None:
        """Close the listeners: no new inbound connections; established ones carry on (a
        draining node finishes what it is sending)."""
        # close() shuts the listening sockets at once; wait_closed() is not awaited: on newer
        # Pythons it waits for every connection the server accepted to end
        for server in self._servers:
            server.close()

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
        await self._tasks.close()
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

    def _spawn(self, coro: Awaitable[Any], name: str | None = None) -> asyncio.Future[Any]:
        return self._tasks.spawn(coro, name)

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
        assert conn.transport is not None
        if self._stopping:
            conn.transport.abort()
            return
        ip = conn.remote_ip
        if self.connection_count() >= self.max_connections and not self.connmgr.can_evict():
            self._refuse(
                "full", "refusing inbound connection from %s: %d connections are established "
                "(max_connections) and none may be evicted", ip, self.max_connections,
            )
            conn.transport.abort()
            return
        if self._handshaking_ips.get(ip, 0) >= self.max_handshaking_per_ip:
            self._refuse(
                "handshaking-ip", "refusing inbound connection from %s: %d connections from "
                "that address are still handshaking (max_handshaking_per_ip)", ip,
                self.max_handshaking_per_ip,
            )
            conn.transport.abort()
            return
        if len(self._handshaking) >= self.max_handshaking:
            # full: rather than the newcomer, drop the oldest handshake of the address that
            # holds the most, if it has had time to finish (a silent socket). Evicting from the
            # heaviest user keeps a flood from one address from evicting an honest handshake
            # that a loaded machine makes slow.
            # An address that holds more handshakes than the newcomer's gives way at once (it
            # is crowding the others out, however fast it replaces them); between equals the
            # age rule keeps a burst of newcomers from evicting each other.
            counts = self._handshaking_ips
            heaviest = max(counts, key=counts.__getitem__)
            oldest = next(c for c, a in self._handshaking.items() if a == heaviest)
            age = conn.loop.time() - oldest.opened_at
            if (counts[heaviest] <= counts.get(ip, 0) + 1
                    and age < _defaults.INBOUND_HANDSHAKE_EVICT_AGE_SECONDS):
                self._refuse(
                    "handshaking", "refusing inbound connection from %s: %d connections are "
                    "handshaking (max_handshaking)", ip, self.max_handshaking,
                )
                conn.transport.abort()
                return
            self._refuse(
                "handshake-evicted", "dropping a handshake from %s that ran %.1f s to make "
                "room (max_handshaking)", oldest.remote_ip, age,
            )
            self._handshake_over(oldest)
            self._drop(oldest, NetError("handshake evicted: too many inbound handshakes"))
        self._handshaking[conn] = ip
        self._handshaking_ips[ip] = self._handshaking_ips.get(ip, 0) + 1
        self._churn += 1
        self._conns.add(conn)
        self._spawn(self._upgrade_inbound(conn), "fastswap-upgrade-in")

    def _handshake_over(self, conn: Connection) -> None:
        ip = self._handshaking.pop(conn, False)
        if ip is False:
            return
        left = self._handshaking_ips.get(ip, 1) - 1  # type: ignore[arg-type]
        if left > 0:
            self._handshaking_ips[ip] = left  # type: ignore[index]
        else:
            self._handshaking_ips.pop(ip, None)  # type: ignore[arg-type]

    async def _upgrade_inbound(self, conn: Connection) -> None:
        try:
            async with asyncio.timeout(self.inbound_handshake_timeout):
                await conn.upgrade(self.identity, self.muxers)
        except (NetError, TimeoutError, OSError) as exc:
            log.debug("inbound upgrade from %s failed: %s", conn.remote_addr, exc)
            self._drop(conn, exc)
            return
        except BaseException:
            self._drop(conn)
            raise
        finally:
            self._handshake_over(conn)
        if conn.is_closed:
            return
        why = self.refusal(conn.remote_peer)
        if why is not None:
            self._refuse("banned", "refusing inbound connection from %s: %s",
                         conn.remote_peer, why)
            self._drop(conn, PeerBannedError(f"{conn.remote_peer}: {why}"))
            return
        if not self._admit(conn):
            self._drop(conn, LimitExceededError("connection limit"))
            return
        self._register(conn)

    def _admit(self, conn: Connection) -> bool:
        """Room for one more established connection of *conn*'s peer? Evicts the least useful
        peer when every slot is taken (and says no only if none may go)."""
        peer = conn.remote_peer
        if self.connection_count(peer) >= self.max_connections_per_peer:
            self._refuse(
                "per-peer", "refusing a connection of %s: it has %d already "
                "(max_connections_per_peer)", peer, self.max_connections_per_peer,
            )
            return False
        if self.connection_count() >= self.max_connections and not self.connmgr.evict_one():
            self._refuse(
                "full", "refusing a connection of %s: %d connections are established "
                "(max_connections) and none may be evicted", peer, self.max_connections,
            )
            return False
        return True

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
            why = self.refusal(peer)
            if why is not None:
                raise PeerBannedError(f"not dialling {peer}: {why}")
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
        if self.connection_count() >= self.max_connections and not self.connmgr.evict_one():
            raise LimitExceededError(
                f"{self.connection_count()} connections are open, the max_connections limit, "
                "and none may be evicted; close some or raise the limit"
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
        why = self.refusal(conn.remote_peer)
        if why is not None:
            self._drop(conn)
            raise PeerBannedError(f"{ma} is {conn.remote_peer}: {why}")
        if not self._admit(conn):
            self._drop(conn)
            raise LimitExceededError(
                f"no connection slot for {conn.remote_peer}: max_connections or "
                "max_connections_per_peer reached and no peer may be evicted"
            )
        self._register(conn)
        return conn

    def _drop(self, conn: Connection | None, exc: BaseException | None = None) -> None:
        """Abort a connection that failed its upgrade (it was never registered)."""
        if conn is not None:
            self._conns.discard(conn)
            self._handshake_over(conn)
            conn.abort(exc if isinstance(exc, Exception) else None)

    def _register(self, conn: Connection) -> None:
        conn.ready = True
        conn.opened_at = conn.last_active = conn.loop.time()
        self._by_peer.setdefault(conn.remote_peer, []).append(conn)
        self.peerstore.connected(conn.remote_peer)
        self.connmgr.connected(conn)
        self._start_maintenance()
        for cb in list(self._on_connected):
            try:
                cb(conn)
            except Exception:
                log.exception("connected callback failed")
        if self._auto_identify:
            self._start_identify(conn)
        self.connmgr.trim()

    def close_connection(self, conn: Connection) -> None:
        """Close *conn* now: it leaves ``connections`` (and the disconnected callbacks run) at
        once; its FIN goes after what is queued."""
        conn.close()
        self._unregister(conn)

    def _close_peer(self, peer: PeerId, reason: str) -> int:
        """Close every connection of *peer* now (they leave ``connections`` at once);
        the number closed."""
        conns = list(self._by_peer.get(peer, ()))
        for conn in conns:
            log.debug("closing the connection to %s: %s", peer, reason)
            self.close_connection(conn)
        return len(conns)

    def _unregister(self, conn: Connection) -> None:
        """*conn* leaves the established set (once) and the disconnected callbacks run."""
        conns = self._by_peer.get(conn.remote_peer)
        if not conn.ready or conns is None or conn not in conns:
            return
        conns.remove(conn)
        if not conns:
            peer = conn.remote_peer
            del self._by_peer[peer]
            # what we kept per connected peer goes with its last connection (the identify
            # future held its PeerInfo and task: a leak per identity ever seen)
            fut = self._identifying.pop(peer, None)
            if fut is not None and not fut.done():
                fut.cancel()
            self.peerstore.disconnected(peer)
        self.connmgr.disconnected(conn.remote_peer)
        for cb in list(self._on_disconnected):
            try:
                cb(conn)
            except Exception:
                log.exception("disconnected callback failed")

    def _on_connection_lost(self, conn: Connection) -> None:
        if conn in self._conns:
            self._moved_by_closed += conn.bytes_received + conn.bytes_sent
        self._conns.discard(conn)
        self._churn += 1
        self._handshake_over(conn)
        self._unregister(conn)

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
        except Exception:  # noqa: BLE001 - logged (rate-limited) with its traceback
            self.ratelog.error(
                "handler-bug", "handler for %s failed", stream.protocol, exc_info=True
            )
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
                self.ratelog.info(
                    "identify-failed", "identify of %s failed: %s", conn.remote_peer,
                    f.exception(),
                )

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
