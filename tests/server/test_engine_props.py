"""Property tests of the server engine: random peers' messages, block arrivals and responses keep
the engine's books straight (caps hold, counts agree, no task without a want, answers true)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastswap.blockstore.memory import MemoryBlockstore
from fastswap.cid import compute_cid
from fastswap.message.model import Entry, Message
from fastswap.server import ServerConfig, ServerEngine
from fastswap.server.taskqueue import BLOCK

DATA = [bytes([i]) * (100 if i % 2 else 3000) for i in range(12)]
CIDS = [compute_cid(d) for d in DATA]
PEERS = ["a", "b", "old"]

entry = st.tuples(st.integers(0, 11), st.integers(-2, 5), st.booleans(), st.integers(0, 1),
                  st.booleans())
ops = st.lists(st.one_of(
    st.tuples(st.just("msg"), st.integers(0, 2), st.lists(entry, max_size=8), st.booleans()),
    st.tuples(st.just("add"), st.lists(st.integers(0, 11), max_size=4)),
    st.tuples(st.just("next"), st.integers(0, 2), st.integers(1, 8000)),
    st.tuples(st.just("sent"), st.integers(0, 20)),
    st.tuples(st.just("drop"), st.integers(0, 2)),
), max_size=40)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_engine_invariants(seq):
    store = MemoryBlockstore()
    cfg = ServerConfig(max_entries_per_peer=5, max_total_entries=12, max_inflight_per_peer=6000)
    eng = ServerEngine(store, config=cfg)
    eng.peer_connected("old", version="/ipfs/bitswap/1.1.0")
    connected = {"old"}
    held = []
    for op in seq:
        if op[0] == "msg":
            peer = PEERS[op[1]]
            if peer not in connected:  # as the driver does: a (re)connect precedes messages
                eng.peer_connected(
                    peer, version="/ipfs/bitswap/1.1.0" if peer == "old" else "/ipfs/bitswap/1.2.0"
                )
                connected.add(peer)
            es = [Entry(CIDS[i], p, c, t, s) for i, p, c, t, s in op[2]]
            eng.receive_message(peer, Message(es, full=op[3]))
        elif op[0] == "add":
            for i in op[1]:
                store.put(CIDS[i], DATA[i])
            eng.blocks_added([CIDS[i] for i in op[1]])
        elif op[0] == "next":
            peer = PEERS[op[1]]
            r = eng.next_response(peer, max_bytes=op[2])
            if r is not None:
                assert r.blocks or r.haves or r.dont_haves
                assert all(store.has(c) for c in r.blocks + r.haves)
                assert not any(store.has(c) for c in r.dont_haves)
                if peer == "old":
                    assert not r.haves and not r.dont_haves
                assert r.pending_bytes == eng.ledger(peer)["pending_bytes"]
                held.append(r)
        elif op[0] == "sent":
            if held:
                r = held.pop(op[1] % len(held))
                eng.response_sent(r.peer, r)
        else:
            eng.peer_disconnected(PEERS[op[1]])
            connected.discard(PEERS[op[1]])
        total = 0
        for p in PEERS:
            wl = eng.wantlist(p)
            assert len(wl) <= 5
            total += len(wl)
            q = eng._queue
            for t in q.tasks(p):
                assert t.cid in wl  # no task outlives its want
                if t.kind == BLOCK:
                    assert t.size == len(store.get(t.cid))
        st_ = eng.stats()
        assert st_["wantlist_entries"] == total <= 12
    for r in held:
        eng.response_sent(r.peer, r)
    assert eng.stats()["inflight_bytes"] == 0
