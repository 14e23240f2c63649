"""The virtual clock: ordering, cancellation, run_until bounds and the event budget."""

from __future__ import annotations

import math

import pytest

from fastswap.errors import SimulationError
from fastswap.testing.clock import VirtualClock


def test_events_run_in_time_order_then_scheduling_order() -> None:
    clock = VirtualClock()
    seen: list[tuple[str, float]] = []
    clock.call_at(2.0, lambda: seen.append(("b", clock.now)))
    clock.call_at(1.0, lambda: seen.append(("a", clock.now)))
    clock.call_at(2.0, lambda: seen.append(("c", clock.now)))
    clock.call_later(0.0, lambda: seen.append(("first", clock.now)))
    assert clock.run_until(lambda: False, max_time=10.0) is False
    assert seen == [("first", 0.0), ("a", 1.0), ("b", 2.0), ("c", 2.0)]
    assert clock.now == 10.0  # ran out of events: the clock moves to max_time


def test_cancel_and_nested_scheduling() -> None:
    clock = VirtualClock()
    seen: list[float] = []
    t = clock.call_at(1.0, seen.append, "cancelled")
    t.cancel()

    def chain(n: int) -> None:
        seen.append(clock.now)
        if n:
            clock.call_later(0.25, chain, n - 1)

    clock.call_at(0.5, chain, 2)
    assert clock.peek() == 0.5
    assert len(clock) == 1
    clock.run_until(lambda: False, 5.0)
    assert seen == [0.5, 0.75, 1.0]
    assert clock.peek() is None


def test_run_until_stops_at_predicate_and_at_max_time() -> None:
    clock = VirtualClock()
    hits: list[float] = []
    for i in range(10):
        clock.call_at(float(i), hits.append, float(i))
    assert clock.run_until(lambda: len(hits) == 3, max_time=100.0) is True
    assert clock.now == 2.0
    # the event at 5.0 lies beyond max_time 4.5: it does not run, and the clock ends at 4.5
    assert clock.run_until(lambda: False, max_time=4.5) is False
    assert hits == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert clock.now == 4.5
    assert clock.run_until(lambda: True, max_time=0.0) is True  # checked before any event


def test_same_seed_same_rng() -> None:
    a, b, c = VirtualClock(7), VirtualClock(7), VirtualClock(8)
    xs = [a.rng.random() for _ in range(5)]
    assert xs == [b.rng.random() for _ in range(5)]
    assert xs != [c.rng.random() for _ in range(5)]


@pytest.mark.parametrize("delay", [-1.0, math.nan, "1"])
def test_bad_delays_raise(delay: object) -> None:
    with pytest.raises(SimulationError):
        VirtualClock().call_later(delay, lambda: None)  # type: ignore[arg-type]


def test_no_scheduling_in_the_past_or_at_infinity() -> None:
    clock = VirtualClock()
    clock.call_at(1.0, lambda: None)
    clock.step()
    with pytest.raises(SimulationError, match="already at"):
        clock.call_at(0.5, lambda: None)
    with pytest.raises(SimulationError, match="finite"):
        clock.call_at(math.inf, lambda: None)


def test_event_budget_turns_a_spin_into_an_error() -> None:
    clock = VirtualClock(max_events=100)

    def spin() -> None:
        clock.call_later(0.0, spin)

    clock.call_later(0.0, spin)
    with pytest.raises(SimulationError, match="event budget"):
        clock.run_until(lambda: False, max_time=1.0)
