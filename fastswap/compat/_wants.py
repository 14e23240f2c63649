"""Who waits for which block, and when to stop waiting: the compat drivers' shared bookkeeping
between the driver core and py-libp2p-style calls (``get_block``, ``get_blocks_batch``,
``have_block``), and the contract both drivers keep for ``BitswapClient``.

Spec: ipfs/specs bitswap-protocol, "Block presences": DONT_HAVE is an answer. py-libp2p waits
out its whole timeout after one; here a fetch learns at once that a CID is *unavailable* when
every connected Bitswap peer has said DONT_HAVE for it since the fetch began (the engine asks
every connected peer before that can happen: ``fastswap.client.engine``, "DONT_HAVE, timeouts
and content routing"). A peer that connects later clears that, since it has not answered yet; a
peer that speaks 1.0.0/1.1.0 never answers DONT_HAVE, so with one connected a want waits for
its timeout. With no peer connected nothing is unavailable: a peer may connect.

A :class:`WantBook` listens to its driver core (:meth:`fastswap.core.DriverCore.listen`): HAVE,
DONT_HAVE, peers joining and leaving, blocks stored, wants the client gave up on (WantFailed:
the fetch of that session has the CID unavailable). So it works the same over every driver --
the trio driver on a py-libp2p host and ``fastswap.Node`` on fastswap's host -- and lives in
the driver's thread. A :class:`Fetch` reports changes through a plain callback that each driver
binds to its own wake-up (a trio or an asyncio event). A fetch records *which* CIDs arrived;
their data is read from the block store by the caller (``session.py``), after they were stored.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any, Protocol

from ..core import DriverCore
from ..events import BlocksStored, DontHave, Have, Notice, PeerJoined, PeerLeft, WantFailed

__all__ = ["CompatDriver", "Fetch", "WantBook"]

Peer = Any


class Fetch:
    """One call's wait for some CIDs: what arrived (or, for a presence query, what a peer
    said HAVE for), what is unavailable, what is left. ``session``: its engine session."""

    __slots__ = ("arrived", "cids", "closed", "left", "on_change", "presence_only", "session",
                 "unavailable")

    def __init__(self, cids: Sequence[bytes], on_change: Callable[[], None], session: int,
                 presence_only: bool = False) -> None:
        self.cids = list(cids)
        self.left: set[bytes] = set(self.cids)
        self.arrived: set[bytes] = set()
        self.unavailable: set[bytes] = set()
        self.on_change = on_change
        self.session = session
        self.presence_only = presence_only
        self.closed = False

    @property
    def settled(self) -> bool:
        """Every CID arrived or is known unavailable."""
        return self.left <= self.unavailable

    def got(self, cid: bytes) -> None:
        if cid in self.left:
            self.left.discard(cid)
            self.unavailable.discard(cid)
            self.arrived.add(cid)
            self.on_change()

    def refused(self, cid: bytes) -> None:
        if cid in self.left and cid not in self.unavailable:
            self.unavailable.add(cid)
            self.on_change()


class WantBook:
    """CID -> the fetches waiting for it, and the peers that said DONT_HAVE for it; fetches
    opened and closed on *core* (whose driver's clock is *clock*)."""

    def __init__(self, core: DriverCore, clock: Callable[[], float]) -> None:
        self.core = core
        self._clock = clock
        self._waiting: dict[bytes, list[Fetch]] = {}
        self._dont: dict[bytes, set[Peer]] = {}
        # presence queries (have_block): cid -> [(the peer asked, or None for any, fetch)]
        self._presence: dict[bytes, list[tuple[Peer, Fetch]]] = {}
        self._background: int | None = None
        self._stop_listening = core.listen(self._on_notice)

    def close(self) -> None:
        """Stop listening to the core (the driver is stopping)."""
        self._stop_listening()

    # -- fetches ---------------------------------------------------------------------------

    def open(self, cids: Sequence[bytes], on_change: Callable[[], None], *,
             stored: Callable[[Sequence[bytes]], Sequence[bool]] | None = None,
             presence_only: bool = False, peer: Peer = None) -> Fetch:
        """Wait for *cids* (binary, unique) in an engine session of their own; *stored* (the
        driver's store's ``has_many``) settles those already here. ``presence_only``: settle
        a CID when a peer (*peer*, if given) says HAVE; *peer*'s DONT_HAVE refuses it. Nothing
        is asked until :meth:`want`; :meth:`close` the fetch when done."""
        fetch = Fetch(cids, on_change, self.core.new_session(self._clock()), presence_only)
        for cid in fetch.cids:
            self._waiting.setdefault(cid, []).append(fetch)
            if presence_only:
                self._presence.setdefault(cid, []).append((peer, fetch))
        if stored is not None and not presence_only and fetch.cids:
            for cid, here in zip(fetch.cids, stored(fetch.cids)):
                if here:
                    fetch.got(cid)
        return fetch

    def want(self, fetch: Fetch, peers: Iterable[Peer] = ()) -> None:
        """Ask for what *fetch* still lacks; *peers* (connected, or connecting) are asked
        first: they join its session (not for a presence query, which asks with want-have
        only)."""
        if fetch.closed:
            return
        now = self._clock()
        peers = list(peers)
        if peers and not fetch.presence_only:
            self.core.add_peers(fetch.session, peers, now)
        want = [c for c in fetch.cids if c in fetch.left]
        if want:
            self.core.want(fetch.session, want, now)

    def close_fetch(self, fetch: Fetch) -> None:
        """*fetch* is over: forget it (and DONT_HAVE answers nobody waits on any more) and
        close its session (its wants are cancelled at the peers)."""
        if fetch.closed:
            return
        fetch.closed = True
        for cid in fetch.cids:
            qs = self._presence.get(cid)
            if qs is not None:
                qs[:] = [q for q in qs if q[1] is not fetch]
                if not qs:
                    del self._presence[cid]
            ws = self._waiting.get(cid)
            if ws is None or fetch not in ws:
                continue
            ws.remove(fetch)
            if not ws:
                del self._waiting[cid]
                self._dont.pop(cid, None)
        self.core.close_session(fetch.session, self._clock())

    def want_background(self, cids: Sequence[bytes]) -> None:
        """Keep wanting *cids* (``BitswapClient.want_block``), in one session for all such
        wants, until they arrive (stored like any received block) or are cancelled."""
        now = self._clock()
        if self._background is None:
            self._background = self.core.new_session(now)
        self.core.want(self._background, list(cids), now)

    def cancel_background(self, cids: Sequence[bytes]) -> None:
        if self._background is not None:
            self.core.cancel(self._background, list(cids), self._clock())

    def waiting(self, cid: bytes) -> bool:
        return cid in self._waiting

    # -- what the core tells -----------------------------------------------------------------

    def _on_notice(self, notice: Notice) -> None:
        match notice:
            case Have(peer, cid):
                self._have(peer, cid)
            case DontHave(peer, cid):
                self._dont_have(peer, cid)
            case BlocksStored(cids):
                waiting = self._waiting
                for cid in cids:
                    if cid in waiting:
                        self._deliver(cid)
            case WantFailed(cid, session):
                # the client gave up on it (nobody could provide it for give_up_after): the
                # fetch of that session learns now rather than at its own timeout
                for f in self._waiting.get(cid, ()):
                    if f.session == session:
                        f.refused(cid)
            case PeerJoined() | PeerLeft():
                # one left (the rest may now all have refused) or came (it has not answered)
                connected = self.core.peers
                for cid in list(self._dont):
                    self._check(cid, connected)

    def _got(self, fetch: Fetch, cid: bytes) -> None:
        fetch.got(cid)
        if fetch.presence_only and fetch.settled:
            # at once, from inside the message's handling: the want-block the engine queued
            # for the peer that said HAVE is dropped before anything is sent
            self.close_fetch(fetch)

    def _have(self, peer: Peer, cid: bytes) -> None:
        for asked, f in list(self._presence.get(cid, ())):
            if asked is None or asked == peer:
                self._got(f, cid)

    def _deliver(self, cid: bytes) -> None:
        """*cid*'s block is stored: every fetch waiting for it has it (a presence query too:
        a block of at most 1 KiB answers a want-have itself)."""
        self._dont.pop(cid, None)
        for f in list(self._waiting.get(cid, ())):
            self._got(f, cid)

    def _dont_have(self, peer: Peer, cid: bytes) -> None:
        if cid not in self._waiting:
            return
        for asked, f in self._presence.get(cid, ()):
            if asked == peer:
                f.refused(cid)
        self._dont.setdefault(cid, set()).add(peer)
        self._check(cid, self.core.peers)

    def _check(self, cid: bytes, connected: Collection[Peer]) -> None:
        dont = self._dont.get(cid)
        if dont is None:
            return
        if not connected or not all(p in dont for p in connected):
            return
        for f in self._waiting.get(cid, ()):
            f.refused(cid)


class CompatDriver(Protocol):
    """What ``BitswapClient`` asks of a driver (``_trio.TrioDriver`` on a py-libp2p host,
    ``_asyncio.NodeDriver`` on fastswap's host). Every method is called from trio."""

    started: bool
    stopped: bool

    @property
    def peers(self) -> list[Any]: ...

    async def start(self, nursery: Any = None) -> None: ...

    async def stop(self) -> None: ...

    def added(self, items: Iterable[tuple[bytes, bytes]]) -> None: ...

    def want_background(self, cids: Sequence[bytes]) -> None: ...

    def cancel_background(self, cids: Sequence[bytes]) -> None: ...

    async def fetch(self, cids: Sequence[bytes], peer: Any = None, timeout: float = math.inf,
                    *, presence_only: bool = False) -> Fetch: ...
