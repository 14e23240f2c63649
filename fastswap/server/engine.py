"""The Bitswap server's decision engine: peers' wantlists in, responses out (sans-IO).

Spec: ipfs/specs bitswap-protocol, "Bitswap 1.0.0/1.1.0/1.2.0" (wantlist entries with priority,
cancel, wantType and sendDontHave; responses with blocks, blockPresences and pendingBytes) and
go-bitswap PR #186 (want-have, DONT_HAVE). The policy follows boxo's
``bitswap/server/internal/decision/engine.go``, written anew; where we differ, it says why.

No I/O, no clocks, no threads: the driver (``fastswap.Node``) feeds events in —
:meth:`ServerEngine.peer_connected`, :meth:`receive_message`, :meth:`blocks_added`,
:meth:`response_sent` — and asks for work: :meth:`peers_with_work` then :meth:`next_response`.
It reads the data of ``response.blocks`` from the store itself (zero-copy views), encodes the
message and writes it. The engine only asks the store ``get_sizes`` (cheap, synchronous).

Policy
======

Wantlists (one per peer, in its ledger)
    * ``full`` replaces the peer's wantlist: entries not in the new message are dropped with their
      queued tasks. (boxo clears the ledger's wantlist the same way.)
    * A cancel removes the entry and its queued task. A block already handed to the driver is
      not recalled (it is on its way).
    * want-block supersedes want-have: a want-have for a CID wanted as want-block changes
      nothing; a want-block for a want-have entry upgrades it (new priority, send_dont_have if
      either asked), and the queued HAVE task becomes a BLOCK task (the task queue merges them).
      Re-sending the same want keeps the entry as it is (boxo) but queues its answer again: a
      re-sent wantlist is how a peer retries, and the task queue drops duplicates of what is
      queued or in flight.
    * Peers speaking 1.0.0/1.1.0 (or bare ``/ipfs/bitswap``) know no want-have and no presences:
      every entry of theirs is a want-block without send_dont_have. A 1.0.0 peer can only receive
      CIDv0 blocks (its messages carry no CID prefix), so its wants for other CIDs are dropped
      and counted (``unservable_wants``) instead of failing later in the driver.
    * An entry stays in the wantlist until it is answered for good, as boxo does: a sent block
      removes the entry (whatever its type); a sent HAVE removes a want-have entry; a DONT_HAVE
      leaves the entry, so the block is still sent (or announced) if it arrives later.

Answers (computed when a want arrives, and again for :meth:`blocks_added`)
    * have the block, want-block        -> BLOCK task
    * have the block, want-have         -> the block itself if it is at most
      ``replace_have_with_block`` (1 KiB) bytes (a HAVE would cost a round trip to save almost
      nothing), else a HAVE task
    * lack the block, send_dont_have    -> DONT_HAVE task (1.2.0 peers only)
    * lack the block otherwise          -> nothing now; the entry waits for :meth:`blocks_added`
    A block larger than ``MAX_BLOCK_SIZE`` is treated as absent: no message could carry it.

Responses (:meth:`next_response`)
    Tasks are packed in the peer's priority order up to ``max_bytes`` of wire cost (default
    1 MiB; boxo packs 16 KiB, but larger messages mean fewer writes and encryption frames per
    byte); a single block larger than that goes alone, and no response exceeds
    ``MAX_MESSAGE_SIZE`` (4 MiB) encoded. HAVEs and DONT_HAVEs ride along. ``pending_bytes`` is
    the block bytes still queued for the peer after this response (1.2.0 ``pendingBytes``: the
    client sizes its want queue by it).

Fairness and in-flight caps
    The peer task queue (:mod:`fastswap.server.taskqueue`) orders :meth:`peers_with_work` by
    least bytes in flight, then least bytes served recently; a peer whose unsent responses reach
    ``max_inflight_per_peer`` is left out until :meth:`response_sent` releases them. A peer
    pulling 10,000 blocks thus cannot delay one that wants three.

Abuse limits (``fastswap._defaults``, SERVER_*)
    * Entries per peer (1024, boxo's MaxQueuedWantlistEntriesPerPeer). When full, a new want that
      ranks above the peer's worst entry (a want-block above any want-have, else by priority;
      see "Budgets") evicts that entry (and its task); otherwise the new want is dropped. Both are counted (``wants_evicted``, ``wants_dropped``).
    * CIDs: an entry whose CID is empty, longer than MAX_CID_SIZE (168, boxo's MaxCidSize) or not
      a valid CID is dropped and counted (``invalid_entries``); so is a bad want type.
    * Message size: the codec refuses messages over 4 MiB before they reach the engine.

Budgets shared by all peers: evict from the heaviest, never refuse the newcomer
    Two resources are shared: wantlist entries (memory) and queued block bytes (work promised).
    A budget that simply refuses once full is a denial of service: 300 identities sending 1,024
    want-haves each for blocks we lack filled the entry budget and every honest want after
    them was refused; 1,000 identities that want blocks and never read filled the 1 GiB
    queued-bytes budget the same way. So both budgets are shared max-min fairly:

    * Entries (``max_total_entries``, :mod:`fastswap.server.ledger`): when the total is full, a
      peer's new want takes an entry from the peer holding the most, if that one holds more
      than the newcomer would (``wants_evicted_global``); so the peers converge to equal shares
      and only the heaviest lose. A peer that holds as many as anyone can only replace its own
      worst entry with a higher-priority want, or the want is dropped
      (``wants_refused_global``). Every peer may hold ``reserved_entries_per_peer`` (64)
      whatever the others hold, even past the total: 1024 connections x 64 is the total, so
      the host's connection limit keeps that promise.
    * The entry evicted from a peer is its *worst*: one for a block we do not have first (it
      was never served; evicting it loses only the announcement if the block arrives later,
      and peers re-send their wantlists), then a want-have before a want-block, then the
      lowest priority, then the oldest. A peer's new want-block takes the place of its own
      want-have whatever their priorities (its client waits on want-blocks: among 1,000
      sybils an honest peer held its ~65-entry share in want-blocks and piggybacked
      want-haves, and each want-block refused for a want-have stalled its fetch); a want-have
      never takes a want-block's place.
    * Queued block bytes (``max_queued_bytes``, :mod:`fastswap.server.taskqueue`, "Limits"): a
      push past the budget levels the peers' queues to a common water level, evicting the tasks
      the heaviest would send last, and refuses only a peer that is itself above the level;
      each peer keeps ``reserved_queued_bytes_per_peer`` (4 MiB). A peer whose tasks were
      refused or evicted keeps its entries; once its queue drained and it is reading (under its
      in-flight cap) :meth:`ServerEngine.peers_with_work` queues their answers again
      (``tasks_refilled``), so a levelled honest peer loses no want. A peer that never reads
      never drains, and is never refilled.

    boxo bounds only the entries per peer (1024); its total grows with the number of peers and
    it has no byte budget. We keep totals because a seeder runs for weeks among strangers, and
    share them as above so that the totals cannot be turned against the peers they protect.
    The cost is bounded: finding the heaviest peer is a lazy heap (O(log peers) per eviction),
    and levelling the bytes sorts the peers once per sixteenth of the budget.

Ledgers
    Per peer (:class:`fastswap.server.ledger.Ledger`, compiled with a pure twin: the per-entry
    wantlist update and the counters run for every message of every peer): blocks/bytes sent and
    received, HAVEs/DONT_HAVEs sent, wants and cancels received, first and last exchange (the
    driver's ``now``). A disconnected peer's counters are kept (the newest ``retained_ledgers``
    of them) and resume if it reconnects; its wantlist and tasks are dropped. Engine-wide,
    the wantlist entries received by type (want-block, want-have, cancel) are counted in
    :meth:`ServerEngine.stats` and never go down (Prometheus counters).

Wait times
    Every task carries the driver's ``now`` of the want (or block arrival) that queued it,
    kept through merges; :meth:`response_sent` files ``now - queued_at`` of each task of a sent
    response in a histogram (:class:`fastswap.server.taskqueue.WaitHistogram`, buckets
    ``SERVER_TASK_WAIT_BUCKETS``; ``stats()["task_wait"]``): the time a want spent in this
    server, queue and write included. A timestamp per task and a bucket search per sent task
    is all it costs (``benchmarks/test_bench_server.py``, group ``server-engine-wait-times``).
    Answers queued without a clock (a driver that passes none, or a refill after the byte
    budget) are not measured.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .. import _defaults as D
from ..errors import ServerError, UnknownPeerError
from ..message.model import WANT_BLOCK, Message
from ..message.versions import BITSWAP_1_2_0, version_of
from .ledger import Ledger, LedgerBook
from .taskqueue import BLOCK, DONT_HAVE, HAVE, REFUSED, TaskQueue, WaitHistogram

__all__ = ["TARGET", "Response", "ServerConfig", "ServerEngine"]

#: Default block bytes packed into one response.
TARGET = D.SERVER_TARGET_MESSAGE_BYTES

# Bytes reserved for a message's non-block fields (pendingBytes, field tags) under the hard cap.
_MESSAGE_SLACK = 64


@dataclass(frozen=True)
class ServerConfig:
    """Tunables of the server engine (defaults: ``fastswap._defaults``, SERVER_*)."""

    target_message_bytes: int = D.SERVER_TARGET_MESSAGE_BYTES
    max_message_size: int = D.MAX_MESSAGE_SIZE
    max_block_size: int = D.MAX_BLOCK_SIZE
    max_cid_size: int = D.MAX_CID_SIZE
    max_entries_per_peer: int = D.SERVER_MAX_WANTLIST_ENTRIES_PER_PEER
    max_total_entries: int = D.SERVER_MAX_TOTAL_WANTLIST_ENTRIES
    reserved_entries_per_peer: int = D.SERVER_RESERVED_WANTLIST_ENTRIES_PER_PEER
    max_queued_bytes: int = D.SERVER_MAX_TOTAL_QUEUED_BYTES
    reserved_queued_bytes_per_peer: int = D.SERVER_RESERVED_QUEUED_BYTES_PER_PEER
    max_inflight_per_peer: int = D.SERVER_MAX_INFLIGHT_BYTES_PER_PEER
    replace_have_with_block: int = D.SERVER_MAX_REPLACE_HAVE_WITH_BLOCK
    served_half_life: int = D.SERVER_SERVED_HALF_LIFE_BYTES
    retained_ledgers: int = D.SERVER_RETAINED_LEDGERS

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            v = getattr(self, name)
            if type(v) is not int or v < 0:
                raise ServerError(f"ServerConfig.{name} must be a non-negative int, got {v!r}")
        if self.max_message_size < self.max_block_size + 1024:
            raise ServerError(
                "ServerConfig.max_message_size must exceed max_block_size by at least 1 KiB, "
                "or the largest block could not be sent"
            )
        for name in ("max_entries_per_peer", "max_total_entries", "max_queued_bytes",
                     "max_inflight_per_peer", "served_half_life", "target_message_bytes",
                     "reserved_queued_bytes_per_peer"):
            if getattr(self, name) == 0:
                raise ServerError(f"ServerConfig.{name} must be positive")


class Response:
    """One response for a peer: which blocks to send, which presences, and ``pending_bytes``."""

    __slots__ = (
        "_gen",
        "_sent",
        "_tasks",
        "blocks",
        "dont_haves",
        "haves",
        "nbytes",
        "peer",
        "pending_bytes",
    )

    def __init__(self, peer: Any, tasks: list, pending_bytes: int, gen: int) -> None:
        self.peer = peer
        self.blocks: list[bytes] = []
        self.haves: list[bytes] = []
        self.dont_haves: list[bytes] = []
        n = 0
        for t in tasks:
            k = t.kind
            if k == BLOCK:
                self.blocks.append(t.cid)
                n += t.size
            elif k == HAVE:
                self.haves.append(t.cid)
            else:
                self.dont_haves.append(t.cid)
        self.nbytes = n
        self.pending_bytes = pending_bytes
        self._tasks = tasks
        self._gen = gen
        self._sent = False

    def __repr__(self) -> str:
        return (
            f"Response({self.peer!r}: {len(self.blocks)} blocks ({self.nbytes} bytes), "
            f"{len(self.haves)} HAVE, {len(self.dont_haves)} DONT_HAVE, "
            f"pending_bytes={self.pending_bytes})"
        )


class ServerEngine:
    """Bitswap decision engine (see the module docstring for the policy)."""

    def __init__(self, store: Any, *, config: ServerConfig | None = None) -> None:
        if not (hasattr(store, "get_sizes") and hasattr(store, "has_many")):
            raise ServerError("store must provide has_many(cids) and get_sizes(cids)")
        self._store = store
        self._cfg = cfg = config if config is not None else ServerConfig()
        self._queue = TaskQueue(cfg.max_inflight_per_peer, cfg.max_queued_bytes,
                                cfg.served_half_life, cfg.reserved_queued_bytes_per_peer)
        self._book = LedgerBook(cfg.max_entries_per_peer, cfg.max_total_entries,
                                cfg.reserved_entries_per_peer, cfg.max_cid_size)
        self._retained: OrderedDict[Any, tuple[dict, float | None, float | None]] = OrderedDict()
        self._gen = 0
        self._hard_max = cfg.max_message_size - _MESSAGE_SLACK
        self._stats = dict.fromkeys(
            ("tasks_refused", "tasks_refilled", "blocks_sent", "bytes_sent", "haves_sent",
             "dont_haves_sent", "responses"), 0)
        #: seconds from a want's arrival to its answer sent (see "Wait times")
        self._waits = WaitHistogram(D.SERVER_TASK_WAIT_BUCKETS)

    @property
    def config(self) -> ServerConfig:
        return self._cfg

    # -- peers ---------------------------------------------------------------------------------

    def peer_connected(self, peer: Any, *, version: str = BITSWAP_1_2_0) -> None:
        """*peer* connected speaking *version*; a reconnect keeps its wantlist, updates version."""
        info = version_of(version)
        led = self._book.get(peer)
        if led is not None:
            led.set_version(version, info.presences, info.prefixed_blocks)
            return
        self._gen += 1
        led = self._book.add(peer, version, info.presences, info.prefixed_blocks, self._gen)
        old = self._retained.pop(peer, None)
        if old is not None:
            led.restore(old[0])
            led.first_exchange, led.last_exchange = old[1], old[2]

    def peer_disconnected(self, peer: Any) -> None:
        """Drop *peer*'s wantlist and tasks; keep its counters (bounded)."""
        led = self._book.remove(peer)
        if led is None:
            return
        self._queue.remove_peer(peer)
        self._retained[peer] = (led.counters(), led.first_exchange, led.last_exchange)
        while len(self._retained) > self._cfg.retained_ledgers:
            self._retained.popitem(last=False)

    # -- wantlists -----------------------------------------------------------------------------

    def receive_message(self, peer: Any, msg: Message, now: float = 0.0) -> None:
        """Apply the wantlist part of *msg* from *peer* (and count its blocks in the ledger).

        A peer not announced with :meth:`peer_connected` is taken as a 1.2.0 peer."""
        book = self._book
        led = book.get(peer)
        if led is None:
            self.peer_connected(peer)
            led = book.get(peer)
        touched = book.receive(led, msg.entries, msg.full, msg.blocks, now)
        if book.removed:
            self._unqueue_removed()
        if touched:
            self._answer(peer, led, touched, now)

    def blocks_added(self, cids: Iterable[bytes], now: float | None = None) -> None:
        """New local blocks: queue them (or HAVEs) for every peer whose wantlist has them.
        *now*: the driver's clock (the answers' wait starts then; None: not measured)."""
        at = -1.0 if now is None else now
        new = [c if type(c) is bytes else bytes(c) for c in cids]
        if not new:
            return
        for led in self._book.ledgers():
            wants = led.wants
            if not wants:
                continue
            hit = [c for c in new if c in wants]
            if hit:
                self._answer(led.peer, led, hit, at)

    # -- responses -----------------------------------------------------------------------------

    def has_wants(self, peer: Any) -> bool:
        """Does *peer* want anything from us (a non-empty wantlist)?"""
        led = self._book.get(peer)
        return led is not None and bool(led.wants)

    def peers_with_work(self) -> list:
        """Peers with a response ready and under their in-flight cap, fairest first. Peers
        whose queued answers the byte budget took and that have drained since are refilled
        first (see "Budgets")."""
        q = self._queue
        for peer in q.refillable():
            led = self._book.get(peer)
            if led is not None:
                have = [cid for cid, w in led.wants.items() if w.have]
                if have:
                    self._stats["tasks_refilled"] += 1
                    self._answer(peer, led, have, -1.0)  # (no clock here: not measured)
        return q.peers_with_work()

    def pause(self, peer: Any) -> None:
        """The driver pulls *peer*'s responses by itself for now: leave it out of
        :meth:`peers_with_work` (and of refills) until :meth:`resume`, so a crowd of peers
        whose writers wait on their windows costs a pass nothing. Its answers stay queued and
        :meth:`next_response` serves them."""
        self._queue.pause(peer)

    def resume(self, peer: Any) -> None:
        """*peer* can take responses again (see :meth:`pause`)."""
        self._queue.resume(peer)

    def next_response(self, peer: Any, *, max_bytes: int = TARGET) -> Response | None:
        """Pop *peer*'s next tasks up to about *max_bytes* (see the module docstring).

        None if nothing is queued for the peer or it is at its in-flight cap."""
        if type(max_bytes) is not int or max_bytes <= 0:
            raise ServerError(f"max_bytes must be a positive int, got {max_bytes!r}")
        led = self._book.get(peer)
        if led is None:
            return None
        q = self._queue
        tasks = q.pop(peer, min(max_bytes, self._hard_max))  # the queue applies the cap
        if not tasks:
            return None
        self._stats["responses"] += 1
        return Response(peer, tasks, q.pending_bytes(peer), led.gen)

    def response_sent(
        self, peer: Any, response: Response, *, now: float | None = None, sent: bool = True
    ) -> None:
        """The driver sent *response*: release its in-flight bytes, update the ledger and retire
        the wantlist entries it answered for good. ``sent=False``: the driver gave up on it
        (write failed, cancelled): only the in-flight bytes are released, and the entries stay,
        so the answers go out again when the peer re-sends its wantlist or a block arrives."""
        if not isinstance(response, Response):
            raise ServerError(f"response_sent() takes a Response, got {type(response).__name__}")
        if response._sent:
            raise ServerError("response_sent() was already called for this response")
        response._sent = True
        led = self._book.get(peer)
        if led is None or led.gen != response._gen:
            return  # the peer disconnected meanwhile: its accounting is gone already
        self._queue.task_done(peer, response._tasks)
        if not sent:
            return
        if now is not None:
            self._waits.observe(response._tasks, now)
        st = self._stats
        st["blocks_sent"] += len(response.blocks)
        st["bytes_sent"] += response.nbytes
        st["haves_sent"] += len(response.haves)
        st["dont_haves_sent"] += len(response.dont_haves)
        self._book.sent(led, response.blocks, response.nbytes, response.haves,
                        response.dont_haves, now)

    # -- introspection -------------------------------------------------------------------------

    def ledger(self, peer: Any) -> dict:
        """*peer*'s counters, wantlist size and queue state. UnknownPeerError if never seen."""
        led = self._book.get(peer)
        if led is None:
            old = self._retained.get(peer)
            if old is None:
                raise UnknownPeerError(
                    f"no ledger for peer {peer!r}: it never connected (or was forgotten long ago)"
                )
            counters, first, last = old
            return {**counters, "connected": False, "version": None, "first_exchange": first,
                    "last_exchange": last, "wantlist_size": 0, "queued_tasks": 0,
                    "pending_bytes": 0, "inflight_bytes": 0}
        q = self._queue
        return {**led.counters(), "connected": True, "version": led.version,
                "first_exchange": led.first_exchange, "last_exchange": led.last_exchange,
                "wantlist_size": len(led.wants), "queued_tasks": q.queued(peer),
                "pending_bytes": q.pending_bytes(peer), "inflight_bytes": q.inflight(peer)}

    def wantlist(self, peer: Any) -> dict[bytes, tuple[int, int, bool]]:
        """*peer*'s wantlist as {cid: (priority, want_type, send_dont_have)} (a copy)."""
        led = self._book.get(peer)
        if led is None:
            return {}
        return {cid: (w.priority, w.want_type, w.send_dont_have) for cid, w in led.wants.items()}

    def stats(self) -> dict:
        """Engine-wide counters and sizes (see the module docstring for the limits counted)."""
        q = self._queue
        return {**self._stats, **self._book.stats(), "tasks_evicted": q.evicted,
                "peers": len(self._book), "wantlist_entries": self._book.total,
                "queued_tasks": len(q), "queued_bytes": q.queued_bytes,
                "inflight_bytes": sum(q.inflight(p) for p in self._book.peers()),
                "task_wait": self._waits.snapshot()}

    # -- internals -----------------------------------------------------------------------------

    def _answer(self, peer: Any, led: Ledger, cids: list[bytes], at: float) -> None:
        """Queue the answer to each of *peer*'s wants in *cids* (see "Answers"); *at*: the
        driver's clock now (negative: unknown)."""
        sizes = self._store.get_sizes(cids)
        wants = led.wants
        push = self._queue.push
        max_block = self._cfg.max_block_size
        small = self._cfg.replace_have_with_block
        refused = 0
        for cid, size in zip(cids, sizes):
            w = wants[cid]
            if size is not None and size > max_block:
                size = None
            if size is None:
                if w.send_dont_have:
                    r = push(peer, cid, DONT_HAVE, 0, w.priority, at)
                else:
                    continue
            else:
                if not w.have:
                    led.mark_have(cid)
                if w.want_type == WANT_BLOCK or size <= small:
                    r = push(peer, cid, BLOCK, size, w.priority, at)
                else:
                    r = push(peer, cid, HAVE, 0, w.priority, at)
            if r == REFUSED:
                refused += 1
        self._stats["tasks_refused"] += refused

    def _unqueue_removed(self) -> None:
        """Take the tasks of entries the ledgers dropped (cancels, evictions) off the queue."""
        book = self._book
        removed = book.removed
        book.removed = []
        remove = self._queue.remove
        for peer, cid in removed:
            remove(peer, cid)
