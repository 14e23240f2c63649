"""The iterative lookup state machine (routing/kad/lookup.py), driven by hand against a model
network: it finds the true k closest peers, never has more than alpha RPCs in flight, gets past
failures, keeps a bounded candidate list, and stops early once it has the providers it wants."""

from __future__ import annotations

import random

from fastswap.routing.kad.lookup import Lookup
from fastswap.routing.kad.table import RoutingTable, kad_key
from tests.routing._kad import kad_peer, peer_ids

K = 8


def _network(n: int, seed: int) -> dict:
    """Each peer's routing table over all the others (k = K: partial views)."""
    ids = peer_ids(n, seed)
    tables = {}
    for p in ids:
        t = RoutingTable(p, k=K)
        for q in ids:
            t.add(q)
        tables[p] = t
    return tables


def _drive(lookup: Lookup, tables: dict, *, down=frozenset(), providers=None) -> int:
    """Answer the lookup's queries in a random order; the most RPCs ever in flight."""
    rng = random.Random(0)
    waiting: list = []
    most = 0
    while True:
        waiting += lookup.next_queries()
        most = max(most, lookup.inflight)
        if not waiting:
            return most
        kp = waiting.pop(rng.randrange(len(waiting)))
        if kp.peer in down:
            lookup.on_failure(kp.peer)
            continue
        closer = [kad_peer(p) for p in tables[kp.peer].closest(lookup.target, K)]
        provs = [kad_peer(x) for x in (providers or {}).get(kp.peer, [])]
        lookup.on_response(kp.peer, closer, provs)


def test_finds_the_true_k_closest_with_alpha_in_flight() -> None:
    tables = _network(200, seed=4)
    ids = list(tables)
    me = ids[0]
    key = b"the key"
    truth = sorted(ids[1:], key=lambda p: kad_key(p.multihash) ^ kad_key(key))[:K]
    seeds = [kad_peer(p) for p in tables[me].closest(kad_key(key), 3, exclude=[me])]
    lookup = Lookup(key, seeds, self_id=me, k=K, alpha=3)
    most = _drive(lookup, tables)
    assert lookup.done and most <= 3
    assert [kp.peer for kp in lookup.closest()] == truth
    assert 1 <= lookup.hops <= 6
    assert lookup.queries < 100  # it walked toward the key, it did not ask everyone


def test_failures_do_not_stop_it_and_the_result_has_only_answering_peers() -> None:
    tables = _network(120, seed=5)
    ids = list(tables)
    me = ids[0]
    key = b"another key"
    by_dist = sorted(ids[1:], key=lambda p: kad_key(p.multihash) ^ kad_key(key))
    down = frozenset(by_dist[:3])  # the three closest peers are dead
    seeds = [kad_peer(p) for p in ids[1:4]]
    lookup = Lookup(key, seeds, self_id=me, k=K, alpha=3)
    _drive(lookup, tables, down=down)
    assert lookup.done
    found = [kp.peer for kp in lookup.closest()]
    assert len(found) == K and not down & set(found)
    # answers name k peers, the dead among them, so the live peers ranked just past k may go
    # unnamed; the ones up to k are all found
    assert found[: K - 3] == by_dist[3:K]


def test_candidates_are_bounded() -> None:
    ids = peer_ids(300, seed=6)
    me, first = ids[0], ids[1]
    lookup = Lookup(b"k", [kad_peer(first)], self_id=me, k=K, alpha=1, max_candidates=20)
    (q,) = lookup.next_queries()
    lookup.on_response(q.peer, [kad_peer(p) for p in ids[2:]])  # a peer names 298 others
    assert len(lookup.answered()) == 1
    heard = lookup.next_queries()
    assert len(heard) == 1
    # only the 20 closest of the named peers were kept
    named = sorted(ids[2:], key=lambda p: kad_key(p.multihash) ^ kad_key(b"k"))
    assert heard[0].peer == named[0]
    assert len(lookup._seen) == 21


def test_provider_lookup_stops_at_the_providers_it_wants() -> None:
    tables = _network(150, seed=7)
    ids = list(tables)
    me = ids[0]
    key = b"provided"
    holder = min(ids[1:], key=lambda p: kad_key(p.multihash) ^ kad_key(key))
    provider = peer_ids(1, seed=99)[0]
    lookup = Lookup(key, [kad_peer(p) for p in ids[1:4]], self_id=me, k=K, alpha=3,
                    want_providers=1)
    _drive(lookup, tables, providers={holder: [provider]})
    assert lookup.done and list(lookup.providers) == [provider]
    assert lookup.provider_hop is not None and lookup.hops == lookup.provider_hop
