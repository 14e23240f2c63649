"""The connection manager: which peers to keep when there are too many (go-libp2p
``p2p/net/connmgr``, read for its semantics; libp2p has no spec for it).

Semantics, as go-libp2p's ``BasicConnMgr``:

* **Low and high water marks.** When more than ``high`` peers are connected, the manager closes
  the connections of the least valuable peers until ``low`` remain (at most once per
  ``silence`` seconds, go-libp2p's silence period).
* **Grace period.** A peer connected for less than ``grace`` seconds is never trimmed.
* **Protection.** ``protect(peer, tag)`` exempts a peer from trimming until every tag that
  protects it is removed (``unprotect``).
* **Tags and values.** ``tag_peer(peer, tag, value)`` gives the peer a value under a named tag
  (``upsert_tag`` updates it with a function); a peer's value is the sum. Trimming closes the
  lowest value first; between equal values, peers with no open stream go before those with
  some, inbound before outbound (go-libp2p's ``SortByValueAndStreams``), then the longest idle.

What fastswap adds:

* **In use.** ``set_in_use(peer, True)`` says the application is exchanging with the peer (the
  Bitswap node: wants in either direction). A peer in use is never closed for idleness (the
  host's idle timeout) and is trimmed only after every peer not in use.
* **Emergency eviction instead of refusal.** When every established slot of the host is taken,
  a newcomer evicts the least useful peer that is neither protected nor in use and has been
  connected at least ``emergency_min_age`` seconds (go-libp2p's emergency trim ignores the grace
  period; the floor keeps a burst of newcomers from evicting each other). Only if there is no
  such peer is the newcomer refused.

Use it through the host: ``host.connmgr.tag_peer(peer, "bitswap", 10)``,
``host.connmgr.protect(peer, "session")``, ``host.connmgr.set_in_use(peer, True)``. Tags and
protections may be set before the peer connects; tags of a peer that disconnected are dropped
(as go-libp2p does), protections are kept until removed.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

from .. import _defaults

if TYPE_CHECKING:
    from ._connection import Connection
    from .host import Host
    from .keys import PeerId

__all__ = ["ConnManager", "PeerTagInfo"]


class PeerTagInfo:
    """What the manager knows of one peer."""

    __slots__ = ("first_seen", "in_use", "tags", "value")

    def __init__(self, now: float) -> None:
        self.first_seen = now
        self.tags: dict[str, int] = {}
        self.value = 0
        self.in_use = False

    def __repr__(self) -> str:
        return f"<PeerTagInfo value={self.value} in_use={self.in_use} tags={self.tags}>"


class ConnManager:
    """Keeps a host's peer count between the water marks by closing the least useful peers."""

    def __init__(
        self,
        host: Host,
        *,
        low_water: int = _defaults.CONNMGR_LOW_WATER,
        high_water: int = _defaults.CONNMGR_HIGH_WATER,
        grace: float = _defaults.CONNMGR_GRACE_SECONDS,
        silence: float = _defaults.CONNMGR_SILENCE_SECONDS,
        emergency_min_age: float = _defaults.CONNMGR_EMERGENCY_MIN_AGE_SECONDS,
        max_peers: int = _defaults.MAX_TRACKED_PEERS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 <= low_water <= high_water:
            raise ValueError(
                f"connection manager water marks must satisfy 0 <= low ({low_water}) <= high "
                f"({high_water})"
            )
        self.host = host
        self.low_water = low_water
        self.high_water = high_water
        self.grace = grace
        self.silence = silence
        self.emergency_min_age = emergency_min_age
        self.max_peers = max_peers
        self.clock = clock
        self._peers: OrderedDict[PeerId, PeerTagInfo] = OrderedDict()
        self._protected: dict[PeerId, set[str]] = {}
        self._last_trim = -float("inf")
        #: connections closed by trimming and by emergency eviction, for stats
        self.trimmed = 0
        self.evicted = 0

    # -- tags, protection, use ---------------------------------------------------------------

    def _info(self, peer: PeerId) -> PeerTagInfo:
        info = self._peers.get(peer)
        if info is None:
            info = self._peers[peer] = PeerTagInfo(self.clock())
            # entries for peers never connected (tags set early) must not pile up
            while len(self._peers) > self.max_peers:
                old, _ = next(iter(self._peers.items()))
                if self.host.connection(old) is not None:
                    self._peers.move_to_end(old)
                    break
                del self._peers[old]
        return info

    def tag_peer(self, peer: PeerId, tag: str, value: int) -> None:
        """Give *peer* *value* under *tag* (replacing the tag's old value)."""
        info = self._info(peer)
        info.value += value - info.tags.get(tag, 0)
        info.tags[tag] = value

    def untag_peer(self, peer: PeerId, tag: str) -> None:
        info = self._peers.get(peer)
        if info is not None and tag in info.tags:
            info.value -= info.tags.pop(tag)

    def upsert_tag(self, peer: PeerId, tag: str, upsert: Callable[[int], int]) -> None:
        """Set *tag* to ``upsert(old value or 0)``."""
        info = self._info(peer)
        self.tag_peer(peer, tag, upsert(info.tags.get(tag, 0)))

    def value(self, peer: PeerId) -> int:
        info = self._peers.get(peer)
        return 0 if info is None else info.value

    def tag_info(self, peer: PeerId) -> PeerTagInfo | None:
        return self._peers.get(peer)

    def protect(self, peer: PeerId, tag: str) -> None:
        """Never trim *peer* while any tag protects it."""
        self._protected.setdefault(peer, set()).add(tag)

    def unprotect(self, peer: PeerId, tag: str) -> bool:
        """Remove one protection; True if other tags still protect the peer."""
        tags = self._protected.get(peer)
        if tags is None:
            return False
        tags.discard(tag)
        if not tags:
            del self._protected[peer]
            return False
        return True

    def is_protected(self, peer: PeerId, tag: str | None = None) -> bool:
        tags = self._protected.get(peer)
        if not tags:
            return False
        return tag is None or tag in tags

    def set_in_use(self, peer: PeerId, in_use: bool = True) -> None:
        """Say whether the application is exchanging with *peer* (not idle, trimmed last)."""
        if in_use:
            self._info(peer).in_use = True
        else:
            info = self._peers.get(peer)
            if info is not None:
                info.in_use = False

    def in_use(self, peer: PeerId) -> bool:
        info = self._peers.get(peer)
        return info is not None and info.in_use

    def keeps(self, peer: PeerId) -> bool:
        """True if *peer* is protected or in use: not to be closed for idleness."""
        return self.is_protected(peer) or self.in_use(peer)

    # -- called by the host ----------------------------------------------------------------

    def connected(self, conn: Connection) -> None:
        info = self._info(conn.remote_peer)
        self._peers.move_to_end(conn.remote_peer)
        if self.host.connection_count(conn.remote_peer) <= 1:
            info.first_seen = self.clock()

    def disconnected(self, peer: PeerId) -> None:
        if self.host.connection(peer) is None:
            self._peers.pop(peer, None)

    def _sort_key(self, peer: PeerId) -> tuple:
        info = self._peers.get(peer)
        conns = self.host._by_peer.get(peer, ())
        streams = sum(len(c._streams) for c in conns)
        inbound = any(not c.initiator for c in conns)
        last_active = max((c.last_active for c in conns), default=0.0)
        value = 0 if info is None else info.value
        in_use = info is not None and info.in_use
        # ascending: the first sorts are the first to go
        return (in_use, value, streams > 0, not inbound, last_active)

    def _first_seen(self, peer: PeerId) -> float:
        info = self._peers.get(peer)
        return self.clock() if info is None else info.first_seen

    def trim(self, *, force: bool = False) -> int:
        """Close the least useful peers until ``low_water`` remain, if more than ``high_water``
        are connected (and the last trim was ``silence`` seconds ago, unless *force*).
        Returns the number of connections closed."""
        host = self.host
        peers = list(host._by_peer)
        if self.high_water <= 0 or len(peers) <= self.high_water:
            return 0
        now = self.clock()
        if not force and now - self._last_trim < self.silence:
            return 0
        self._last_trim = now
        candidates = [
            p for p in peers
            if not self.is_protected(p) and now - self._first_seen(p) >= self.grace
        ]
        excess = len(peers) - self.low_water
        if not candidates or excess <= 0:
            return 0
        candidates.sort(key=self._sort_key)
        closed = 0
        for peer in candidates[:excess]:
            closed += host._close_peer(peer, "trimmed by the connection manager")
        self.trimmed += closed
        return closed

    def _evictable(self) -> list[PeerId]:
        now = self.clock()
        return [
            p for p in self.host._by_peer
            if not self.is_protected(p) and not self.in_use(p)
            and now - self._first_seen(p) >= self.emergency_min_age
        ]

    def can_evict(self) -> bool:
        """True if some peer could make room for a newcomer."""
        return bool(self._evictable())

    def evict_one(self) -> bool:
        """Make room for a newcomer: close the least useful evictable peer; False if none."""
        host = self.host
        candidates = self._evictable()
        if not candidates:
            return False
        victim = min(candidates, key=self._sort_key)
        self.evicted += host._close_peer(victim, "evicted for a newcomer (connection slots full)")
        return True
