"""The Bitswap client engine (sans-IO): sessions, per-peer live-want queues, message queues.

Spec: ipfs/specs bitswap-protocol ("Wantlist", "Block presences", 1.0.0/1.1.0/1.2.0 wire
formats) and go-bitswap PR #186 "Bitswap Protocol Extensions" (want-have, send-dont-have,
pendingBytes). The shape follows boxo's ``client/internal`` (session, sessionwantsender,
peermanager, messagequeue); the code and several policies are our own. Events in (peer connected,
message received, time is ``now``), actions out (messages to send, FindProviders); no sockets,
clocks or threads. The driver is ``fastswap.Node``; ``fastswap.testing`` replays swarms with it.

Policy, and why
===============

Peers and message queues
    Each peer has a :class:`~fastswap.client.wantlist.PeerWants` (what we want it to hold and what
    we told it). :meth:`ClientEngine.outgoing` flushes every changed peer into one message:
    cancels first (they free the peer's resources soonest), then want-blocks, then want-haves (the
    discovery/piggyback traffic, least urgent), each group by priority. A newly connected (or
    reconnected) peer gets its whole wantlist with ``full=True``, so stale state from an earlier
    connection cannot linger at the peer; on disconnect we forget what it held
    (``PeerWants.reset``) and re-route its want-blocks elsewhere, and its want-haves are re-sent
    in that full message when it comes back. A peer is asked about at most ``max_peer_wants``
    CIDs at once (boxo's server keeps 1024 entries per peer and silently drops the rest): past
    ``max_peer_wants - limit`` no more want-haves go to it, so its want-blocks always fit. A
    want nobody could be asked about is searched for like one everybody refused (below). A
    message is split before it could exceed ``max_message_size`` encoded (each entry's encoded
    size is bounded above by ``len(cid) + 24``; only the first part carries ``full``). 1.0.0/1.1.0 peers know neither want-have nor
    sendDontHave, and answer only with blocks: they get want-block entries without the flag, are
    never sent piggybacked or broadcast want-haves, and are session candidates from the start
    (want-have cannot discover them); for them "not there" is known only by timeout.

Order within a session
    By default a session's waiting wants are routed in priority order. Leechers that fetch the
    same DAG from one busy seeder then ask it for the same blocks in the same order, receive
    them at nearly the same time, and never hold a block another lacks: nothing to trade (on
    the virtual network, 8 leechers sharing a 20 MB/s seeder uplink all took 6.7 s, the
    seeder-alone time, and every HAVE between leechers named a block already on the seeder's
    uplink). With ``order_seed`` set, each routing pass starts at a random want among the
    ``order_window`` most urgent waiting ones, then goes on in priority order (BitTorrent's
    random piece selection, kept to a window so a streaming fetch stays nearly in order):
    leechers hold different blocks, learn of them by HAVE (the server announces blocks that
    arrive for a peer's want-have) and route waiting wants to the leechers that have them
    (same scenario: 2.3-2.5 s, ~650 of 1024 blocks from leechers, <= 3 duplicates each).
    Drivers should give every node its own seed; the virtual network uses the node's index.

Sessions and discovery
    A session (``new_session``) is a set of wants fetched together and the peers that served
    them. While a session has no peers, each new want is broadcast as want-have to every
    connected 1.2.0 peer *with* sendDontHave. boxo broadcasts without the flag (cheap in a large
    swarm where most peers have nothing); we choose the flag because a fetcher usually talks to a
    handful of peers it was pointed at, and an explicit DONT_HAVE from every one of them lets us
    go to content routing at once instead of after a timeout; the cost is one ~40-byte presence
    per peer per CID. A peer joins the session when it answers HAVE or sends a wanted block, or
    when routing names it (``add_peers``). Session 0 is "no session": every connected peer is a
    candidate and nothing is broadcast (wants go straight to the best peer as want-block).

Routing a want (``_route``)
    Each pending want gets a want-block (with sendDontHave) at up to ``fanout`` peers, chosen
    among the session's connected peers with a free slot in their queue, best first: a peer that
    said HAVE for this CID, then the best HAVE/DONT_HAVE history (Laplace-smoothed
    ``(haves+1)/(haves+dont_haves+2)``, so a new peer scores 1/2), then the shortest queue. A peer
    that gets want-blocks in a routing pass also gets, in the same message, want-have +
    sendDontHave for up to ``piggyback_max`` of the session's wants still waiting after that pass
    that it was not asked about, so presence knowledge for the next wants arrives with the
    current blocks (#186). (Once per peer per pass rather than per want-block: a bulk ``want``
    would otherwise ask want-have for wants the same pass then sends as want-block.) Unlike
    boxo, which sends want-block only to a peer that said HAVE, a session peer with a free slot
    gets want-block at once: one round trip less per block, at the price of a DONT_HAVE and a
    re-route when it lacks the block. A want no candidate can take waits: it is
    routed as soon as a slot frees (a block, DONT_HAVE, timeout or new peer).

Queue limit per peer: the control law
    A peer may hold at most ``limit`` live want-blocks from us. The signal is the peer's
    outstanding data: the ``pendingBytes`` it reports in each message (data it has queued for us)
    plus our estimate of the bytes we requested but have not received that the report cannot
    include yet: want-blocks sent since its previous message, less those answered since (a block
    or DONT_HAVE), times the mean size of that peer's blocks. On each message from the peer:

    * additive increase: if the message brought ``n`` wanted blocks and outstanding is at most
      ``low_water_bytes`` or the wanted bytes of this message, whichever is more, ``limit +=
      n`` (the pipe is about to drain: ask for more, at the rate the peer proves it can
      deliver, like TCP slow start). "Near zero" is relative to the peer's response size: a
      server that packs 1 MiB responses (ours) with less than one more response queued sends
      a short one next; with a fixed 512 KiB mark fast peers stopped at 17 want-blocks (2.2 MB
      in 0.22 s at 10 MB/s), now 22-24 on the virtual network's slow-beside-fast scenario;
    * multiplicative decrease: if outstanding >= ``high_water_bytes``, ``limit *= decrease_factor``,
      at most once per smoothed response time (the signal lags one round trip, as in TCP);
    * a timeout also halves the limit (an unresponsive or overloaded peer);
    * bounded in ``[min_queue_limit, max_queue_limit]``; otherwise hold.

    So the peer's queue for us stays just above zero: it never runs dry (throughput) and never
    floods (memory at the peer, latency for our higher-priority wants, and fairness). 1.0/1.1
    peers report no pendingBytes; their outstanding is then our own estimate only.

    The limit is then bounded by time (``_caps``), since a queue that takes longer to drain than
    the fastest peer's only delays wants the fast peers would serve. Each peer's throughput is
    measured per message (the wanted bytes it brought over the time since the later of their
    request and its previous block, so idle time does not count). A peer not measured yet gets
    its share of the initial window, ``initial_queue_limit // n`` for n connected peers (at
    least 2: one block on the wire while the next is served); a measured one at most
    ``fastest.limit * its rate / fastest.rate`` (at least 2), and its limit does not grow while
    that bound holds it. One peer alone is not bounded at all.

DONT_HAVE, timeouts and content routing
    DONT_HAVE frees the slot and re-routes the want. A want-block times out ``want_timeout``
    seconds after it was sent *or after the peer's last block, whichever is later* (a busy peer
    that keeps delivering is not timed out for the depth of its queue); it is then cancelled
    there and re-routed, and the peer counts as having said no. A want-have to a peer that
    answers with DONT_HAVE (1.2.0) times out the same way: silence for ``want_timeout`` after
    the want-have or the peer's last message of any kind, whichever is later, counts as DONT_HAVE, so a peer that takes wants and never answers
    cannot keep a want from being searched or given up on; the want-have is cancelled there
    (a later search asks afresh). (boxo times out only want-blocks
    and relies on its sessions' idle tick to re-broadcast; here nothing else would notice.)

    A want is *stuck* when every peer we could ask about it has said DONT_HAVE (or timed out),
    nothing is outstanding, and no want-have is unanswered. The first time, it is *searched* at
    once: a :class:`FindProviders` action, and want-have to connected peers not asked yet. The
    answers stand: a peer that said no is not asked again for that want until its next search,
    ``search_interval`` later, then twice that, and so on up to ``max_search_interval`` (each
    search forgets the answers, makes every connected peer a candidate and asks routing again).
    Routing naming a peer (``add_peers``) does not clear its answer -- static routing names the
    same peers every time, and forgetting their DONT_HAVE there re-asked them after every one,
    thousands of round trips a second against Kubo (issue 8). Peers new to a want are asked at
    once: routing's new providers in the same pass, and a peer that connects is sent want-have
    for every stuck want (want-block where it is a candidate).

    Dropped wants: a server may drop a want and say nothing (boxo past 1,024 entries per peer;
    ours when a crowd shares its wantlist budget). A peer that reports pendingBytes tells us
    when its queue for us is empty; if it then stays quiet for two round trips while
    want-blocks sent it a round trip or more before that report are unanswered, those were
    dropped, and are sent to it again (``wants_resent``; ``_defaults.CLIENT_RESEND_*``).
    Without this, one dropped block cost a fetch ``want_timeout`` plus a search interval
    (15 s). A peer that never reports pendingBytes (1.0.0/1.1.0, or one that leaves it unset)
    is not second-guessed.

    Giving up: from the moment a want is first stuck, its *give-up clock* runs; a HAVE from any
    peer stops it, a newly connected peer restarts it (that peer may help). When it reaches
    ``give_up_after`` while the want is still stuck -- want-haves not answered by then do not
    hold it back; a want-block waits for its answer or timeout -- the want is dropped (cancels
    go out) and a :class:`WantFailed` action names the peers by cause: said DONT_HAVE, did not
    answer, sent bad data, disconnected. ``give_up_after=None`` keeps searching forever, as
    boxo does (its caller's context decides).

Cancels and duplicates
    When a block arrives, every peer we asked about it (want-block or want-have) gets a cancel in
    the next flush. A block for a CID received recently (a bounded LRU) is a duplicate: counted
    per peer and per session, and reported with ``duplicate=True``. Each session keeps an
    exponentially weighted duplicate ratio: above ``dup_high`` the fan-out drops by one (down to
    1); a timeout raises it by one (up to ``max_fanout``) when the ratio is below ``dup_low``,
    trading a little duplicate traffic for latency only when peers are slow.

End-game
    Near the end of a fetch the last want-blocks may sit in a slow peer's queue while faster
    peers that said HAVE for them have nothing to do. When a message from peer Q leaves it with
    free slots, and a session it serves has no waiting want and at most ``2 * Q.limit`` wants
    left, Q is also sent want-block for each of those wants it said HAVE for that has been queued
    at another peer for longer than twice Q's smoothed response time (each want at most one
    extra peer). Whichever copy arrives first cancels the other, and no copy is asked for when
    the holder should deliver it (its queue ahead of the want at its measured rate) within 2
    response times of Q.

    A server takes wants from its queue in priority order (not in the order sent, which
    differs under ``order_seed``), so positions are ranked by priority. Its last pendingBytes
    counted its queue when it packed that response, and a server that keeps its pipe busy has
    packed about one more response of that size since: the wants ahead of what is left are on
    its uplink, where a copy would only arrive twice, so the end-game skips them
    (``_committed``).

    Before that, the same message moves wants (``_rebalance``): if Q is measured and the
    sessions it serves have nothing waiting, a want-block from the tail of another peer's queue
    moves to Q (cancel there, want-block to Q) when Q said HAVE for it, Q would deliver it (its
    shortest response time plus its queue at its rate) at least one of the holder's block times
    sooner, and the want is still in the holder's queue (among the last ``pendingBytes / block +
    unreported`` of it), so the cancel comes in time and nothing arrives twice. Longest waits
    move first. Moving wants to peers not measured yet (leechers announcing HAVE mid-fetch:
    swarm trading) was tried and dropped: on the virtual network's 1 seeder -> 8 leechers with a
    shared uplink it cost 7-10% duplicates (the seeder's uplink had taken the blocks before the
    cancels came) and moved few wants.

Peers not connected
    Messages from a peer not connected (a driver race after ``peer_disconnected``) are still
    processed (verified blocks are delivered), but nothing is sent to it until it connects.

Block verification
    A received block is named by hashing its data under its own prefix (1.0.0 blocks: CIDv0,
    sha2-256; likewise an empty prefix, which py-libp2p sends for CIDv0 blocks), which is
    :func:`fastswap.cid.verify_block`'s check done once: data that does not
    hash to a CID we want cannot be delivered for it. Tampered data thus shows up as an unwanted
    block (counted against the peer); a block with a malformed prefix, an unsupported hash or
    over ``MAX_BLOCK_SIZE`` is a :class:`BadBlock`.

Peers that send bad data
    An honest peer sends only blocks it was asked for (want-block, or want-have answered with a
    small block). A block that names a CID nobody wants, that was not received recently and
    whose ask did not end recently (``CLIENT_LAPSED_WANTS`` remembered: a block still in flight
    when the cancel went out is late, not unsolicited) was never asked of anyone: tampered data
    hashes to such a name. Such a block -- if it came with a prefix: a 1.0.0 block is named
    CIDv0 by us, which proves nothing -- or one whose prefix is malformed makes the peer *bad*:
    a :class:`DisconnectPeer` action (the driver closes its connections and does not dial it for
    routing), its want-blocks re-routed at once as on a disconnect, and it is never asked
    anything again (up to ``CLIENT_BAD_PEERS`` remembered). Its verified blocks of wanted CIDs
    are still delivered. An unsupported hash is not held against a peer (it may be what we
    asked for); an oversized block is only counted.

Identity CIDs
    An identity CID carries its block: ``want`` refuses one (WantlistError). Drivers answer them
    from the CID (``fastswap.blockstore.with_identity``), so they never reach a wantlist (Kubo
    drops the connection of a peer that wants one).
"""

from __future__ import annotations

import heapq
import random
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from itertools import chain, islice
from typing import Any

from .. import _defaults as D
from ..cid import is_identity, to_str
from ..errors import CIDError, SessionError, UnsupportedHashError, WantlistError
from ..events import (
    BadBlock,
    BlockReceived,
    ClientAction,
    DisconnectPeer,
    DontHave,
    Event,
    FindProviders,
    Have,
    Peer,
    WantFailed,
)
from ..message import DONT_HAVE, HAVE, Message
from ..message import Entry as WireEntry
from ..message.versions import BITSWAP_1_2_0, version_of
from ._state import _check_cid, _entry_size, _Peer, _Session, _Want
from .config import ClientConfig
from .naming import name_block, name_blocks
from .wantlist import WANT_BLOCK, WANT_HAVE

__all__ = ["ClientConfig", "ClientEngine", "name_blocks"]

_MAX_PRIORITY = 2**31 - 1


class ClientEngine:
    """The Bitswap client as a state machine (see the module docstring for the policy)."""

    def __init__(self, *, config: ClientConfig | None = None) -> None:
        self.config = config if config is not None else ClientConfig()
        self._peers: dict[Peer, _Peer] = {}
        self._sessions: dict[int, _Session] = {0: _Session(0, self.config.default_block_size)}
        self._next_sid = 1
        self._cid_sessions: dict[bytes, dict[int, None]] = {}  # wanted cid -> sessions
        self._recent: OrderedDict[bytes, tuple[int, ...]] = OrderedDict()
        self._dirty: dict[Peer, None] = {}  # peers whose PeerWants changed
        self._actions: list[ClientAction] = []
        self._timeouts: list[tuple[float, int, int, bytes, Peer, float]] = []  # heap
        # the same for want-haves to peers that answer with DONT_HAVE (1.2.0)
        self._have_timeouts: list[tuple[float, int, int, bytes, Peer, float]] = []  # heap
        # (when, seq, session, cid): a stuck want's next search or give-up (_wake)
        self._searches: list[tuple[float, int, int, bytes]] = []  # heap
        # cids whose asks ended recently: a block for one is late, not unsolicited (LRU)
        self._lapsed: dict[bytes, None] = {}
        # peers that sent data we never asked for -> what: never asked again (LRU)
        self._bad: dict[Peer, str] = {}
        self._seq = 0
        self._priority = _MAX_PRIORITY
        seed = self.config.order_seed
        self._rng = random.Random(seed) if seed is not None else None
        self._totals = {"blocks": 0, "bytes": 0, "duplicates": 0, "unwanted_blocks": 0,
                        "bad_blocks": 0, "messages_sent": 0, "timeouts": 0, "searches": 0,
                        "wants_failed": 0, "peers_dropped": 0, "wants_resent": 0}
        # (when, seq, peer, the time of its empty-queue report): see _adjust_limit
        self._quiet: list[tuple[float, int, Peer, float]] = []

    # -- peers -------------------------------------------------------------------------------

    def peer_connected(self, peer: Peer, now: float, *, version: str = BITSWAP_1_2_0) -> None:
        """*peer* connected (or reconnected) speaking *version*: it gets a full wantlist. A peer
        that sent bad data (see ``DisconnectPeer``) is not asked anything again."""
        if peer in self._bad:
            return
        p = self._peers.get(peer)
        if p is None:
            p = _Peer(peer, version, self.config.initial_queue_limit,
                      self.config.default_block_size)
            self._peers[peer] = p
        else:
            p.version = version
            p.presences = version_of(version).presences
            p.connected = True
            p.needs_full = True
        self._dirty[peer] = None
        # discovery for sessions still looking for peers, and wants nobody could help with: a
        # new peer is asked at once (want-have; or want-block, where it is a candidate) and
        # their give-up clock starts again from now
        for s in list(self._sessions.values()):
            if not s.wants:
                continue
            searching = s.id != 0 and not self._has_connected_peer(s, exclude=p)
            for w in s.wants.values():
                if w.stuck_since is not None:
                    w.stuck_since = now
                    self._arm(s, w, now)
                elif not searching:
                    continue
                if p.presences and s.id != 0:
                    self._ask(p, s, w, WANT_HAVE, now)
        self._route_all(now)

    def peer_disconnected(self, peer: Peer, now: float) -> None:
        """*peer* went away: its want-blocks are re-routed, what it held is forgotten."""
        p = self._peers.get(peer)
        if p is None or not p.connected:
            return
        p.connected = False
        p.pending_bytes = 0
        p.unreported = 0
        p.wants.reset()
        self._dirty.pop(peer, None)
        affected: dict[int, _Session] = {}
        for cid, asks in list(p.asks.items()):
            for sid, t in list(asks.items()):
                if t != WANT_BLOCK:
                    continue
                s = self._sessions.get(sid)
                w = s.wants.get(cid) if s is not None else None
                if w is None:
                    continue
                self._unask_block(p, s, w)
                affected[sid] = s
        for s in self._sessions.values():
            if s.wants:
                affected[s.id] = s
        for s in affected.values():
            self._route(s, now)
            self._check_all_exhausted(s, now)
        self._forget_if_idle(p)

    def asking(self, peer: Peer) -> bool:
        """Whether we asked *peer* about a CID we still want (a want-block or want-have not
        answered, cancelled or timed out since). A block from a peer we ask nothing of was not
        asked for: the driver core drops it without hashing it."""
        p = self._peers.get(peer)
        return p is not None and bool(p.asks)

    # -- sessions and wants ------------------------------------------------------------------

    def new_session(self, now: float) -> int:
        sid = self._next_sid
        self._next_sid += 1
        self._sessions[sid] = _Session(sid, self.config.default_block_size)
        return sid

    def _session(self, sid: int) -> _Session:
        s = self._sessions.get(sid)
        if s is None:
            raise SessionError(
                f"session {sid!r} is not open: get one from new_session() (0 is 'no session')"
            )
        return s

    def _session_closed(self, sid: object) -> None:
        """Accept a closed session's id; raise SessionError for one never handed out."""
        if not (type(sid) is int and 0 < sid < self._next_sid):
            self._session(sid)  # type: ignore[arg-type]  # raises

    def want(self, session: int, cids: Sequence[bytes], now: float) -> None:
        """Want *cids* in *session*, in priority order (first = most urgent). Identity CIDs are
        refused (WantlistError): their data is the CID, so a driver answers them from it (the
        identity blockstore layer) and peers are never asked (Kubo drops a peer that does)."""
        s = self._session(session)
        cids = [_check_cid(c) for c in cids]
        for c in cids:
            if is_identity(c):
                raise WantlistError(
                    f"{to_str(c)} is an identity CID: its data is in the CID, so it is never "
                    "fetched; read it with fastswap.cid.identity_data() or a store wrapped with "
                    "fastswap.blockstore.with_identity()"
                )
        new: list[_Want] = []
        for cid in cids:
            if cid in s.wants:
                continue
            w = _Want(cid, self._next_priority())
            s.wants[cid] = w
            s.needy[cid] = None
            self._cid_sessions.setdefault(cid, {})[s.id] = None
            new.append(w)
        if not new:
            return
        if s.id != 0 and not self._has_connected_peer(s):
            # discovery: want-have (+sendDontHave, see the module docstring) to connected peers
            for p in self._peers.values():
                if p.connected and p.presences:
                    for w in new:
                        self._ask(p, s, w, WANT_HAVE, now)
        self._route(s, now)
        for w in new:
            if not w.block_peers:
                self._check_exhausted(s, w, now)

    def cancel(self, session: int, cids: Iterable[bytes], now: float) -> None:
        """Stop wanting *cids* in *session*; peers asked only by it get cancels. Cancelling in
        a closed session is a no-op (its wants are gone already)."""
        s = self._sessions.get(session)
        if s is None:
            self._session_closed(session)
            return
        for cid in cids:
            w = s.wants.pop(cid, None) if type(cid) is bytes else None
            if w is None:
                continue
            self._drop_want(s, w)
        self._route_all(now)

    def close_session(self, session: int, now: float) -> None:
        """Cancel every want of *session* and forget it (idempotent; session 0 stays open)."""
        s = self._sessions.get(session)
        if s is None:
            return
        for w in list(s.wants.values()):
            del s.wants[w.cid]
            self._drop_want(s, w)
        if session != 0:
            del self._sessions[session]
        self._route_all(now)

    def add_peers(self, session: int, peers: Iterable[Peer], now: float) -> None:
        """Routing says *peers* may have this session's blocks: they join it. A session closed
        while the routing query ran ignores the answer (SessionError only for ids never
        handed out)."""
        s = self._sessions.get(session)
        if s is None:
            self._session_closed(session)
            return
        for peer in peers:
            if peer not in self._bad:
                s.peers[peer] = None
        # A peer routing names that already said DONT_HAVE for a want is not asked again for
        # it until the want's next search (static routing names the same peers every time:
        # forgetting their answers here re-asked them after every DONT_HAVE, a storm). Peers
        # new to a want are candidates now and get it in this pass.
        self._route(s, now)

    def wanted(self, session: int | None = None) -> list[bytes]:
        """The CIDs still wanted (by *session*, or by any)."""
        if session is None:
            return list(self._cid_sessions)
        return list(self._session(session).wants)

    # -- receiving ---------------------------------------------------------------------------

    def receive_message(self, peer: Peer, msg: Message, now: float, *,
                        names: Sequence[bytes | CIDError | None] | None = None) -> list[Event]:
        """Handle the block/presence part of *msg* from *peer*; events in arrival order.

        ``names``: what :func:`name_blocks` returned for ``msg.blocks`` (the driver may hash
        them off its event loop first, e.g. in a worker thread). The engine still trusts only
        names computed from the data: it never accepts a name the peer stated.
        """
        if names is not None and len(names) != len(msg.blocks):
            raise ValueError("names must come from name_blocks(msg.blocks) of this message")
        p = self._peers.get(peer)
        if p is None:
            # a message from a peer not connected (a driver race: it arrived after
            # peer_disconnected): its blocks are still verified and delivered, but we send
            # nothing to it until peer_connected
            p = _Peer(peer, BITSWAP_1_2_0, self.config.initial_queue_limit,
                      self.config.default_block_size)
            p.connected = False
            self._peers[peer] = p
        events: list[Event] = []
        touched: dict[int, _Session] = {}
        nblocks = 0
        p.prev_recv = p.last_recv
        p.last_heard = now
        p.batch = [0, float("inf")]
        for i, (prefix, data) in enumerate(msg.blocks):
            if len(data) > self.config.max_block_size:
                p.bad_blocks += 1
                self._totals["bad_blocks"] += 1
                events.append(BadBlock(peer, None, f"block of {len(data)} bytes is over the "
                                                   f"{self.config.max_block_size}-byte limit"))
                continue
            try:
                named = name_block(prefix, data) if names is None else names[i]
                if named is None:
                    # name_blocks skips oversized blocks; the check above caught those
                    named = name_block(prefix, data)
                if isinstance(named, CIDError):
                    raise named
                cid = named
            except CIDError as e:  # includes UnsupportedHashError
                p.bad_blocks += 1
                self._totals["bad_blocks"] += 1
                events.append(BadBlock(peer, None, f"cannot verify block: {e}"))
                if not isinstance(e, UnsupportedHashError):
                    # a malformed prefix names no block at all (an unsupported hash may name
                    # one we asked for: that peer is not lying, we just cannot check it)
                    self._bad_data(p, f"sent a block with a malformed prefix ({e})", now)
                continue
            if self._on_block(p, cid, data, now, events, touched):
                nblocks += 1
            elif prefix and cid not in self._lapsed and cid not in self._recent:
                # Never asked of anyone: tampered data hashes to such a name. (1.0.0 blocks
                # carry no prefix, so we named them CIDv0 ourselves: no proof of anything.)
                self._bad_data(p, f"sent block {to_str(cid)}, which we never asked for (data "
                                  "that does not hash to what we asked?)", now)
        for pr in () if peer in self._bad else msg.presences:
            cid = bytes(pr.cid)
            if pr.type == HAVE:
                p.haves += 1
                events.append(Have(peer, cid))
                self._on_have(p, cid, now, touched)
            elif pr.type == DONT_HAVE:
                p.dont_haves += 1
                events.append(DontHave(peer, cid))
                self._on_dont_have(p, cid, now, touched)
        if nblocks:
            p.resend_gap = D.CLIENT_RESEND_MIN_QUIET_SECONDS  # it answers: re-sends worked
        nb, start = p.batch
        if nb and now > start:
            # throughput while it worked for us: the blocks' bytes over the time since the
            # later of their request and the peer's previous block (so idle time is not counted)
            r = nb / (now - start)
            p.rate = r if p.rate is None else p.rate + (r - p.rate) / 4
        if msg.blocks or msg.presences or msg.pending_bytes:
            # a server response; a message carrying only the peer's own wantlist says
            # nothing about its queue for us (its pendingBytes is just unset)
            self._adjust_limit(p, msg.pending_bytes, nblocks, now)
        if touched or nblocks:
            # a slot freed at this peer may serve any session
            for s in list(self._sessions.values()):
                if s.needy:
                    self._route(s, now)
            if p.connected and len(p.live) < p.limit:
                self._rebalance(p, now)
                self._endgame(p, now)
        if not p.connected:
            self._forget_if_idle(p)
        return events

    def _forget_if_idle(self, p: _Peer) -> None:
        # a disconnected peer's record is kept only while it matters: asks to re-send on
        # reconnect, or membership of a session (routing named it)
        if not p.asks and not any(p.key in s.peers for s in self._sessions.values()):
            self._peers.pop(p.key, None)

    def _bad_data(self, p: _Peer, reason: str, now: float) -> None:
        """*p* sent data an honest peer never sends: it is dropped (``DisconnectPeer``), its
        want-blocks go to other peers, and it is never asked anything again."""
        if p.key in self._bad:
            return
        self._bad[p.key] = reason
        if len(self._bad) > D.CLIENT_BAD_PEERS:
            del self._bad[next(iter(self._bad))]
        self._totals["peers_dropped"] += 1
        self._actions.append(DisconnectPeer(p.key, reason))
        self.peer_disconnected(p.key, now)  # as if gone: the fetch goes on from the others
        for s in self._sessions.values():
            s.peers.pop(p.key, None)
        self._forget_if_idle(p)

    def _on_block(self, p: _Peer, cid: bytes, data: Any, now: float, events: list[Event],
                  touched: dict[int, _Session]) -> bool:
        sids = self._cid_sessions.pop(cid, None)
        if sids is None:
            recent = self._recent.get(cid)
            if recent is None:
                p.unwanted += 1
                self._totals["unwanted_blocks"] += 1
                return False
            p.duplicates += 1
            self._totals["duplicates"] += 1
            for sid in recent:
                s = self._sessions.get(sid)
                if s is not None:
                    s.duplicates += 1
                    self._dup_sample(s, 1.0)
            events.append(BlockReceived(cid, data, p.key, True))
            return False
        n = len(data)
        sent = p.live.get(cid)
        if sent is not None:
            b = p.batch
            b[0] += n
            rtt = now - sent
            if p.min_rtt is None or rtt < p.min_rtt:
                p.min_rtt = rtt
            b[1] = min(b[1], max(sent, p.prev_recv))
        p.blocks += 1
        p.bytes += n
        p.last_recv = now
        self._totals["blocks"] += 1
        self._totals["bytes"] += n
        p.avg_block += (n - p.avg_block) / 8
        sent = p.live.get(cid)
        if sent is not None:
            if p.unreported > 0:
                p.unreported -= 1
            sample = max(0.0, now - sent)
            p.srtt = sample if p.srtt is None else p.srtt + (sample - p.srtt) / 8
        for sid in sids:
            s = self._sessions[sid]
            w = s.wants.pop(cid)
            s.needy.pop(cid, None)
            s.opened.pop(cid, None)
            s.blocks += 1
            s.avg_block += (n - s.avg_block) / 8
            self._dup_sample(s, 0.0)
            if sid != 0 and p.key not in self._bad:
                s.peers[p.key] = None
            self._cancel_asks(s, w)
            touched[sid] = s
        if self.config.recent_blocks:
            self._recent[cid] = tuple(sids)
            if len(self._recent) > self.config.recent_blocks:
                self._recent.popitem(last=False)
        events.append(BlockReceived(cid, data, p.key, False))
        return True

    def _on_have(self, p: _Peer, cid: bytes, now: float, touched: dict[int, _Session]) -> None:
        for sid in self._cid_sessions.get(cid, ()):
            s = self._sessions[sid]
            w = s.wants[cid]
            w.have.add(p.key)
            w.dont.discard(p.key)
            if w.have_sent:
                w.have_sent.pop(p.key, None)
            if w.timed is not None:
                w.timed.discard(p.key)
            w.stuck_since = None  # someone can help: the give-up clock stops
            if sid != 0 and p.key not in s.peers:
                s.peers[p.key] = None
            if len(w.block_peers) < s.fanout:
                s.needy[cid] = None
            touched[sid] = s

    def _on_dont_have(self, p: _Peer, cid: bytes, now: float,
                      touched: dict[int, _Session]) -> None:
        for sid in list(self._cid_sessions.get(cid, ())):
            s = self._sessions[sid]
            w = s.wants[cid]
            w.have.discard(p.key)
            w.dont.add(p.key)
            if w.have_sent:
                w.have_sent.pop(p.key, None)
            if w.timed is not None:
                w.timed.discard(p.key)  # it answered after all
            if p.key in w.block_peers:
                if p.unreported > 0:
                    p.unreported -= 1
                self._unask_block(p, s, w)
            touched[sid] = s
            self._check_exhausted(s, w, now)

    def _adjust_limit(self, p: _Peer, pending: int, nblocks: int, now: float) -> None:
        cfg = self.config
        pending = max(0, int(pending or 0))
        outstanding = pending + int(p.unreported * p.avg_block)
        p.pending_bytes = pending
        p.unreported = 0
        if pending:
            p.reports_pending = True
        elif p.reports_pending and p.live:
            # its queue for us is empty: want-blocks sent before this report and still
            # unanswered when it has been quiet a while were dropped (see _resend_dropped)
            quiet = max(D.CLIENT_RESEND_QUIET_RTTS * (p.srtt or 0.0), p.resend_gap)
            self._seq += 1
            heapq.heappush(self._quiet, (now + quiet, self._seq, p.key, now))
        # "near zero" is relative to the peer's own response size: less than one more response
        # of the size it just sent queued means its next one comes short (the pipe drains)
        p.msg_bytes = p.batch[0]
        low = max(cfg.low_water_bytes, p.msg_bytes)
        if nblocks and outstanding <= low:
            if p.limit <= self._caps().get(p.key, p.limit):
                # (a peer held below its limit by a faster one does not grow: its limit would
                # mean nothing once the faster peer leaves)
                p.limit = min(cfg.max_queue_limit, p.limit + nblocks)
        elif outstanding >= cfg.high_water_bytes and now - p.last_decrease >= (p.srtt or 0.0):
            self._decrease(p, now)

    def _decrease(self, p: _Peer, now: float) -> None:
        p.limit = max(self.config.min_queue_limit, int(p.limit * self.config.decrease_factor))
        p.last_decrease = now

    def _dup_sample(self, s: _Session, x: float) -> None:
        s.dup_ewma += (x - s.dup_ewma) / 16
        if x and s.dup_ewma > self.config.dup_high and s.fanout > 1:
            s.fanout -= 1

    # -- time --------------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        """When :meth:`tick` has work next (may be early: a spurious tick is harmless)."""
        heap = self._have_timeouts
        while heap and self._have_answered(heap[0]):
            heapq.heappop(heap)  # most want-haves are answered: no tick for them
        t = [h[0][0] for h in (self._timeouts, heap, self._searches, self._quiet) if h]
        return min(t) if t else None

    def _resend_dropped(self, now: float) -> None:
        """Peers that reported an empty queue for us and have been quiet since: re-send the
        want-blocks sent them before that report (``_defaults.CLIENT_RESEND_QUIET_RTTS``)."""
        heap = self._quiet
        while heap and heap[0][0] <= now:
            _, _, key, heard = heapq.heappop(heap)
            p = self._peers.get(key)
            if p is None or not p.connected or p.last_heard != heard:
                continue  # it spoke since: its next empty-queue report starts a new wait
            # a want sent within a round trip of the report may have reached the peer after
            # it: not a suspect yet
            before = heard - (p.srtt or 0.0)
            n = 0
            for cid, sent in p.live.items():
                if sent < before and p.wants.resend(cid):
                    n += 1
            if n:
                p.resent += n
                self._totals["wants_resent"] += n
                self._dirty[key] = None
                p.resend_gap = min(2 * p.resend_gap, self.config.want_timeout)

    def _have_answered(self, entry: tuple[float, int, int, bytes, Peer, float]) -> bool:
        _, _, sid, cid, peer, sent = entry
        s = self._sessions.get(sid)
        w = s.wants.get(cid) if s is not None else None
        return w is None or not w.have_sent or w.have_sent.get(peer) != sent

    def tick(self, now: float) -> None:
        """Time is *now*: time out want-blocks (re-route them) and re-search lost wants."""
        cfg = self.config
        routes: dict[int, _Session] = {}
        heap = self._timeouts
        while heap and heap[0][0] <= now:
            _, _, sid, cid, peer, sent = heapq.heappop(heap)
            s = self._sessions.get(sid)
            w = s.wants.get(cid) if s is not None else None
            p = self._peers.get(peer)
            if w is None or p is None or w.block_peers.get(peer) != sent:
                continue  # answered, cancelled or re-sent since
            due = max(sent, p.last_recv) + cfg.want_timeout
            if due > now:  # the peer made progress: give it more time
                self._seq += 1
                heapq.heappush(heap, (due, self._seq, sid, cid, peer, sent))
                continue
            p.timeouts += 1
            s.timeouts += 1
            self._totals["timeouts"] += 1
            self._unask_block(p, s, w)
            w.dont.add(peer)
            if w.timed is None:
                w.timed = set()
            w.timed.add(peer)
            if now - p.last_decrease >= (p.srtt or 0.0):
                self._decrease(p, now)
            if s.dup_ewma < cfg.dup_low and s.fanout < cfg.max_fanout:
                s.fanout += 1
            routes[sid] = s
        heap = self._have_timeouts
        while heap and heap[0][0] <= now:
            entry = heapq.heappop(heap)
            if self._have_answered(entry):
                continue  # answered, cancelled or re-sent since
            _, _, sid, cid, peer, sent = entry
            s = self._sessions[sid]
            w = s.wants[cid]
            p = self._peers.get(peer)
            if p is None:
                continue
            if (peer in w.have or peer in w.dont or peer in w.block_peers
                    or p.asks.get(cid, {}).get(sid) != WANT_HAVE):
                del w.have_sent[peer]
                continue
            due = max(sent, p.last_heard) + cfg.want_timeout
            if due > now:
                self._seq += 1
                heapq.heappush(heap, (due, self._seq, sid, cid, peer, sent))
                continue
            # a 1.2.0 peer answers want-have (HAVE or DONT_HAVE); silence counts as no, so a
            # peer that never answers cannot hold a want back from searching or giving up
            del w.have_sent[peer]
            p.timeouts += 1
            self._totals["timeouts"] += 1
            # taken back (a cancel), so a later search asks it afresh, with a fresh timeout
            self._unask(p, sid, cid, w.priority, False)
            w.dont.add(peer)
            if w.timed is None:
                w.timed = set()
            w.timed.add(peer)
            routes[sid] = s
        self._resend_dropped(now)
        sh = self._searches
        while sh and sh[0][0] <= now:
            when, _, sid, cid = heapq.heappop(sh)
            s = self._sessions.get(sid)
            w = s.wants.get(cid) if s is not None else None
            if w is None or w.wake_at != when:
                continue  # served, cancelled, or re-armed since
            if self._wake(s, w, now):
                routes[sid] = s
        for s in routes.values():
            self._route(s, now)
            self._check_all_exhausted(s, now)

    def actions(self, now: float) -> list[ClientAction]:
        """Pending actions (FindProviders, DisconnectPeer, WantFailed), oldest first; each is
        returned once."""
        a = self._actions
        self._actions = []
        return a

    # -- sending -----------------------------------------------------------------------------

    def outgoing(self, now: float) -> list[tuple[Peer, Message]]:
        """One message per changed peer (split if it would exceed the size limit)."""
        out: list[tuple[Peer, Message]] = []
        budget = self.config.max_message_size - 64
        for peer in list(self._dirty):
            p = self._peers.get(peer)
            if p is None or not p.connected:
                continue
            full = p.needs_full
            if full:
                p.needs_full = False
                d = p.wants.full()
            else:
                d = p.wants.flush()
            if not d.cancels and not d.wants:
                continue
            entries = [WireEntry(c, 0, True) for c in d.cancels]
            haves = []
            for e in d.wants:
                we = WireEntry(e.cid, e.priority, False, e.want_type, e.send_dont_have)
                if e.want_type == WANT_BLOCK:
                    entries.append(we)
                else:
                    haves.append(we)
            entries.extend(haves)
            start = 0
            size = 0
            first = True
            for i, e in enumerate(entries):
                es = _entry_size(e.cid)
                if size + es > budget and i > start:
                    out.append((peer, Message(entries[start:i], full=full and first)))
                    first = False
                    start = i
                    size = 0
                size += es
            out.append((peer, Message(entries[start:], full=full and first)))
        self._dirty.clear()
        self._totals["messages_sent"] += len(out)
        return out

    # -- routing -----------------------------------------------------------------------------

    def _next_priority(self) -> int:
        pr = self._priority
        self._priority = pr - 1 if pr > 1 else _MAX_PRIORITY
        return pr

    def _has_connected_peer(self, s: _Session, exclude: _Peer | None = None) -> bool:
        for k in s.peers:
            q = self._peers.get(k)
            if q is not None and q.connected and q is not exclude:
                return True
        return False

    def _candidates(self, s: _Session, w: _Want | None) -> list[_Peer]:
        if s.id == 0 or (w is not None and w.open):
            return [p for p in self._peers.values() if p.connected]
        c = []
        for k in s.peers:
            p = self._peers.get(k)
            if p is not None and p.connected:
                c.append(p)
        for p in self._peers.values():
            if p.connected and not p.presences and p.key not in s.peers:
                c.append(p)
        return c

    def _route_all(self, now: float) -> None:
        for s in list(self._sessions.values()):
            if s.needy:
                self._route(s, now)

    def _route(self, s: _Session, now: float) -> None:
        """Give each needy want of *s* want-blocks at its best candidates with free slots."""
        if not s.needy:
            return
        caps = self._caps()
        base = [p for p in self._candidates(s, None) if len(p.live) < caps[p.key]]
        every = [p for p in self._peers.values() if p.connected and len(p.live) < caps[p.key]]
        if not every:
            return
        if not base and s.id != 0:
            # none of the session's own peers has room: only re-searched ("open") wants may go
            # to other peers, so do not walk every waiting want (a session may hold 100k)
            order: Iterable[bytes] = [c for c in s.opened if c in s.needy]
        else:
            order = s.needy  # not mutated in the loop (done/served are applied after it)
            if self._rng is not None and s.id != 0 and len(s.needy) > 1:
                # random first want within the window, then priority order (O(window))
                head = list(islice(s.needy, self.config.order_window))
                k = self._rng.randrange(len(head))
                if k:
                    order = chain(head[k:], head[:k], islice(s.needy, len(head), None))
        served: dict[Peer, _Peer] = {}
        done: list[bytes] = []
        for cid in order:
            w = s.wants.get(cid)
            if w is None:
                done.append(cid)
                continue
            pool = every if (w.open or s.id == 0) else base
            need = s.fanout - len(w.block_peers)
            while need > 0 and pool:
                best = None
                best_key = None
                for p in pool:
                    k = p.key
                    if k in w.block_peers or k in w.dont or len(p.live) >= caps[k]:
                        continue
                    key = (k in w.have, p.ratio(), -len(p.live))
                    if best_key is None or key > best_key:
                        best, best_key = p, key
                if best is None:
                    break
                self._ask(best, s, w, WANT_BLOCK, now)
                served[best.key] = best
                need -= 1
                if len(best.live) >= caps[best.key]:
                    if best in base:
                        base.remove(best)
                    if best in every:
                        every.remove(best)
            if need <= 0:
                done.append(cid)
            if not every or (not base and s.id != 0 and not s.opened):
                break
        for cid in done:
            s.needy.pop(cid, None)
        # Piggyback once per peer per pass, on the wants still waiting after it: they are the
        # session's "other pending CIDs", and a bulk want() does not first ask want-have for
        # wants that the same pass then sends as want-block to the same peer.
        for p in served.values():
            self._piggyback(p, s, now)

    def _caps(self) -> dict[Peer, int]:
        """Each connected peer's effective queue limit: its ``limit``, bounded by time.

        * A peer whose speed is not known yet (no block from it) gets its share of the initial
          window, ``initial_queue_limit // n`` for n connected peers (at least
          ``min_queue_limit``), so a slow peer among fast ones is not handed a deep queue before
          anything is known about it; one peer alone gets the whole window.
        * A peer whose rate is measured may hold at most as much as it can deliver in the time
          the fastest measured peer needs for its own queue (``limit * block / rate``): a
          queue that outlasts the fastest peer's only delays wants the fast peers would serve.
        """
        cfg = self.config
        n = 0
        best: _Peer | None = None
        best_rate = 0.0
        for p in self._peers.values():
            if not p.connected:
                continue
            n += 1
            if p.rate is not None and (best is None or p.rate > best_rate):
                best, best_rate = p, p.rate
        # two at least (bounded by the peer's own limit): one block on the wire while the
        # next is served, or the peer idles a round trip per block
        floor = max(cfg.min_queue_limit, 2)
        share = max(floor, cfg.initial_queue_limit // max(n, 1))
        caps: dict[Peer, int] = {}
        for k, p in self._peers.items():
            if not p.connected:
                continue
            if p.rate is None:
                caps[k] = min(p.limit, share)
            elif best is None or p is best:
                caps[k] = p.limit
            else:
                # (blocks of one fetch are of one size: the ratio of rates is that of queues)
                caps[k] = min(p.limit, max(floor, int(best.limit * p.rate / best_rate)))
        return caps

    def _serve_order(self, o: _Peer) -> list[bytes]:
        """*o*'s live want-blocks in the order its server takes them: priority, highest first
        (boxo's and ours), which is not the order sent when a session picks a random first want
        (``order_seed``). O(queue log queue), only on the rebalance/end-game paths."""
        def prio(cid: bytes) -> int:
            for sid in self._cid_sessions.get(cid, ()):
                w = self._sessions[sid].wants.get(cid)
                if w is not None:
                    return w.priority
            return _MAX_PRIORITY  # not wanted any more: about to be cancelled
        return sorted(o.live, key=prio, reverse=True)

    @staticmethod
    def _committed(o: _Peer) -> float:
        """How many of the wants at the head of *o*'s queue (:meth:`_serve_order`) it
        has most likely taken out of its queue already (popped into a response on its uplink),
        where a cancel comes too late. Its last ``pendingBytes`` counted the queue when it
        packed that response; a server that keeps its pipe busy (ours packs the next response
        the moment the last one is written) has since taken about one more response of the
        same size out of it. Wants sent since its last message are queued behind."""
        queued = max(0, o.pending_bytes - o.msg_bytes) / o.avg_block + o.unreported
        return len(o.live) - queued

    def _rebalance(self, q: _Peer, now: float) -> None:
        """*q* has free slots and the sessions it serves have no waiting want: move want-blocks
        from the tails of other peers' queues to it when it would deliver them sooner.

        The holder's estimated time for a want is its queue ahead of it (sent in order) at its
        measured rate; q's is its shortest response time plus its own queue. A want moves (a
        cancel at the holder, a want-block at q) only if q said HAVE for it, and only when the
        holder would take at least a block's time longer, so the cancel reaches the holder well
        before it gets to the want: no duplicate."""
        if not q.presences or not q.rate or q.min_rtt is None:
            return
        caps = self._caps()
        budget = caps.get(q.key, q.limit) - len(q.live)
        if budget <= 0:
            return
        for s in self._sessions.values():
            if s.needy and (s.id == 0 or q.key in s.peers):
                return  # waiting wants fill q's slots instead
        eta_q = q.min_rtt + len(q.live) * q.avg_block / q.rate
        moves: list[tuple[float, _Peer, _Session, _Want]] = []
        for o in self._peers.values():
            if o is q or not o.connected or not o.rate or not o.live:
                continue
            step = o.avg_block / o.rate
            done = now - o.last_recv
            # only wants still in the holder's queue can be taken back (the last ones it will
            # serve, see _committed); the others may be on its uplink already, and a cancel
            # would come too late
            first = len(o.live) - (o.pending_bytes / o.avg_block + o.unreported)
            for pos, cid in enumerate(self._serve_order(o)):
                eta = (pos + 1) * step - done
                if pos < first or eta <= eta_q + step:
                    continue
                for sid, t in o.asks.get(cid, {}).items():
                    if t != WANT_BLOCK:
                        continue
                    s = self._sessions.get(sid)
                    w = s.wants.get(cid) if s is not None else None
                    if (w is None or len(w.block_peers) != 1 or q.key not in w.have
                            or (sid != 0 and q.key not in s.peers)):
                        continue
                    moves.append((eta, o, s, w))  # type: ignore[arg-type]
                    break
        moves.sort(key=lambda m: -m[0])  # the longest waits first
        for _eta, o, s, w in moves:
            if budget <= 0:
                break
            eta_q = q.min_rtt + len(q.live) * q.avg_block / q.rate
            if _eta <= eta_q + o.avg_block / o.rate:
                continue
            if o.unreported > 0:
                o.unreported -= 1
            self._unask_block(o, s, w)
            self._ask(q, s, w, WANT_BLOCK, now)
            if len(w.block_peers) >= s.fanout:
                s.needy.pop(w.cid, None)
            budget -= 1

    def _endgame(self, q: _Peer, now: float) -> None:
        """*q* has free slots and no waiting want of a session it serves: at the end of a
        fetch, ask it as well for want-blocks stuck at slower peers (see the module docstring,
        "End-game")."""
        if not q.presences or q.srtt is None:
            return  # no HAVE from it, or no idea yet how fast it answers
        budget = q.limit - len(q.live)
        limit = 2 * q.limit
        positions: dict[Peer, dict[bytes, int]] = {}
        for s in list(self._sessions.values()):
            if budget <= 0:
                return
            if s.needy or not s.wants or len(s.wants) > limit:
                continue  # not the end of this fetch: new wants keep q busy instead
            if s.id != 0 and q.key not in s.peers:
                continue
            for w in list(s.wants.values()):  # oldest first
                if budget <= 0:
                    return
                if len(w.block_peers) != 1 or q.key not in w.have or q.key in w.block_peers:
                    continue
                ((ok, sent),) = w.block_peers.items()
                o = self._peers.get(ok)
                if o is not None and o.rate:
                    # when the holder should deliver it: its queue ahead of this want (served
                    # in priority order) at its measured rate; a want about to arrive (or
                    # already on the holder's uplink) would only come twice
                    pos = positions.get(ok)
                    if pos is None:
                        pos = positions[ok] = {c: i for i, c in enumerate(self._serve_order(o))}
                    at = pos.get(w.cid, 0)
                    eta = (at + 1) * o.avg_block / o.rate - (now - o.last_recv)
                    if eta <= 2 * q.srtt or at < self._committed(o):
                        continue
                if now - sent > 2 * q.srtt:
                    self._ask(q, s, w, WANT_BLOCK, now)
                    budget -= 1

    def _piggyback(self, p: _Peer, s: _Session, now: float) -> None:
        if not p.presences or s.id == 0:
            return
        budget = self.config.piggyback_max
        scanned = 0
        for cid in s.needy:
            if budget <= 0 or scanned >= 4 * self.config.piggyback_max:
                break
            scanned += 1
            o = s.wants.get(cid)
            if o is None or p.key in o.asked or p.key in o.dont:
                continue
            self._ask(p, s, o, WANT_HAVE, now)
            budget -= 1

    def _ask(self, p: _Peer, s: _Session, w: _Want, want_type: int, now: float) -> None:
        if want_type == WANT_HAVE:
            if not p.presences:
                return  # 1.0/1.1 peers do not know want-have
            if w.cid not in p.asks and len(p.asks) >= self.config.max_peer_wants - p.limit:
                # servers cap the wantlist they keep per peer (boxo: 1024 entries) and drop
                # the rest silently; keep room for this peer's want-blocks
                return
        asks = p.asks.get(w.cid)
        if asks is None:
            asks = p.asks[w.cid] = {}
        old = asks.get(s.id)
        if old == WANT_BLOCK or old == want_type:
            return
        asks[s.id] = want_type
        w.asked.add(p.key)
        if want_type == WANT_BLOCK:
            w.block_peers[p.key] = now
            self._seq += 1
            heapq.heappush(
                self._timeouts,
                (now + self.config.want_timeout, self._seq, s.id, w.cid, p.key, now),
            )
            if w.cid not in p.live:
                p.live[w.cid] = now
                p.unreported += 1
        else:
            if w.have_sent is None:
                w.have_sent = {}
            w.have_sent[p.key] = now
            self._seq += 1
            heapq.heappush(
                self._have_timeouts,
                (now + self.config.want_timeout, self._seq, s.id, w.cid, p.key, now),
            )
        p.wants.add(w.cid, w.priority, want_type, p.presences)
        if p.connected:
            self._dirty[p.key] = None

    def _unask(self, p: _Peer, sid: int, cid: bytes, priority: int, hand_over: bool) -> None:
        """Session *sid* no longer asks *p* for *cid* (as anything).

        If another session still asks *p* about *cid* (want-have) and *hand_over* (session *sid*
        merely lost interest), that session takes over the live want-block: the block is still
        wanted, and a cancel now and a want later would cost two entries and a round trip. After
        DONT_HAVE, a timeout or a disconnect the want-block is downgraded to want-have instead."""
        asks = p.asks.get(cid)
        if asks is None or asks.pop(sid, None) is None:
            return
        if not asks:
            del p.asks[cid]
            # what it may still send for this cid is late, not unsolicited
            lapsed = self._lapsed
            lapsed.pop(cid, None)
            lapsed[cid] = None
            if len(lapsed) > D.CLIENT_LAPSED_WANTS:
                del lapsed[next(iter(lapsed))]
            p.live.pop(cid, None)
            p.wants.remove(cid)
        elif cid in p.live and WANT_BLOCK not in asks.values():
            if hand_over:
                for other in asks:
                    s = self._sessions.get(other)
                    w = s.wants.get(cid) if s is not None else None
                    if w is not None:
                        asks[other] = WANT_BLOCK
                        sent = p.live[cid]
                        w.block_peers[p.key] = sent
                        self._seq += 1
                        heapq.heappush(self._timeouts, (
                            sent + self.config.want_timeout, self._seq, other, cid, p.key, sent))
                        if len(w.block_peers) >= s.fanout:
                            s.needy.pop(cid, None)
                        return
            p.live.pop(cid, None)
            p.wants.remove(cid)
            p.wants.add(cid, priority, WANT_HAVE, p.presences)
        if p.connected:
            self._dirty[p.key] = None

    def _unask_block(self, p: _Peer, s: _Session, w: _Want) -> None:
        """Take back the want-block for *w* at *p* (DONT_HAVE, timeout, disconnect)."""
        w.block_peers.pop(p.key, None)
        self._unask(p, s.id, w.cid, w.priority, False)
        if w.cid in s.wants:
            s.needy[w.cid] = None

    def _cancel_asks(self, s: _Session, w: _Want) -> None:
        for k in w.asked:
            p = self._peers.get(k)
            if p is not None:
                self._unask(p, s.id, w.cid, w.priority, True)
        w.block_peers.clear()

    def _drop_want(self, s: _Session, w: _Want) -> None:
        s.needy.pop(w.cid, None)
        s.opened.pop(w.cid, None)
        self._cancel_asks(s, w)
        sids = self._cid_sessions.get(w.cid)
        if sids is not None:
            sids.pop(s.id, None)
            if not sids:
                del self._cid_sessions[w.cid]

    def _check_all_exhausted(self, s: _Session, now: float) -> None:
        for w in list(s.wants.values()):
            if not w.block_peers:
                self._check_exhausted(s, w, now)

    def _stuck(self, s: _Session, w: _Want) -> bool:
        """Nobody is asked for *w*'s block, and every candidate said no (DONT_HAVE or timed
        out) or there is none."""
        if w.block_peers:
            return False
        for p in self._candidates(s, w):
            if p.key not in w.dont:
                return False
        return True

    def _check_exhausted(self, s: _Session, w: _Want, now: float) -> None:
        """A peer's answer (DONT_HAVE, timeout, disconnect) may have left nobody to ask about
        *w*: if so, start its give-up clock and search (see the module docstring)."""
        if w.stuck_since is not None:
            if now >= w.wake_at and self._wake(s, w, now):
                # its timer came while a peer was still being asked, and it searched: the
                # answers are forgotten, so the peers may be asked again now (else nobody
                # asks, nothing is stuck, and no timer runs)
                self._route(s, now)
            return
        if not self._stuck(s, w):
            return
        for k in w.asked:
            p = self._peers.get(k)
            if p is not None and p.connected and k not in w.dont:
                return  # a want-have not answered yet
        w.stuck_since = now
        if now >= w.search_at:
            self._search(s, w, now)
        self._arm(s, w, now)

    def _wake(self, s: _Session, w: _Want, now: float) -> bool:
        """*w*'s timer: fail it if it has been stuck for ``give_up_after``, else search again
        if its interval passed. Want-haves still unanswered do not hold it back (they had a
        search interval to answer); a want-block does (it times out on its own). True if it
        needs routing."""
        if w.stuck_since is None or not self._stuck(s, w):
            return False  # progress since; the next "no" checks again
        give_up = self.config.give_up_after
        if give_up is not None and now >= w.stuck_since + give_up:
            self._give_up(s, w, now)
            return False
        routed = False
        if now >= w.search_at:
            self._search(s, w, now)
            routed = True
        self._arm(s, w, now)
        return routed

    def _arm(self, s: _Session, w: _Want, now: float) -> None:
        """Arm *w*'s timer for its next search or its give-up, whichever comes first (a search
        already due -- its timer came while a peer was being asked -- at the next tick)."""
        when = w.search_at
        give_up = self.config.give_up_after
        if give_up is not None and w.stuck_since is not None:
            when = min(when, w.stuck_since + give_up)
        when = max(when, now)
        if when == w.wake_at:
            return
        w.wake_at = when
        self._seq += 1
        heapq.heappush(self._searches, (when, self._seq, s.id, w.cid))

    def _search(self, s: _Session, w: _Want, now: float) -> None:
        """Ask content routing for *w* and tell connected peers not asked yet; from the second
        search on, also forget the answers and ask every connected peer again. The next one
        may run ``search_interval * 2**k`` later (capped at ``max_search_interval``)."""
        cfg = self.config
        if w.searches:
            w.dont.clear()
            w.timed = None
            w.open = True
            s.opened[w.cid] = None
            s.needy[w.cid] = None
        w.searches += 1
        self._totals["searches"] += 1
        self._actions.append(FindProviders(w.cid, s.id))
        if s.id != 0:  # tell connected peers not asked yet (want-have, as in discovery)
            for p in self._peers.values():
                if p.connected and p.presences and p.key not in w.asked:
                    self._ask(p, s, w, WANT_HAVE, now)
        interval = cfg.search_interval * 2.0 ** min(w.searches - 1, 32)
        w.search_at = now + min(interval, cfg.max_search_interval)

    def _give_up(self, s: _Session, w: _Want, now: float) -> None:
        """Nobody could help with *w* for ``give_up_after``: drop it (cancels go out) and tell
        the driver who said what (``WantFailed``)."""
        bad, gone, timed, dont = [], [], [], []
        involved = w.asked | w.dont | s.peers.keys()
        # in the order they connected (the sets' order changes from run to run), then the
        # ones forgotten since
        ordered = [k for k in self._peers if k in involved]
        ordered += sorted((k for k in involved if k not in self._peers), key=str)
        for k in ordered:
            p = self._peers.get(k)
            if k in self._bad:
                bad.append(k)
            elif p is None or not p.connected:
                gone.append(k)
            elif k in w.dont and (w.timed is None or k not in w.timed):
                dont.append(k)
            else:
                timed.append(k)  # timed out, or a want-have never answered
        assert w.stuck_since is not None
        self._actions.append(WantFailed(
            w.cid, s.id, tuple(dont), tuple(timed), tuple(bad), tuple(gone), w.searches,
            now - w.stuck_since))
        self._totals["wants_failed"] += 1
        del s.wants[w.cid]
        self._drop_want(s, w)
        self._route_all(now)  # as a cancel: its slots may serve other wants

    # -- introspection -----------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counters per peer and per session, and totals (a fresh dict each call)."""
        peers = {}
        for k, p in self._peers.items():
            peers[k] = {
                "connected": p.connected,
                "version": p.version,
                "queue_limit": p.limit,
                "live_wants": len(p.live),
                "wants": len(p.wants),
                "pending_bytes": p.pending_bytes,
                "outstanding_bytes": p.pending_bytes + int(p.unreported * p.avg_block),
                "haves": p.haves,
                "dont_haves": p.dont_haves,
                "blocks": p.blocks,
                "bytes": p.bytes,
                "duplicates": p.duplicates,
                "unwanted_blocks": p.unwanted,
                "bad_blocks": p.bad_blocks,
                "timeouts": p.timeouts,
                "wants_resent": p.resent,
                "srtt": p.srtt,
            }
        sessions = {}
        for sid, s in self._sessions.items():
            sessions[sid] = {
                "wants": len(s.wants),
                "waiting": len(s.needy),
                "peers": len(s.peers),
                "blocks": s.blocks,
                "duplicates": s.duplicates,
                "duplicate_ratio": s.dup_ewma,
                "fanout": s.fanout,
                "timeouts": s.timeouts,
            }
        out: dict[str, Any] = dict(self._totals)
        out["peers"] = peers
        out["sessions"] = sessions
        out["wanted"] = len(self._cid_sessions)
        return out
