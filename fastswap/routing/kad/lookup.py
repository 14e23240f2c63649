"""The iterative lookup: libp2p/specs kad-dht "Peer routing" (and "Content routing", which
walks the same way with GET_PROVIDERS), as a state machine with no I/O and no clock.

A :class:`Lookup` is seeded with the closest peers of our routing table. The driver asks
:meth:`Lookup.next_queries` for peers to send the RPC to (at most ``alpha`` are in flight), and
reports each outcome with :meth:`Lookup.on_response` (closer peers and providers it named) or
:meth:`Lookup.on_failure` (error or timeout). It is :attr:`~Lookup.done` when the ``k`` closest
peers it has heard of (failed ones aside) have all answered, when nothing is left to ask, or,
for a provider lookup, once ``want_providers`` distinct providers are known.

Hops: a seed is one hop away; a peer first named by a peer ``h`` hops away is ``h + 1`` hops
away. :attr:`Lookup.hops` is the hop count of the answer: for a provider lookup, of the first
peer that returned a provider; otherwise the largest hop count among the ``k`` closest peers
that answered (how far the walk had to go). Both drivers (``dht.py`` on the network and
``fastswap.testing.kad`` on a virtual network) run this one machine.

Bounds: a response adds at most what :mod:`.messages` let through, and the lookup keeps only
its ``max_candidates`` closest unqueried candidates, so no answer can make it grow without end.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from enum import Enum

from ... import _defaults
from ...net.keys import PeerId
from .messages import KadPeer
from .table import kad_key

__all__ = ["Lookup", "PeerState"]


class PeerState(Enum):
    HEARD = "heard"
    WAITING = "waiting"
    ANSWERED = "answered"
    FAILED = "failed"


class _Seen:
    __slots__ = ("dist", "hop", "info", "state")

    def __init__(self, info: KadPeer, dist: int, hop: int) -> None:
        self.info = info
        self.dist = dist
        self.hop = hop
        self.state = PeerState.HEARD


class Lookup:
    """One lookup of *key* (raw bytes: a peer id or a multihash; hashed here)."""

    def __init__(
        self,
        key: bytes,
        seeds: list[KadPeer],
        *,
        self_id: PeerId,
        k: int = _defaults.KAD_K,
        alpha: int = _defaults.KAD_ALPHA,
        want_providers: int = 0,
        max_candidates: int = _defaults.KAD_LOOKUP_MAX_CANDIDATES,
    ) -> None:
        self.key = key
        self.target = kad_key(key)
        self.self_id = self_id
        self.k = k
        self.alpha = alpha
        self.want_providers = want_providers
        self.max_candidates = max(max_candidates, k)
        self._seen: dict[PeerId, _Seen] = {}
        # (distance, peer id bytes) of every peer not failed, closest first
        self._order: list[tuple[int, bytes]] = []
        self._by_bytes: dict[bytes, PeerId] = {}
        self.inflight = 0
        self.queries = 0
        self._heard = 0  # peers in state HEARD
        self.providers: dict[PeerId, KadPeer] = {}
        self.provider_hop: int | None = None
        for s in seeds:
            self._hear(s, 1)

    # -- feeding ---------------------------------------------------------------------------

    def _hear(self, info: KadPeer, hop: int) -> None:
        peer = info.peer
        if peer == self.self_id:
            return
        seen = self._seen.get(peer)
        if seen is not None:
            if hop < seen.hop and seen.state is PeerState.HEARD:
                seen.hop = hop
            if not seen.info.addrs and info.addrs:
                seen.info = info
            return
        dist = kad_key(peer.multihash) ^ self.target
        entry = (dist, peer.multihash)
        if self._heard >= self.max_candidates:
            # full: keep the closest; drop the farthest unqueried candidate if this one is closer
            far = self._farthest_unqueried()
            if far is None or far.dist <= dist:
                return
            self._forget(far)
        seen = _Seen(info, dist, hop)
        self._seen[peer] = seen
        self._by_bytes[peer.multihash] = peer
        self._heard += 1
        bisect.insort(self._order, entry)

    def _farthest_unqueried(self) -> _Seen | None:
        for dist, raw in reversed(self._order):
            s = self._seen[self._by_bytes[raw]]
            if s.state is PeerState.HEARD:
                return s
        return None

    def _forget(self, s: _Seen) -> None:
        peer = s.info.peer
        del self._seen[peer]
        del self._by_bytes[peer.multihash]
        self._heard -= 1  # only unqueried candidates are forgotten
        i = bisect.bisect_left(self._order, (s.dist, peer.multihash))
        del self._order[i]

    def on_response(
        self, peer: PeerId, closer: Sequence[KadPeer], providers: Sequence[KadPeer] = ()
    ) -> None:
        s = self._seen.get(peer)
        if s is None or s.state is not PeerState.WAITING:
            return
        s.state = PeerState.ANSWERED
        self.inflight -= 1
        for p in providers:
            if p.peer not in self.providers:
                if self.provider_hop is None:
                    self.provider_hop = s.hop
                self.providers[p.peer] = p
        for c in closer:
            self._hear(c, s.hop + 1)

    def on_failure(self, peer: PeerId) -> None:
        s = self._seen.get(peer)
        if s is None or s.state is not PeerState.WAITING:
            return
        s.state = PeerState.FAILED
        self.inflight -= 1
        i = bisect.bisect_left(self._order, (s.dist, peer.multihash))
        del self._order[i]

    # -- asking ----------------------------------------------------------------------------

    def _closest_live(self) -> list[_Seen]:
        """The k closest peers not failed (heard, waiting or answered)."""
        out = []
        for _, raw in self._order[: self.k]:
            out.append(self._seen[self._by_bytes[raw]])
        return out

    @property
    def done(self) -> bool:
        if self.want_providers and len(self.providers) >= self.want_providers:
            return True
        closest = self._closest_live()
        if all(s.state is PeerState.ANSWERED for s in closest):
            return True  # also true when nothing at all is left
        return self.inflight == 0 and not any(s.state is PeerState.HEARD for s in closest)

    def next_queries(self) -> list[KadPeer]:
        """Peers to query now (each marked waiting): the unqueried ones among the k closest,
        closest first, up to ``alpha`` in flight."""
        if self.done:
            return []
        out: list[KadPeer] = []
        for _, raw in self._order[: self.k]:
            if self.inflight >= self.alpha:
                break
            s = self._seen[self._by_bytes[raw]]
            if s.state is PeerState.HEARD:
                s.state = PeerState.WAITING
                self._heard -= 1
                self.inflight += 1
                self.queries += 1
                out.append(s.info)
        return out

    # -- results ---------------------------------------------------------------------------

    def closest(self, count: int | None = None) -> list[KadPeer]:
        """The closest peers that answered, closest first."""
        count = self.k if count is None else count
        out = []
        for _, raw in self._order:
            s = self._seen[self._by_bytes[raw]]
            if s.state is PeerState.ANSWERED:
                out.append(s.info)
                if len(out) >= count:
                    break
        return out

    def answered(self) -> list[KadPeer]:
        """Every peer that answered, closest first."""
        return [self._seen[self._by_bytes[raw]].info for _, raw in self._order
                if self._seen[self._by_bytes[raw]].state is PeerState.ANSWERED]

    @property
    def hops(self) -> int:
        if self.want_providers and self.provider_hop is not None:
            return self.provider_hop
        answered = [self._seen[p.peer].hop for p in self.closest()]
        return max(answered, default=0)
