"""Who waits for which block, and when to stop waiting: the compat drivers' shared bookkeeping
between the driver core's events and py-libp2p-style calls (``get_block``, ``get_blocks_batch``,
``have_block``).

Spec: ipfs/specs bitswap-protocol, "Block presences": DONT_HAVE is an answer. py-libp2p waits
out its whole timeout after one; here a fetch learns at once that a CID is *unavailable* when
every connected Bitswap peer has said DONT_HAVE for it since the fetch began (the engine asks
every connected peer before that can happen: ``fastswap.client.engine``, "DONT_HAVE, timeouts
and content routing"). A peer that connects later clears that, since it has not answered yet; a
peer that speaks 1.0.0/1.1.0 never answers DONT_HAVE, so with one connected a want waits for
its timeout. With no peer connected nothing is unavailable: a peer may connect.

Loop-agnostic: a :class:`Fetch` reports changes through a plain callback that each driver binds
to its own wake-up (a trio or an asyncio event).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import Any

__all__ = ["Fetch", "WantBook"]

Peer = Any


class Fetch:
    """One call's wait for some CIDs: what arrived, what is unavailable, what is left."""

    __slots__ = ("blocks", "left", "on_change", "unavailable")

    def __init__(self, cids: Iterable[bytes], on_change: Callable[[], None]) -> None:
        self.left: set[bytes] = set(cids)
        self.blocks: dict[bytes, Any] = {}
        self.unavailable: set[bytes] = set()
        self.on_change = on_change

    @property
    def settled(self) -> bool:
        """Every CID arrived or is known unavailable."""
        return self.left <= self.unavailable

    def got(self, cid: bytes, data: Any) -> None:
        if cid in self.left:
            self.left.discard(cid)
            self.unavailable.discard(cid)
            self.blocks[cid] = data
            self.on_change()

    def refused(self, cid: bytes) -> None:
        if cid in self.left and cid not in self.unavailable:
            self.unavailable.add(cid)
            self.on_change()


class WantBook:
    """CID -> the fetches waiting for it, and the peers that said DONT_HAVE for it."""

    def __init__(self) -> None:
        self._waiting: dict[bytes, list[Fetch]] = {}
        self._dont: dict[bytes, set[Peer]] = {}
        # presence queries (have_block): cid -> [(the peer asked, or None for any, fetch)]
        self._presence: dict[bytes, list[tuple[Peer, Fetch]]] = {}

    def add(self, fetch: Fetch, cids: Iterable[bytes]) -> None:
        for cid in cids:
            self._waiting.setdefault(cid, []).append(fetch)

    def watch_presence(self, fetch: Fetch, cid: bytes, peer: Peer | None) -> None:
        """Settle *fetch*'s *cid* on a HAVE from *peer* (any peer if None), and refuse it on
        *peer*'s DONT_HAVE."""
        self._presence.setdefault(cid, []).append((peer, fetch))

    def have(self, peer: Peer, cid: bytes) -> None:
        """*peer* said HAVE for *cid*."""
        for asked, f in self._presence.get(cid, ()):
            if asked is None or asked == peer:
                f.got(cid, None)

    def remove(self, fetch: Fetch) -> None:
        """*fetch* is over: forget it (and DONT_HAVE answers nobody waits on any more)."""
        for cid in list(fetch.left) + list(fetch.blocks):
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

    def waiting(self, cid: bytes) -> bool:
        return cid in self._waiting

    def deliver(self, cid: bytes, data: Any) -> None:
        """*cid*'s block is stored: hand it to every fetch waiting for it."""
        self._dont.pop(cid, None)
        for f in self._waiting.get(cid, ()):
            f.got(cid, data)

    def dont_have(self, peer: Peer, cid: bytes, connected: Collection[Peer]) -> None:
        """*peer* said DONT_HAVE for *cid*; *connected*: the Bitswap peers connected now."""
        if cid not in self._waiting:
            return
        for asked, f in self._presence.get(cid, ()):
            if asked == peer:
                f.refused(cid)
        self._dont.setdefault(cid, set()).add(peer)
        self._check(cid, connected)

    def peers_changed(self, connected: Collection[Peer]) -> None:
        """A peer left (the rest may now all have refused) or came (it has not answered)."""
        for cid in list(self._dont):
            self._check(cid, connected)

    def _check(self, cid: bytes, connected: Collection[Peer]) -> None:
        dont = self._dont.get(cid)
        if dont is None or not connected or not all(p in dont for p in connected):
            return
        for f in self._waiting.get(cid, ()):
            f.refused(cid)
