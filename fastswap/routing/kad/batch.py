"""Batched providing: announce many keys with few lookups (libp2p/specs kad-dht "Content
routing" sends each key's ADD_PROVIDER to its k closest peers; finding those peers one lookup
per key would cost a million-block repo a million lookups).

Keys close in the keyspace share their closest peers. So keys are sorted by their point in the
keyspace and one lookup serves a whole *region*: the keys sharing ``bits`` leading bits with its
target. The lookup's k-th closest peer sets the scale: the k closest peers of the target lie
within that distance ``d`` of it, and a region a quarter as wide (``REGION_SHRINK_BITS`` more
bits than ``d`` leaves) keeps every key of it near enough to the target that the key's own k
closest peers are, nearly all, among the peers that answered the lookup (or in our own table
near the region: :func:`candidates`). Each key of the region goes to the k peers closest to it
among those. The regions number about ``4 N / k`` for a
network of N peers, whatever the number of keys. (go-libp2p-kad-dht's newer "sweep" reprovider
walks keyspace regions the same way.) ``tests/routing/test_kad_swarm.py`` measures how many of
each key's true k closest peers get its record.

Pure functions: the asyncio provider (``fastswap.routing.providing``) and the virtual network
(``fastswap.testing.kad``) run the lookups and the sends themselves.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable

from ...net.keys import PeerId
from .messages import KadPeer
from .table import KEY_BITS, kad_key

__all__ = ["HashedKey", "assign", "candidates", "hash_keys", "region_bits", "split_regions"]

#: (point in the keyspace, raw key)
HashedKey = tuple[int, bytes]


def hash_keys(keys: Iterable[bytes]) -> list[HashedKey]:
    """Distinct keys with their keyspace points, in keyspace order."""
    return sorted({(kad_key(k), k) for k in keys})


#: A region is 2**REGION_SHRINK_BITS times narrower than the k-closest ball of its lookup.
REGION_SHRINK_BITS = 2


def region_bits(target: int, closest: list[KadPeer], k: int) -> int:
    """Leading bits a region served by one lookup shares: the common prefix length of the
    target with its k-th closest peer, plus REGION_SHRINK_BITS (0, one region, when fewer than
    k peers answered: the lookup then saw the whole network)."""
    if len(closest) < k:
        return 0
    farthest = max(kad_key(p.peer.multihash) ^ target for p in closest[:k])
    return min(KEY_BITS, max(0, KEY_BITS - farthest.bit_length() + REGION_SHRINK_BITS))


def split_regions(keys: list[HashedKey], bits: int) -> list[list[HashedKey]]:
    """Sorted keys cut into runs that share their first *bits* bits."""
    shift = KEY_BITS - bits
    out: list[list[HashedKey]] = []
    prefix = None
    for hk in keys:
        p = hk[0] >> shift
        if p != prefix:
            out.append([])
            prefix = p
        out[-1].append(hk)
    return out


def assign(keys: list[HashedKey], candidates: list[KadPeer], k: int) -> dict[PeerId, list[bytes]]:
    """For each key, its k closest *candidates*: peer -> the keys to announce to it."""
    points = [(kad_key(c.peer.multihash), c.peer) for c in candidates]
    out: dict[PeerId, list[bytes]] = {}
    for point, key in keys:
        for _, peer in heapq.nsmallest(k, points, key=lambda pp: pp[0] ^ point):
            out.setdefault(peer, []).append(key)
    return out


def candidates(answered: list[KadPeer], table: list[KadPeer]) -> list[KadPeer]:
    """The peers a region's keys may go to: those that answered its lookup, and our own table's
    closest to the region (peers the walk did not need to ask)."""
    out = {kp.peer: kp for kp in table}
    out.update((kp.peer, kp) for kp in answered)
    return list(out.values())
