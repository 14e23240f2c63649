"""The k-bucket routing table (routing/kad/table.py): buckets by common prefix length, at most k
each, old live peers kept over newcomers, failing peers evicted, closest() exact."""

from __future__ import annotations

from fastswap.routing.kad.table import RoutingTable, common_prefix_length, kad_key
from tests.routing._kad import peer_ids


def test_distance_helpers() -> None:
    assert common_prefix_length(5, 5) == 256
    assert common_prefix_length(1 << 255, 0) == 0
    assert common_prefix_length(1, 0) == 255


def test_closest_matches_brute_force() -> None:
    me, *others = peer_ids(301, seed=1)
    table = RoutingTable(me, k=20)
    added = [p for p in others if table.add(p)]
    assert me not in table and not table.add(me)
    target = kad_key(b"some key")
    want = sorted(added, key=lambda p: kad_key(p.multihash) ^ target)[:20]
    assert table.closest(target) == want
    assert table.closest(target, 5, exclude=want[:2]) == want[2:7]


def test_full_bucket_keeps_old_peers_until_one_fails() -> None:
    me, *others = peer_ids(400, seed=2)
    table = RoutingTable(me, k=4, max_failures=2)
    me_key = table.self_key
    # bucket 0 (the far half of the keyspace) fills first
    far = [p for p in others if common_prefix_length(me_key, kad_key(p.multihash)) == 0]
    assert len(far) > 6
    assert all(table.add(p) for p in far[:4])
    assert not table.add(far[4])  # full: the newcomer is dropped
    assert table.bucket_sizes()[0] == 4
    table.rpc_failed(far[1])  # one failure: still there, but replaceable
    assert far[1] in table
    assert table.add(far[4]) and far[1] not in table and far[4] in table
    table.rpc_failed(far[2])
    table.rpc_succeeded(far[2])  # an answer forgives
    assert not table.add(far[5])
    table.rpc_failed(far[3])
    table.rpc_failed(far[3])  # max_failures in a row: gone
    assert far[3] not in table and len(table) == 3
