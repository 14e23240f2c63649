"""The sans-IO driver core: one server engine and one client engine, fed events, giving typed
actions (ipfs/specs bitswap-protocol, "Bitswap 1.2.0 Interaction Pattern": a node serves and
fetches over the same connections).

Everything between the engines and I/O that is not I/O lives here, once, for every driver:
``fastswap.Node`` (asyncio sockets), the virtual network (simulated links on a virtual clock) and
the trio driver of ``fastswap.compat`` differ only in how they move bytes and keep time
(aioquic's ``QuicConnection`` beside its ``asyncio`` package is the model)::

    core = DriverCore(ServerEngine(store), ClientEngine())
    core.peer_connected(peer, "/ipfs/bitswap/1.2.0", now)
    events = core.message_received(peer, msg, now)      # the client's events, for metrics
    stop = core.listen(callback)       # notices for whoever sits above the driver (see below)
    for action in core.poll(now):                       # fastswap.events: dispatch on type
        ...                                             # (lazy: handle each before the next)
        ...
    resp = core.next_response(peer)                     # when ServePeer(peer) and writable
    msg = pack_response(core.version(peer), resp, datas)  # datas: the store's block data
    core.response_sent(peer, resp, now)

What the core decides, so that drivers cannot drift apart:

* which engine sees which part of a message: the server the wantlist (entries or ``full``), the
  client the blocks, presences and ``pendingBytes`` (a message carrying only a peer's wantlist
  tells the client nothing);
* what a received message asks of the driver: the new verified blocks a session wanted become
  one :class:`~fastswap.events.StoreBlocks`, blocks that cannot be verified and messages an
  engine refuses become :class:`~fastswap.events.PeerMisbehaved`;
* what a server response looks like on the wire for the peer's protocol version
  (:func:`pack_response`: presences and ``pendingBytes`` only for 1.2.0, field-2 blocks for
  1.0.0 and the bare id);
* the order of a poll: the client's wantlist messages, its content-routing queries, the peers
  the server has work for, then the next deadline;
* what the layer above a driver learns (:meth:`DriverCore.listen`): every client event of a
  received message (HAVE, DONT_HAVE, blocks), peers joining and leaving, blocks stored, as
  ``fastswap.events`` notices, whichever driver runs the core. An API with its own notion of
  waiting (``fastswap.compat``: "every connected peer said DONT_HAVE") needs no driver to pass
  events on.

Nothing here blocks, reads a clock or touches a socket: ``now`` is always the driver's.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from .errors import CIDError, FastswapError
from .events import (
    Action,
    BadBlock,
    BlockReceived,
    BlocksStored,
    ClientEngineContract,
    Deadline,
    Event,
    Listener,
    Notice,
    Peer,
    PeerJoined,
    PeerLeft,
    PeerMisbehaved,
    ResponseContract,
    SendMessage,
    ServePeer,
    ServerEngineContract,
    StoreBlocks,
)
from .message import DONT_HAVE, HAVE, BlockPresence, Message, wire_block
from .message.versions import BitswapVersion, version_of

__all__ = ["DriverCore", "pack_response"]

log = logging.getLogger("fastswap.core")

_INT32_MAX = 0x7FFFFFFF


def pack_response(version: BitswapVersion, resp: ResponseContract,
                  datas: Sequence[Any]) -> Message | None:
    """The message that carries *resp* to a peer speaking *version*: ``datas[i]`` is the block
    data of ``resp.blocks[i]`` (None if it vanished from the store since). None when nothing
    is left to say. Pure and thread-safe: ``Node`` calls it in a store reader thread, with
    zero-copy views that must not outlive the call's result being encoded."""
    legacy = not version.prefixed_blocks
    blocks = []
    for cid, data in zip(resp.blocks, datas):
        if data is None:
            continue  # deleted since the engine looked
        try:
            blocks.append(wire_block(cid, data, legacy=legacy))
        except CIDError:
            continue  # a CIDv1 block cannot travel over 1.0.0 (the server refuses such wants)
    if not version.presences:
        return Message(blocks=blocks) if blocks else None
    presences = [BlockPresence(c, HAVE) for c in resp.haves]
    presences += [BlockPresence(c, DONT_HAVE) for c in resp.dont_haves]
    if not blocks and not presences:
        return None
    pending = min(max(int(resp.pending_bytes), 0), _INT32_MAX)
    return Message(blocks=blocks, presences=presences, pending_bytes=pending)


class DriverCore:
    """Owns a server and a client engine (``fastswap.events`` has their contracts) and the
    peers they both know; see the module docstring."""

    def __init__(self, server: ServerEngineContract, client: ClientEngineContract) -> None:
        self.server = server
        self.client = client
        self._versions: dict[Peer, BitswapVersion] = {}
        self._actions: deque[Action] = deque()
        self._listeners: list[Listener] = []

    # -- peers -----------------------------------------------------------------------------

    @property
    def peers(self) -> dict[Peer, str]:
        """Connected peers and the protocol id each speaks (a copy)."""
        return {p: v.protocol_id for p, v in self._versions.items()}

    def version(self, peer: Peer) -> BitswapVersion | None:
        return self._versions.get(peer)

    def is_connected(self, peer: Peer) -> bool:
        return peer in self._versions

    def peer_connected(self, peer: Peer, protocol_id: str, now: float) -> bool:
        """*peer* speaks Bitswap *protocol_id* with us now; False if it already did."""
        if peer in self._versions:
            return False
        self._versions[peer] = version_of(protocol_id)
        self.server.peer_connected(peer, version=protocol_id)
        self.client.peer_connected(peer, now, version=protocol_id)
        if self._listeners:
            self._notify((PeerJoined(peer, protocol_id),))
        return True

    def peer_disconnected(self, peer: Peer, now: float) -> bool:
        """*peer*'s last connection is gone; False if it was not connected."""
        if self._versions.pop(peer, None) is None:
            return False
        self.server.peer_disconnected(peer)
        self.client.peer_disconnected(peer, now)
        if self._listeners:
            self._notify((PeerLeft(peer),))
        return True

    # -- listeners -------------------------------------------------------------------------

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call *listener* with every notice from now on (``fastswap.events.Notice``): each
        client event of a received message, a peer joining or leaving, blocks stored. Calls
        come synchronously, in the driver's thread, once the engines have taken in what the
        notice reports (a listener may read the core and drive it: ``want``, ``cancel``,
        ``close_session``); an exception in a listener is logged and does not stop the others
        or the driver. Returns a function that stops the calls."""
        self._listeners.append(listener)

        def stop() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return stop

    def _notify(self, notices: Iterable[Notice]) -> None:
        for notice in notices:
            for listener in list(self._listeners):
                try:
                    listener(notice)
                except Exception:
                    log.exception("a listener of the driver core failed on %r", notice)

    # -- receiving -------------------------------------------------------------------------

    def message_received(self, peer: Peer, msg: Message, now: float, *,
                         names: Sequence[Any] | None = None) -> list[Event]:
        """Feed a decoded message from *peer* to the engines. *names*: what
        ``client.engine.name_blocks(msg.blocks)`` returned, if the driver hashed the blocks
        itself (off its loop). Returns the client's events; the actions they imply are queued
        for :meth:`poll`."""
        try:
            if msg.entries or msg.full:
                self.server.receive_message(peer, msg, now)
            if not (msg.blocks or msg.presences or msg.pending_bytes):
                return []
            if names is None:
                events = self.client.receive_message(peer, msg, now)
            else:
                events = self.client.receive_message(peer, msg, now, names=names)
        except FastswapError as exc:
            # an engine refused the message; the peer's other messages still count
            self._actions.append(PeerMisbehaved(peer, "bad_message", str(exc)))
            return []
        store: list[tuple[bytes, Any]] = []
        for ev in events:
            if isinstance(ev, BlockReceived):
                if not ev.duplicate:
                    store.append((ev.cid, ev.data))
            elif isinstance(ev, BadBlock):
                self._actions.append(PeerMisbehaved(ev.peer, "bad_block", ev.reason))
        if store:
            self._actions.append(StoreBlocks(peer, store))
        if self._listeners and events:
            self._notify(events)
        return events

    def blocks_stored(self, cids: Iterable[bytes]) -> None:
        """Blocks are in the store now (received, imported or put): peers that want them are
        served them."""
        stored = tuple(cids)
        self.server.blocks_added(stored)
        if self._listeners:
            self._notify((BlocksStored(stored),))

    # -- serving ---------------------------------------------------------------------------

    def next_response(self, peer: Peer, max_bytes: int | None = None) -> Any:
        """The server's next response for *peer* (None if it has none or is not connected);
        pack it with :func:`pack_response` and report it with :meth:`response_sent`."""
        if peer not in self._versions:
            return None
        if max_bytes is None:
            return self.server.next_response(peer)
        return self.server.next_response(peer, max_bytes=max_bytes)

    def response_sent(self, peer: Peer, response: Any, now: float, *, sent: bool = True) -> None:
        """*response* was written (``sent``) or given up on (write failed, peer gone)."""
        self.server.response_sent(peer, response, now=now, sent=sent)

    # -- fetching (the application's side) -------------------------------------------------

    def new_session(self, now: float) -> int:
        return self.client.new_session(now)

    def want(self, session: int, cids: Sequence[bytes], now: float) -> None:
        self.client.want(session, cids, now)

    def cancel(self, session: int, cids: Iterable[bytes], now: float) -> None:
        self.client.cancel(session, cids, now)

    def close_session(self, session: int, now: float) -> None:
        self.client.close_session(session, now)

    def add_peers(self, session: int, peers: Iterable[Peer], now: float) -> None:
        """Content routing's answer to a FindProviders of *session*: these peers may help."""
        self.client.add_peers(session, peers, now)

    # -- time and output -------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        return self.client.next_deadline()

    def tick(self, now: float) -> None:
        """Time is *now*: time out wants, re-search lost ones (harmless when early)."""
        self.client.tick(now)

    def poll(self, now: float) -> Iterator[Action]:
        """Everything the driver must do now, in order, each action once. Lazy: what a message
        asked for (StoreBlocks, PeerMisbehaved) comes first, and the engines' output is
        computed only after the driver handled those, so blocks it stored meanwhile are served
        in this same poll (a synchronous driver stores them before it iterates on)."""
        queued = self._actions
        while queued:
            yield queued.popleft()
        for peer, msg in self.client.outgoing(now):
            yield SendMessage(peer, msg)
        yield from self.client.actions(now)
        versions = self._versions
        for peer in self.server.peers_with_work():
            if peer in versions:
                yield ServePeer(peer)
        while queued:
            yield queued.popleft()
        deadline = self.client.next_deadline()
        if deadline is not None:
            yield Deadline(deadline)

    def stats(self) -> dict[str, Any]:
        return {"client": self.client.stats(), "server": self.server.stats()}
