"""The Kademlia keyspace and k-bucket routing table: libp2p/specs kad-dht "Distance" and
"Kademlia routing table".

Distance is ``XOR(sha256(key1), sha256(key2))``, read as a 256-bit integer. Bucket ``i`` holds
peers whose hashed id shares exactly ``i`` leading bits with ours (its common prefix length,
cpl); each holds at most ``k`` peers. The spec unfolds buckets lazily; indexing them by cpl from
the start gives the same table (a bucket is empty until a peer that close exists), with none of
the splitting code.

Policy (Kademlia's: old, live peers are worth more than new ones): a peer is added if its bucket
has room; into a full bucket only in place of a peer that has failed an RPC since it last
answered. ``rpc_failed`` removes a peer after ``max_failures`` consecutive failures;
``rpc_succeeded`` clears its count. Pure: no clock, no I/O.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterable

from ... import _defaults
from ...net.keys import PeerId

__all__ = ["KEY_BITS", "RoutingTable", "common_prefix_length", "distance", "kad_key"]

KEY_BITS = 256


def kad_key(raw: bytes) -> int:
    """A key's point in the keyspace: sha256 of its bytes as a big-endian integer."""
    return int.from_bytes(hashlib.sha256(raw).digest(), "big")


def distance(a: int, b: int) -> int:
    return a ^ b


def common_prefix_length(a: int, b: int) -> int:
    """Leading bits *a* and *b* share (256 when equal)."""
    return KEY_BITS - (a ^ b).bit_length()


class _Entry:
    __slots__ = ("failures", "key", "peer")

    def __init__(self, peer: PeerId, key: int) -> None:
        self.peer = peer
        self.key = key
        self.failures = 0


class RoutingTable:
    """The peers we route through, by common prefix length with our own id."""

    def __init__(
        self,
        self_id: PeerId,
        *,
        k: int = _defaults.KAD_K,
        max_failures: int = _defaults.KAD_MAX_RPC_FAILURES,
    ) -> None:
        self.self_id = self_id
        self.self_key = kad_key(self_id.multihash)
        self.k = k
        self.max_failures = max_failures
        # bucket i: peers with cpl == i, oldest first (dict order)
        self._buckets: list[dict[PeerId, _Entry]] = [{} for _ in range(KEY_BITS)]
        self._where: dict[PeerId, int] = {}

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, peer: object) -> bool:
        return peer in self._where

    def peers(self) -> list[PeerId]:
        return list(self._where)

    def bucket_sizes(self) -> dict[int, int]:
        """Non-empty buckets: cpl -> peers."""
        return {i: len(b) for i, b in enumerate(self._buckets) if b}

    def add(self, peer: PeerId) -> bool:
        """Add *peer* (a DHT server); True if it is in the table afterwards."""
        if peer == self.self_id:
            return False
        if peer in self._where:
            return True
        key = kad_key(peer.multihash)
        cpl = common_prefix_length(self.self_key, key)
        bucket = self._buckets[cpl]
        if len(bucket) >= self.k:
            stale = next((e for e in bucket.values() if e.failures), None)
            if stale is None:
                return False
            self.remove(stale.peer)
        bucket[peer] = _Entry(peer, key)
        self._where[peer] = cpl
        return True

    def remove(self, peer: PeerId) -> bool:
        cpl = self._where.pop(peer, None)
        if cpl is None:
            return False
        del self._buckets[cpl][peer]
        return True

    def rpc_succeeded(self, peer: PeerId) -> None:
        cpl = self._where.get(peer)
        if cpl is not None:
            self._buckets[cpl][peer].failures = 0

    def rpc_failed(self, peer: PeerId) -> None:
        """Count a failed RPC; the peer leaves the table after ``max_failures`` in a row."""
        cpl = self._where.get(peer)
        if cpl is None:
            return
        entry = self._buckets[cpl][peer]
        entry.failures += 1
        if entry.failures >= self.max_failures:
            self.remove(peer)

    def closest(
        self, key: int, count: int | None = None, exclude: Iterable[PeerId] = ()
    ) -> list[PeerId]:
        """The *count* (default k) peers closest to *key*, closest first."""
        count = self.k if count is None else count
        skip = set(exclude)
        entries = (
            e for b in self._buckets if b for e in b.values() if e.peer not in skip
        )
        best = heapq.nsmallest(count, entries, key=lambda e: e.key ^ key)
        return [e.peer for e in best]
