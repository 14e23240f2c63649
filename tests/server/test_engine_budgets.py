"""The decision engine's shared budgets (fastswap.server.engine, "Budgets shared by all peers";
issue 8 item 5), on both twins of the ledger and the task queue: a full budget takes from the
heaviest peers and never refuses a newcomer; every peer keeps its reserve; a levelled peer that
reads loses no want."""

from __future__ import annotations

import pytest

from fastswap.blockstore.memory import MemoryBlockstore
from fastswap.cid import compute_cid
from fastswap.message.model import WANT_BLOCK, WANT_HAVE, Entry, Message
from fastswap.server import ServerConfig, ServerEngine
from fastswap.server import engine as engine_mod
from tests.conftest import import_twin, twin_params

LEDGER = ("fastswap.server._ledger_c", "fastswap.server._ledger_py")
QUEUE = ("fastswap.server._taskqueue_c", "fastswap.server._taskqueue_py")


@pytest.fixture(params=list(zip(twin_params(*LEDGER), twin_params(*QUEUE))),
                ids=lambda p: p[0].id)
def twins(request, monkeypatch):
    """The engine built on one twin of the ledger and of the task queue (compiled or pure)."""
    ledger, queue = request.param
    for p in (ledger, queue):
        if p.marks:
            pytest.skip("FASTSWAP_NO_EXTENSIONS=1: compiled twins off")
    monkeypatch.setattr(engine_mod, "LedgerBook", import_twin(ledger.values[0]).LedgerBook)
    monkeypatch.setattr(engine_mod, "TaskQueue", import_twin(queue.values[0]).TaskQueue)


def data(i: int, size: int = 4000) -> bytes:
    return i.to_bytes(4, "big") * (size // 4)


def cid(i: int) -> bytes:
    return compute_cid(data(i))


def msg(cids, *, have: bool = False, prio: int = 1, sdh: bool = False) -> Message:
    return Message([Entry(c, prio, False, WANT_HAVE if have else WANT_BLOCK, sdh) for c in cids])


@pytest.fixture
def store() -> MemoryBlockstore:
    s = MemoryBlockstore()
    for i in range(100):  # held: 0..99; cids of 1000.. are missing
        s.put(cid(i), data(i))
    return s


def test_sybil_wantlists_never_refuse_an_honest_want(twins, store):
    """12 identities x 100 want-haves for blocks we lack fill a 1000-entry budget; an honest
    peer's 60 wants are all taken (from the heaviest), none refused."""
    eng = ServerEngine(store, config=ServerConfig(max_entries_per_peer=100,
                                                  max_total_entries=1000,
                                                  reserved_entries_per_peer=10))
    for s in range(12):
        eng.receive_message(("sybil", s), msg([cid(1000 + 100 * s + k) for k in range(100)],
                                              have=True))
    st = eng.stats()
    assert st["wantlist_entries"] <= 1000
    assert st["wants_evicted_global"] > 0  # later sybils took from earlier ones
    eng.receive_message("honest", msg([cid(i) for i in range(60)]))
    assert len(eng.wantlist("honest")) == 60
    st2 = eng.stats()
    assert st2["wantlist_entries"] <= 1000
    # the honest peer's entries were taken from the sybils, not refused
    assert st2["wants_refused_global"] == st["wants_refused_global"]
    sizes = [eng.ledger(("sybil", s))["wantlist_size"] for s in range(12)]
    assert max(sizes) - min(sizes) <= 1 and max(sizes) < 100  # levelled: equal shares
    served = {c for r in _drain(eng, "honest") for c in r.blocks}
    assert served == {cid(i) for i in range(60)}


def test_the_heaviest_replaces_only_its_own_entries(twins, store):
    eng = ServerEngine(store, config=ServerConfig(max_total_entries=40,
                                                  reserved_entries_per_peer=5))
    for s in range(4):
        eng.receive_message(s, msg([cid(1000 + 10 * s + k) for k in range(10)], prio=5))
    assert eng.stats()["wantlist_entries"] == 40
    # peer 0 is as heavy as anyone: a lower-priority want is refused, a higher one replaces its
    # own worst entry; the others keep all theirs
    eng.receive_message(0, msg([cid(2000)], prio=1))
    eng.receive_message(0, msg([cid(2001)], prio=9))
    st = eng.stats()
    assert st["wants_refused_global"] == 1 and st["wants_evicted"] == 1
    assert cid(2001) in eng.wantlist(0) and cid(2000) not in eng.wantlist(0)
    assert [eng.ledger(s)["wantlist_size"] for s in range(4)] == [10, 10, 10, 10]


def test_worst_entries_go_first_lacking_then_low_priority(twins, store):
    """From the heaviest peer, entries for blocks we lack go before those we hold, whatever
    their priority; then the lowest priority."""
    eng = ServerEngine(store, config=ServerConfig(max_total_entries=20,
                                                  reserved_entries_per_peer=2))
    held = [cid(i) for i in range(10)]
    lacking = [cid(1000 + i) for i in range(10)]
    eng.receive_message("heavy", Message(
        [Entry(c, 100, False, WANT_HAVE, False) for c in lacking]
        + [Entry(c, i, False, WANT_BLOCK, False) for i, c in enumerate(held)]))
    eng.receive_message("new", msg([cid(50 + i) for i in range(12)]))
    wl = eng.wantlist("heavy")
    # level 10 each: the 10 entries lost were all those for blocks we lack
    assert len(wl) == 10 and len(eng.wantlist("new")) == 10
    assert set(wl) == set(held)
    eng.receive_message("new2", msg([cid(70 + i) for i in range(12)]))
    wl = eng.wantlist("heavy")
    kept = sorted(p for p, _, _ in wl.values())
    assert len(kept) < 10 and kept == list(range(10 - len(kept), 10))  # lowest priority first


def test_reserve_holds_past_the_total(twins, store):
    """More peers than the total can hold at their reserve: each still gets its reserve."""
    eng = ServerEngine(store, config=ServerConfig(max_total_entries=50,
                                                  reserved_entries_per_peer=10))
    for s in range(10):
        eng.receive_message(s, msg([cid(1000 + 100 * s + k) for k in range(10)]))
    assert [eng.ledger(s)["wantlist_size"] for s in range(10)] == [10] * 10
    eng.receive_message(0, msg([cid(5000)]))  # past its reserve, nobody heavier: refused
    assert eng.stats()["wants_refused_global"] == 1


def test_peers_that_never_read_cannot_starve_an_honest_one(twins, store):
    """Queued-bytes budget: 10 peers want 20 blocks each and never read; an honest peer that
    reads gets every block it wants (tasks levelled from the others, refilled as it drains)."""
    eng = ServerEngine(store, config=ServerConfig(
        max_queued_bytes=100_000, reserved_queued_bytes_per_peer=8000,
        max_inflight_per_peer=10_000))
    for s in range(10):
        m = msg([cid(20 + 2 * s + k) for k in range(20)])
        eng.receive_message(("stuck", s), m)
        eng.next_response(("stuck", s), max_bytes=10_000)  # never reported sent
    assert eng.stats()["queued_bytes"] <= 100_000 + (100_000 >> 4)
    eng.receive_message("honest", msg([cid(i) for i in range(20)]))
    served = set()
    for _ in range(200):
        work = eng.peers_with_work()
        if "honest" not in work:
            break
        r = eng.next_response("honest", max_bytes=8000)
        served.update(r.blocks)
        eng.response_sent("honest", r)
    assert served == {cid(i) for i in range(20)}
    st = eng.stats()
    assert st["tasks_evicted"] > 0 or st["tasks_refused"] > 0
    for s in range(10):  # the stuck peers hold no more than the level or their reserve
        assert eng.ledger(("stuck", s))["pending_bytes"] <= 100_000


def _drain(eng, peer):
    out = []
    for _ in range(10_000):
        eng.peers_with_work()
        r = eng.next_response(peer)
        if r is None:
            break
        out.append(r)
        eng.response_sent(peer, r)
    return out
