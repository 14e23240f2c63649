"""A 50-node DHT finds the providers of 1,000 CIDs (issue 12's "Done when"), on the virtual
network (fastswap/testing/kad.py): the same KadCore and Lookup as the real DHT, with RPCs
delivered on a virtual clock, so 48 hours of record life pass in no wall time and the run
replays exactly. (Real hosts on loopback are tested with fewer nodes in test_kad_host.py.)

Checked: every lookup finds its provider; hop counts stay small (the distribution is printed);
batched providing used one lookup per keyspace region, not one per CID, and still reached most
of each key's true k closest nodes; records vanish when they expire, survive when re-announced
in time, and survive a fifth of the nodes going down."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from fastswap.cid import compute_cid
from fastswap.routing.kad.dht import cid_key
from fastswap.routing.kad.table import kad_key
from fastswap.testing.kad import KadSwarm

N_NODES = 50
N_CIDS = 1000
TTL = 48 * 3600.0


@pytest.fixture(scope="module")
def swarm(tmp_path_factory: pytest.TempPathFactory):
    s = KadSwarm(N_NODES, tmp_path_factory.mktemp("swarm"), seed=12)
    s.bootstrap()
    yield s
    s.close()


def _find_all(swarm: KadSwarm, cids, owners, rng) -> tuple[int, Counter]:
    """Look each CID up from a random other node: (lookups that found the owner, hop counts
    to the first provider)."""
    found = 0
    hops: Counter = Counter()
    for c in cids:
        node = swarm.nodes[rng.randrange(N_NODES)]
        while node.peer == owners[c]:
            node = swarm.nodes[rng.randrange(N_NODES)]
        lookup = swarm.find_providers(node, c)
        if owners[c] in lookup.providers:
            found += 1
            hops[lookup.hops] += 1
    return found, hops


def test_closest_peer_walks_converge_in_few_hops(swarm: KadSwarm) -> None:
    """FIND_NODE walks for random keys: how far a walk goes before the k closest answered."""
    rng = random.Random(3)
    hops: Counter = Counter()
    queries = []
    for i in range(200):
        node = swarm.nodes[rng.randrange(N_NODES)]
        key = rng.randbytes(34)
        lookup = swarm.closest(node, key)
        truth = sorted((n for n in swarm.nodes if n is not node),
                       key=lambda n: kad_key(n.peer.multihash) ^ kad_key(key))[:20]
        assert [kp.peer for kp in lookup.closest()] == [n.peer for n in truth]
        hops[lookup.hops] += 1
        queries.append(lookup.queries)
    queries.sort()
    print(f"\nFIND_NODE walk depth: {sorted(hops.items())}; RPCs per walk: median "
          f"{queries[len(queries) // 2]}, max {queries[-1]}")
    assert max(hops) <= 4


def test_fifty_nodes_find_providers_of_a_thousand_cids(swarm: KadSwarm) -> None:
    rng = random.Random(1)
    assert all(len(n.core.table) >= 20 for n in swarm.nodes)  # bootstrap filled the tables
    cids = [compute_cid(i.to_bytes(4, "big")) for i in range(N_CIDS)]
    owners = {}
    lookups = 0
    provided_from = swarm.clock.now
    for i in range(0, N_CIDS, 100):  # ten seeders, 100 CIDs each, batched
        node = swarm.nodes[rng.randrange(N_NODES)]
        report = swarm.provide(node, cids[i : i + 100])
        lookups += report.lookups
        assert report.keys == 100 and report.messages == 100 * 20
        for c in cids[i : i + 100]:
            owners[c] = node.peer
    assert lookups <= 10 * 8, lookups  # a few regions per batch, not 100 lookups
    provided_until = swarm.clock.now

    # how many of each key's true 20 closest nodes hold its record
    held = []
    for c in cids:
        key = cid_key(c)
        truth = sorted(swarm.nodes, key=lambda n: kad_key(n.peer.multihash) ^ kad_key(key))[:20]
        held.append(sum(1 for n in truth if n.core.store.get(key, swarm.clock.now)))
    held.sort()
    print(f"\nlookups for providing {N_CIDS} CIDs: {lookups}; records on each key's true 20 "
          f"closest nodes: min {held[0]}, median {held[len(held) // 2]}")
    assert held[0] >= 12 and held[len(held) // 2] >= 17

    found, hops = _find_all(swarm, cids, owners, rng)
    print(f"lookups that found the provider: {found}/{N_CIDS}; hops: {sorted(hops.items())}")
    assert found == N_CIDS
    assert max(hops) <= 3

    # a fifth of the nodes go down: records live on k = 20 nodes, so lookups still succeed
    down = rng.sample([n for n in swarm.nodes if n.peer not in owners.values()], N_NODES // 5)
    for n in down:
        n.up = False
    try:
        sample = rng.sample(cids, 200)
        found, hops = _find_all(swarm, sample, owners, random.Random(2))
        print(f"with {len(down)} nodes down: {found}/200; hops: {sorted(hops.items())}")
        assert found == 200
    finally:
        for n in down:
            n.up = True

    # expiry: re-announce half the CIDs at 22 h; at 48 h the others' records are gone
    renewed, lapsed = cids[:500], cids[500:]
    swarm.advance(provided_from + 22 * 3600.0 - swarm.clock.now)
    by_owner: dict = {}
    for c in renewed:
        by_owner.setdefault(owners[c], []).append(c)
    for peer, its in by_owner.items():
        swarm.provide(swarm.by_peer[peer], its)
    # an hour before the first records expire (the lookups themselves take virtual time)...
    swarm.advance(provided_from + TTL - 3600.0 - swarm.clock.now)
    sample = rng.sample(lapsed, 100)
    assert _find_all(swarm, sample, owners, rng)[0] == 100
    assert swarm.clock.now < provided_from + TTL
    # ...and a minute after the last ones expired
    swarm.advance(provided_until + TTL + 60.0 - swarm.clock.now)
    assert _find_all(swarm, sample, owners, rng)[0] == 0
    assert _find_all(swarm, rng.sample(renewed, 100), owners, rng)[0] == 100
    swept = sum(n.core.store.sweep(swarm.clock.now) for n in swarm.nodes)
    assert swept >= 500 * 15  # the lapsed records, from every node that held one
