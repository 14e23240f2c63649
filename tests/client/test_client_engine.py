"""ClientEngine: scripted scenarios with fake peers and a fake clock (fastswap.client.engine).

Each test drives the sans-IO engine by hand: peers connect, messages arrive, time advances; the
assertions read the messages it would send (``outgoing``), its events and actions.
"""

from __future__ import annotations

import hashlib

import pytest

from fastswap.cid import DAG_PB, compute_cid
from fastswap.client.engine import ClientConfig, ClientEngine
from fastswap.errors import SessionError, WantlistError
from fastswap.events import (
    BadBlock,
    BlockReceived,
    DisconnectPeer,
    DontHave,
    FindProviders,
    Have,
)
from fastswap.message import (
    DONT_HAVE,
    HAVE,
    WANT_BLOCK,
    WANT_HAVE,
    BlockPresence,
    Message,
    decode_message,
    encode_message,
    wire_block,
)
from fastswap.message import Entry as WireEntry
from fastswap.routing import ContentRouting, StaticRouting

V10 = "/ipfs/bitswap/1.0.0"
V11 = "/ipfs/bitswap/1.1.0"


# -- helpers (also used by test_client_properties.py) -------------------------------------------


def make_blocks(n: int, salt: bytes = b"", size: int = 64, v0: bool = False) -> dict[bytes, bytes]:
    """n distinct blocks keyed by CID (CIDv1 raw, or CIDv0 dag-pb shaped), in order."""
    out = {}
    for i in range(n):
        data = hashlib.sha256(salt + i.to_bytes(4, "big")).digest() * (size // 32 + 1)
        data = data[:size]
        cid = compute_cid(data, version=0, codec=DAG_PB) if v0 else compute_cid(data)
        out[cid] = data
    return out


def msgs_for(out: list, peer) -> list[Message]:
    return [m for p, m in out if p == peer]


def entries_for(out: list, peer) -> list:
    return [e for m in msgs_for(out, peer) for e in m.entries]


def want_blocks(out: list, peer) -> set[bytes]:
    return {bytes(e.cid) for e in entries_for(out, peer)
            if not e.cancel and e.want_type == WANT_BLOCK}


def want_haves(out: list, peer) -> set[bytes]:
    return {bytes(e.cid) for e in entries_for(out, peer)
            if not e.cancel and e.want_type == WANT_HAVE}


def cancels(out: list, peer) -> set[bytes]:
    return {bytes(e.cid) for e in entries_for(out, peer) if e.cancel}


def blocks_msg(blocks: dict[bytes, bytes], cids, pending: int = 0, legacy: bool = False) -> Message:
    return Message(blocks=[wire_block(c, blocks[c], legacy=legacy) for c in cids],
                   pending_bytes=pending)


def presences(cids, kind: int) -> Message:
    return Message(presences=[BlockPresence(c, kind) for c in cids])


def engine(**cfg) -> ClientEngine:
    return ClientEngine(config=ClientConfig(**cfg))


# -- discovery and routing ----------------------------------------------------------------------


def test_discovery_broadcasts_want_have_with_dont_have_to_connected_peers():
    e = engine()
    e.peer_connected("A", 0.0)
    e.peer_connected("B", 0.0)
    blocks = make_blocks(5)
    s = e.new_session(0.0)
    e.want(s, list(blocks), 0.0)
    out = e.outgoing(0.0)
    for peer in "AB":
        (m,) = msgs_for(out, peer)
        assert m.full  # the first message to a new peer is its full wantlist
        assert [bytes(x.cid) for x in m.entries] == list(blocks)  # priority order kept
        assert all(x.want_type == WANT_HAVE and x.send_dont_have and not x.cancel
                   for x in m.entries)
    assert e.outgoing(0.0) == []  # nothing changed since
    assert e.actions(0.0) == []


def test_have_routes_want_block_to_the_peer_that_has_it():
    # one slot per peer, so A (which joins the session with its HAVE) cannot take c2 as well
    e = engine(initial_queue_limit=1)
    for p in "AB":
        e.peer_connected(p, 0.0)
    blocks = make_blocks(2)
    c1, c2 = blocks
    s = e.new_session(0.0)
    e.want(s, [c1, c2], 0.0)
    e.outgoing(0.0)
    ev = e.receive_message("A", presences([c1], HAVE), 0.1)
    assert ev == [Have("A", c1)]
    ev = e.receive_message("B", presences([c2], HAVE), 0.1)
    out = e.outgoing(0.1)
    assert c1 in want_blocks(out, "A") and c1 not in want_blocks(out, "B")
    assert c2 in want_blocks(out, "B") and c2 not in want_blocks(out, "A")
    assert all(x.send_dont_have for x in entries_for(out, "A"))
    assert e.stats()["sessions"][s]["peers"] == 2


def test_peer_choice_prefers_have_then_ratio_then_shortest_queue():
    e = engine(piggyback_max=0, initial_queue_limit=1, max_fanout=1)
    for p in "ABC":
        e.peer_connected(p, 0.0)
    s = e.new_session(0.0)
    e.add_peers(s, ["A", "B", "C"], 0.0)
    hist = list(make_blocks(4, b"history"))
    # history on other CIDs: B answers HAVE twice, C DONT_HAVE twice, A nothing
    e.receive_message("B", presences(hist[:2], HAVE), 0.0)
    e.receive_message("C", presences(hist[2:], DONT_HAVE), 0.0)
    fillers = list(make_blocks(3, b"filler"))
    e.want(s, fillers, 0.0)  # one live want-block at each peer: every queue is full
    blocks = make_blocks(2)
    c0, c1 = blocks
    e.want(s, [c0, c1], 0.0)
    e.outgoing(0.0)
    e.receive_message("C", presences([c0], HAVE), 0.1)
    assert e.outgoing(0.1) == []  # no free slot yet
    e.cancel(s, fillers, 0.2)  # frees a slot at every peer at once
    out = e.outgoing(0.2)
    assert c0 in want_blocks(out, "C")  # a HAVE beats the ratio (C's record is bad)
    assert c1 in want_blocks(out, "B")  # no HAVE: best ratio (B 3/4 > A 1/2 > C 1/4)
    # same ratio: shortest queue. Session 0 with two fresh peers alternates between them
    f = engine(piggyback_max=0)
    f.peer_connected("X", 0.0)
    f.peer_connected("Y", 0.0)
    four = list(make_blocks(4, b"q"))
    f.want(0, four, 0.0)
    out = f.outgoing(0.0)
    assert len(want_blocks(out, "X")) == 2 and len(want_blocks(out, "Y")) == 2
    assert f.stats()["peers"]["X"]["live_wants"] == 2


def test_session_zero_sends_want_block_without_broadcast():
    e = engine()
    e.peer_connected("A", 0.0)
    blocks = make_blocks(3)
    e.want(0, list(blocks), 0.0)
    out = e.outgoing(0.0)
    assert want_blocks(out, "A") == set(blocks)
    assert want_haves(out, "A") == set()


# -- the queue limit control law ---------------------------------------------------------------


def test_queue_limit_grows_while_pending_is_near_zero_and_shrinks_when_it_grows():
    e = engine(initial_queue_limit=2, min_queue_limit=1, max_queue_limit=6,
               low_water_bytes=1000, high_water_bytes=100_000, piggyback_max=0,
               default_block_size=64)
    e.peer_connected("A", 0.0)
    blocks = make_blocks(40)
    cids = list(blocks)
    e.want(0, cids, 0.0)
    out = e.outgoing(0.0)
    asked = [c for c in cids if c in want_blocks(out, "A")]
    assert asked == cids[:2]  # the limit caps the live wants
    now = 0.0
    limits = []
    got = set()
    for _ in range(5):  # serve one block per message, reporting nothing queued
        now += 0.01
        c = next(c for c in cids if c not in got and c in e._peers["A"].live)
        got.add(c)
        e.receive_message("A", blocks_msg(blocks, [c], pending=0), now)
        e.outgoing(now)
        limits.append(e.stats()["peers"]["A"]["queue_limit"])
    assert limits == [3, 4, 5, 6, 6]  # additive increase, bounded by max_queue_limit
    assert e.stats()["peers"]["A"]["live_wants"] == 6
    # the peer reports a deep queue: multiplicative decrease, at most once per response time
    now += 1.0
    e.receive_message("A", Message(pending_bytes=500_000), now)
    assert e.stats()["peers"]["A"]["queue_limit"] == 3
    e.receive_message("A", Message(pending_bytes=500_000), now)  # same instant: held
    assert e.stats()["peers"]["A"]["queue_limit"] == 3
    for k in range(5):
        now += 1.0
        e.receive_message("A", Message(pending_bytes=500_000), now)
    assert e.stats()["peers"]["A"]["queue_limit"] == 1  # bounded by min_queue_limit
    # between the marks: hold
    now += 1.0
    e.receive_message("A", Message(pending_bytes=50_000), now)
    assert e.stats()["peers"]["A"]["queue_limit"] == 1
    # the live wants above the new limit stay, but no new ones go out until under it
    live = e.stats()["peers"]["A"]["live_wants"]
    c = next(iter(e._peers["A"].live))
    e.receive_message("A", blocks_msg(blocks, [c], pending=50_000), now)
    assert want_blocks(e.outgoing(now), "A") == set()
    assert e.stats()["peers"]["A"]["live_wants"] == live - 1


def test_requests_sent_since_last_report_count_as_outstanding():
    # pendingBytes cannot include wants the peer had not seen when it wrote the message: wants
    # sent since its previous message, less those answered since, count at its mean block size
    e = engine(initial_queue_limit=4, low_water_bytes=150_000, high_water_bytes=10**7,
               piggyback_max=0, default_block_size=100_000)
    e.peer_connected("A", 0.0)
    blocks = make_blocks(12, size=100_000)
    cids = list(blocks)
    e.want(0, cids, 0.0)
    e.outgoing(0.0)
    assert e.stats()["peers"]["A"]["outstanding_bytes"] == 400_000
    e.receive_message("A", blocks_msg(blocks, cids[:1], pending=0), 0.1)
    assert e.stats()["peers"]["A"]["queue_limit"] == 4  # 3 of our wants unaccounted: hold
    e.outgoing(0.1)  # the refill: one want
    assert e.stats()["peers"]["A"]["outstanding_bytes"] == 100_000
    e.receive_message("A", blocks_msg(blocks, cids[1:2], pending=0), 0.2)
    assert e.stats()["peers"]["A"]["queue_limit"] == 5  # all accounted for, pipe empty: grow
    e.outgoing(0.2)  # two wants (the refill and the new slot)
    e.receive_message("A", Message(pending_bytes=0), 0.3)  # no blocks: no evidence to grow on
    assert e.stats()["peers"]["A"]["queue_limit"] == 5
    e.receive_message("A", blocks_msg(blocks, cids[2:3], pending=200_000), 0.4)
    assert e.stats()["peers"]["A"]["queue_limit"] == 5  # the peer has a queue: hold


# -- piggybacking, DONT_HAVE and routing --------------------------------------------------------


def test_want_block_carries_piggybacked_want_haves_bounded():
    e = engine(initial_queue_limit=1, piggyback_max=3)
    e.peer_connected("A", 0.0)
    s = e.new_session(0.0)
    e.add_peers(s, ["A"], 0.0)
    blocks = make_blocks(10)
    cids = list(blocks)
    e.want(s, cids, 0.0)
    out = e.outgoing(0.0)
    assert want_blocks(out, "A") == {cids[0]}
    assert want_haves(out, "A") == set(cids[1:4])
    ents = entries_for(out, "A")
    assert ents[0].want_type == WANT_BLOCK  # want-blocks before want-haves in a message
    assert all(x.send_dont_have for x in ents)
    # the next want-block piggybacks the next unasked CIDs
    e.receive_message("A", blocks_msg(blocks, cids[:1]), 0.1)
    out = e.outgoing(0.1)
    assert cids[1] in want_blocks(out, "A")
    assert want_haves(out, "A") >= set(cids[4:6])
    assert cancels(out, "A") == {cids[0]}


def test_dont_have_from_every_session_peer_emits_find_providers_at_once():
    e = engine()
    for p in "AB":
        e.peer_connected(p, 0.0)
    s = e.new_session(0.0)
    blocks = make_blocks(2)
    c0, c1 = blocks
    e.want(s, [c0, c1], 0.0)
    e.outgoing(0.0)
    e.receive_message("A", presences([c0], DONT_HAVE), 0.1)
    assert e.actions(0.1) == []  # B has not answered yet
    ev = e.receive_message("B", presences([c0], DONT_HAVE), 0.2)
    assert ev == [DontHave("B", c0)]
    assert e.actions(0.2) == [FindProviders(c0, s)]
    assert e.actions(0.2) == []  # each action is handed out once
    # routing answers: C joins the session and gets the want-block
    e.add_peers(s, ["C"], 0.3)
    e.peer_connected("C", 0.3)
    out = e.outgoing(0.3)
    assert c0 in want_blocks(out, "C")
    assert msgs_for(out, "C")[0].full


def test_dont_have_for_a_want_block_reroutes_to_the_next_peer():
    e = engine(piggyback_max=0)
    for p in "AB":
        e.peer_connected(p, 0.0)
    s = e.new_session(0.0)
    e.add_peers(s, ["A", "B"], 0.0)
    (c,) = make_blocks(1)
    e.want(s, [c], 0.0)
    out = e.outgoing(0.0)
    first = "A" if c in want_blocks(out, "A") else "B"
    other = "B" if first == "A" else "A"
    e.receive_message(first, presences([c], DONT_HAVE), 0.1)
    out = e.outgoing(0.1)
    assert c in want_blocks(out, other)
    assert c in cancels(out, first)  # frees the first peer's ledger
    assert e.actions(0.1) == []


def test_no_connected_peer_goes_to_routing():
    e = engine()
    s = e.new_session(0.0)
    blocks = make_blocks(2)
    e.want(s, list(blocks), 0.0)
    assert e.actions(0.0) == [FindProviders(c, s) for c in blocks]


# -- time --------------------------------------------------------------------------------------


def test_timeout_reroutes_a_want_to_another_peer():
    e = engine(want_timeout=2.0, piggyback_max=0)
    for p in "AB":
        e.peer_connected(p, 0.0)
    s = e.new_session(0.0)
    e.add_peers(s, ["A", "B"], 0.0)
    (c,) = make_blocks(1)
    e.want(s, [c], 0.0)
    out = e.outgoing(0.0)
    first = "A" if c in want_blocks(out, "A") else "B"
    other = "B" if first == "A" else "A"
    assert e.next_deadline() == 2.0
    e.tick(1.9)
    assert e.outgoing(1.9) == []
    e.tick(2.0)
    out = e.outgoing(2.0)
    assert c in cancels(out, first)
    assert c in want_blocks(out, other)
    st = e.stats()
    assert st["peers"][first]["timeouts"] == 1 and st["timeouts"] == 1
    assert st["sessions"][s]["fanout"] == 2  # slow peers, no duplicates: fan out more


def test_a_peer_that_keeps_delivering_is_not_timed_out():
    e = engine(want_timeout=2.0, piggyback_max=0, initial_queue_limit=4)
    e.peer_connected("A", 0.0)
    e.peer_connected("B", 0.0)
    blocks = make_blocks(8)
    cids = list(blocks)
    e.want(0, cids[:4], 0.0)
    out = e.outgoing(0.0)
    on_a = [c for c in cids[:4] if c in want_blocks(out, "A")]
    e.receive_message("A", blocks_msg(blocks, on_a[:1]), 1.5)  # progress at 1.5
    e.tick(2.5)
    out = e.outgoing(2.5)
    assert not (cancels(out, "A") & set(on_a[1:]))  # still waiting at A
    e.tick(3.5)
    assert cancels(e.outgoing(3.5), "A") == set(on_a[1:])


def test_exhausted_want_is_searched_again_after_the_interval():
    e = engine(search_interval=10.0)
    e.peer_connected("A", 0.0)
    s = e.new_session(0.0)
    (c,) = make_blocks(1)
    e.want(s, [c], 0.0)
    e.outgoing(0.0)
    e.receive_message("A", presences([c], DONT_HAVE), 0.5)
    assert e.actions(0.5) == [FindProviders(c, s)]
    assert e.next_deadline() == 10.5
    e.tick(10.5)
    out = e.outgoing(10.5)
    assert c in want_blocks(out, "A")  # asked again, now as want-block
    e.receive_message("A", presences([c], DONT_HAVE), 11.0)
    assert e.actions(11.0) == [FindProviders(c, s)]


def test_end_game_asks_an_idle_fast_peer_for_wants_stuck_at_a_slow_one():
    e = engine(piggyback_max=0, initial_queue_limit=2)
    for p in "AB":
        e.peer_connected(p, 0.0)
    s = e.new_session(0.0)
    e.add_peers(s, ["A", "B"], 0.0)
    blocks = make_blocks(4)
    c0, c1, c2, c3 = blocks
    e.want(s, [c0, c1, c2, c3], 0.0)
    out = e.outgoing(0.0)
    assert want_blocks(out, "A") == {c0, c2} and want_blocks(out, "B") == {c1, c3}
    # B serves its two at 0.1 (response time 0.1 s) and has c0, c2 too; A is slow
    msg = blocks_msg(blocks, [c1, c3])
    msg.presences = [BlockPresence(c0, HAVE), BlockPresence(c2, HAVE)]
    e.receive_message("B", msg, 0.1)
    assert want_blocks(e.outgoing(0.1), "B") == set()  # A has had them 0.1 s: not stuck yet
    e.receive_message("B", presences([c0], HAVE), 0.5)  # B is still idle at 0.5
    out = e.outgoing(0.5)
    assert want_blocks(out, "B") == {c0, c2}  # stuck at A for > 2 x B's response time
    assert msgs_for(out, "A") == []  # A keeps them too: whichever comes first wins
    e.receive_message("B", blocks_msg(blocks, [c0]), 0.6)
    assert cancels(e.outgoing(0.6), "A") == {c0}
    e.receive_message("A", blocks_msg(blocks, [c2]), 0.7)
    assert cancels(e.outgoing(0.7), "B") == {c2}
    assert e.stats()["duplicates"] == 0 and e.wanted() == []


def test_no_end_game_while_the_session_has_waiting_wants():
    e = engine(piggyback_max=0, initial_queue_limit=1)
    for p in "AB":
        e.peer_connected(p, 0.0)
    s = e.new_session(0.0)
    e.add_peers(s, ["A", "B"], 0.0)
    blocks = make_blocks(5)
    cids = list(blocks)
    e.want(s, cids, 0.0)
    e.outgoing(0.0)
    on_b = next(c for c in cids if c in e._peers["B"].live)
    msg = blocks_msg(blocks, [on_b])
    msg.presences = [BlockPresence(c, HAVE) for c in cids if c != on_b]
    e.receive_message("B", msg, 1.0)
    out = e.outgoing(1.0)
    # B's free slots (its limit grew to 2) go to waiting wants, not to copies of A's
    nxt = want_blocks(out, "B")
    assert len(nxt) == 2 and not nxt & set(e._peers["A"].live)


# -- blocks ------------------------------------------------------------------------------------


def test_block_arrival_cancels_at_every_peer_asked():
    e = engine()
    for p in "ABC":
        e.peer_connected(p, 0.0)
    s = e.new_session(0.0)
    blocks = make_blocks(1)
    (c,) = blocks
    e.want(s, [c], 0.0)
    e.outgoing(0.0)
    e.receive_message("A", presences([c], HAVE), 0.1)
    e.outgoing(0.1)
    ev = e.receive_message("A", blocks_msg(blocks, [c]), 0.2)
    assert ev == [BlockReceived(c, blocks[c], "A", False)]
    out = e.outgoing(0.2)
    for p in "ABC":
        assert cancels(out, p) == {c}
    assert e.wanted() == []


def test_events_keep_arrival_order_and_unwanted_blocks_are_counted():
    e = engine()
    e.peer_connected("A", 0.0)
    s = e.new_session(0.0)
    blocks = make_blocks(3)
    c0, c1, c2 = blocks
    e.want(s, [c0, c1, c2], 0.0)
    e.outgoing(0.0)
    e.cancel(s, [c2], 0.0)  # A may still send it: late, not unsolicited
    msg = Message(blocks=[wire_block(c, blocks[c]) for c in (c1, c2, c0)],
                  presences=[BlockPresence(c1, HAVE)])
    ev = e.receive_message("A", msg, 0.1)
    assert [type(x) for x in ev] == [BlockReceived, BlockReceived, Have]
    assert [x.cid for x in ev] == [c1, c0, c1]
    st = e.stats()
    assert st["unwanted_blocks"] == 1 and st["peers"]["A"]["unwanted_blocks"] == 1
    assert st["blocks"] == 2 and st["peers"]["A"]["bytes"] == 2 * 64
    assert e.actions(0.1) == []  # nothing against A


def test_bad_blocks_are_dropped_and_counted():
    e = engine(max_block_size=1000)
    for p in "TAG":
        e.peer_connected(p, 0.0)
    blocks = make_blocks(1)
    (c,) = blocks
    e.want(0, [c], 0.0)
    tampered = Message(blocks=[(wire_block(c, b"")[0], b"not the data")])
    bad_prefix = Message(blocks=[(b"\x01\x55\x99\x99\x01\x20", blocks[c])])  # unknown hash
    garbage = Message(blocks=[(b"\xff", blocks[c])])
    big = Message(blocks=[(wire_block(c, b"")[0], b"x" * 1001)])
    # names a CID nobody asked for: unwanted, and T (which lied) is dropped
    assert e.receive_message("T", tampered, 0.1) == []
    ev = e.receive_message("A", bad_prefix, 0.1) + e.receive_message("G", garbage, 0.1)
    ev += e.receive_message("A", big, 0.1)
    assert [type(x) for x in ev] == [BadBlock] * 3
    assert [x.peer for x in ev] == ["A", "G", "A"]
    st = e.stats()
    assert st["bad_blocks"] == 3 and st["unwanted_blocks"] == 1
    assert st["peers"]["A"]["bad_blocks"] == 2  # what it cannot prove wrong: kept
    # a malformed prefix names no block at all: G is dropped too
    assert {(a.peer, type(a)) for a in e.actions(0.1)} == {("T", DisconnectPeer),
                                                            ("G", DisconnectPeer)}
    assert e.wanted() == [c]  # still wanted
    ev = e.receive_message("A", blocks_msg(blocks, [c]), 0.2)
    assert ev == [BlockReceived(c, blocks[c], "A", False)]


def test_cidv0_block_with_an_empty_prefix_is_accepted():
    # py-libp2p sends CIDv0 blocks as payloads with an empty prefix
    e = engine()
    e.peer_connected("py", 0.0, version=V11)
    blocks = make_blocks(2, v0=True)
    c0, c1 = blocks
    e.want(0, [c0], 0.0)
    ev = e.receive_message("py", Message(blocks=[(b"", blocks[c0]), (b"", blocks[c1])]), 0.1)
    assert ev == [BlockReceived(c0, blocks[c0], "py", False)]  # c1 was not wanted
    assert e.stats()["peers"]["py"]["unwanted_blocks"] == 1


def test_duplicates_are_counted_and_lower_the_fanout():
    e = engine(want_timeout=1.0, piggyback_max=0)
    for p in "ABC":
        e.peer_connected(p, 0.0)
    s = e.new_session(0.0)
    e.add_peers(s, ["A", "B", "C"], 0.0)
    blocks = make_blocks(6)
    cids = list(blocks)
    e.want(s, cids[:1], 0.0)
    e.outgoing(0.0)
    e.tick(1.0)  # timeout: fanout 2
    e.tick(2.0)  # the second peer too: fanout 3
    assert e.stats()["sessions"][s]["fanout"] == 3
    e.want(s, cids[1:], 2.0)
    out = e.outgoing(2.0)
    fan = sum(cids[1] in want_blocks(out, p) for p in "ABC")
    assert fan == 3  # the same want-block at three peers
    now = 2.0
    for c in cids[1:]:  # every peer serves every block: duplicates
        for p in "ABC":
            now += 0.01
            e.receive_message(p, blocks_msg(blocks, [c]), now)
    st = e.stats()
    assert st["duplicates"] == 10 and st["sessions"][s]["duplicates"] == 10
    assert sum(st["peers"][p]["duplicates"] for p in "ABC") == 10
    assert st["sessions"][s]["fanout"] == 1
    ev = e.receive_message("A", blocks_msg(blocks, [cids[1]]), now)
    assert ev == [BlockReceived(cids[1], blocks[cids[1]], "A", True)]


# -- peers coming and going, message limits ----------------------------------------------------


# -- wants a server dropped without a word (issue 8: a crowd shared its wantlist budget) --------


def _dropped_setup(first_pending: int) -> tuple[ClientEngine, dict[bytes, bytes], list[bytes]]:
    """A asked for 8 blocks at t=0; it answers 3 at 0.01 (reporting *first_pending* bytes
    still queued for us), then 3 more at 0.5 reporting its queue empty: 2 are unanswered."""
    e = engine(piggyback_max=0, initial_queue_limit=8, want_timeout=5.0)
    e.peer_connected("A", 0.0)
    blocks = make_blocks(8)
    cids = list(blocks)
    e.want(0, cids, 0.0)
    assert want_blocks(e.outgoing(0.0), "A") == set(cids)
    e.receive_message("A", blocks_msg(blocks, cids[:3], pending=first_pending), 0.01)
    e.receive_message("A", blocks_msg(blocks, cids[3:6], pending=0), 0.5)
    assert want_blocks(e.outgoing(0.5), "A") == set()  # (cancels for what came)
    return e, blocks, cids


def test_want_blocks_a_peer_dropped_are_sent_again_once_it_is_quiet():
    """A reported its queue for us empty and then said nothing for two round trips: the two
    want-blocks it never answered were dropped (a server's wantlist budget), and go again."""
    e, blocks, cids = _dropped_setup(first_pending=256 * 1024)
    due = e.next_deadline()
    assert due is not None and 0.5 < due < 5.0  # well before the want timeout
    e.tick(due)
    out = e.outgoing(due)
    assert want_blocks(out, "A") == set(cids[6:])
    assert not cancels(out, "A")
    assert e.stats()["wants_resent"] == 2
    assert e.stats()["peers"]["A"]["wants_resent"] == 2
    # answered now: nothing more to send, no timeout fires later for them
    e.receive_message("A", blocks_msg(blocks, cids[6:]), due + 0.01)
    assert e.stats()["wanted"] == 0
    e.tick(due + 10)
    assert want_blocks(e.outgoing(due + 10), "A") == set()


def test_a_peer_that_speaks_again_is_not_second_guessed():
    """Any message after the empty-queue report (a block on its way, a presence) calls the
    re-send off: the wants may still be coming."""
    e, _, cids = _dropped_setup(first_pending=256 * 1024)
    due = e.next_deadline()
    assert due is not None
    e.receive_message("A", presences([cids[7]], HAVE), due - 0.01)
    e.tick(due)
    assert want_blocks(e.outgoing(due), "A") == set()
    assert e.stats()["wants_resent"] == 0


def test_a_peer_that_never_reports_its_queue_is_not_second_guessed():
    """pendingBytes 0 from a peer that never reported more (unset: it does not implement it)
    says nothing about its queue: the unanswered wants wait for their timeout as before."""
    e, _, _ = _dropped_setup(first_pending=0)
    e.tick(4.9)
    assert want_blocks(e.outgoing(4.9), "A") == set()
    assert e.stats()["wants_resent"] == 0


def test_full_wantlist_to_a_newly_connected_peer():
    e = engine()
    e.peer_connected("A", 0.0)
    s = e.new_session(0.0)
    blocks = make_blocks(3)
    e.want(s, list(blocks), 0.0)
    e.outgoing(0.0)
    e.peer_connected("B", 1.0)
    out = e.outgoing(1.0)
    (m,) = msgs_for(out, "B")
    assert m.full and {bytes(x.cid) for x in m.entries} == set(blocks)
    assert msgs_for(out, "A") == []


def test_wants_are_resent_after_reconnect():
    e = engine(piggyback_max=0)
    e.peer_connected("A", 0.0)
    blocks = make_blocks(2)
    e.want(0, list(blocks), 0.0)
    assert want_blocks(e.outgoing(0.0), "A") == set(blocks)
    e.peer_disconnected("A", 1.0)
    assert e.outgoing(1.0) == []  # nowhere to send
    assert e.stats()["sessions"][0]["waiting"] == 2
    e.peer_connected("A", 2.0)
    out = e.outgoing(2.0)
    (m,) = msgs_for(out, "A")
    assert m.full and {bytes(x.cid) for x in m.entries} == set(blocks)


def test_disconnect_moves_want_blocks_to_another_peer():
    e = engine(piggyback_max=0)
    e.peer_connected("A", 0.0)
    blocks = make_blocks(2)
    e.want(0, list(blocks), 0.0)
    e.outgoing(0.0)
    e.peer_connected("B", 0.5)
    e.outgoing(0.5)
    e.peer_disconnected("A", 1.0)
    assert want_blocks(e.outgoing(1.0), "B") == set(blocks)


@pytest.mark.parametrize("version", [V10, V11])
def test_legacy_peers_get_want_block_only(version):
    e = engine()
    e.peer_connected("old", 0.0, version=version)
    e.peer_connected("new", 0.0)
    s = e.new_session(0.0)
    blocks = make_blocks(3, v0=True)
    cids = list(blocks)
    e.want(s, cids, 0.0)
    out = e.outgoing(0.0)
    ents = entries_for(out, "old")
    assert ents and all(x.want_type == WANT_BLOCK and not x.send_dont_have for x in ents)
    assert {bytes(x.cid) for x in ents} == set(cids)  # a candidate from the start
    assert want_haves(out, "new") == set(cids)  # discovery for the 1.2.0 peer
    legacy = version == V10
    ev = e.receive_message("old", blocks_msg(blocks, cids[:1], legacy=legacy), 0.1)
    assert ev == [BlockReceived(cids[0], blocks[cids[0]], "old", False)]
    # the 1.2.0 peer answers HAVE and gets piggybacked want-haves; the old one never does
    e.receive_message("new", presences(cids[1:], HAVE), 0.2)
    out = e.outgoing(0.2)
    assert all(x.want_type == WANT_BLOCK and not x.send_dont_have
               for x in entries_for(out, "old") if not x.cancel)


def test_messages_are_split_below_the_size_limit():
    limit = 16 * 1024
    e = engine(max_message_size=limit, initial_queue_limit=8, piggyback_max=0,
               max_peer_wants=10_000)
    blocks = make_blocks(1500)
    s = e.new_session(0.0)
    e.want(s, list(blocks), 0.0)
    e.actions(0.0)
    e.peer_connected("A", 0.0)
    out = e.outgoing(0.0)
    ms = msgs_for(out, "A")
    assert len(ms) > 1
    assert [m.full for m in ms] == [True] + [False] * (len(ms) - 1)
    for m in ms:
        raw = encode_message(m)
        assert len(raw) <= limit
        assert decode_message(raw) == m
    assert {bytes(x.cid) for m in ms for x in m.entries} == set(blocks)


def test_default_limit_splits_a_huge_full_wantlist_below_4_mib():
    e = engine(piggyback_max=0, max_peer_wants=100_000)
    cids = [b"\x01\x55\x12\x20" + hashlib.sha256(i.to_bytes(4, "big")).digest()
            for i in range(80_000)]
    s = e.new_session(0.0)
    e.want(s, cids, 0.0)
    e.actions(0.0)
    e.peer_connected("A", 0.0)
    ms = msgs_for(e.outgoing(0.0), "A")
    assert len(ms) == 2
    assert all(len(encode_message(m)) <= 4 * 1024 * 1024 for m in ms)
    assert sum(len(m.entries) for m in ms) == len(cids)


def test_wants_asked_of_one_peer_stay_within_its_server_cap():
    # boxo keeps 1024 wantlist entries per peer and drops the rest: never ask more than that,
    # keeping room for the peer's want-blocks (its queue limit)
    e = engine(max_peer_wants=64, initial_queue_limit=8, max_queue_limit=16)
    e.peer_connected("A", 0.0)
    e.outgoing(0.0)
    s = e.new_session(0.0)
    blocks = make_blocks(100)
    cids = list(blocks)
    e.want(s, cids, 0.0)
    assert want_haves(e.outgoing(0.0), "A") == set(cids[:56])
    # the ones nobody could be asked about go to routing at once
    assert [a.cid for a in e.actions(0.0)] == cids[56:]
    # A answers HAVE for the first: it joins the session and gets want-blocks (within its cap)
    e.receive_message("A", presences(cids[:1], HAVE), 0.1)
    out = e.outgoing(0.1)
    assert len(want_blocks(out, "A")) == 8
    assert e.stats()["peers"]["A"]["wants"] <= 64


# -- cancels, sessions, bad input --------------------------------------------------------------


def test_cancel_and_close_session_send_cancels():
    e = engine(piggyback_max=0)
    e.peer_connected("A", 0.0)
    blocks = make_blocks(4)
    cids = list(blocks)
    s = e.new_session(0.0)
    t = e.new_session(0.0)
    e.add_peers(s, ["A"], 0.0)
    e.want(s, cids[:3], 0.0)
    e.want(t, cids[2:], 0.0)  # cids[2] wanted by both sessions
    e.outgoing(0.0)
    e.cancel(s, cids[:1], 0.1)
    assert cancels(e.outgoing(0.1), "A") == {cids[0]}
    e.close_session(s, 0.2)
    out = e.outgoing(0.2)
    assert cancels(out, "A") == {cids[1]}  # cids[2] is still wanted by session t
    assert sorted(e.wanted()) == sorted(cids[2:])
    with pytest.raises(SessionError):
        e.want(s, cids, 0.3)
    e.close_session(s, 0.3)  # idempotent
    # answers that arrive after the close (routing, a late cancel) are ignored, not errors
    e.add_peers(s, ["B"], 0.3)
    e.cancel(s, cids, 0.3)
    assert e.outgoing(0.3) == []
    with pytest.raises(SessionError):
        e.add_peers(1234, ["B"], 0.3)
    with pytest.raises(SessionError):
        e.cancel(1234, cids, 0.3)


def test_bad_input_raises_named_errors():
    e = engine()
    with pytest.raises(SessionError, match="new_session"):
        e.want(99, [b"\x01"], 0.0)
    with pytest.raises(WantlistError):
        e.want(0, ["bafy..."], 0.0)
    with pytest.raises(WantlistError):
        e.want(0, [b"x" * 500], 0.0)
    with pytest.raises(ValueError):
        ClientConfig(min_queue_limit=5, initial_queue_limit=2)
    # a message from a peer we were not told about is accepted (its blocks delivered), but
    # nothing is sent to it until it connects
    blocks = make_blocks(1)
    (c,) = blocks
    e.want(0, [c], 0.0)
    assert e.receive_message("ghost", presences([c], HAVE), 0.0) == [Have("ghost", c)]
    assert e.outgoing(0.0) == []
    ev = e.receive_message("ghost", blocks_msg(blocks, [c]), 0.0)
    assert ev == [BlockReceived(c, blocks[c], "ghost", False)]
    assert e.outgoing(0.0) == [] and e.wanted() == []
    # a peer's own wantlist (no blocks, presences or pendingBytes) leaves our view of its
    # queue alone
    e.peer_connected("W", 0.0)
    e._peers["W"].unreported = 3
    e.receive_message("W", Message([WireEntry(b"\x01\x55\x12\x20" + bytes(32))]), 0.0)
    assert e._peers["W"].unreported == 3


async def _providers(r: ContentRouting, cid: bytes) -> list:
    return await r.find_providers(cid)


def test_static_routing_is_a_content_router():
    import asyncio

    r = StaticRouting(["A", "/ip4/127.0.0.1/tcp/4001"])
    r.add("B")
    r.add("A")
    assert isinstance(r, ContentRouting)
    assert asyncio.run(_providers(r, b"\x01")) == ["A", "/ip4/127.0.0.1/tcp/4001", "B"]
