"""Log amplification (issue 8, item 9): a peer that keeps sending malformed Bitswap messages has
its connection closed each time (as boxo does), is banned once its penalty score reaches the
threshold, and the log stays bounded (rate-limited lines with counts)."""

from __future__ import annotations

import logging

import pytest

from fastswap.net.keys import PeerId
from fastswap.net.resources import PeerScores, RateLimitedLog
from tests.abuse.conftest import Seeder, hostile

pytestmark = pytest.mark.timeout(120)


def test_malformed_messages_close_then_ban(run_uv, net_log, tmp_path) -> None:
    async def main() -> None:
        async with Seeder(tmp_path) as seeder:
            report = await hostile("malformed", seeder.addr, 10.0, "50")
            peer = PeerId.parse(report["peer"])
            # two malformed messages (two penalties of PENALTY_MALFORMED) reach the ban score;
            # a third may be written before the banned peer's next connection is dropped
            assert report["sent"] <= 3, report
            assert report["redial"] == "refused", report
            assert seeder.host.is_banned(peer)
            assert 2 <= seeder.node.net.bad_frames(peer) <= 3
            assert len(net_log.records) <= 6, [r.getMessage() for r in net_log.records]

    run_uv(main())


def test_rate_limited_log_counts_what_it_suppressed(caplog) -> None:
    now = [0.0]
    rl = RateLimitedLog(logging.getLogger("fastswap.test"), 10.0, lambda: now[0])
    caplog.set_level(logging.WARNING, logger="fastswap.test")
    for i in range(1000):
        now[0] = i * 0.001
        rl.warning("bad", "bad frame from %s", f"peer{i}")
    rl.warning("other", "another kind")
    now[0] = 11.0
    rl.warning("bad", "bad frame from %s", "peer-late")
    msgs = [r.getMessage() for r in caplog.records]
    assert msgs == ["bad frame from peer0", "another kind",
                    "bad frame from peer-late (999 similar messages suppressed in the last 10 s)"]


def test_peer_scores_decay_and_ban() -> None:
    scores = PeerScores(half_life=10.0, ban_score=100.0, ban_seconds=5.0, max_peers=2)
    assert not scores.penalise("p", 60.0, 0.0)
    assert scores.score("p", 10.0) == pytest.approx(30.0)
    assert not scores.penalise("p", 60.0, 10.0)  # 30 + 60 < 100: decayed in time
    assert scores.penalise("p", 60.0, 10.0)
    scores.ban("p", 5.0, "test", 10.0)
    assert scores.banned("p", 14.0) == (pytest.approx(1.0), "test")
    assert scores.banned("p", 15.1) is None
    for peer in "abc":  # bounded: the oldest entry goes
        scores.penalise(peer, 1.0, 20.0)
    assert scores.score("a", 20.0) == 0.0
