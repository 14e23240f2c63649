"""ClientEngine: queue growth by response size, a session's want order (``order_seed``), and
the holder's serving order in end-game decisions (fastswap.client.engine, "Queue limit per
peer", "Order within a session", "End-game")."""

from __future__ import annotations

from fastswap.message import HAVE, BlockPresence
from tests.client.test_client_engine import blocks_msg, engine, make_blocks, want_blocks

SIZE = 100_000


def test_limit_grows_while_less_than_one_response_is_queued_at_the_peer():
    # a server that packs several blocks per response: "near zero" is one such response
    e = engine(initial_queue_limit=4, low_water_bytes=150_000, high_water_bytes=10**7,
               piggyback_max=0, default_block_size=SIZE)
    e.peer_connected("A", 0.0)
    blocks = make_blocks(40, size=SIZE)
    cids = list(blocks)
    e.want(0, cids, 0.0)
    e.outgoing(0.0)
    # 3 blocks in one response, 2 more queued (+1 of ours it had not seen): under 3 blocks
    e.receive_message("A", blocks_msg(blocks, cids[:3], pending=2 * SIZE), 0.1)
    assert e.stats()["peers"]["A"]["queue_limit"] == 7
    e.outgoing(0.1)
    # one block per response and 2 queued: over a response's worth (and low water): hold
    e.receive_message("A", blocks_msg(blocks, cids[3:4], pending=2 * SIZE), 0.2)
    assert e.stats()["peers"]["A"]["queue_limit"] == 7


def _first_sent(seed, window=4):
    e = engine(initial_queue_limit=1, piggyback_max=0, order_seed=seed, order_window=window)
    e.peer_connected("A", 0.0)
    s = e.new_session(0.0)
    e.add_peers(s, ["A"], 0.0)
    cids = list(make_blocks(20))
    e.want(s, cids, 0.0)
    (c,) = want_blocks(e.outgoing(0.0), "A")
    return cids.index(c)


def test_without_order_seed_wants_go_out_in_priority_order():
    assert _first_sent(None) == 0


def test_order_seed_picks_a_random_first_want_within_the_window():
    firsts = [_first_sent(seed) for seed in range(12)]
    assert all(0 <= i < 4 for i in firsts)  # never beyond the window
    assert len(set(firsts)) > 1  # nodes with different seeds ask for different blocks
    assert [_first_sent(seed) for seed in range(12)] == firsts  # deterministic per seed


def _end_game_copy(pending_at_holder: int) -> bool:
    """A (slow, measured) holds c2; B said HAVE for it and is idle. Is B asked for a copy?"""
    e = engine(piggyback_max=0, initial_queue_limit=2, default_block_size=SIZE)
    for p in "AB":
        e.peer_connected(p, 0.0)
    s = e.new_session(0.0)
    e.add_peers(s, ["A", "B"], 0.0)
    blocks = make_blocks(4, size=SIZE)
    c0, c1, c2, c3 = blocks
    e.want(s, [c0, c1, c2, c3], 0.0)
    out = e.outgoing(0.0)
    assert want_blocks(out, "A") == {c0, c2} and want_blocks(out, "B") == {c1, c3}
    e.receive_message("B", blocks_msg(blocks, [c1, c3]), 0.1)  # B: fast, then idle
    e.outgoing(0.1)
    # A delivers c0 after 1 s (100 kB/s) and reports what it still has queued for us
    e.receive_message("A", blocks_msg(blocks, [c0], pending=pending_at_holder), 1.0)
    e.outgoing(1.0)
    msg = blocks_msg(blocks, [])
    msg.presences = [BlockPresence(c2, HAVE)]
    e.receive_message("B", msg, 1.05)
    return c2 in want_blocks(e.outgoing(1.05), "B")


def test_end_game_copies_a_want_still_queued_at_the_slow_holder():
    # A's queue held 3 blocks when it packed its response; since then it took at most one
    # more response (1 block) out of it: c2 is still queued, ~1 s away, so B is asked too
    assert _end_game_copy(3 * SIZE)


def test_end_game_does_not_copy_a_want_the_holder_has_taken_out_of_its_queue():
    # A reported nothing queued beyond its response: c2 went into its next response (its
    # uplink), so a copy from B would only arrive twice
    assert not _end_game_copy(0)
