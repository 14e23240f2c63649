"""fastswap.bandwidth: token buckets for the block data a node sends, total and per peer."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastswap.bandwidth import BandwidthLimiter, TokenBucket


@given(st.lists(st.integers(min_value=1, max_value=3_000_000), min_size=1, max_size=200),
       st.integers(min_value=1_000, max_value=50_000_000))
def test_a_sender_that_waits_as_told_never_beats_rate_plus_burst(sizes, rate) -> None:
    b = TokenBucket(rate)
    now = 0.0
    sent = 0
    for n in sizes:
        now += b.reserve(n, now)  # wait, then send
        sent += n
        # everything sent by `now` fits in the burst plus what the rate allowed (the last
        # response may be larger than the burst: it went out once its debt was paid)
        assert sent - n <= b.burst + rate * now + 1e-6 * rate
    if now > 0:
        assert sent - sizes[-1] <= b.burst + rate * now + 1e-6 * rate


def test_burst_then_rate_and_debt() -> None:
    b = TokenBucket(1000, burst=100)
    assert b.reserve(100, 0.0) == 0.0  # the burst goes at once
    assert b.reserve(100, 0.0) == pytest.approx(0.1)
    # a response larger than the burst is not starved: it waits for its debt
    assert b.reserve(1000, 0.1) == pytest.approx(1.0)
    assert b.reserve(1, 5.0) == 0.0  # a quiet bucket refills, up to the burst only
    assert b.reserve(150, 5.0) == pytest.approx(0.051)


def test_limiter_takes_the_stricter_of_peer_and_total_and_forgets_peers() -> None:
    lim = BandwidthLimiter(total_rate=10_000, total_burst=1_000, peer_rate=1_000, peer_burst=100)
    assert lim.active
    assert lim.reserve("a", 100, 0.0) == 0.0
    assert lim.reserve("a", 100, 0.0) == pytest.approx(0.1)  # a's own bucket
    assert lim.reserve("b", 100, 0.0) == 0.0  # b has its own, and the total has room
    assert lim.reserve("c", 1_000, 0.0) == pytest.approx(0.9)  # c's bucket: 100 of burst
    lim.forget("a")
    assert lim.reserve("a", 100, 0.0) > 0.0  # a new bucket, but the total is in debt now
    assert not BandwidthLimiter().active
    with pytest.raises(ValueError):
        TokenBucket(0)
