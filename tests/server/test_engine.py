"""The server decision engine (fastswap.server.engine) against a MemoryBlockstore: wantlist rules
(full, cancel, want-have/want-block, sendDontHave, upgrades), legacy peers, blocks_added, packing,
pending_bytes, fairness, in-flight caps, ledgers and abuse limits."""

from __future__ import annotations

import gc
import tracemalloc

import pytest

from fastswap.blockstore.memory import MemoryBlockstore
from fastswap.cid import DAG_PB, compute_cid
from fastswap.errors import ServerError, UnknownPeerError
from fastswap.message.model import WANT_BLOCK, WANT_HAVE, Entry, Message
from fastswap.server import Response, ServerConfig, ServerEngine

KIB = 1024
MIB = 1024 * 1024


def blk(i: int, size: int = 2000, v0: bool = False) -> tuple[bytes, bytes]:
    data = i.to_bytes(4, "big") * (size // 4) + b"x" * (size % 4)
    return (compute_cid(data, version=0, codec=DAG_PB) if v0 else compute_cid(data)), data


def want(c: bytes, prio: int = 1, *, have: bool = False, sdh: bool = False) -> Entry:
    return Entry(c, prio, False, WANT_HAVE if have else WANT_BLOCK, sdh)


def cancel(c: bytes) -> Entry:
    return Entry(c, 0, True)


@pytest.fixture
def store() -> MemoryBlockstore:
    return MemoryBlockstore()


def put(store, *blocks):
    for c, d in blocks:
        store.put(c, d)


def drain(eng: ServerEngine, peer, max_bytes: int = 1 * MIB) -> list[Response]:
    out = []
    for _ in range(10_000):
        r = eng.next_response(peer, max_bytes=max_bytes)
        if r is None:
            break
        out.append(r)
        eng.response_sent(peer, r)
    return out


def test_want_block_have_block(store):
    a = blk(1)
    put(store, a)
    eng = ServerEngine(store)
    eng.peer_connected("p")
    eng.receive_message("p", Message([want(a[0])]), now=5.0)
    assert eng.peers_with_work() == ["p"]
    r = eng.next_response("p")
    assert r.blocks == [a[0]] and r.haves == [] and r.dont_haves == []
    assert r.nbytes == 2000 and r.pending_bytes == 0
    eng.response_sent("p", r)
    assert eng.wantlist("p") == {}  # a sent block retires the want (boxo)
    led = eng.ledger("p")
    assert led["blocks_sent"] == 1 and led["bytes_sent"] == 2000
    assert led["wants_received"] == 1 and led["first_exchange"] == 5.0
    assert eng.next_response("p") is None and eng.peers_with_work() == []


def test_has_wants_follows_the_wantlist(store):
    # the node's connection manager asks this of every peer (Core.engaged): it must answer
    eng = ServerEngine(store)
    assert not eng.has_wants("p")  # never seen
    eng.peer_connected("p")
    assert not eng.has_wants("p")
    a = blk(1)
    eng.receive_message("p", Message([want(a[0])]))
    assert eng.has_wants("p")
    eng.receive_message("p", Message([cancel(a[0])]))
    assert not eng.has_wants("p")


def test_want_have_answers(store):
    big, small, missing = blk(1, 5000), blk(2, 1024), blk(3)
    put(store, big, small)
    eng = ServerEngine(store)
    eng.receive_message("p", Message([
        want(big[0], 3, have=True), want(small[0], 2, have=True),
        want(missing[0], 1, have=True, sdh=True), want(blk(4)[0], 0, have=True)]))
    r = eng.next_response("p")
    assert r.haves == [big[0]]
    assert r.blocks == [small[0]]  # <= 1 KiB: the block itself instead of HAVE
    assert r.dont_haves == [missing[0]]
    eng.response_sent("p", r)
    # HAVE and block retire their entries; DONT_HAVE and unanswered ones stay
    assert set(eng.wantlist("p")) == {missing[0], blk(4)[0]}
    assert eng.ledger("p")["haves_sent"] == 1 and eng.ledger("p")["dont_haves_sent"] == 1


def test_dont_have_only_when_asked(store):
    eng = ServerEngine(store)
    eng.receive_message("p", Message([want(blk(1)[0]), want(blk(2)[0], sdh=True)]))
    r = eng.next_response("p")
    assert r.dont_haves == [blk(2)[0]] and r.blocks == [] and r.haves == []
    eng.response_sent("p", r)
    assert eng.next_response("p") is None


def test_blocks_added_wakes_wanting_peers(store):
    a, b, c = blk(1), blk(2, 5000), blk(3, 100)
    eng = ServerEngine(store)
    eng.receive_message("p", Message([want(a[0], sdh=True), want(b[0], have=True)]))
    eng.receive_message("q", Message([want(c[0], have=True), want(b[0])]))
    r = eng.next_response("p")
    assert r.dont_haves == [a[0]]
    eng.response_sent("p", r)
    assert eng.peers_with_work() == []
    put(store, a, b, c)
    eng.blocks_added([a[0], b[0], c[0], blk(9)[0]])
    rp = eng.next_response("p")
    assert rp.blocks == [a[0]] and rp.haves == [b[0]]
    rq = eng.next_response("q")
    assert set(rq.blocks) == {b[0], c[0]}  # c is small: sent for the want-have
    assert eng.next_response("r") is None


def test_blocks_added_replaces_queued_dont_have(store):
    a = blk(1)
    eng = ServerEngine(store)
    eng.receive_message("p", Message([want(a[0], sdh=True)]))
    put(store, a)
    eng.blocks_added([a[0]])
    r = eng.next_response("p")
    assert r.blocks == [a[0]] and r.dont_haves == []


def test_cancel_removes_entry_and_task(store):
    a, b = blk(1), blk(2)
    put(store, a, b)
    eng = ServerEngine(store)
    eng.receive_message("p", Message([want(a[0]), want(b[0])]))
    eng.receive_message("p", Message([cancel(a[0])]))
    assert set(eng.wantlist("p")) == {b[0]}
    r = eng.next_response("p")
    assert r.blocks == [b[0]]
    assert eng.ledger("p")["cancels_received"] == 1


def test_full_replaces_wantlist(store):
    a, b, c = blk(1), blk(2), blk(3)
    put(store, a, b, c)
    eng = ServerEngine(store)
    eng.receive_message("p", Message([want(a[0]), want(b[0])]))
    eng.receive_message("p", Message([want(b[0]), want(c[0])], full=True))
    assert set(eng.wantlist("p")) == {b[0], c[0]}
    blocks = [x for r in drain(eng, "p") for x in r.blocks]
    assert sorted(blocks) == sorted([b[0], c[0]])
    assert eng.stats()["wantlist_entries"] == 0


def test_want_block_upgrades_want_have(store):
    a = blk(1, 5000)
    put(store, a)
    eng = ServerEngine(store)
    eng.receive_message("p", Message([want(a[0], 1, have=True)]))
    eng.receive_message("p", Message([want(a[0], 7)]))
    assert eng.wantlist("p")[a[0]] == (7, WANT_BLOCK, False)
    r = eng.next_response("p")
    assert r.blocks == [a[0]] and r.haves == []  # merged: one task, the block
    eng.response_sent("p", r)
    assert eng.next_response("p") is None


def test_want_have_does_not_downgrade(store):
    a = blk(1, 5000)
    put(store, a)
    eng = ServerEngine(store)
    eng.receive_message("p", Message([want(a[0], 4)]))
    eng.receive_message("p", Message([want(a[0], 9, have=True)]))
    assert eng.wantlist("p")[a[0]] == (4, WANT_BLOCK, False)
    r = eng.next_response("p")
    assert r.blocks == [a[0]] and r.haves == []


def test_resent_want_not_duplicated_while_in_flight(store):
    a = blk(1)
    put(store, a)
    eng = ServerEngine(store)
    eng.receive_message("p", Message([want(a[0])]))
    r = eng.next_response("p")
    eng.receive_message("p", Message([want(a[0])]))
    assert eng.next_response("p") is None
    eng.response_sent("p", r)
    assert eng.wantlist("p") == {}


@pytest.mark.parametrize("version", ["/ipfs/bitswap/1.0.0", "/ipfs/bitswap/1.1.0", "/ipfs/bitswap"])
def test_legacy_peer_gets_blocks_never_presences(store, version):
    a, missing = blk(1, 5000, v0=True), blk(2, v0=True)
    put(store, a)
    eng = ServerEngine(store)
    eng.peer_connected("old", version=version)
    eng.receive_message("old", Message([want(a[0], have=True, sdh=True),
                                        want(missing[0], have=True, sdh=True)]))
    assert eng.wantlist("old")[a[0]] == (1, WANT_BLOCK, False)
    r = eng.next_response("old")
    assert r.blocks == [a[0]] and r.haves == [] and r.dont_haves == []
    eng.response_sent("old", r)
    assert eng.next_response("old") is None


def test_v100_peer_cidv1_wants_dropped(store):
    v1 = blk(1)
    put(store, v1)
    eng = ServerEngine(store)
    eng.peer_connected("old", version="/ipfs/bitswap/1.0.0")
    eng.receive_message("old", Message([want(v1[0])]))
    assert eng.wantlist("old") == {} and eng.stats()["unservable_wants"] == 1


def test_packing_target_and_pending_bytes(store):
    blocks = [blk(i, 256 * KIB) for i in range(10)]
    put(store, *blocks)
    eng = ServerEngine(store)
    eng.receive_message("p", Message([want(c, 100 - i) for i, (c, _) in enumerate(blocks)]))
    r = eng.next_response("p")
    assert r.blocks == [c for c, _ in blocks[:3]]  # 4 x (256 KiB + framing) > 1 MiB
    assert r.pending_bytes == 7 * 256 * KIB
    r2 = eng.next_response("p", max_bytes=1)  # a block larger than the target goes alone
    assert r2.blocks == [blocks[3][0]] and r2.pending_bytes == 6 * 256 * KIB


def test_never_over_hard_limit(store):
    blocks = [blk(i, 2 * MIB) for i in range(4)]
    put(store, *blocks)
    eng = ServerEngine(store, config=ServerConfig(max_inflight_per_peer=64 * MIB))
    eng.receive_message("p", Message([want(c) for c, _ in blocks]))
    for r in drain(eng, "p", max_bytes=64 * MIB):
        assert r.nbytes <= 4 * MIB - 64 * len(r.blocks)
        assert len(r.blocks) == 1  # two 2 MiB blocks plus framing exceed 4 MiB


def test_inflight_cap_and_release(store):
    blocks = [blk(i, 512 * KIB) for i in range(8)]
    put(store, *blocks)
    eng = ServerEngine(store)
    eng.receive_message("p", Message([want(c) for c, _ in blocks]))
    held = []
    while (r := eng.next_response("p")) is not None and len(held) < 8:
        held.append(r)
    # one 512 KiB block per 1 MiB response (two plus framing exceed it); the 2 MiB cap stops
    # the peer after four (the last one overshoots by its framing)
    assert len(held) == 4 and eng.ledger("p")["inflight_bytes"] >= 2 * MIB
    assert eng.peers_with_work() == []
    r1 = held[0]
    eng.response_sent("p", r1)
    assert eng.peers_with_work() == ["p"]
    with pytest.raises(ServerError):
        eng.response_sent("p", r1)


def test_fairness_greedy_vs_small(store):
    """A peer wanting 10,000 blocks and one wanting 3: the small one is done in round one."""
    cfg = ServerConfig(max_entries_per_peer=20_000)
    blocks = [blk(i, 64) for i in range(10_003)]
    put(store, *blocks)
    eng = ServerEngine(store, config=cfg)
    eng.receive_message("greedy", Message([want(c) for c, _ in blocks[:10_000]]))
    eng.receive_message("small", Message([want(c) for c, _ in blocks[10_000:]]))
    rounds = 0
    while eng.ledger("small")["blocks_sent"] < 3 and rounds < 3:
        rounds += 1
        sent = [(p, eng.next_response(p, max_bytes=16 * KIB)) for p in eng.peers_with_work()]
        for p, r in sent:
            eng.response_sent(p, r)
    assert rounds == 1
    assert eng.ledger("greedy")["blocks_sent"] < 10_000


def test_peer_disconnect_drops_work_keeps_counters(store):
    a = blk(1)
    put(store, a)
    eng = ServerEngine(store)
    eng.receive_message("p", Message([want(a[0]), want(blk(2)[0])]))
    r = eng.next_response("p")
    eng.peer_disconnected("p")
    eng.response_sent("p", r)  # late: ignored
    assert eng.stats()["wantlist_entries"] == 0 and eng.stats()["queued_tasks"] == 0
    led = eng.ledger("p")
    assert led["connected"] is False and led["wants_received"] == 2 and led["blocks_sent"] == 0
    eng.peer_connected("p")
    assert eng.ledger("p")["wants_received"] == 2
    with pytest.raises(UnknownPeerError):
        eng.ledger("never")


def test_ledger_counts_received_blocks(store):
    eng = ServerEngine(store)
    eng.receive_message("p", Message(blocks=[(b"\x01\x55\x12\x20", b"abc")]), now=1.0)
    eng.receive_message("p", Message(), now=2.0)
    led = eng.ledger("p")
    assert led["blocks_received"] == 1 and led["bytes_received"] == 3
    assert (led["first_exchange"], led["last_exchange"]) == (1.0, 2.0)


def test_invalid_cids_dropped_and_counted(store):
    a = blk(1)
    put(store, a)
    eng = ServerEngine(store)
    eng.receive_message("p", Message([
        want(b""), want(b"\x01" * 169), want(b"\x01\x55\x12\x20abc"), want(b"garbage"),
        Entry(a[0], 1, False, 7, False), want(a[0])]))
    assert eng.stats()["invalid_entries"] == 5
    assert list(eng.wantlist("p")) == [a[0]]


def test_per_peer_cap_priority_replacement(store):
    eng = ServerEngine(store, config=ServerConfig(max_entries_per_peer=4))
    cids = [blk(i)[0] for i in range(10)]
    eng.receive_message("p", Message([want(cids[i], 10 + i) for i in range(4)]))
    eng.receive_message("p", Message([want(cids[4], 5)]))  # lower than all: dropped
    assert cids[4] not in eng.wantlist("p")
    eng.receive_message("p", Message([want(cids[5], 50)]))  # evicts priority 10
    assert set(eng.wantlist("p")) == {cids[1], cids[2], cids[3], cids[5]}
    st = eng.stats()
    assert st["wants_dropped"] == 1 and st["wants_evicted"] == 1
    assert st["wantlist_entries"] == 4


def test_flood_of_100k_entries_is_bounded(store):
    eng = ServerEngine(store)
    cids = [b"\x01\x55\x12\x20" + i.to_bytes(32, "big") for i in range(100_000)]
    msg = Message([Entry(c, i % 1000, False, WANT_BLOCK, True) for i, c in enumerate(cids)])
    gc.collect()
    tracemalloc.start()
    try:
        eng.receive_message("flood", msg)
        cur, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(eng.wantlist("flood")) == 1024
    # the kept state: 1024 entries and their DONT_HAVE tasks (~1 KiB each at most)
    assert cur < 2 * MIB and peak < 4 * MIB
    st = eng.stats()
    assert st["wants_dropped"] + st["wants_evicted"] + 1024 == 100_000
    assert min(p for p, _, _ in eng.wantlist("flood").values()) >= 900


def test_bad_arguments(store):
    with pytest.raises(ServerError):
        ServerEngine(object())
    with pytest.raises(ServerError):
        ServerConfig(max_entries_per_peer=0)
    eng = ServerEngine(store)
    with pytest.raises(ServerError):
        eng.next_response("p", max_bytes=0)
    with pytest.raises(ServerError):
        eng.response_sent("p", "nope")
    assert eng.next_response("unknown") is None


@pytest.mark.parametrize("c", [
    b"\x12\x20" + bytes(32), b"\x01\x55\x12\x20" + bytes(32), b"\x01\x71\x12\x20" + bytes(32),
    b"\x01\x55\x00\x03abc", b"\x01\x80\x01\x12\x20" + bytes(32), b"\x01\x55\x12\x20" + bytes(31),
    b"\x01\x55\x12\x20" + bytes(33), b"\x12\x20" + bytes(31), b"\x02\x55\x12\x20" + bytes(32),
    b"\x01\x55\x12", b"\x01\xff", b"\x00" * 34,
])
def test_cid_check_agrees_with_decode_cid(c):
    from fastswap.cid import is_valid_cid
    from fastswap.server._ledger_py import _valid_cid
    assert _valid_cid(c) is is_valid_cid(c)


def test_response_given_up_keeps_wants(store):
    a = blk(1)
    put(store, a)
    eng = ServerEngine(store)
    eng.receive_message("p", Message([want(a[0])]))
    r = eng.next_response("p")
    eng.response_sent("p", r, sent=False)
    assert a[0] in eng.wantlist("p") and eng.ledger("p")["blocks_sent"] == 0
    assert eng.ledger("p")["inflight_bytes"] == 0
    eng.receive_message("p", Message([want(a[0])]))  # the peer's re-sent wantlist retries
    r = eng.next_response("p")
    assert r.blocks == [a[0]]
    eng.response_sent("p", r, now=9.0)
    assert eng.wantlist("p") == {} and eng.ledger("p")["last_exchange"] == 9.0


def test_task_wait_histogram_from_want_to_response_sent(store):
    a, b = blk(1), blk(2)
    put(store, a)
    eng = ServerEngine(store)
    eng.peer_connected("p")
    eng.receive_message("p", Message(entries=[want(a[0]), want(b[0])]), 10.0)
    r = eng.next_response("p")
    eng.response_sent("p", r, now=10.0004)  # a: 0.4 ms
    put(store, b)
    eng.blocks_added([b[0]], now=12.0)  # b's answer starts to wait when b arrives
    r = eng.next_response("p")
    eng.response_sent("p", r, now=12.3)  # b: 0.3 s
    h = eng.stats()["task_wait"]
    assert h["count"] == 2 and h["sum"] == pytest.approx(0.3004)
    bounds = h["bounds"]
    assert h["counts"][bounds.index(0.0005)] == 1 and h["counts"][bounds.index(0.5)] == 1
    # given up, or sent without a clock: not measured
    eng.receive_message("p", Message(entries=[want(a[0])]), 20.0)
    eng.response_sent("p", eng.next_response("p"), now=21.0, sent=False)
    eng.receive_message("p", Message(entries=[want(a[0])]), 22.0)
    eng.response_sent("p", eng.next_response("p"))
    assert eng.stats()["task_wait"]["count"] == 2
    st = eng.stats()
    assert (st["want_blocks_received"], st["want_haves_received"]) == (4, 0)
