"""A discrete-event scheduler on a virtual clock, for the virtual network.

Spec: none of its own; it stands in for the event loop and the wall clock that the sans-IO
engines never touch (DESIGN.md, "The shape: a sans-IO core with thin drivers"). Events are kept in
a heap of ``(time, seq, timer)``: ``seq`` breaks ties in scheduling order, so two runs that
schedule the same events see them in the same order, and the only randomness is the seeded
:attr:`VirtualClock.rng`. Virtual time costs no wall time: a run is as long as its CPU work.

    clock = VirtualClock(seed=1)
    clock.call_later(0.5, print, "half a second later")
    clock.run_until(lambda: False, max_time=1.0)
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable
from typing import Any

from ..errors import SimulationError

__all__ = ["Timer", "VirtualClock"]

#: run_until gives up (SimulationError) after this many events: an engine that reschedules itself
#: forever at the same instant would otherwise hang the test instead of failing it.
DEFAULT_MAX_EVENTS = 5_000_000


class Timer:
    """A scheduled callback; :meth:`cancel` stops it from running (lazy removal from the heap)."""

    __slots__ = ("args", "callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[..., Any], args: tuple) -> None:
        self.when = when
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def __repr__(self) -> str:
        state = " cancelled" if self.cancelled else ""
        name = getattr(self.callback, "__qualname__", self.callback)
        return f"Timer(at={self.when:.6f}, {name}{state})"


class VirtualClock:
    """Virtual time plus the queue of what happens next.

    ``now`` only moves forward, to the time of the event being run. ``rng`` is the one source of
    randomness for a simulation (seeded), so a scenario replays exactly.
    """

    def __init__(self, seed: int = 0, *, max_events: int = DEFAULT_MAX_EVENTS) -> None:
        self.now = 0.0
        self.rng = random.Random(seed)
        self.events_run = 0
        self.max_events = max_events
        self._heap: list[tuple[float, int, Timer]] = []
        self._seq = 0

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any) -> Timer:
        """Run ``callback(*args)`` at virtual time *when* (not before ``now``)."""
        if not isinstance(when, (int, float)) or math.isnan(when) or math.isinf(when):
            raise SimulationError(f"event time must be a finite number of seconds, not {when!r}")
        if when < self.now:
            raise SimulationError(
                f"cannot schedule an event at {when:.6f} s: the clock is already at"
                f" {self.now:.6f} s"
                " (virtual time never goes back; use call_later with a delay >= 0)"
            )
        timer = Timer(float(when), callback, args)
        self._seq += 1
        heapq.heappush(self._heap, (timer.when, self._seq, timer))
        return timer

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> Timer:
        """Run ``callback(*args)`` *delay* seconds from now (delay >= 0)."""
        if not isinstance(delay, (int, float)) or math.isnan(delay) or delay < 0:
            raise SimulationError(f"delay must be a number of seconds >= 0, not {delay!r}")
        return self.call_at(self.now + delay, callback, *args)

    def peek(self) -> float | None:
        """The time of the next live event, or None when nothing is scheduled."""
        heap = self._heap
        while heap and heap[0][2].cancelled:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def __len__(self) -> int:
        return sum(1 for _, _, t in self._heap if not t.cancelled)

    def step(self) -> bool:
        """Run the next event (advancing ``now`` to it); False when none is left."""
        heap = self._heap
        while heap:
            when, _, timer = heapq.heappop(heap)
            if timer.cancelled:
                continue
            self.events_run += 1
            if self.events_run > self.max_events:
                raise SimulationError(
                    f"event budget of {self.max_events} events exhausted at t={self.now:.6f} s:"
                    " something reschedules itself forever; raise max_events if the scenario is"
                    " really that large"
                )
            self.now = when
            timer.cancelled = True  # ran: a late cancel() is harmless
            timer.callback(*timer.args)
            return True
        return False

    def run_until(self, predicate: Callable[[], bool], max_time: float) -> bool:
        """Run events until ``predicate()`` holds (checked before the first and after every
        event) or the next event lies beyond *max_time*; return the predicate's final value.
        The clock ends at *max_time* if it ran out of time or events, so repeated calls move on.
        """
        if predicate():
            return True
        while True:
            nxt = self.peek()
            if nxt is None or nxt > max_time:
                if max_time > self.now:
                    self.now = float(max_time)
                return bool(predicate())
            self.step()
            if predicate():
                return True
