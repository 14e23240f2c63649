"""The driver core's peer scores and screening (fastswap/core.py, "Blocks nobody asked for" and
"Peer scores"; issue 8 item 7), sans-IO with the real engines: blocks from a peer we ask nothing
of are dropped before hashing and cost it; unwanted and bad blocks cost it; a peer below the
threshold gets one DisconnectPeer and is refused until its ban ends."""

from __future__ import annotations

import os

from fastswap import _defaults as D
from fastswap.blockstore.memory import MemoryBlockstore
from fastswap.cid import cid_prefix, compute_cid
from fastswap.client.engine import ClientEngine
from fastswap.core import DriverCore
from fastswap.events import DisconnectPeer, PeerMisbehaved, StoreBlocks
from fastswap.message import Message
from fastswap.server import ServerEngine

V = "/ipfs/bitswap/1.2.0"
MIB = 1024 * 1024


def core() -> DriverCore:
    c = DriverCore(ServerEngine(MemoryBlockstore()), ClientEngine())
    c.peer_connected("flooder", V, 0.0)
    c.peer_connected("honest", V, 0.0)
    return c


def actions(c: DriverCore, now: float) -> list:
    return list(c.poll(now))


BIG = os.urandom(2 * MIB)
FLOOD = Message(blocks=[(cid_prefix(compute_cid(BIG)), BIG)])


def test_unsolicited_blocks_are_dropped_unhashed_and_the_flooder_refused():
    c = core()
    n = 0
    disconnects = []
    while not disconnects and n < 1000:
        n += 1
        screened = c.screen("flooder", FLOOD, 0.0)
        assert screened is not None and screened.blocks == []  # never reaches the hashing
        c.message_received("flooder", screened, 0.0)
        disconnects = [a for a in actions(c, 0.0) if isinstance(a, DisconnectPeer)]
    # 2 MiB = 2 points each: refused at the 100-point threshold, once
    assert n == D.PEER_SCORE_BAN_THRESHOLD // 2
    assert disconnects == [DisconnectPeer("flooder", disconnects[0].reason, D.PEER_SCORE_BAN_SECONDS)]
    assert c.stats()["peers"]["bytes_unsolicited"] == n * len(BIG)
    # refused: its messages are dropped whole, its reconnect is refused (and disconnected again)
    assert c.screen("flooder", Message(), 1.0) is None
    c.peer_disconnected("flooder", 1.0)
    assert not c.peer_connected("flooder", V, 2.0)
    again = [a for a in actions(c, 2.0) if isinstance(a, DisconnectPeer)]
    assert again and again[0].ban_seconds == D.PEER_SCORE_BAN_SECONDS - 2.0
    # the honest peer was never touched; the ban ends
    assert c.score("honest", 2.0) == 0.0
    later = D.PEER_SCORE_BAN_SECONDS + 1.0
    assert c.banned_until("flooder", later) is None
    assert c.peer_connected("flooder", V, later)


def test_score_recovers_over_time():
    c = core()
    for _ in range(30):
        c.message_received("flooder", c.screen("flooder", FLOOD, 0.0), 0.0)
    assert c.score("flooder", 0.0) == -60.0
    assert c.score("flooder", 50.0) == -10.0
    # 60 points more after 50 s: 70 in all, still below the threshold
    for _ in range(30):
        c.message_received("flooder", c.screen("flooder", FLOOD, 50.0), 50.0)
    assert not [a for a in actions(c, 50.0) if isinstance(a, DisconnectPeer)]


def test_blocks_we_asked_for_pass_and_forged_ones_cost():
    c = core()
    real = os.urandom(100_000)
    cid = compute_cid(real)
    sid = c.new_session(0.0)
    c.want(sid, [cid], 0.0)
    actions(c, 0.0)  # the want goes out to the connected peers
    assert c.client.asking("honest")
    forged = Message(blocks=[(cid_prefix(cid), os.urandom(100_000))])
    assert c.screen("honest", forged, 1.0) is forged  # asked: hashed, then found unwanted
    c.message_received("honest", forged, 1.0)
    assert c.score("honest", 1.0) < 0
    ok = Message(blocks=[(cid_prefix(cid), real)])
    c.message_received("honest", ok, 1.0)
    stored = [a for a in actions(c, 1.0) if isinstance(a, StoreBlocks)]
    assert stored and stored[0].blocks[0][0] == cid
    # a duplicate (the same block again, e.g. after our cancel crossed it) costs nothing
    before = c.score("honest", 1.0)
    c.message_received("honest", ok, 1.0)
    assert c.score("honest", 1.0) == before


def test_bad_blocks_and_frames_cost_more():
    c = core()
    sid = c.new_session(0.0)
    c.want(sid, [compute_cid(b"x")], 0.0)
    actions(c, 0.0)
    # a CIDv1 raw prefix with a hash we cannot check (0x99): counted, not dropped at once (a
    # malformed prefix is: see test_client_give_up)
    bad = Message(blocks=[(b"\x01\x55\x99\x01\x20", b"data")])
    for i in range(9):
        c.message_received("honest", bad, 0.0)
    got = actions(c, 0.0)
    assert sum(isinstance(a, PeerMisbehaved) for a in got) == 9
    assert not any(isinstance(a, DisconnectPeer) for a in got)
    c.frame_refused("honest", "truncated", 0.0)  # 90 + 20: over
    assert [a.peer for a in actions(c, 0.0) if isinstance(a, DisconnectPeer)] == ["honest"]
