"""The trio driver: fastswap's Bitswap engines on a py-libp2p host (ipfs/specs
bitswap-protocol, "Bitswap 1.2.0 Interaction Pattern": a node serves and fetches over the same
connections).

Like ``fastswap.Node`` on asyncio, this module only does I/O and keeps time; everything else is
the shared :class:`~fastswap.core.DriverCore` (``fastswap.events`` says what flows)::

    driver = TrioDriver(host, store)     # store: a fastswap.compat.libp2p BlockStore
    await driver.start()                 # or start(nursery)
    fetch = await driver.fetch(cids, peer=None, timeout=30)
    await driver.stop()

I/O, and where it differs from py-libp2p's own Bitswap (the spec's behaviour):

* connections: a network notifee; when a peer connects we open *our own* Bitswap stream to it
  (its negotiated protocol is the peer's version) and only then is the peer
  ``core.peer_connected``. Everything we send to a peer -- wantlists and responses -- goes on
  that one long-lived stream. py-libp2p answers on the requester's stream, which Kubo and Helia
  ignore; we also read our own stream, so py-libp2p's answers there still arrive.
* receiving: every Bitswap stream a peer opens (and ours) is read frame by frame
  (:class:`fastswap.message.FrameDecoder`, 4 MiB messages, 2 MiB blocks); a malformed frame
  resets that stream and counts against the peer (``core.frame_refused``). ``core.screen``
  first: blocks of a peer we ask nothing of are dropped unhashed, a refused peer's messages
  whole. Blocks of a large message are named (hashed: the verification) in a worker thread
  while trio goes on. Then ``core.message_received`` and a pass over ``core.poll``.
* refusing: on ``DisconnectPeer`` (bad data, a score past the threshold) the peer's
  connections are closed (``host.disconnect``); the core refuses it for ``ban_seconds`` (its
  messages dropped, and a reconnection is closed again). A want the client gave up on
  (``WantFailed``) reaches the waiting fetch through the WantBook, which listens to the core.
* storing: ``StoreBlocks`` is committed synchronously to a store with a fastswap Blockstore
  behind it (``MemoryBlockStore``, ``FilesystemBlockStore``, ``LmdbBlockStore``); any other
  ``BlockStore`` is written through its async ``put_block`` in a task, and readers wait while
  more than ``NODE_MAX_UNSTORED_BYTES`` are unstored. Then ``core.blocks_stored`` (peers that
  want them are served) and the waiting fetches get them.
* serving: a writer task per peer sends the client's messages first, then the server's responses
  (``core.next_response`` -> block data from the store -> ``pack_response`` -> one frame). The
  server engine learns block sizes from the store; for a store reached only through async
  methods, the sizes of the CIDs a peer wants are looked up before its message reaches the
  engine (at most ``SERVER_MAX_WANTLIST_ENTRIES_PER_PEER`` a message) and cached.
* time: ``trio.current_time()`` (so trio's mock clocks drive the engines too); one pump task
  sleeps until the core's next ``Deadline`` or until something changed.

Tasks run in the nursery given to :meth:`TrioDriver.start`, or else in a trio system task (a
py-libp2p program may never hand its ``BitswapClient`` a nursery).
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

import trio
import trio.lowlevel

from .. import _defaults
from ..blockstore import with_identity
from ..client.engine import ClientConfig, ClientEngine, name_blocks
from ..core import DriverCore, pack_response
from ..errors import FastswapError, MessageError
from ..events import (
    Deadline,
    DisconnectPeer,
    FindProviders,
    PeerMisbehaved,
    SendMessage,
    ServePeer,
    StoreBlocks,
    WantFailed,
)
from ..message import (
    FrameDecoder,
    Message,
    decode_message,
    encode_message_parts,
    frame_length_prefix,
)
from ..message.versions import BITSWAP_PROTOCOLS, version_of
from ..net.keys import PeerId
from ..server.engine import ServerEngine
from ._wants import Fetch, WantBook

__all__ = ["TrioDriver"]

log = logging.getLogger("fastswap.compat")

#: how much a stream reader asks py-libp2p for at a time
_READ_SIZE = 1 << 20
#: a misbehaving peer is logged at most once per this many seconds (every case is counted)
_LOG_INTERVAL = 10.0


class _SizeIndex:
    """The server engine's view of a store reached only through async methods: the sizes of
    blocks known to be stored (filled by the driver), ``get_sizes`` as the engine asks it."""

    def __init__(self) -> None:
        self.sizes: dict[bytes, int] = {}

    def get_sizes(self, cids: Sequence[bytes]) -> list[int | None]:
        get = self.sizes.get
        return [get(c) for c in cids]


class _Notifee:
    """py-libp2p's INotifee interface, forwarding connection events to the driver (each call
    only schedules work: the swarm awaits notifees on its event path)."""

    def __init__(self, driver: TrioDriver) -> None:
        self._driver = driver

    async def opened_stream(self, network: Any, stream: Any) -> None:
        pass

    async def closed_stream(self, network: Any, stream: Any) -> None:
        pass

    async def connected(self, network: Any, conn: Any) -> None:
        peer = _conn_peer(conn)
        if peer is not None:
            self._driver._spawn(self._driver._open_peer, peer)

    async def disconnected(self, network: Any, conn: Any) -> None:
        peer = _conn_peer(conn)
        if peer is None:
            return
        try:
            left = network.get_connections(peer)
        except Exception:  # noqa: BLE001 - a host without the call: treat the peer as gone
            left = None
        if not left:
            self._driver._peer_gone(peer)

    async def listen(self, network: Any, multiaddr: Any) -> None:
        pass

    async def listen_close(self, network: Any, multiaddr: Any) -> None:
        pass


def _conn_peer(conn: Any) -> Any:
    muxed = getattr(conn, "muxed_conn", None)
    return getattr(muxed, "peer_id", None)


def _frame(msg: Message) -> bytes:
    parts = encode_message_parts(msg)
    return b"".join([frame_length_prefix(sum(len(p) for p in parts)), *parts])


class TrioDriver:
    """The Bitswap engines on a py-libp2p host under trio; see the module docstring.

    *store* is a ``fastswap.compat.libp2p`` ``BlockStore`` (or any object with its async
    methods). *provider_query* is py-libp2p's ``ProviderQueryManager`` or anything with an async
    ``find_providers_single(cid, timeout=)`` returning peer ids: asked when the connected
    peers cannot serve a want.
    """

    def __init__(self, host: Any, store: Any, *, protocols: Sequence[str] = BITSWAP_PROTOCOLS,
                 provider_query: Any = None, client_config: ClientConfig | None = None,
                 server_config: Any = None) -> None:
        self.host = host
        self.store = store
        self.protocols = list(protocols)
        self.provider_query = provider_query
        sync = store._blockstore() if hasattr(store, "_blockstore") else None
        # identity CIDs answered from the CID (a peer's want for one too), as Node's store
        self._sync = None if sync is None else with_identity(sync)
        self._index: _SizeIndex | None = None if self._sync is not None else _SizeIndex()
        if client_config is None:
            # each node its own order of waiting wants (see fastswap.Node: leechers can trade)
            client_config = ClientConfig(order_seed=int.from_bytes(os.urandom(8), "big"))
        self.core = DriverCore(
            ServerEngine(self._sync if self._sync is not None else self._index,
                         config=server_config),
            ClientEngine(config=client_config),
        )
        self.book = WantBook(self.core, self._now)
        self.counters = {"bad_blocks": 0, "bad_messages": 0, "bad_frames": 0,
                         "blocks_stored": 0, "bytes_stored": 0, "responses_sent": 0,
                         "messages_received": 0, "peers_disconnected": 0}
        self._notifee = _Notifee(self)
        self._nursery: trio.Nursery | None = None
        self._done: trio.Event | None = None
        self._cancel: trio.CancelScope | None = None
        self._wake = trio.Event()
        self._deadline: float | None = None
        self._pump_deadline = math.inf  # what the pump sleeps until
        self._streams: dict[Any, Any] = {}  # our outbound Bitswap stream per peer
        self._opening: dict[Any, trio.Event] = {}
        self._msgs: dict[Any, deque[Message]] = {}
        self._writing: set[Any] = set()
        self._finding: set[int] = set()
        self._unstored = 0
        self._store_room = trio.Event()
        self._store_room.set()
        self._logged: dict[tuple[Any, str], float] = {}
        self.started = False
        self.stopped = False

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self, nursery: trio.Nursery | None = None) -> None:
        """Register the Bitswap protocols and the notifee, and start the driver's tasks in
        *nursery* (else a system task). Peers already connected get our stream now."""
        if self.started:
            return
        self.started = True
        for proto in self.protocols:
            self.host.set_stream_handler(proto, self._handle_stream)
        try:
            self.host.get_network().register_notifee(self._notifee)
        except Exception as exc:  # noqa: BLE001 - a host without notifees still serves
            log.debug("cannot register a network notifee: %s", exc)
        self._done = trio.Event()
        if nursery is not None:
            nursery.start_soon(self._service)
        else:
            trio.lowlevel.spawn_system_task(self._service)
        while self._nursery is None and not self._done.is_set():
            await trio.lowlevel.checkpoint()
        for peer in self._connected_hosts():
            self._spawn(self._open_peer, peer)

    async def stop(self) -> None:
        """Cancel every task of the driver and wait for them; unregister from the host."""
        if not self.started or self.stopped:
            return
        self.stopped = True
        for proto in self.protocols:
            try:
                self.host.remove_stream_handler(proto)
            except Exception as exc:  # noqa: BLE001 - older hosts have no remove call
                log.debug("cannot remove the %s handler: %s", proto, exc)
        try:
            self.host.get_network().remove_notifee(self._notifee)
        except Exception as exc:  # noqa: BLE001 - see start()
            log.debug("cannot remove the network notifee: %s", exc)
        self.book.close()
        if self._cancel is not None:
            self._cancel.cancel()
        if self._done is not None:
            with trio.move_on_after(10):
                await self._done.wait()
        for stream in list(self._streams.values()):
            await _close(stream)
        self._streams.clear()
        self._wake.set()

    async def _service(self) -> None:
        try:
            with trio.CancelScope() as scope:
                self._cancel = scope
                if self.stopped:
                    scope.cancel()
                async with trio.open_nursery() as nursery:
                    self._nursery = nursery
                    nursery.start_soon(self._pump)
        except Exception:
            log.exception("the Bitswap driver failed")
        finally:
            self._nursery = None
            assert self._done is not None
            self._done.set()

    def _spawn(self, fn: Any, *args: Any) -> None:
        if self._nursery is not None and not self.stopped:
            self._nursery.start_soon(self._guard, fn, *args)

    async def _guard(self, fn: Any, *args: Any) -> None:
        try:
            await fn(*args)
        except Exception:
            log.exception("Bitswap driver task %s failed", getattr(fn, "__name__", fn))

    def _now(self) -> float:
        return trio.current_time()

    # -- peers -----------------------------------------------------------------------------

    def _connected_hosts(self) -> list[Any]:
        try:
            return list(self.host.get_connected_peers())
        except Exception:  # noqa: BLE001 - a host that cannot list peers has none to greet
            return []

    @property
    def peers(self) -> list[Any]:
        return list(self.core.peers)

    async def _open_peer(self, peer: Any) -> None:
        try:
            await self._outbound(peer)
        except Exception as exc:  # noqa: BLE001 - py-libp2p raises many kinds here
            log.info("no Bitswap stream to %s: %s", peer, exc)

    async def _outbound(self, peer: Any) -> Any:
        """Our Bitswap stream to *peer*, opened (and the peer connected to the core) if
        needed."""
        stream = self._streams.get(peer)
        if stream is not None:
            return stream
        opening = self._opening.get(peer)
        if opening is not None:
            await opening.wait()
            stream = self._streams.get(peer)
            if stream is None:
                raise FastswapError(f"no Bitswap stream to {peer}")
            return stream
        opening = self._opening[peer] = trio.Event()
        try:
            stream = await self.host.new_stream(peer, self.protocols)
            if self.stopped:
                await _close(stream)
                raise FastswapError("the Bitswap driver is stopped")
            self._streams[peer] = stream
            protocol = str(stream.get_protocol())
            self._spawn(self._read_loop, peer, stream, True)
            self.core.peer_connected(peer, protocol, self._now())
            self._kick()  # new work, or the core refused it (a DisconnectPeer to carry out)
            return stream
        finally:
            del self._opening[peer]
            opening.set()

    async def _hang_up(self, peer: Any) -> None:
        """Close every connection of *peer* (the core dropped it: DisconnectPeer)."""
        self._peer_gone(peer)
        try:
            await self.host.disconnect(peer)
        except Exception as exc:  # noqa: BLE001 - py-libp2p raises many kinds here
            log.info("cannot disconnect %s: %s", peer, exc)

    def _peer_gone(self, peer: Any) -> None:
        stream = self._streams.pop(peer, None)
        if stream is not None:
            self._spawn(_close, stream)
        self._msgs.pop(peer, None)
        if self.core.peer_disconnected(peer, self._now()):
            self._kick()

    async def ensure_peer(self, peer: Any) -> bool:
        """Dial *peer* if the host knows addresses for it, and open our stream; True if it
        speaks Bitswap with us now."""
        if self.core.is_connected(peer):
            return True
        try:
            if peer not in self._connected_hosts():
                from libp2p.peer.peerinfo import PeerInfo

                addrs = self.host.get_peerstore().addrs(peer)
                if not addrs:
                    return False
                await self.host.connect(PeerInfo(peer, addrs))
            await self._outbound(peer)
        except Exception as exc:  # noqa: BLE001 - py-libp2p raises many kinds here
            log.info("cannot reach %s for Bitswap: %s", peer, exc)
            return False
        return self.core.is_connected(peer)

    # -- receiving -------------------------------------------------------------------------

    async def _handle_stream(self, stream: Any) -> None:
        """A Bitswap stream the peer opened: its protocol tells the peer's version if we have
        not opened ours yet; then read it."""
        peer = stream.muxed_conn.peer_id
        if not self.core.is_connected(peer) and not self.stopped:
            self.core.peer_connected(peer, str(stream.get_protocol()), self._now())
            self._kick()  # new work, or the core refused it (a DisconnectPeer to carry out)
            self._spawn(self._open_peer, peer)
        await self._read_loop(peer, stream, False)

    async def _read_loop(self, peer: Any, stream: Any, ours: bool) -> None:
        decoder = FrameDecoder(max_message_size=_defaults.MAX_MESSAGE_SIZE)
        try:
            while not self.stopped:
                try:
                    data = await stream.read(_READ_SIZE)
                except Exception:  # noqa: BLE001 - EOF, reset, closed: the stream is done
                    break
                if not data:
                    break
                for payload in decoder.feed(data):
                    msg = decode_message(payload)
                    await self._on_message(peer, msg)
        except MessageError as exc:
            self.counters["bad_frames"] += 1
            self._log_peer(peer, "bad_frame", str(exc))
            self.core.frame_refused(peer, str(exc), self._now())
            self._pass()
            await _reset(stream)
            return
        if not ours:
            await _close(stream)

    async def _on_message(self, peer: Any, msg: Message) -> None:
        self.counters["messages_received"] += 1
        # blocks of a peer we ask nothing of are dropped unhashed; a refused peer's all of it
        screened = self.core.screen(peer, msg, self._now())
        if screened is None:
            return
        msg = screened
        names = None
        if msg.blocks and sum(len(d) for _, d in msg.blocks) >= _defaults.NODE_VERIFY_OFFLOAD_BYTES:
            # hashing (the verification) in a worker thread: hashlib releases the GIL
            names = await trio.to_thread.run_sync(
                name_blocks, msg.blocks, self.core.client.config.max_block_size)
        if self._index is not None and msg.entries:
            await self._index_wants(msg)
        if self.stopped:
            return
        if not self.core.is_connected(peer):
            return  # the peer's last connection closed while we read
        # HAVE and DONT_HAVE reach the WantBook through the core (it listens)
        self.core.message_received(peer, msg, self._now(), names=names)
        self._pass()
        while self._unstored > _defaults.NODE_MAX_UNSTORED_BYTES and not self.stopped:
            # backpressure: this reader waits for the async store to catch up
            self._store_room = trio.Event()
            await self._store_room.wait()

    async def _index_wants(self, msg: Message) -> None:
        """Learn the sizes of the wanted blocks an async-only store holds (the server engine
        asks sizes synchronously)."""
        assert self._index is not None
        sizes = self._index.sizes
        budget = _defaults.SERVER_MAX_WANTLIST_ENTRIES_PER_PEER
        for entry in msg.entries:
            cid = bytes(entry.cid)
            if entry.cancel or cid in sizes:
                continue
            if budget <= 0:
                break
            budget -= 1
            try:
                data = await self.store.get_block(cid)
            except Exception as exc:  # noqa: BLE001 - the caller's store: any failure = absent
                log.debug("block store lookup failed: %s", exc)
                continue
            if data is not None:
                sizes[cid] = len(data)

    # -- the pass: actions -> I/O ----------------------------------------------------------

    def _kick(self) -> None:
        self._wake.set()

    async def _pump(self) -> None:
        while True:
            deadline = self._deadline if self._deadline is not None else math.inf
            self._pump_deadline = deadline
            with trio.move_on_at(deadline):
                await self._wake.wait()
            self._wake = trio.Event()
            self._pass()

    def _pass(self) -> None:
        """Carry out everything the core asks now (``fastswap.events``: dispatch on type)."""
        if self.stopped:
            return
        core = self.core
        now = self._now()
        deadline = core.next_deadline()
        if deadline is not None and deadline <= now:
            core.tick(now)
        self._deadline = None
        for action in core.poll(now):
            match action:
                case SendMessage(peer, msg):
                    self._msgs.setdefault(peer, deque()).append(msg)
                    self._write(peer)
                case ServePeer(peer):
                    self._write(peer)
                case StoreBlocks(_, blocks):
                    self._store(blocks)
                case FindProviders(cid, session):
                    if self.provider_query is not None and session not in self._finding:
                        self._finding.add(session)
                        self._spawn(self._find_providers, session, cid)
                case PeerMisbehaved(peer, kind, detail):
                    self.counters["bad_blocks" if kind == "bad_block" else "bad_messages"] += 1
                    self._log_peer(peer, kind, detail)
                case DisconnectPeer(peer, reason, secs):
                    # the core refuses it for secs (its messages dropped, its reconnection
                    # refused and closed again); py-libp2p's host has no ban of its own
                    self.counters["peers_disconnected"] += 1
                    log.warning("disconnecting %s for %.0f s: %s", peer, secs, reason)
                    self._spawn(self._hang_up, peer)
                case WantFailed():
                    pass  # the WantBook hears it from the core (a listener) and fails the fetch
                case Deadline(when):
                    self._deadline = when
                    if when < self._pump_deadline:
                        # a pass outside the pump (a message, a fetch) set a nearer deadline
                        # than the pump sleeps until: wake it to sleep until this one
                        self._kick()

    def _log_peer(self, peer: Any, kind: str, detail: str) -> None:
        now = time.monotonic()
        key = (peer, kind)
        if now - self._logged.get(key, -math.inf) >= _LOG_INTERVAL:
            self._logged[key] = now
            if len(self._logged) > 4096:
                self._logged.clear()
            log.warning("%s from %s: %s (further ones counted, logged every %.0f s)",
                        kind.replace("_", " "), peer, detail, _LOG_INTERVAL)

    def _store(self, blocks: list[tuple[bytes, Any]]) -> None:
        if self._sync is not None:
            items = [(c, bytes(d)) for c, d in blocks]
            self._sync.put_many(items)
            self._stored(items)
            return
        items = [(c, bytes(d)) for c, d in blocks]
        self._unstored += sum(len(d) for _, d in items)
        self._spawn(self._store_async, items)

    async def _store_async(self, items: list[tuple[bytes, bytes]]) -> None:
        try:
            for cid, data in items:
                await self.store.put_block(cid, data)
                assert self._index is not None
                self._index.sizes[cid] = len(data)
        finally:
            self._unstored -= sum(len(d) for _, d in items)
            if self._unstored <= _defaults.NODE_MAX_UNSTORED_BYTES:
                self._store_room.set()
        self._stored(items)
        self._kick()

    def _stored(self, items: list[tuple[bytes, bytes]]) -> None:
        self.counters["blocks_stored"] += len(items)
        self.counters["bytes_stored"] += sum(len(d) for _, d in items)
        if not self.stopped:
            # peers that want them are served; fetches waiting for them settle (WantBook)
            self.core.blocks_stored([c for c, _ in items])

    async def _find_providers(self, session: int, cid: bytes) -> None:
        assert self.provider_query is not None
        try:
            found = await self.provider_query.find_providers_single(cid, timeout=5.0)
            peers = [p for p in found or () if await self.ensure_peer(p)]
            if peers and not self.stopped:
                self.core.add_peers(session, peers, self._now())
                self._kick()
        except Exception as exc:  # noqa: BLE001 - routing failures only mean "no providers"
            log.info("provider query for a want failed: %s", exc)
        finally:
            self._finding.discard(session)

    # -- sending ---------------------------------------------------------------------------

    def _write(self, peer: Any) -> None:
        if peer not in self._writing and not self.stopped:
            self._writing.add(peer)
            self._spawn(self._writer, peer)

    async def _writer(self, peer: Any) -> None:
        """The client's messages first (small, they unblock data), then the server's
        responses, until neither has more."""
        core = self.core
        try:
            stream = await self._outbound(peer)
            version = core.version(peer) or version_of(self.protocols[0])
            while not self.stopped:
                msgs = self._msgs.get(peer)
                while msgs:
                    await stream.write(_frame(msgs.popleft()))
                resp = core.next_response(peer)
                if resp is None:
                    break
                sent = False
                try:
                    msg = pack_response(version, resp, await self._read_blocks(resp.blocks))
                    if msg is not None:
                        await stream.write(_frame(msg))
                        self.counters["responses_sent"] += 1
                    sent = True
                finally:
                    core.response_sent(peer, resp, self._now(), sent=sent)
        except Exception as exc:  # noqa: BLE001 - stream errors of any kind end this writer
            log.info("sending to %s failed: %s", peer, exc)
        finally:
            self._writing.discard(peer)
            if self._msgs.get(peer) and core.is_connected(peer) and not self.stopped:
                self._write(peer)

    async def _read_blocks(self, cids: Sequence[bytes]) -> list[Any]:
        if not cids:
            return []
        if self._sync is not None:
            return self._sync.get_many(cids)
        return [await self.store.get_block(c) for c in cids]

    # -- the application's side ------------------------------------------------------------

    def added(self, items: Iterable[tuple[bytes, bytes]]) -> None:
        """Blocks the application put in the store: waiting fetches get them and peers that
        want them are served."""
        items = list(items)
        if self._index is not None:
            for cid, data in items:
                self._index.sizes[cid] = len(data)
        if not self.stopped:
            self.core.blocks_stored([c for c, _ in items])
            self._kick()

    def want_background(self, cids: Sequence[bytes]) -> None:
        """Keep wanting *cids* (``BitswapClient.want_block``) until they arrive (stored like
        any received block) or :meth:`cancel_background`."""
        self.book.want_background(cids)
        self._pass()

    def cancel_background(self, cids: Sequence[bytes]) -> None:
        if not self.stopped:
            self.book.cancel_background(cids)
            self._pass()

    async def fetch(self, cids: Sequence[bytes], peer: Any = None,
                    timeout: float = math.inf, *, presence_only: bool = False) -> Fetch:
        """Want *cids* (binary, unique) in a session of their own until each arrived or is
        unavailable, or *timeout* seconds passed; returns the :class:`Fetch`. *peer*: try it
        first (dialled if the host knows its addresses). ``presence_only``: settle a CID when a
        peer (*peer*, if given) says HAVE, with no data."""
        peer = _libp2p_peer(peer)
        changed = [trio.Event()]
        fetch = self.book.open(cids, lambda: changed[0].set(), presence_only=presence_only,
                               peer=peer,
                               stored=None if self._sync is None else self._sync.has_many)
        try:
            with trio.move_on_after(timeout):
                peers = [peer] if peer is not None and await self.ensure_peer(peer) else []
                if not self.stopped:
                    self.book.want(fetch, peers)
                    self._pass()
                while not fetch.settled and not self.stopped:
                    await changed[0].wait()
                    changed[0] = trio.Event()
        finally:
            self.book.close_fetch(fetch)
            self._pass()
        return fetch


def _libp2p_peer(peer: Any) -> Any:
    """*peer* as py-libp2p's peer id (the host's, and so the core's, key): a fastswap
    ``PeerId`` (from fastswap's host, in a mixed program) or its text is converted; anything
    else is taken as the host's own."""
    if not isinstance(peer, PeerId | str):
        return peer
    from libp2p.peer.id import ID

    return ID(bytes(PeerId.parse(peer)))


async def _close(stream: Any) -> None:
    try:
        await stream.close()
    except Exception:  # noqa: BLE001, S110 - best-effort cleanup of a stream that may be dead
        pass


async def _reset(stream: Any) -> None:
    try:
        await stream.reset()
    except Exception:  # noqa: BLE001, S110 - best-effort cleanup of a stream that may be dead
        pass
