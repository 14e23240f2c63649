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
    core.pause_serving(peer) ... core.resume_serving(peer)  # optional: while a writer of the
                                                        # driver's own pulls the peer's responses

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
* the order of a poll: the client's wantlist messages, its own actions (content-routing
  queries, peers to drop for bad data, wants it gave up on), the peers the server has work
  for, then the next deadline;
* which blocks are worth hashing, and which peers to keep (below);
* what the layer above a driver learns (:meth:`DriverCore.listen`): every client event of a
  received message (HAVE, DONT_HAVE, blocks), peers joining and leaving, blocks stored, as
  ``fastswap.events`` notices, whichever driver runs the core. An API with its own notion of
  waiting (``fastswap.compat``: "every connected peer said DONT_HAVE") needs no driver to pass
  events on.

Blocks nobody asked for (:meth:`DriverCore.screen`)
    A driver hands every received message to :meth:`DriverCore.screen` before it hashes its
    blocks. If the client engine has nothing outstanding at the peer (``client.asking``), the
    blocks are dropped unhashed (a flooder's 2 MiB blocks cost no hashing and no place in the
    verifier's queue) and counted against the peer; its wantlist and presences still count.
    Messages of a refused peer are dropped whole.

Peer scores, and refusing peers
    Each peer carries a penalty (its score is minus that) that rises with what it made us
    waste, in points (``fastswap._defaults``, PEER_SCORE_*): a block we did not ask for or did
    not want costs its size in MiB (at least 1/256 point: floods of tiny blocks cost per block),
    a block that cannot be verified 10, a message an engine refused or a malformed frame 20.
    Duplicates (blocks we wanted a moment ago, from a race with a cancel) cost nothing. The
    penalty falls back by 1 point a second. At 100 points the core emits
    :class:`~fastswap.events.DisconnectPeer` with ``ban_seconds`` (600): the driver closes the
    peer's connections; meanwhile the core drops the peer's messages, refuses its
    ``peer_connected`` and emits ``DisconnectPeer`` again if it comes back. So an honest peer's
    late blocks after our cancels (a response or two in flight, a few MiB) never add up to a
    ban, while a flood of 10 GB in 30 s is refused within its first ~100 MiB. go-libp2p's
    connection gater and GossipSub's peer score are the models; boxo keeps no score (it closes
    a connection on a malformed message, which the network layer does too).
"""

from __future__ import annotations

import logging
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from . import _defaults as D
from .errors import CIDError, FastswapError
from .events import (
    Action,
    BadBlock,
    BlockReceived,
    BlocksStored,
    ClientEngineContract,
    Deadline,
    DisconnectPeer,
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
    WantFailed,
)
from .message import DONT_HAVE, HAVE, BlockPresence, Message, wire_block
from .message.versions import BitswapVersion, version_of

__all__ = ["DriverCore", "pack_response"]

log = logging.getLogger("fastswap.core")

_INT32_MAX = 0x7FFFFFFF
_MIB = 1024 * 1024

#: Points a misbehaviour costs (see the module docstring, "Peer scores"), by PeerMisbehaved kind.
PENALTIES = {"bad_block": D.PEER_SCORE_BAD_BLOCK, "bad_message": D.PEER_SCORE_BAD_MESSAGE,
             "bad_frame": D.PEER_SCORE_BAD_MESSAGE}


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
        # peer -> [penalty points, when last updated] (see "Peer scores")
        self._penalties: dict[Peer, list[float]] = {}
        # refused peers -> until when (driver clock); bounded, oldest forgotten first
        self._banned: OrderedDict[Peer, float] = OrderedDict()
        self._counters = dict.fromkeys(("blocks_unsolicited", "bytes_unsolicited",
                                        "blocks_unwanted", "peers_refused", "penalties"),
                                       0)
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

    def engaged(self, peer: Peer) -> bool:
        """Are we exchanging with *peer*: it wants blocks from us, or we want blocks of it?
        (What a driver tells its connection manager: such a peer is not idle.)"""
        return bool(self.server.has_wants(peer) or self.client.asking(peer))

    def peer_connected(self, peer: Peer, protocol_id: str, now: float) -> bool:
        """*peer* speaks Bitswap *protocol_id* with us now; False if it already did, or if the
        core refuses it (a :class:`DisconnectPeer` is queued then)."""
        if peer in self._versions:
            return False
        until = self.banned_until(peer, now)
        if until is not None:
            self._actions.append(DisconnectPeer(peer, "refused: its score fell below the "
                                                "threshold", until - now))
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
        rec = self._penalties.get(peer)
        if rec is not None and self._decayed(rec, now) <= 0.0:
            del self._penalties[peer]  # a peer with a clean record leaves no trace
        if self._listeners:
            self._notify((PeerLeft(peer),))
        return True

    # -- scores ----------------------------------------------------------------------------

    def score(self, peer: Peer, now: float) -> float:
        """*peer*'s score: 0 for a clean record, lower for each misbehaviour (recovering over
        time); the core refuses the peer at ``-PEER_SCORE_BAN_THRESHOLD``."""
        rec = self._penalties.get(peer)
        return 0.0 if rec is None else -self._decayed(rec, now)

    def banned_until(self, peer: Peer, now: float) -> float | None:
        """When the refusal of *peer* ends (driver clock), or None if it is not refused."""
        until = self._banned.get(peer)
        if until is None:
            return None
        if until <= now:
            del self._banned[peer]
            return None
        return until

    def penalise(self, peer: Peer, points: float, reason: str, now: float) -> None:
        """Lower *peer*'s score by *points* for *reason* (a driver's own observations: a
        malformed frame, an overflowing inbox); at the threshold, refuse the peer."""
        if points <= 0.0 or peer in self._banned:
            return
        self._counters["penalties"] += 1
        rec = self._penalties.get(peer)
        if rec is None:
            if len(self._penalties) >= D.PEER_SCORE_MAX_RECORDS:
                self._forget_penalties(now)
            rec = self._penalties[peer] = [0.0, now]
        rec[0] = self._decayed(rec, now) + points
        rec[1] = now
        if rec[0] >= D.PEER_SCORE_BAN_THRESHOLD:
            del self._penalties[peer]
            secs = D.PEER_SCORE_BAN_SECONDS
            self._banned[peer] = now + secs
            self._banned.move_to_end(peer)
            while len(self._banned) > D.PEER_SCORE_MAX_BANNED:
                self._banned.popitem(last=False)
            self._counters["peers_refused"] += 1
            self._actions.append(DisconnectPeer(peer, f"score below -{D.PEER_SCORE_BAN_THRESHOLD:g}"
                                                f" (last: {reason})", secs))

    @staticmethod
    def _decayed(rec: list[float], now: float) -> float:
        return max(0.0, rec[0] - max(0.0, now - rec[1]) * D.PEER_SCORE_RECOVERY_PER_SECOND)

    def _forget_penalties(self, now: float) -> None:
        # bounded memory: drop the records that have recovered, then the smallest ones
        recs = self._penalties
        for p in [p for p, r in recs.items() if self._decayed(r, now) <= 0.0]:
            del recs[p]
        if len(recs) >= D.PEER_SCORE_MAX_RECORDS:
            for p in sorted(recs, key=lambda p: self._decayed(recs[p], now))[:len(recs) // 2]:
                del recs[p]

    # -- listeners -------------------------------------------------------------------------

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call *listener* with every notice from now on (``fastswap.events.Notice``): each
        client event of a received message, a peer joining or leaving, blocks stored, a want the
        client gave up on (:class:`~fastswap.events.WantFailed`, as :meth:`poll` yields it). Calls
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

    def screen(self, peer: Peer, msg: Message, now: float) -> Message | None:
        """What of *msg* from *peer* is worth handling, before its blocks are hashed (see
        "Blocks nobody asked for"): None for a refused peer; *msg* without its blocks if we
        ask *peer* for nothing (counted against it); else *msg* itself."""
        if self._banned and self.banned_until(peer, now) is not None:
            return None
        blocks = msg.blocks
        if not blocks or self.client.asking(peer):
            return msg
        nbytes = 0
        points = 0.0
        floor = D.PEER_SCORE_MIN_BLOCK_POINTS
        for _prefix, data in blocks:
            n = len(data)
            nbytes += n
            points += max(floor, n / _MIB * D.PEER_SCORE_UNWANTED_POINTS_PER_MIB)
        c = self._counters
        c["blocks_unsolicited"] += len(blocks)
        c["bytes_unsolicited"] += nbytes
        self.penalise(peer, points, f"{len(blocks)} blocks ({nbytes} bytes) we did not ask "
                      "for", now)
        return Message(msg.entries, msg.full, (), msg.presences, msg.pending_bytes)

    def message_received(self, peer: Peer, msg: Message, now: float, *,
                         names: Sequence[Any] | None = None) -> list[Event]:
        """Feed a decoded message from *peer* to the engines. *names*: what
        ``client.engine.name_blocks(msg.blocks)`` returned, if the driver hashed the blocks
        itself (off its loop). Returns the client's events; the actions they imply are queued
        for :meth:`poll`."""
        if self._banned and self.banned_until(peer, now) is not None:
            return []  # in the driver's pipeline since before the refusal: dropped
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
            self._misbehaved(peer, "bad_message", str(exc), now)
            return []
        store: list[tuple[bytes, Any]] = []
        used = 0  # blocks and bytes that were wanted, duplicates or refused as bad
        used_bytes = 0
        for ev in events:
            if isinstance(ev, BlockReceived):
                used += 1
                used_bytes += len(ev.data)
                if not ev.duplicate:
                    store.append((ev.cid, ev.data))
            elif isinstance(ev, BadBlock):
                used += 1
                self._misbehaved(ev.peer, "bad_block", ev.reason, now)
        if store:
            self._actions.append(StoreBlocks(peer, store))
        unwanted = len(msg.blocks) - used
        if unwanted > 0:
            # hashed, but named no CID we wanted (forged data names itself): waste
            nbytes = sum(len(d) for _, d in msg.blocks) - used_bytes
            self._counters["blocks_unwanted"] += unwanted
            self.penalise(peer, max(unwanted * D.PEER_SCORE_MIN_BLOCK_POINTS,
                                    nbytes / _MIB * D.PEER_SCORE_UNWANTED_POINTS_PER_MIB),
                          f"{unwanted} blocks nobody wanted", now)
        if self._listeners and events:
            self._notify(events)
        return events

    def frame_refused(self, peer: Peer, reason: str, now: float) -> None:
        """The driver's network layer refused a frame of *peer* (malformed, oversized). For a
        driver whose host keeps no score of its own (py-libp2p's: the trio driver); fastswap's
        host penalises such a peer itself, so ``Node`` does not call this (one penalty a
        misdeed)."""
        self.penalise(peer, PENALTIES["bad_frame"], f"bad frame: {reason}", now)

    def _misbehaved(self, peer: Peer, kind: str, detail: str, now: float) -> None:
        self._actions.append(PeerMisbehaved(peer, kind, detail))
        self.penalise(peer, PENALTIES[kind], detail, now)

    def blocks_stored(self, cids: Iterable[bytes], now: float | None = None) -> None:
        """Blocks are in the store now (received, imported or put): peers that want them are
        served them. *now* starts the wait of those answers (the server's task-wait
        histogram); without it they are not measured."""
        stored = tuple(cids)
        self.server.blocks_added(stored, now)
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

    def pause_serving(self, peer: Peer) -> None:
        """The driver pulls *peer*'s responses by itself for now (a writer of its own runs, and
        calls :meth:`next_response` until it returns None): no ServePeer for *peer*, and no
        refill of its levelled answers, until :meth:`resume_serving`. A driver that does not
        say so loses nothing but the saving; a server engine without ``pause``/``resume``
        lists the peer as before."""
        pause = getattr(self.server, "pause", None)
        if pause is not None:
            pause(peer)

    def resume_serving(self, peer: Peer) -> None:
        resume = getattr(self.server, "resume", None)
        if resume is not None:
            resume(peer)

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

    def received_actions(self) -> Iterator[Action]:
        """Only what received messages asked for so far (StoreBlocks, PeerMisbehaved,
        DisconnectPeer), each once, without computing the engines' output: for a driver that
        acts on a message's blocks at once (its store backpressure) and polls in full soon
        after. :meth:`poll` yields these first anyway."""
        queued = self._actions
        while queued:
            yield queued.popleft()

    def poll(self, now: float) -> Iterator[Action]:
        """Everything the driver must do now, in order, each action once. Lazy: what a message
        asked for (StoreBlocks, PeerMisbehaved) comes first, and the engines' output is
        computed only after the driver handled those, so blocks it stored meanwhile are served
        in this same poll (a synchronous driver stores them before it iterates on)."""
        yield from self.received_actions()
        for peer, msg in self.client.outgoing(now):
            yield SendMessage(peer, msg)
        for action in self.client.actions(now):
            if self._listeners and isinstance(action, WantFailed):
                self._notify((action,))  # the layer above may wait for it too
            yield action
        versions = self._versions
        for peer in self.server.peers_with_work():
            if peer in versions:
                yield ServePeer(peer)
        yield from self.received_actions()  # queued while the driver acted on the above
        deadline = self.client.next_deadline()
        if deadline is not None:
            yield Deadline(deadline)

    def peer_stats(self) -> dict[str, int]:
        """Blocks and bytes dropped unhashed (unsolicited) or found unwanted, penalties given
        and peers refused so far, and the peers with a penalty or a refusal now."""
        return {**self._counters, "penalised": len(self._penalties),
                "refused": len(self._banned)}

    def stats(self) -> dict[str, Any]:
        return {"client": self.client.stats(), "server": self.server.stats(),
                "peers": self.peer_stats()}
