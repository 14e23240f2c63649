"""An inbound block flood (issue 8 item 7; fastswap/core.py, "Blocks nobody asked for" and "Peer
scores"): a real seeder process, a flooder process (``benchmarks/_attack_peer.py flood``: 2 MiB
blocks nobody asked for, as fast as the seeder reads them, redialling when dropped) and an honest
leecher process; loopback only.

Asserted: the honest fetch completes with the right bytes; the seeder dropped the flood without
hashing it (its core counted at least the ban threshold's worth of unsolicited bytes), penalised
the flooder and disconnected it, and refuses its redials; the flooder got far less through than
an unbounded flood (10.7 GB in 30 s was measured before); the seeder's anonymous memory grew by
less than ``ANON_BOUND_KIB``. Without the screening the unsolicited count stays 0; without the
score the flooder is never disconnected. Slowdown: ``benchmarks/test_bench_swarm_abuse.py``.
"""

from __future__ import annotations

import pytest

from benchmarks._peerproc import ATTACK
from benchmarks._peerproc import PeerProc as _Proc
from fastswap import _defaults
from tests.node.test_abuse_budgets import FILE_SIZE, wait_for

ANON_BOUND_KIB = 96 * 1024
MIB = 1024 * 1024

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def test_flooder_is_dropped_unhashed_disconnected_and_refused() -> None:
    seeder = _Proc("seed", str(FILE_SIZE), "--pattern")
    flooder = leecher = None
    try:
        info = seeder.line()
        base = seeder.ask("rss")
        flooder = _Proc("flood", info["addr"], script=ATTACK)
        assert "error" not in flooder.line()
        leecher = _Proc("leech")
        got = leecher.ask(f"{info['addr']} {info['root']} sha256")
        assert got["sha256"] == info["sha256"]
        # disconnected, and each redial refused
        st = wait_for("the flooder's refusal", lambda: flooder.ask("status"),
                      lambda s: s["disconnects"] >= 1 and s["refused"] >= 3)
        stat = seeder.ask("stat")
        during = seeder.ask("rss")
    finally:
        for p in (leecher, flooder):
            if p is not None:
                p.close()
        seeder.close()
    scores = stat["scores"]
    print(f"\nflooder {st}; seeder scores {scores}, disconnected "
          f"{stat['peers_disconnected']}, refused {stat['connections_refused']}; RssAnon "
          f"{base['rssanon_kib'] >> 10} -> {during['rssanon_kib'] >> 10} MiB")
    threshold_bytes = int(_defaults.PEER_SCORE_BAN_THRESHOLD
                          / _defaults.PEER_SCORE_UNWANTED_POINTS_PER_MIB) * MIB
    assert scores["bytes_unsolicited"] >= threshold_bytes * 0.9  # dropped before hashing
    assert scores["peers_refused"] == 1 and stat["peers_disconnected"] == 1
    assert stat["connections_refused"] >= 3
    assert st["disconnects"] == 1  # refused at once after that: never flooding again
    # what it got through: the threshold, what was in flight when the ban fell (the seeder's
    # read windows), and nothing after
    assert st["bytes_sent"] < 4 * threshold_bytes
    assert during["rssanon_kib"] - base["rssanon_kib"] < ANON_BOUND_KIB
