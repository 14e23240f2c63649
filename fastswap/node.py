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
* message -> ``core.message_received``. A message with much block data is first named --
  hashed, which is the verification -- in a verifier thread (``client.engine.name_blocks``;
  hashlib releases the GIL) while the loop goes on reading and decrypting, and the core gets
  those names; messages are still handled in arrival order. The core's ``StoreBlocks`` is
  carried out at once: the blocks are committed to the store, then handed to waiters and
  announced with ``core.blocks_stored`` (peers that want them get them). The stream reader
  waits when too many messages wait for the verifier or too many bytes for the store;
* one *pass* (scheduled with ``call_soon`` whenever anything changed, never polled) fires a
  due tick and carries out ``core.poll``'s actions (``fastswap.events``): wantlist messages
  to send, FindProviders (routing, dial, ``add_peers``), peers to serve (a writer each), the
  next deadline (``call_at``);
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
from collections import deque
from collections.abc import AsyncIterator, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Self

from . import _defaults
from .block import Block
from .blockstore import AsyncBlockstore, MemoryBlockstore, open_blockstore
from .cid import RAW, compute_cid, decode_cid, parse, to_str
from .core import DriverCore, pack_response
from .errors import FetchTimeoutError, NetError, NodeError
from .events import (
    Deadline,
    FindProviders,
    PeerMisbehaved,
    SendMessage,
    ServePeer,
    StoreBlocks,
)
from .message import Message, encode_message_parts, frame_length_prefix
from .message.versions import BITSWAP_1_2_0, BITSWAP_PROTOCOLS, version_of
from .net.bitswap import BitswapNetwork
from .net.host import Host
from .net.keys import Ed25519KeyPair, PeerId, load_or_create_identity
from .net.multiaddr import Multiaddr, parse_multiaddr
from .routing.static import StaticRouting
from .session import Session

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


class _Verifying:
    """A received message waiting for the verifier thread (or behind one that does)."""

    __slots__ = ("msg", "names", "peer", "protocol")

    def __init__(self, peer: PeerId, msg: Message, protocol: str,
                 names: asyncio.Future[Any] | None) -> None:
        self.peer = peer
        self.msg = msg
        self.protocol = protocol
        self.names = names


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
        host: Host | None = None,
    ) -> None:

        self.repo = None if repo is None else os.path.abspath(os.fspath(repo))
        self._owns_store = store is None
        if store is None:
            store = MemoryBlockstore() if self.repo is None else open_blockstore(self.repo)
        self.store = store
        if identity is None and self.repo is not None:
            identity = load_or_create_identity(self.repo)
        self._owns_host = host is None
        if host is None:
            host = Host(identity, listen_addrs=list(listen), **(host_options or {}))
        self.host = host
        self.net = BitswapNetwork(
            self.host, self._on_message, protocols=protocols, on_bad_frame=self._on_bad_frame
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
        self._waiters: dict[bytes, list[Any]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._finding: set[int] = set()
        self._pass_scheduled = False
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._unstored = 0
        self._store_room: asyncio.Event | None = None
        # messages whose blocks the verifier thread is naming, in arrival order
        self._verifying: deque[_Verifying] = deque()
        self._verifier: ThreadPoolExecutor | None = None
        self._verify_room = asyncio.Event()
        self._unsubscribe: Any = None
        self._started = False
        self._stopped = False
        self._counters = {"bad_blocks": 0, "blocks_stored": 0, "bytes_stored": 0,
                          "responses_sent": 0, "bad_frames": 0,
                          "bad_messages": 0}

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
        tasks = [t for t in self._tasks if not t.done()]
        tasks += [po.task for po in self._out.values() if po.task is not None]
        tasks += list(self._opening.values())
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await self.net.stop()
        if self._owns_host:
            await self.host.stop()
        self._verify_room.set()
        if self._verifier is not None:
            # at most a few messages' hashing is queued: waiting for it is short
            await asyncio.to_thread(self._verifier.shutdown, wait=True, cancel_futures=True)
            self._verifier = None
        self._verifying.clear()
        err = NodeError("the node was stopped before the block arrived")
        for waiters in self._waiters.values():
            for w in waiters:
                w(None, None, err)
        self._waiters.clear()
        if self._started:
            await self.astore.aclose()
        if self._owns_store:
            self.store.close()

    def _check_running(self) -> None:
        if not self._started:
            raise NodeError("the node is not started; use `async with Node(...)` or start()")
        if self._stopped:
            raise NodeError("the node is stopped; create a new Node")

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            if isinstance(exc, (NetError, NodeError)):
                log.info("node task ended: %s", exc)
            else:
                log.error("node task failed", exc_info=exc)

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
        if self.core.peer_connected(peer, version, self._now()):
            self._schedule()

    def _on_disconnected(self, conn: Any) -> None:
        peer = conn.remote_peer
        if self.host.connection(peer) is not None:
            return  # another connection to the peer lives on
        opening = self._opening.pop(peer, None)
        if opening is not None:
            opening.cancel()
        self.net.forget(peer)
        po = self._out.pop(peer, None)
        if po is not None and po.task is not None:
            po.task.cancel()
        if self.core.peer_disconnected(peer, self._now()):
            self._schedule()

    # -- receiving -------------------------------------------------------------------------

    def _on_bad_frame(self, peer: PeerId, reason: str) -> None:
        self._counters["bad_frames"] += 1

    def _on_message(self, peer: PeerId, msg: Message, protocol: str) -> Any:
        """A decoded message from a stream reader. Messages carrying much block data are named
        (hashed: the verification) in the verifier thread while the loop goes on reading and
        decrypting the next one; messages are handled in arrival order all the same (a
        message without blocks waits behind any still being hashed)."""
        if self._stopped:
            return None
        pending = self._verifying
        if not pending:
            if not msg.blocks or not self._offload_verify:
                return self._handle_message(peer, msg, protocol, None)
            nbytes = 0
            for _, data in msg.blocks:
                nbytes += len(data)
            if nbytes < _defaults.NODE_VERIFY_OFFLOAD_BYTES:
                return self._handle_message(peer, msg, protocol, None)
        assert self._loop is not None
        fut: asyncio.Future[Any] | None = None
        if msg.blocks:
            if self._verifier is None:
                self._verifier = ThreadPoolExecutor(1, thread_name_prefix="fastswap-verify")
            from .client.naming import name_blocks

            fut = self._loop.run_in_executor(
                self._verifier, name_blocks, msg.blocks, self.client.config.max_block_size)
        item = _Verifying(peer, msg, protocol, fut)
        pending.append(item)
        if fut is None:
            self._handle_verified()
        else:
            fut.add_done_callback(self._on_verified)
        if len(pending) >= _defaults.NODE_MAX_VERIFYING_MESSAGES or (
                self._unstored > _defaults.NODE_MAX_UNSTORED_BYTES):
            # backpressure: the reader waits while the verifier or the store is behind
            return self._wait_pipeline()
        return None

    async def _wait_pipeline(self) -> None:
        assert self._store_room is not None
        while not self._stopped and (
                len(self._verifying) >= _defaults.NODE_MAX_VERIFYING_MESSAGES
                or self._unstored > _defaults.NODE_MAX_UNSTORED_BYTES):
            if len(self._verifying) >= _defaults.NODE_MAX_VERIFYING_MESSAGES:
                self._verify_room.clear()
                await self._verify_room.wait()
            else:
                self._store_room.clear()
                await self._store_room.wait()

    def _on_verified(self, fut: asyncio.Future[Any]) -> None:
        self._handle_verified()

    def _handle_verified(self) -> None:
        """Handle the messages at the head of the line whose blocks are named."""
        pending = self._verifying
        while pending:
            item = pending[0]
            fut = item.names
            if fut is not None and not fut.done():
                return
            pending.popleft()
            if self._stopped:
                continue
            names = None
            if fut is not None:
                if fut.cancelled() or fut.exception() is not None:
                    # the verifier is gone (stopping); the engine hashes on the loop instead
                    names = None
                else:
                    names = fut.result()
            try:
                res = self._handle_message(item.peer, item.msg, item.protocol, names)
                if res is not None and hasattr(res, "close"):
                    # the store-room wait: the readers wait in _wait_pipeline instead
                    res.close()
            except Exception:
                log.exception("handling a Bitswap message from %s failed", item.peer)
            if len(pending) < _defaults.NODE_MAX_VERIFYING_MESSAGES:
                self._verify_room.set()
        self._verify_room.set()

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
        self.core.message_received(peer, msg, self._now(), names=names)
        self._pass()
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
        fut = asyncio.ensure_future(self.astore.put_many(blocks))
        self._tasks.add(fut)

        def done(f: asyncio.Future[Any]) -> None:
            self._tasks.discard(f)
            self._unstored -= nbytes
            if self._unstored <= _defaults.NODE_MAX_UNSTORED_BYTES:
                assert self._store_room is not None
                self._store_room.set()
            if f.cancelled():
                return
            exc = f.exception()
            if exc is not None:
                log.error("cannot store received blocks: %s", exc)
                for cid, _ in blocks:
                    self._deliver(cid, None, exc)
                return
            self._counters["blocks_stored"] += len(blocks)
            self._counters["bytes_stored"] += nbytes
            for cid, data in blocks:
                self._deliver(cid, data, None)
            if not self._stopped:
                self.core.blocks_stored([c for c, _ in blocks])
                self._schedule()

        fut.add_done_callback(done)

    def _deliver(self, cid: bytes, data: Any, exc: BaseException | None) -> None:
        waiters = self._waiters.pop(cid, None)
        if waiters:
            for w in waiters:
                w(cid, data, exc)

    def _add_waiter(self, cid: bytes, fn: Any) -> None:
        self._waiters.setdefault(cid, []).append(fn)

    def _remove_waiter(self, cid: bytes, fn: Any) -> None:
        ws = self._waiters.get(cid)
        if ws is not None and fn in ws:
            ws.remove(fn)
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
            for action in core.poll(now):
                match action:
                    case SendMessage(peer, msg):
                        self._queue(peer).msgs.append(msg)
                        self._kick(peer)
                    case ServePeer(peer):
                        self._kick(peer)
                    case StoreBlocks(_, blocks):
                        self._store_received(blocks)
                    case FindProviders(cid, session):
                        if session not in self._finding:
                            self._finding.add(session)
                            self._spawn(self._find_providers(session, cid))
                    case PeerMisbehaved(peer, kind, detail):
                        self._counters[_MISBEHAVIOUR_COUNTERS.get(kind, "bad_messages")] += 1
                        log.warning("%s from %s: %s", kind.replace("_", " "), peer, detail)
                    case Deadline(when):
                        if when != self._timer_at:
                            if self._timer is not None:
                                self._timer.cancel()
                            assert self._loop is not None
                            self._timer_at = when
                            self._timer = self._loop.call_at(when, self._on_timer)
        except Exception:
            log.exception("engine pass failed")

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
        try:
            while True:
                while po.msgs:
                    await self.net.send(peer, po.msgs.popleft())
                if prepared is None:
                    resp = core.next_response(peer)
                    if resp is None:
                        break
                    prepared = (resp, asyncio.ensure_future(self._build_frame(peer, resp)))
                resp, building = prepared
                prepared = None
                sent = False
                try:
                    frame = await building
                    # build the next response while this one is written
                    nxt = core.next_response(peer)
                    if nxt is not None:
                        prepared = (nxt, asyncio.ensure_future(self._build_frame(peer, nxt)))
                    if frame:
                        await self.net.send_frame(peer, frame)
                        self._counters["responses_sent"] += 1
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
    ) -> bytes:
        """Store a block (bytes are named raw CIDv1 unless told otherwise); returns its CID.
        Peers that want it are sent it."""
        return (await self.put_blocks([data], version=version, codec=codec))[0]

    async def put_blocks(
        self, blocks: Iterable[bytes | Block], *, version: int = 1, codec: int = RAW
    ) -> list[bytes]:
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
        self.core.blocks_stored(cids)
        for c, d in items:
            self._deliver(c, d, None)
        self._schedule()
        return cids

    async def add_file(self, path: str | os.PathLike[str], **importer_opts: Any) -> bytes:
        """Import a file as a UnixFS DAG (``fastswap.dag.import_file`` options, e.g.
        ``**KUBO_DEFAULTS``); returns the root CID. Peers that want its blocks get them."""
        from .dag import import_file

        self._check_running()
        store = self.store
        root = await asyncio.to_thread(import_file, store, os.fspath(path), **importer_opts)
        await self._announce_dag(root)
        return root

    async def add_car(self, path: str | os.PathLike[str]) -> list[bytes]:
        """Import the blocks of a CAR v1 file (each verified); returns its roots."""
        from .dag import import_car

        self._check_running()
        roots = await asyncio.to_thread(import_car, self.store, os.fspath(path))
        for r in roots:
            await self._announce_dag(r)
        return roots

    async def _announce_dag(self, root: bytes) -> None:
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
            self.core.blocks_stored(cids)
            self._schedule()

    # -- stats -----------------------------------------------------------------------------

    def stat(self) -> dict[str, Any]:
        """What the node is doing: peers, store, counters, and both engines' stats."""
        return {
            "peer_id": str(self.peer_id),
            "addrs": [str(a) for a in self.addrs],
            "peers": {str(p): v for p, v in self.core.peers.items()},
            "blocks": len(self.store),
            "waiting_for": len(self._waiters),
            "messages_received": self.net.messages_received,
            "messages_sent": self.net.messages_sent,
            "bytes_sent": self.net.bytes_sent,
            **self._counters,
            "client": self.client.stats(),
            "server": self.server.stats(),
        }
