"""The asyncio driver of the Bitswap engines: ipfs/specs bitswap-protocol ("Bitswap 1.2.0
Interaction Pattern": a node both serves and fetches) over the libp2p host.

``Node`` owns and wires together:

* a :class:`~fastswap.net.host.Host` (identity kept in the repo as ``identity.key``, or
  ephemeral) with :class:`~fastswap.net.bitswap.BitswapNetwork` on it;
* the blockstore (LMDB in ``<repo>/blocks``, or the ``store`` given, or memory) and an
  :class:`~fastswap.blockstore.AsyncBlockstore` for writes and zero-copy reads off the loop;
* a :class:`~fastswap.core.DriverCore` owning a :class:`~fastswap.server.engine.ServerEngine`
  and a :class:`~fastswap.client.engine.ClientEngine`: everything that is not I/O (which engine
  sees what, response packing, the order of work) lives there, shared with the virtual network
  and the trio driver; this module only moves bytes and keeps time.

Event flow:

* connection ready -> open our Bitswap stream (its protocol is the peer's version) ->
  ``core.peer_connected``; the last connection gone -> ``core.peer_disconnected``;
* message -> ``core.screen`` (blocks from a peer we ask nothing of are dropped unhashed; a
  refused peer's messages entirely) -> the receive pipeline (``fastswap._receive``): per-peer
  inboxes in front of one verifier thread that names -- hashes, which is the verification --
  the blocks of large messages fairly across peers (hashlib releases the GIL) while the loop
  goes on reading and decrypting; each peer's messages reach ``core.message_received`` in
  arrival order, and a peer whose inbox is full has only its own streams wait. The core's
  ``StoreBlocks`` is carried out at once: the blocks are committed to the store, then handed to
  waiters and announced with ``core.blocks_stored`` (peers that want them get them). A reader
  whose message brought blocks waits while too many bytes wait for the store;
* one *pass* (scheduled with ``call_soon`` whenever anything changed, never polled) fires a
  due tick and carries out ``core.poll``'s actions (``fastswap.events``): wantlist messages
  to send, FindProviders (routing, dial, ``add_peers``), peers to serve (a writer each),
  DisconnectPeer (close it, never dial it for routing again), WantFailed (the waiting session
  gets BlockUnavailableError), the next deadline (``call_at``);
* a per-peer writer sends the client's messages first (wantlists are small and unblock data),
  then the server's responses: block data are read zero-copy from the store in a reader thread
  and packed (``core.pack_response``) and encoded straight into one frame (their only copy),
  while the previous frame is being written, so the pipe never drains between responses;
  ``response_sent`` once written (or given up on).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, Self

from . import _defaults
from ._receive import ReceivePipeline
from ._tasks import TaskSet
from .bandwidth import BandwidthLimiter
from .block import Block
from .blockstore import AsyncBlockstore, MemoryBlockstore, open_blockstore, with_identity
from .blockstore.pins import PinStore
from .cid import CID, RAW, compute_cid, decode_cid, parse, to_str
from .core import DriverCore, pack_response
from .errors import FastswapError, FetchTimeoutError, NetError, NodeError
from .events import (
    Deadline,
    DisconnectPeer,
    FindProviders,
    PeerMisbehaved,
    SendMessage,
    ServePeer,
    StoreBlocks,
    WantFailed,
)
from .fetch import NodeSource
from .message import Message, encode_message_parts, frame_length_prefix
from .message.versions import BITSWAP_1_2_0, BITSWAP_PROTOCOLS, version_of
from .net.bitswap import BitswapNetwork
from .net.host import Host
from .net.keys import Ed25519KeyPair, PeerId, load_or_create_identity
from .net.multiaddr import Multiaddr, parse_multiaddr
from .net.resources import RateLimitedLog
from .routing.static import StaticRouting
from .session import Session

if TYPE_CHECKING:
    from .dag import LsEntry
    from .dag.stream import GetResult

__all__ = ["Node"]

log = logging.getLogger("fastswap.node")

#: PeerMisbehaved.kind -> the counter it adds to
_MISBEHAVIOUR_COUNTERS = {"bad_block": "bad_blocks", "bad_message": "bad_messages"}


class _PeerOut:
    """Sending state of one peer: client messages waiting, and whether a writer runs."""

    __slots__ = ("msgs", "task")

    def __init__(self) -> None:
        self.msgs: deque[Message] = deque()
        self.task: asyncio.Task[None] | None = None


def _response_bytes(room: int | None) -> int:
    """Block bytes for a response to a peer whose window has *room* (None: no window)."""
    target = _defaults.SERVER_TARGET_MESSAGE_BYTES
    return target if room is None else max(1, min(room, target))


class Node:
    """A Bitswap node: serves its blockstore and fetches blocks from peers.

    ``async with Node(repo) as node:`` (or ``await node.start()`` ... ``await node.stop()``).

    * ``repo``: directory of a fastswap repo (LMDB blockstore in ``<repo>/blocks``, peer
      identity in ``<repo>/identity.key``); created if needed.
    * ``store``: a Blockstore to use instead (the caller keeps ownership). With neither
      ``repo`` nor ``store`` the node keeps blocks in memory; without ``repo`` the identity is
      ephemeral unless ``identity`` is given.
    * ``peers``: multiaddrs (``/ip4/../tcp/../p2p/<id>``) of the static router: dialled at
      start (failures are logged) and asked whenever a want finds no provider.
    * ``protocols``: the Bitswap protocol ids to speak, in order of preference.
    * ``engines``: ``(server_factory, client_factory)`` to drive other engines with the same
      contract (``server_factory(store)``, ``client_factory()``), e.g. instrumented ones.
    * ``host``: a :class:`~fastswap.net.host.Host` to run on instead of one of the node's own
      (``listen``, ``identity`` and ``host_options`` then do not apply): the caller starts and
      stops it; the node adds Bitswap to it while it runs, and greets the peers it is already
      connected to (``fastswap.compat``'s ``new_host`` outlives the Bitswap on it).
    * ``server_config``/``client_config``: the engines' tunables. The default client config
      gives this node a random ``order_seed`` (its own order of waiting wants, so leechers of
      one seeder can trade); pass ``ClientConfig()`` for strict priority order.
    """

    def __init__(
        self,
        repo: str | os.PathLike[str] | None = None,
        *,
        listen: Iterable[str | Multiaddr] = ("/ip4/127.0.0.1/tcp/0",),
        store: Any = None,
        identity: Ed25519KeyPair | None = None,
        peers: Iterable[str | Multiaddr] = (),
        protocols: Sequence[str] = BITSWAP_PROTOCOLS,
        server_config: Any = None,
        client_config: Any = None,
        routing: Any = None,
        host_options: dict[str, Any] | None = None,
        engines: tuple[Any, Any] | None = None,
        bandwidth: BandwidthLimiter | None = None,
        host: Host | None = None,
    ) -> None:

        self.repo = None if repo is None else os.path.abspath(os.fspath(repo))
        self._owns_store = store is None
        if store is None:
            store = MemoryBlockstore() if self.repo is None else open_blockstore(self.repo)
        #: the store, with identity CIDs answered from the CID (blockstore.identity): they are
        #: never fetched, and a peer's want for one is served from the CID
        self.store = store = with_identity(store)
        #: the repo's pin set (None without a repo): roots added or fetched are pinned
        self.pins: PinStore | None = None if self.repo is None else PinStore(self.repo)
        if identity is None and self.repo is not None:
            identity = load_or_create_identity(self.repo)
        self._owns_host = host is None
        if host is None:
            host = Host(identity, listen_addrs=list(listen), **(host_options or {}))
        self.host = host
        self.net = BitswapNetwork(
            self.host, self._on_message, protocols=protocols, on_bad_frame=self._on_bad_frame,
            is_answer=self._is_answer,
        )
        self._offload_verify = False
        if engines is None:
            from .client.engine import ClientConfig, ClientEngine
            from .server.engine import ServerEngine

            server: Any = ServerEngine(store, config=server_config)
            if client_config is None:
                # each node orders its waiting wants from its own seed (ClientEngine, "Order
                # within a session"): leechers of one seeder then hold different blocks and
                # can trade them, as the virtual network's swarm scenarios measure
                client_config = ClientConfig(order_seed=int.from_bytes(os.urandom(8), "big"))
            client: Any = ClientEngine(config=client_config)
            # our client engine takes block names hashed off the loop (name_blocks)
            self._offload_verify = True
        else:
            # (server_factory(store), client_factory()): other engines with the same contract
            server = engines[0](store)
            client = engines[1]()
        #: the sans-IO driver core that owns both engines; this class only does the I/O
        self.core = DriverCore(server, client)
        self.astore = AsyncBlockstore(store)
        self._static = StaticRouting()
        self.routing = routing if routing is not None else self._static
        self._initial_peers = [parse_multiaddr(p) for p in peers]
        for ma in self._initial_peers:
            self._static.add(ma)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._opening: dict[PeerId, asyncio.Task[None]] = {}
        self._out: dict[PeerId, _PeerOut] = {}
        # cid -> [(session id, fn(cid, data, exc))]: who waits for a block
        self._waiters: dict[bytes, list[tuple[int, Any]]] = {}
        # peers the client dropped for sending bad data -> why (not dialled again by routing)
        self._tasks = TaskSet(log, "node", (NetError, NodeError))
        self._finding: set[int] = set()
        self._pass_scheduled = False
        # fastswap.events actions -> what carries each out (dispatch on the exact type)
        self._actors: dict[type, Callable[[Any], None]] = {
            SendMessage: self._send_message, ServePeer: self._serve_peer,
            StoreBlocks: self._store_blocks, FindProviders: self._find_providers_for,
            PeerMisbehaved: self._peer_misbehaved, DisconnectPeer: self._disconnect_peer,
            WantFailed: self._want_failed, Deadline: self._set_deadline,
        }
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._unstored = 0
        # the store writes submitted so far, and the first one that failed since the last write
        # that worked (None: writes work): the disk-full error is logged once, not per batch
        self._store_writes = 0
        self._ratelog = RateLimitedLog(log, _defaults.LOG_RATE_LIMIT_SECONDS, time.monotonic)
        self._store_failed_at: int | None = None
        self._store_room: asyncio.Event | None = None
        max_block = (self.client.config.max_block_size if self._offload_verify
                     else _defaults.MAX_BLOCK_SIZE)
        self._rx = ReceivePipeline(self._handle_message, offload=self._offload_verify,
                                   max_block_size=max_block, on_overflow=self._on_overflow)
        self._unsubscribe: Any = None
        self._started = False
        self._stopped = False
        self._counters = {"bad_blocks": 0, "blocks_stored": 0, "bytes_stored": 0,
                          "responses_sent": 0, "bad_frames": 0,
                          "bad_messages": 0, "peers_disconnected": 0, "store_failures": 0,
                          "connections_refused": 0}
        #: block data limits (total and per peer) on what the server sends
        self.bandwidth = bandwidth if bandwidth is not None else BandwidthLimiter()
        #: protocol id -> [blocks sent, bytes sent, blocks received, bytes received]
        self.traffic: dict[str, list[int]] = {}
        self._draining = False
        self._started_at: float | None = None
        # (time, bytes sent, bytes received) samples for the rates stat() reports
        self._samples: deque[tuple[float, int, int]] = deque(maxlen=64)

    # -- facts -----------------------------------------------------------------------------

    @property
    def peer_id(self) -> PeerId:
        return self.host.peer_id

    @property
    def addrs(self) -> list[Multiaddr]:
        """Listen addresses, each ending in ``/p2p/<peer id>``."""
        return self.host.addrs

    @property
    def server(self) -> Any:
        """The server engine (``fastswap.server.ServerEngine`` unless ``engines`` said else)."""
        return self.core.server

    @property
    def client(self) -> Any:
        """The client engine (``fastswap.client.ClientEngine`` unless ``engines`` said else)."""
        return self.core.client

    @property
    def peers(self) -> list[PeerId]:
        """Peers we speak Bitswap with."""
        return list(self.core.peers)

    def version(self, peer: PeerId) -> str | None:
        v = self.core.version(peer)
        return None if v is None else v.protocol_id

    def __repr__(self) -> str:
        return f"<Node {self.peer_id} {len(self.core.peers)} peers>"

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        if self._started:
            return
        if self._stopped:
            raise NodeError("this node was stopped; create a new Node")
        self._started = True
        self._loop = asyncio.get_running_loop()
        self._store_room = asyncio.Event()
        self._store_room.set()
        # handlers first: identify must list Bitswap before any peer asks
        self.net.start()
        self._unsubscribe = self.host.subscribe(self._on_connected, self._on_disconnected)
        await self.host.start()
        self._started_at = self._now()
        self._spawn(self._maintain())
        for conn in self.host.connections:  # a host of the caller's may have peers already
            self._on_connected(conn)
        for ma in self._initial_peers:
            self._spawn(self._connect_quietly(ma))

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        """Stop serving and fetching; wait for every task; close what the node opened."""
        if self._stopped:
            return
        self._stopped = True
        if self._timer is not None:
            self._timer.cancel()
        if self._unsubscribe is not None:
            self._unsubscribe()
        tasks = self._tasks.cancel()
        tasks += [po.task for po in self._out.values() if po.task is not None]
        tasks += list(self._opening.values())
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await self.net.stop()
        if self._owns_host:
            await self.host.stop()
        await self._rx.close()
        err = NodeError("the node was stopped before the block arrived")
        for waiters in self._waiters.values():
            for _, w in waiters:
                w(None, None, err)
        self._waiters.clear()
        if self._started:
            await self.astore.aclose()
        if self._owns_store:
            self.store.close()
        if self.pins is not None:
            self.pins.close()

    def _check_running(self) -> None:
        if not self._started:
            raise NodeError("the node is not started; use `async with Node(...)` or start()")
        if self._stopped:
            raise NodeError("the node is stopped; create a new Node")

    def _spawn(self, coro: Any) -> asyncio.Future[Any]:
        return self._tasks.spawn(coro)

    def _is_answer(self, peer: PeerId, msg: Message) -> bool:
        """Whether *msg* answers what we ask *peer* (blocks or presences while we ask it for
        something): the stream it came on is not stream churn."""
        return bool(msg.blocks or msg.presences) and self.core.client.asking(peer)

    def _now(self) -> float:
        assert self._loop is not None
        return self._loop.time()

    # -- peers -----------------------------------------------------------------------------

    async def connect(self, maddr: str | Multiaddr) -> PeerId:
        """Dial a peer, open our Bitswap stream to it and add it to the static router."""
        self._check_running()
        ma = parse_multiaddr(maddr)
        conn = await self.host.dial(ma)
        peer = conn.remote_peer
        self._static.add(ma if ma.peer_id is not None else ma.with_p2p(peer))
        await self._ensure_peer(peer)
        return peer

    async def _connect_quietly(self, ma: Multiaddr) -> None:
        try:
            await self.connect(ma)
        except NetError as exc:
            log.warning("cannot connect to %s: %s", ma, exc)

    def _on_connected(self, conn: Any) -> None:
        peer = conn.remote_peer
        if self.core.banned_until(peer, self._now()) is not None:
            # refused for a while (DisconnectPeer): the host's ban refuses it before this, but
            # a ban the host forgot (its table is bounded) is still the core's
            self._counters["connections_refused"] += 1
            conn.abort()
            return
        if not self.core.is_connected(peer) and peer not in self._opening:
            self._opening[peer] = asyncio.ensure_future(self._open_peer(peer))

    async def _ensure_peer(self, peer: PeerId) -> None:
        if self.core.is_connected(peer):
            return
        task = self._opening.get(peer)
        if task is None:
            task = self._opening[peer] = asyncio.ensure_future(self._open_peer(peer))
        await asyncio.shield(task)
        if not self.core.is_connected(peer):
            raise NetError(f"{peer} does not speak Bitswap ({', '.join(self.net.protocols)})")

    async def _open_peer(self, peer: PeerId) -> None:
        try:
            version = await self.net.open(peer)
        except NetError as exc:
            log.info("no Bitswap stream to %s: %s", peer, exc)
            return
        finally:
            self._opening.pop(peer, None)
        if self.host.connection(peer) is not None:
            self._activate(peer, version)

    def _activate(self, peer: PeerId, version: str) -> None:
        if self._stopped:
            return
        # a refused peer is not connected, and a DisconnectPeer for it is queued: either way
        # the pass has work
        self.core.peer_connected(peer, version, self._now())
        self._schedule()

    def _on_disconnected(self, conn: Any) -> None:
        peer = conn.remote_peer
        if self.host.connection(peer) is not None:
            return  # another connection to the peer lives on
        opening = self._opening.pop(peer, None)
        if opening is not None:
            opening.cancel()
        self.net.forget(peer)
        self._rx.forget(peer)
        po = self._out.pop(peer, None)
        if po is not None and po.task is not None:
            po.task.cancel()
        if self.core.peer_disconnected(peer, self._now()):
            self._schedule()

    # -- receiving -------------------------------------------------------------------------

    def _on_bad_frame(self, peer: PeerId, reason: str) -> None:
        # counted only: the network layer closed the connection and penalised the peer at the
        # host (Host.penalise), whose ban refuses it at the door. One misdeed, one penalty:
        # core.frame_refused is for drivers whose host keeps no score (the trio driver)
        self._counters["bad_frames"] += 1

    def _on_overflow(self, peer: PeerId, nbytes: int) -> None:
        """*peer* sent more block bytes at once than its inbox holds (on many streams): they
        were dropped unhashed, and cost it as blocks nobody wanted."""
        if not self._stopped:
            self.core.penalise(peer, nbytes / (1 << 20) * _defaults.PEER_SCORE_UNWANTED_POINTS_PER_MIB,
                               f"{nbytes} block bytes more than its inbox holds", self._now())
            self._schedule()

    def _on_message(self, peer: PeerId, msg: Message, protocol: str) -> Any:
        """A decoded message from a stream reader: screened by the core (unsolicited blocks
        dropped unhashed), then into the receive pipeline. Returns an awaitable when this
        reader must wait: its peer's inbox is full, or the message brought blocks while the
        store is behind."""
        if self._stopped:
            return None
        screened = self.core.screen(peer, msg, self._now())
        if screened is not msg:
            self._schedule()  # a penalty may have asked for a DisconnectPeer
            if screened is None:
                return None
        res = self._rx.submit(peer, screened, protocol)
        if res is None and screened.blocks and self._unstored > _defaults.NODE_MAX_UNSTORED_BYTES:
            assert self._store_room is not None
            self._store_room.clear()
            return self._store_room.wait()
        return res

    def _handle_message(self, peer: PeerId, msg: Message, protocol: str,
                        names: list[Any] | None) -> Any:
        """Hand a (verified) message to the core and carry out what it asks at once, so the
        blocks it brought count against the store backpressure before the next is read.
        Returns an awaitable while too many received bytes wait for the store."""
        if self._stopped:
            return None
        if not self.core.is_connected(peer):
            if self.host.connection(peer) is None:
                return None  # read after the peer's last connection closed: it is gone
            # the peer wrote before our stream to it was open: its stream tells its version
            self._activate(peer, protocol)
        core = self.core
        core.message_received(peer, msg, self._now(), names=names)
        # the blocks go to the store now; the engines' output (wants to refill, peers to
        # serve) waits for the pass, one for every message handled in this loop iteration
        act = self._act
        for action in core.received_actions():
            act(action)
        self._schedule()
        if self._unstored > _defaults.NODE_MAX_UNSTORED_BYTES:
            assert self._store_room is not None
            self._store_room.clear()
            return self._store_room.wait()
        return None

    def _store_received(self, blocks: list[tuple[bytes, Any]]) -> None:
        """Commit verified blocks (in the store's writer thread), then deliver and announce
        them."""
        nbytes = sum(len(d) for _, d in blocks)
        self._unstored += nbytes
        self._store_writes += 1
        seq = self._store_writes
        fut = asyncio.ensure_future(self.astore.put_many(blocks))
        self._tasks.track(fut)

        def done(f: asyncio.Future[Any]) -> None:
            self._unstored -= nbytes
            if self._unstored <= _defaults.NODE_MAX_UNSTORED_BYTES:
                assert self._store_room is not None
                self._store_room.set()
            if f.cancelled():
                return
            exc = f.exception()
            if exc is not None:
                self._counters["store_failures"] += 1
                if self._store_failed_at is None:  # once until a write works again...
                    self._store_failed_at = seq
                    # ...and on a disk that flaps between full and not, once in a while
                    self._ratelog.error("store-failed", "cannot store received blocks: %s", exc)
                for cid, _ in blocks:
                    self._deliver(cid, None, exc)
                return
            if self._store_failed_at is not None and seq > self._store_failed_at:
                # works again: a write submitted after the failure (one submitted before it,
                # smaller, may still have fitted the nearly full disk)
                self._store_failed_at = None
            self._counters["blocks_stored"] += len(blocks)
            self._counters["bytes_stored"] += nbytes
            for cid, data in blocks:
                self._deliver(cid, data, None)
            if not self._stopped:
                self.core.blocks_stored([c for c, _ in blocks], self._now())
                self._schedule()

        fut.add_done_callback(done)

    def _deliver(self, cid: bytes, data: Any, exc: BaseException | None) -> None:
        waiters = self._waiters.pop(cid, None)
        if waiters:
            for _, w in waiters:
                w(cid, data, exc)

    def _fail_want(self, session: int, cid: bytes, exc: BaseException) -> None:
        """Session *session* will not get *cid*: its waiters get *exc* (others wait on)."""
        ws = self._waiters.get(cid)
        if not ws:
            return
        failed = [w for sid, w in ws if sid == session]
        ws[:] = [(sid, w) for sid, w in ws if sid != session]
        if not ws:
            del self._waiters[cid]
        for w in failed:
            w(cid, None, exc)

    def _add_waiter(self, cid: bytes, fn: Any, session: int) -> None:
        self._waiters.setdefault(cid, []).append((session, fn))

    def _remove_waiter(self, cid: bytes, fn: Any) -> None:
        ws = self._waiters.get(cid)
        if ws is not None:
            ws[:] = [(sid, w) for sid, w in ws if w is not fn]
            if not ws:
                del self._waiters[cid]

    # -- the pass: engine actions -> IO ----------------------------------------------------

    def _schedule(self) -> None:
        if not self._pass_scheduled and not self._stopped and self._loop is not None:
            self._pass_scheduled = True
            self._loop.call_soon(self._pass)

    def wake(self) -> None:
        """Carry out what the core asks, soon: for code that drives ``node.core`` itself
        (``want``, ``cancel``, ``add_peers``, ``close_session``, ``blocks_stored``), as a
        :class:`~fastswap.session.Session` does."""
        self._schedule()

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self._schedule()

    def _pass(self) -> None:
        """Carry out everything the core asks now (``fastswap.events``: dispatch on type)."""
        self._pass_scheduled = False
        if self._stopped:
            return
        core = self.core
        try:
            now = self._now()
            deadline = core.next_deadline()
            if deadline is not None and deadline <= now:
                core.tick(now)
            act = self._act
            for action in core.poll(now):
                act(action)
        except Exception:
            log.exception("engine pass failed")

    def _act(self, action: Any) -> None:
        actor = self._actors.get(type(action))
        if actor is None:
            log.error("the driver core asked for %r, which this node cannot do", action)
            return
        actor(action)

    def _send_message(self, action: SendMessage) -> None:
        peer = action.peer
        self._queue(peer).msgs.append(action.message)
        self._kick(peer)

    def _serve_peer(self, action: ServePeer) -> None:
        self._kick(action.peer)

    def _store_blocks(self, action: StoreBlocks) -> None:
        blocks = action.blocks
        self._count(action.peer, 2, len(blocks), sum(len(d) for _, d in blocks))
        self._store_received(blocks)

    def _find_providers_for(self, action: FindProviders) -> None:
        session = action.session
        if session not in self._finding:
            self._finding.add(session)
            self._spawn(self._find_providers(session, action.cid))

    def _peer_misbehaved(self, action: PeerMisbehaved) -> None:
        kind = action.kind
        self._counters[_MISBEHAVIOUR_COUNTERS.get(kind, "bad_messages")] += 1
        log.warning("%s from %s: %s", kind.replace("_", " "), action.peer, action.detail)

    def _disconnect_peer(self, action: DisconnectPeer) -> None:
        self._disconnect(action.peer, action.reason, action.ban_seconds)

    def _want_failed(self, action: WantFailed) -> None:
        self._fail_want(action.session, action.cid, action.error())

    def _set_deadline(self, action: Deadline) -> None:
        when = action.when
        if when != self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
            assert self._loop is not None
            self._timer_at = when
            self._timer = self._loop.call_at(when, self._on_timer)

    def _disconnect(self, peer: PeerId, reason: str, secs: float) -> None:
        """Ban *peer* on the host for *secs*: its connections close, and its new ones (in or
        out, routing's dials too) are refused until then. The core refuses it as long."""
        if self.host.connection(peer) is not None:
            self._counters["peers_disconnected"] += 1
        self.host.ban(peer, secs, reason)

    async def _find_providers(self, session: int, cid: bytes) -> None:
        try:
            found = await self.routing.find_providers(cid)
            peers: list[PeerId] = []
            for p in found:
                if isinstance(p, PeerId):
                    if self.core.is_connected(p):
                        peers.append(p)
                    continue
                try:
                    peers.append(await self.connect(p))
                except NetError as exc:
                    log.info("provider %s unreachable: %s", p, exc)
            if peers and not self._stopped:
                self.core.add_peers(session, peers, self._now())
                self._schedule()
        finally:
            self._finding.discard(session)

    def _queue(self, peer: PeerId) -> _PeerOut:
        po = self._out.get(peer)
        if po is None:
            po = self._out[peer] = _PeerOut()
        return po

    def _kick(self, peer: PeerId) -> None:
        po = self._queue(peer)
        if po.task is None:
            po.task = asyncio.ensure_future(self._writer(peer, po))

    async def _writer(self, peer: PeerId, po: _PeerOut) -> None:
        """Send the client's messages, then the server's responses, until neither has more."""
        core = self.core
        prepared: tuple[Any, asyncio.Future[bytes]] | None = None
        # this writer pulls the peer's responses itself: no pass needs to list the peer (1,000
        # peers that never read each keep a writer waiting on their window; listing them on
        # every pass was a fifth of the seeder's time beside an honest fetch)
        core.pause_serving(peer)
        try:
            while True:
                while po.msgs:
                    await self.net.send(peer, po.msgs.popleft())
                if prepared is None:
                    if self._draining:
                        break
                    room = self.net.send_room(peer)
                    if room is not None and room <= 0:
                        # the peer has not read what we sent: build nothing until it does, so
                        # one that never reads holds no response of ours (1,000 of them held
                        # 1.7 GB when each had a 1 MiB response built and one being written)
                        await self.net.wait_send_room(peer)
                        continue
                    resp = core.next_response(peer, _response_bytes(room))
                    if resp is None:
                        break
                    prepared = (resp, asyncio.ensure_future(self._build_frame(peer, resp)))
                resp, building = prepared
                prepared = None
                sent = False
                try:
                    box = [await building]
                    del building  # the future holds the frame too: see send_frame
                    # build the next response while this one is written, if the peer's window
                    # has room for it beyond this one
                    room = self.net.send_room(peer)
                    if room is not None:
                        room -= len(box[0])
                    if not self._draining and (room is None or room > 0):
                        nxt = core.next_response(peer, _response_bytes(room))
                        if nxt is not None:
                            prepared = (nxt, asyncio.ensure_future(self._build_frame(peer, nxt)))
                    if box[0]:
                        if resp.nbytes and self.bandwidth.active:
                            # block data waits its turn; wantlists (above) never do
                            delay = self.bandwidth.reserve(peer, resp.nbytes, self._now())
                            if delay > 0:
                                await asyncio.sleep(delay)
                        await self.net.send_frame(peer, box)
                        self._counters["responses_sent"] += 1
                        self._count(peer, 0, len(resp.blocks), resp.nbytes)
                    sent = True
                finally:
                    # a response of a peer that disconnected meanwhile is ignored by the engine
                    core.response_sent(peer, resp, self._now(), sent=sent)
        except NetError as exc:
            log.info("sending to %s failed: %s", peer, exc)
        finally:
            if prepared is not None:
                prepared[1].cancel()
                core.response_sent(peer, prepared[0], self._now(), sent=False)
            po.task = None
            core.resume_serving(peer)  # listed again if answers came after its last pull
            if po.msgs and core.is_connected(peer) and not self._stopped:
                self._kick(peer)

    async def _build_frame(self, peer: PeerId, resp: Any) -> bytes:
        """One framed message for a server response (b"" if there is nothing to say). The
        block data are read zero-copy in a store reader thread and encoded there into one
        frame, their only copy."""
        version = self.core.version(peer) or version_of(BITSWAP_1_2_0)
        cids = list(resp.blocks)

        def build(views: list[Any]) -> bytes:
            msg = pack_response(version, resp, views)
            if msg is None:
                return b""
            parts = encode_message_parts(msg)
            n = sum(len(p) for p in parts)
            # the join is the data's only copy; the views die when this returns
            return b"".join([frame_length_prefix(n), *parts])

        if not cids:
            return build([])
        return await self.astore.read_many(cids, build)

    # -- fetching --------------------------------------------------------------------------

    def session(self) -> Session:
        """A fetch session: its wants share peers learnt from each other's answers."""
        self._check_running()
        return Session(self)

    async def get_block(self, cid: bytes | str, *, timeout: float | None = None) -> Block:
        """The block named *cid*, from the store or from peers (verified)."""
        async with self.session() as s:
            return await s.get_block(cid, timeout=timeout)

    async def get_blocks(self, cids: Iterable[bytes | str]) -> AsyncIterator[Block]:
        """Blocks for *cids* as they arrive (any order); see :meth:`Session.get_blocks`."""
        async with self.session() as s:
            async for blk in s.get_blocks(cids):
                yield blk

    async def fetch_dag(self, root: bytes | str, *, timeout: float | None = None) -> int:
        """Fetch every block of the DAG under *root* into the store (breadth-first, many wants
        in flight); returns the number of blocks it holds. Blocks already stored are read, not
        fetched. Raises FetchTimeoutError if *timeout* seconds pass first."""
        async with self.session() as s:
            if timeout is None:
                return await s._fetch_dag(parse(root))
            try:
                async with asyncio.timeout(timeout):
                    return await s._fetch_dag(parse(root))
            except TimeoutError:
                raise FetchTimeoutError(
                    f"the DAG under {to_str(parse(root))} was not complete after {timeout} s; "
                    "connect to a peer that has it"
                ) from None

    # -- adding ----------------------------------------------------------------------------

    async def put_block(
        self, data: bytes | Block, *, version: int = 1, codec: int = RAW
    ) -> CID:
        """Store a block (bytes are named raw CIDv1 unless told otherwise); returns its CID.
        Peers that want it are sent it."""
        return (await self.put_blocks([data], version=version, codec=codec))[0]

    async def put_blocks(
        self, blocks: Iterable[bytes | Block], *, version: int = 1, codec: int = RAW
    ) -> list[CID]:
        self._check_running()
        items: list[tuple[bytes, Any]] = []
        for b in blocks:
            if isinstance(b, Block):
                b.verify()  # a Block is only trusted once it hashes to its CID
                items.append((bytes(b.cid), b.data))
            else:
                items.append((compute_cid(b, version=version, codec=codec), b))
        await self.astore.put_many(items)
        cids = [c for c, _ in items]
        self.core.blocks_stored(cids, self._now())
        for c, d in items:
            self._deliver(c, d, None)
        self._schedule()
        return [CID(c) for c in cids]

    async def add_path(self, path: str | os.PathLike[str], *, wrap: bool = False,
                       hidden: bool = False, pin: bool = True, **options: Any) -> CID:
        """Import a file or a directory tree (``ipfs add -r [-w]``); returns the root CID.

        *options* are :meth:`fastswap.dag.ImportSettings.preset`'s: ``preset="kubo"`` (the
        default: CIDv0, 256 KiB chunks) or ``"helia"``, and overrides such as
        ``cid_version=1``, ``raw_leaves``, ``chunk_size``, ``hash``, ``inline``, ``trickle``.
        The root is pinned (in a repo) unless *pin* is false; peers that want its blocks get
        them."""
        from .dag import ImportSettings, import_path

        self._check_running()
        settings = ImportSettings.preset(options.pop("preset", "kubo"), **options)
        root = await asyncio.to_thread(import_path, self.store, os.fspath(path), settings,
                                       wrap=wrap, hidden=hidden)
        return await self._added(root, os.fspath(path) if pin else None)

    async def add_bytes(self, data: bytes | bytearray | memoryview, *, pin: bool = True,
                        **options: Any) -> CID:
        """Import *data* as a UnixFS file (options as :meth:`add_path`); returns its root."""
        return await self._add_file_source(bytes(data), "", pin, options)

    async def add_stream(self, stream: Any, *, name: str = "", pin: bool = True,
                         **options: Any) -> CID:
        """Import a binary file object (read to its end in a worker thread, memory bounded
        whatever its size; not closed) as a UnixFS file; returns its root."""
        return await self._add_file_source(stream, name, pin, options)

    async def add_file(self, path: str | os.PathLike[str], *, pin: bool = True,
                       **options: Any) -> CID:
        """Import one file (options as :meth:`add_path`, or ``**KUBO_DEFAULTS`` /
        ``**HELIA_DEFAULTS``); returns its root CID."""
        return await self._add_file_source(os.fspath(path), os.fspath(path), pin, options)

    async def _add_file_source(self, src: Any, name: str, pin: bool,
                               options: dict[str, Any]) -> CID:
        from .dag import ImportSettings, import_file

        self._check_running()
        settings = ImportSettings.preset(options.pop("preset", "kubo"), **options)
        root = await asyncio.to_thread(import_file, self.store, src, settings)
        return await self._added(root, name if pin else None)

    async def _added(self, root: bytes, pin_name: str | None) -> CID:
        if pin_name is not None and self.pins is not None:
            await asyncio.to_thread(self.pins.add, root, pin_name)
        await self.announce(root)
        return CID(root)

    async def add_car(self, path: str | os.PathLike[str], *, pin: bool = True) -> list[CID]:
        """Import the blocks of a CAR v1 or v2 file (each verified); returns its roots, pinned
        (in a repo) unless *pin* is false."""
        from .dag import import_car

        self._check_running()
        roots = await asyncio.to_thread(import_car, self.store, os.fspath(path))
        return [await self._added(r, os.fspath(path) if pin else None) for r in roots]

    # -- UnixFS: reading and writing files and trees, fetching what the repo lacks ---------

    async def cat(self, path: bytes | str, **window: Any) -> AsyncIterator[bytes]:
        """The bytes of the UnixFS file at *path* (``CID`` or ``CID/dir/file``), in order, as
        they arrive: blocks the repo lacks are fetched from peers ahead of the reader by a
        bounded window (``window_blocks``, ``window_bytes``), so memory does not grow with the
        file and a slow reader slows the fetch."""
        from .dag import stream as dag_stream

        async with self.session() as s, aclosing(
                dag_stream.cat(NodeSource(self, s), _path(path), **window)) as chunks:
            async for chunk in chunks:
                yield bytes(chunk)

    async def get(self, path: bytes | str, dest: str | os.PathLike[str] | Any, *,
                  pin: bool = True, on_block: Callable[[int, bool], None] | None = None,
                  **window: Any) -> GetResult:
        """Write the file, directory tree or symlink at *path* to *dest* (a path: checked
        writable before anything is fetched, written under a temporary name, moved into place
        at the end; or a binary file object, for a file), fetching what the repo lacks as it
        goes. Returns a :class:`fastswap.dag.stream.GetResult` with ``source`` (a
        :class:`fastswap.fetch.NodeSource`: blocks and bytes from the repo and from the
        network). The CID *path* resolves to is pinned unless *pin* is false. *on_block(nbytes,
        from_network)* is called for every block read (progress reports)."""
        from .dag import stream as dag_stream

        async with self.session() as s:
            source = NodeSource(self, s, on_block=on_block)
            result = await dag_stream.get(source, _path(path), dest, **window)
            result.source = source
            if pin and self.pins is not None:
                cid, _ = await dag_stream.resolve(source, _path(path))
                await asyncio.to_thread(self.pins.add, cid, str(path))
            return result

    async def ls(self, path: bytes | str, *, resolve_types: bool = True) -> list[LsEntry]:
        """The entries of the UnixFS directory at *path*: ``LsEntry(name, cid, kind, size,
        tsize)``, fetching what the repo lacks."""
        from .dag import stream as dag_stream

        async with self.session() as s:
            return await dag_stream.ls(NodeSource(self, s), _path(path),
                                       resolve_types=resolve_types)

    async def announce(self, root: bytes) -> None:
        """Tell the server about every stored block under *root* (walked off the loop)."""
        store = self.store

        def walk() -> list[bytes]:
            from .dag import iter_links

            out = []
            seen = {root}
            todo = deque([root])
            while todo:
                c = todo.popleft()
                if not store.has(c):
                    continue
                out.append(c)
                if decode_cid(c)[1] == RAW:
                    continue
                for link in iter_links(c, store.get(c)):
                    if link not in seen:
                        seen.add(link)
                        todo.append(link)
            return out

        cids = await asyncio.to_thread(walk)
        if cids:
            self.core.blocks_stored(cids, self._now())
            self._schedule()

    # -- stats -----------------------------------------------------------------------------

    def _count(self, peer: PeerId, index: int, blocks: int, nbytes: int) -> None:
        """Traffic per protocol version (index 0: sent, 2: received)."""
        v = self.core.version(peer)
        row = self.traffic.setdefault(v.protocol_id if v is not None else "unknown", [0, 0, 0, 0])
        row[index] += blocks
        row[index + 1] += nbytes

    # -- operating: drain, maintenance, stats ----------------------------------------------

    async def drain(self, timeout: float) -> bool:
        """Stop accepting connections and starting responses, then wait up to *timeout* s for
        the responses being written to go out (what a stopping seeder owes the peers it is
        serving). True if everything in flight was written."""
        self._draining = True
        await self.host.stop_listening()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while any(po.task is not None for po in self._out.values()):
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    async def _maintain(self) -> None:
        """Every few seconds: sample the transfer rates, and tell the connection manager which
        peers Bitswap is exchanging with (wants either way), so the host's idle timeout and
        trimming spare them."""
        connmgr = self.host.connmgr
        while not self._stopped:
            try:
                now = self._now()
                self._samples.append((now, self._total(0), self._total(2)))
                for peer in self.core.peers:
                    in_use = self.core.engaged(peer)
                    connmgr.set_in_use(peer, in_use)
                    connmgr.tag_peer(peer, "bitswap", _BITSWAP_TAG if in_use else 0)
            except Exception:  # a bug here must not end maintenance for the node's lifetime
                log.exception("node maintenance pass failed")
            await asyncio.sleep(_defaults.NODE_MAINTENANCE_SECONDS)

    def _total(self, index: int) -> int:
        return sum(row[index + 1] for row in self.traffic.values())

    def rates(self) -> dict[str, float]:
        """Block bytes sent and received per second over the last sampling interval."""
        if len(self._samples) < 2:
            return {"bytes_sent_per_s": 0.0, "bytes_received_per_s": 0.0}
        (t0, s0, r0), (t1, s1, r1) = self._samples[-2], self._samples[-1]
        dt = max(t1 - t0, 1e-9)
        return {"bytes_sent_per_s": (s1 - s0) / dt, "bytes_received_per_s": (r1 - r0) / dt}

    def _limits(self) -> dict[str, Any]:
        """The limits in force now (a reload changes them): bandwidth in bytes a second (0:
        none), the connection manager's water marks, the allow and deny lists."""
        bw, connmgr = self.bandwidth, self.host.connmgr
        allow, deny = self.host.peer_filter
        return {
            "bandwidth": {"total_rate": bw.total.rate if bw.total is not None else 0,
                          "peer_rate": bw.peer_rate},
            "low_water": connmgr.low_water,
            "high_water": connmgr.high_water,
            "allow": sorted(str(p) for p in allow),
            "deny": sorted(str(p) for p in deny),
        }

    def totals(self) -> dict[str, Any]:
        """The node's counters and gauges, with no per-peer data (nothing turned to text: a
        peer id's base58 costs ~0.1 ms): what a metrics scrape reads, cheap enough for the
        event loop whatever the number of peers. Values are numbers (``bytes``: None for a
        store that does not know its size), ``traffic`` maps each protocol id to its row, and
        ``server``/``client``/``scores`` are the engines' and the core's own totals."""
        client = {k: v for k, v in self.client.stats().items()
                  if not isinstance(v, dict)}  # (its per-peer and per-session tables)
        return {
            "uptime": 0.0 if self._started_at is None else self._now() - self._started_at,
            "peer_count": len(self.core.peers),
            "connections": self.host.connection_count(),
            "blocks": len(self.store),
            "bytes": self.store.size_bytes() if hasattr(self.store, "size_bytes") else None,
            "waiting_for": len(self._waiters),
            "messages_received": self.net.messages_received,
            "messages_sent": self.net.messages_sent,
            "bytes_sent": self.net.bytes_sent,
            **self._counters,
            # refused while banned: by the host (the usual place) or by us (a ban the host's
            # bounded table forgot)
            "connections_refused": (self._counters["connections_refused"]
                                    + self.host.refused.get("banned", 0)),
            "refused": dict(self.host.refused),
            "scores": self.core.peer_stats(),
            "traffic": {v: dict(zip(("blocks_sent", "bytes_sent", "blocks_received",
                                     "bytes_received"), row)) for v, row in self.traffic.items()},
            "client": client,
            "server": self.server.stats(),
        }

    def stat(self, *, top: int = 10) -> dict[str, Any]:
        """What the node is doing, as JSON-serialisable data: :meth:`totals`, and the peers and
        their ledgers, rates, the *top* most wanted CIDs, and both engines' full stats."""
        from collections import Counter

        peers = self.core.peers
        ledgers: dict[str, Any] = {}
        wanted: Counter[bytes] = Counter()
        for peer, version in peers.items():
            try:
                led = self.server.ledger(peer)
            except (AttributeError, FastswapError):
                led = {}
            ledgers[str(peer)] = {**led, "version": version}
            wantlist = getattr(self.server, "wantlist", None)
            if wantlist is not None and top > 0:
                wanted.update(wantlist(peer).keys())
        return _jsonable({
            "peer_id": str(self.peer_id),
            "addrs": [str(a) for a in self.addrs],
            **self.totals(),
            "peers": {str(p): v for p, v in peers.items()},
            "rates": self.rates(),
            "ledgers": ledgers,
            "top_wanted": [{"cid": to_str(c), "peers": n} for c, n in wanted.most_common(top)],
            "limits": self._limits(),
            "client": self.client.stats(),
        })


def _path(path: bytes | str) -> bytes | str:
    """A UnixFS path as the exporter takes it: text as is, a binary CID (or CID) as bytes."""
    return path if isinstance(path, str) else bytes(path)


#: the connection-manager tag value of a peer Bitswap is exchanging with (boxo tags session peers
#: similarly, so the connection manager trims idle peers first)
_BITSWAP_TAG = 10


def _jsonable(obj: Any) -> Any:
    """*obj* with dict keys as text and values JSON can hold (peer ids, CIDs -> text)."""
    if isinstance(obj, dict):
        return {k if isinstance(k, str) else _text(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return _text(obj)


def _text(x: Any) -> str:
    return to_str(x) if isinstance(x, bytes) else str(x)
