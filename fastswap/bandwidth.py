"""Bandwidth limits for the block data a node sends: token buckets, total and per peer.

Sans-IO (the caller passes ``now``): :meth:`BandwidthLimiter.reserve` takes the bytes of one
response at once and says how long to wait before sending it. A bucket may go into debt: a
response larger than the burst is not split or starved, its sender just waits longer, and the
next one waits for the debt to be paid. Reservations are served in the order they are made, so
a peer cannot jump the queue of the total limit. Only block data is limited: wantlists,
presences and protocol frames are small and are never held back (holding them would stall
the transfers the limit is meant to shape).

The burst is what a quiet bucket lets through at once; by default a tenth of a second's worth,
so over any few seconds the rate holds within a few percent.
"""

from __future__ import annotations

from collections.abc import Hashable

__all__ = ["BandwidthLimiter", "TokenBucket"]

#: the default burst, in seconds of the rate
DEFAULT_BURST_SECONDS = 0.1


class TokenBucket:
    """``rate`` bytes per second, at most ``burst`` bytes saved up."""

    __slots__ = ("_at", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: float = 0.0, now: float = 0.0) -> None:
        if rate <= 0:
            raise ValueError(f"a token bucket needs a positive rate, got {rate!r}")
        self.rate = float(rate)
        self.burst = float(burst) if burst > 0 else self.rate * DEFAULT_BURST_SECONDS
        self._tokens = self.burst
        self._at = now

    def reserve(self, n: int, now: float) -> float:
        """Take *n* bytes now; the seconds to wait before sending them (0: at once)."""
        tokens = min(self.burst, self._tokens + (now - self._at) * self.rate) - n
        self._tokens = tokens
        self._at = now
        return 0.0 if tokens >= 0 else -tokens / self.rate


class BandwidthLimiter:
    """A total bucket and one bucket per peer (either rate may be 0: unlimited)."""

    def __init__(self, total_rate: float = 0, total_burst: float = 0,
                 peer_rate: float = 0, peer_burst: float = 0) -> None:
        self.total = TokenBucket(total_rate, total_burst) if total_rate > 0 else None
        self.peer_rate = peer_rate
        self.peer_burst = peer_burst
        self._peers: dict[Hashable, TokenBucket] = {}

    @property
    def active(self) -> bool:
        return self.total is not None or self.peer_rate > 0

    def reserve(self, peer: Hashable, n: int, now: float) -> float:
        """Take *n* bytes of block data for *peer*; the seconds to wait before sending them."""
        wait = 0.0
        if self.peer_rate > 0:
            b = self._peers.get(peer)
            if b is None:
                b = self._peers[peer] = TokenBucket(self.peer_rate, self.peer_burst, now)
            wait = b.reserve(n, now)
        if self.total is not None:
            wait = max(wait, self.total.reserve(n, now))
        return wait

    def forget(self, peer: Hashable) -> None:
        """*peer* disconnected: drop its bucket (a reconnect starts with a full burst)."""
        self._peers.pop(peer, None)
