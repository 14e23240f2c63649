"""Swarm scenarios on the virtual network with the real engines (issue 4), and the naive clients
that must fail them (issue 14): 1 seeder -> 8 leechers (with and without a shared uplink),
4 seeders holding disjoint parts or everything -> 1 leecher, a slow peer beside fast ones, a
seeder that leaves (cleanly, or by going silent), peers whose speeds change mid-transfer;
completion, duplicates, routing, each holder's share, completion time against what the links
allow (``VirtualNetwork.link_bound``), queue depths, idle time; and determinism.

Each assertion is a *claim* about one scenario (``CLAIMS``). ``test_claim`` checks every claim
against the real ClientEngine; ``test_naive_client_fails`` checks that each naive client of
tests/testing/naive.py fails the claims listed for it in ``NAIVE_FAILS``: a claim that an
obviously wrong policy also meets does not test that policy. (Measured when these were written,
see ``python -m tests.testing.test_swarm`` for the whole matrix.)

Everything runs in virtual time (fastswap.testing): the durations asserted here are virtual
seconds computed by the link model, so they are properties of the algorithms, not of this
machine's speed. Each scenario runs once per client per test session (``run`` caches it).
Blocks are 128 x 128 KiB of random data (16 MiB per full fetch), links 10 ms one way.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from fastswap.client.engine import ClientConfig
from fastswap.testing import Fetch, Link, VirtualNetwork, random_blocks

from .naive import NAIVE, naive_factory

N_BLOCKS = 128
BLOCK_SIZE = 128 * 1024
LATENCY = 0.01
RTT = 2 * LATENCY
TOTAL = N_BLOCKS * BLOCK_SIZE
#: An idle peer is one that holds a block a leecher wants and has not asked another peer for,
#: and has nothing in flight to it (and, for a node with a shared ``uplink``, nothing on that
#: uplink for anyone); see fastswap.testing.network's docstring for why.
#: Its first round trip is idle whatever the client does (want-have travels out, HAVE back, then
#: want-block out: two one-way trips with nothing toward the leecher), so each peer is allowed
#: STARTUP_IDLE seconds (2 RTT, for the small messages' serialization and jitter too); past that,
#: a peer that holds wanted blocks must be busy at least 90% of the time.
STARTUP_IDLE = 2 * RTT
MAX_IDLE_FRACTION = 0.10

BLOCKS = random_blocks(N_BLOCKS, BLOCK_SIZE, seed=4)
CIDS = [c for c, _ in BLOCKS]

#: Claims the engines do not meet yet, with what was measured (strict xfail: when an engine
#: change makes one pass, the suite says so and its entry goes). Only failing claims are listed.
KNOWN_GAPS: dict[str, str] = {
    "slowdown_within_capacity": (
        "done in 2.56 s, the links allow 0.68 s: when A drops from 50 to 2 MB/s, 27 of L's "
        "want-blocks stay queued at A for 1.7 s while B (now 50 MB/s, HAVE for all of them) "
        "idles; A's rate estimate (an average over its messages, which now come 0.45 s apart) "
        "still says 27 MB/s, so neither _rebalance nor the end-game moves them"
    ),
    "slowdown_queues_stay_short": (
        "A reported 2.6 MB pending for L after its drop to 2 MB/s: 1.3 s of queue"
    ),
}


# -- scenarios (each returns a Run: the network after the run, the fetches, the link bound) -----


@dataclass
class Run:
    net: VirtualNetwork
    fetches: list[Fetch]
    bound: float  # net.link_bound(fetches), taken before the run
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return all(f.done for f in self.fetches)

    @property
    def duration(self) -> float:
        assert self.done, self.fetches
        return max(f.duration for f in self.fetches)  # type: ignore[type-var]


Factory = Callable[[], Any] | None


def go(net: VirtualNetwork, fetches: list[Fetch], max_time: float) -> Run:
    bound = net.link_bound(fetches)
    net.run_fetches(fetches, max_time=max_time)
    return Run(net, fetches, bound)


def one_seeder_eight_leechers(seed: int = 1, client_factory: Factory = None) -> Run:
    net = VirtualNetwork(seed, client_factory=client_factory)
    net.add_node("seed", blocks=BLOCKS, link=Link(LATENCY, 20e6))
    for i in range(8):
        net.add_node(f"L{i}", link=Link(LATENCY, 20e6))
    net.connect_all()
    return go(net, [net.fetch(f"L{i}", CIDS) for i in range(8)], 30.0)


SEEDER_UPLINK = 20e6


def one_seeder_eight_leechers_shared_uplink(seed: int = 1, client_factory: Factory = None) -> Run:
    """As above, but every node's total upload is capped at 20 MB/s (one FIFO for all its
    connections): the seeder alone would need 8 x 16 MiB / 20 MB/s = 6.7 s, so leechers must
    trade blocks among themselves to do better."""
    net = VirtualNetwork(seed, client_factory=client_factory)
    net.add_node("seed", blocks=BLOCKS, link=Link(LATENCY, 20e6), uplink=SEEDER_UPLINK)
    for i in range(8):
        net.add_node(f"L{i}", link=Link(LATENCY, 20e6), uplink=20e6)
    net.connect_all()
    return go(net, [net.fetch(f"L{i}", CIDS) for i in range(8)], 60.0)


def four_seeders_disjoint(seed: int = 1, client_factory: Factory = None) -> Run:
    net = VirtualNetwork(seed, client_factory=client_factory)
    for i in range(4):
        net.add_node(f"s{i}", blocks=BLOCKS[i::4], link=Link(LATENCY, 20e6))
    net.add_node("L", link=Link(LATENCY, 20e6))
    net.connect_all()
    return go(net, [net.fetch("L", CIDS)], 30.0)


def four_seeders_full(seed: int = 1, client_factory: Factory = None) -> Run:
    net = VirtualNetwork(seed, client_factory=client_factory)
    for i in range(4):
        net.add_node(f"s{i}", blocks=BLOCKS, link=Link(LATENCY, 20e6, jitter=0.002))
    net.add_node("L", link=Link(LATENCY, 20e6, jitter=0.002))
    net.connect_all()
    return go(net, [net.fetch("L", CIDS)], 30.0)


FAST_BW, SLOW_BW = 10e6, 1e6


def slow_beside_fast(seed: int = 1, client_factory: Factory = None) -> Run:
    net = VirtualNetwork(seed, client_factory=client_factory)
    for i in range(3):
        net.add_node(f"fast{i}", blocks=BLOCKS, link=Link(LATENCY, FAST_BW))
    net.add_node("slow", blocks=BLOCKS, link=Link(LATENCY, SLOW_BW))
    net.add_node("L", link=Link(LATENCY, 100e6))
    net.connect_all()
    return go(net, [net.fetch("L", CIDS)], 30.0)


def seeder_leaves(how: str, seed: int, client_factory: Factory) -> Run:
    """3 seeders with everything; s0 leaves (``leave``: connections close; ``vanish``: it goes
    silent) once a third of the blocks arrived. ``extra["lost"]``: the want-blocks L had out at
    s0 then."""
    net = VirtualNetwork(seed, client_factory=client_factory)
    for i in range(3):
        net.add_node(f"s{i}", blocks=BLOCKS, link=Link(LATENCY, 20e6))
    net.add_node("L", link=Link(LATENCY, 20e6))
    net.connect_all()
    f = net.fetch("L", CIDS)
    bound = net.link_bound([f])
    assert net.run_until(lambda: len(net.node("L").store) >= N_BLOCKS // 3, max_time=30.0)
    assert net.metrics("L").peer("s0").blocks > 0  # s0 was serving
    lost = net.outstanding_wants("L", "s0")
    assert lost > 0  # ...and had work queued when it went
    getattr(net, how)("s0")
    net.run_fetches([f], max_time=60.0)
    return Run(net, [f], bound, {"lost": lost})


def seeder_disconnects(seed: int = 1, client_factory: Factory = None) -> Run:
    return seeder_leaves("leave", seed, client_factory)


def seeder_goes_silent(seed: int = 1, client_factory: Factory = None) -> Run:
    return seeder_leaves("vanish", seed, client_factory)


# Peers whose speeds change mid-transfer: their uplinks (the rate they send blocks at) change at
# CHANGE_AT. A fixed queue cap cannot follow: small enough for a slow peer, it starves a fast one
# with a long round trip; deep enough for the fast one, it floods the slow one. 512 blocks
# (64 MiB) so that the transfer outlasts the change by several round trips.
CHANGE_AT = 0.3


@functools.cache
def big_blocks() -> list[tuple[bytes, bytes]]:
    return random_blocks(512, BLOCK_SIZE, seed=5)


def capacity_time(total: int, before: float, after: float, change_at: float = CHANGE_AT) -> float:
    """Seconds to send *total* bytes at *before* bytes/s until *change_at*, *after* since."""
    if before * change_at >= total:
        return total / before
    return change_at + (total - before * change_at) / after


def speeds_change(speeds: dict[str, tuple[float, float]], latency: float, n: int, seed: int,
                  client_factory: Factory) -> Run:
    """Holders with every block, each sending at ``speeds[name][0]`` bytes/s until CHANGE_AT
    and ``[1]`` after, to one leecher L; ``extra["ideal"]``: the time their summed speeds allow
    (plus a round trip), which the link bound cannot know (it sees the links as they are)."""
    blocks = big_blocks()[:n]
    net = VirtualNetwork(seed, client_factory=client_factory)
    for name, (before, after) in speeds.items():
        net.add_node(name, blocks=blocks, link=Link(latency, 200e6), uplink=before)
        net.set_uplink(name, after, at=CHANGE_AT)
    net.add_node("L", link=Link(latency, 200e6))
    net.connect_all()
    run_ = go(net, [net.fetch("L", [c for c, _ in blocks])], 60.0)
    total = n * BLOCK_SIZE
    before = sum(s[0] for s in speeds.values())
    after = sum(s[1] for s in speeds.values())
    run_.extra["ideal"] = capacity_time(total, before, after) + 2 * latency
    run_.extra["speeds"] = speeds
    return run_


def speedup(seed: int = 1, client_factory: Factory = None) -> Run:
    """A at a steady 10 MB/s; B at 5 MB/s, then 100 MB/s (a 100 ms round trip: 76 blocks in
    flight keep it busy)."""
    return speeds_change({"A": (10e6, 10e6), "B": (5e6, 100e6)}, 0.05, 512, seed,
                         client_factory)


def slowdown(seed: int = 1, client_factory: Factory = None) -> Run:
    """A at 50 MB/s, then 2 MB/s; B at 5 MB/s, then 50 MB/s (256 blocks, 50 ms round trip)."""
    return speeds_change({"A": (50e6, 2e6), "B": (5e6, 50e6)}, 0.025, 256, seed, client_factory)


@functools.cache
def run(scenario: Callable[..., Run], client: str | None = None) -> Run:
    """*scenario* with the real ClientEngine (``client=None``) or the naive client *client*;
    once per session (the scenarios are deterministic and the claims only read the result)."""
    return scenario(client_factory=None if client is None else naive_factory(client))


def check_store(net: VirtualNetwork, name: str) -> None:
    store = net.node(name).store
    assert len(store) == N_BLOCKS
    assert all(store.get(c) == d for c, d in BLOCKS)


# -- claims -----------------------------------------------------------------------------------

#: claim name -> (scenario, the function that asserts it on a Run)
CLAIMS: dict[str, tuple[Callable[..., Run], Callable[[Run], None]]] = {}


def claim(scenario: Callable[..., Run]) -> Callable[[Callable[[Run], None]], Callable]:
    def deco(fn: Callable[[Run], None]) -> Callable[[Run], None]:
        CLAIMS[fn.__name__] = (scenario, fn)
        return fn

    return deco


def no_peer_idles(r: Run) -> None:
    """No peer idles while wants remain: each peer that held something a leecher wanted was busy
    toward it at least 90% of the time past its first round trips."""
    assert r.done, r.fetches
    for f in r.fetches:
        m = r.net.metrics(f.node.name)
        assert m.serve_time > 0
        for peer, pm in m.peers.items():
            if pm.serve_time == 0:
                continue  # never held anything this leecher wanted
            idle = max(0.0, pm.idle_time - STARTUP_IDLE)
            assert idle <= MAX_IDLE_FRACTION * pm.serve_time, (
                f"{peer} idled {pm.idle_time:.3f} s of {pm.serve_time:.3f} s toward {f.node.name}"
            )


def within_bound(r: Run, factor: float) -> None:
    """Done within *factor* times the least time the links allow."""
    assert r.done, r.fetches
    assert r.duration <= factor * r.bound, (
        f"done in {r.duration:.3f} s, {r.duration / r.bound:.2f} x the link bound {r.bound:.3f} s"
    )


# 1 seeder -> 8 leechers


@claim(one_seeder_eight_leechers)
def eight_leechers_all_complete(r: Run) -> None:
    assert r.done, r.fetches
    for i in range(8):
        check_store(r.net, f"L{i}")
        m = r.net.metrics(f"L{i}")
        assert m.duplicate_ratio <= 0.05, (f"L{i}", m.duplicates)
        assert m.unwanted_blocks == 0 and m.bad_blocks == 0
    # the seeder did not have to send any block to one leecher twice
    sent = sum(r.net.metrics("seed").peer(f"L{i}").blocks_sent for i in range(8))
    assert sent <= 8 * N_BLOCKS * 1.05


CLAIMS["eight_leechers_no_peer_idles"] = (one_seeder_eight_leechers, no_peer_idles)


# 1 seeder -> 8 leechers, every node's upload shared by its connections


@claim(one_seeder_eight_leechers_shared_uplink)
def shared_uplink_all_complete(r: Run) -> None:
    assert r.done, r.fetches
    for i in range(8):
        check_store(r.net, f"L{i}")
        m = r.net.metrics(f"L{i}")
        assert m.unwanted_blocks == 0 and m.bad_blocks == 0


@claim(one_seeder_eight_leechers_shared_uplink)
def shared_uplink_few_duplicates(r: Run) -> None:
    assert r.done, r.fetches
    for i in range(8):
        m = r.net.metrics(f"L{i}")
        assert m.duplicate_ratio <= 0.05, (f"L{i}", m.duplicates)


@claim(one_seeder_eight_leechers_shared_uplink)
def shared_uplink_leechers_trade(r: Run) -> None:
    """BitTorrent-style swarms get most data from peers; ask for a quarter."""
    assert r.done, r.fetches
    from_peers = sum(
        pm.useful_bytes
        for i in range(8)
        for p, pm in r.net.metrics(f"L{i}").peers.items()
        if p != "seed"
    )
    assert from_peers >= 0.25 * 8 * TOTAL, from_peers / (8 * TOTAL)


@claim(one_seeder_eight_leechers_shared_uplink)
def shared_uplink_within_link_bound(r: Run) -> None:
    """The assertion that separates good scheduling from bad here (it replaces the pairwise idle
    check, which four naive clients passed: see NAIVE_FAILS). The bound is the seeder's uplink
    sending every block once (0.86 s); the seeder alone serving all eight would take 6.7 s,
    7.8 x. Measured: the engine 2.8 x; fixed queue caps 1: 1.4 x, 8: 3.1 x, 16: 4.5 x, 24: 6.1 x;
    every want to the seeder, or to everyone, or 512 queued: 7.8 x."""
    within_bound(r, 3.5)


@claim(one_seeder_eight_leechers_shared_uplink)
def shared_uplink_head_of_line(r: Run) -> None:
    """Measured behaviour, not a goal: a leecher's wants to another leecher travel on the same
    ordered connection as the blocks it uploads to that peer, so they wait behind them (and
    behind its shared uplink's queue). Measured: L6's wants waited up to 0.25 s (12 RTT), and
    the three peers they waited longest for (0.17-0.25 s) idled 18-32% toward L6: the only
    pairs of 64 over the 10% of the pairwise idle check this claim replaced. Pinned so that a
    change that makes it worse shows; a fix (wants ahead of blocks, or on a stream of their
    own) should tighten it."""
    assert r.done, r.fetches
    delays = {f.node.name: round(r.net.metrics(f.node.name).max_want_delay, 3) for f in r.fetches}
    assert max(delays.values()) <= 0.3, delays
    idle: list[tuple[str, str, float]] = []
    for f in r.fetches:
        for peer, pm in r.net.metrics(f.node.name).peers.items():
            if pm.serve_time and pm.idle_time - STARTUP_IDLE > MAX_IDLE_FRACTION * pm.serve_time:
                idle.append((f.node.name, peer, pm.max_want_delay))
    assert len(idle) <= 3, idle
    # each idle pair is explained by the head of the line: the leecher's wants to that peer
    # waited at least 5 round trips behind its uploads
    assert all(delay >= 5 * RTT for _, _, delay in idle), idle


# 4 seeders with disjoint parts -> 1 leecher


@claim(four_seeders_disjoint)
def disjoint_wants_routed_to_holders(r: Run) -> None:
    assert r.done, r.fetches
    check_store(r.net, "L")
    m = r.net.metrics("L")
    assert m.duplicates == 0  # each block has one holder: any duplicate is a double request
    for i in range(4):
        pm = m.peer(f"s{i}")
        part = N_BLOCKS // 4
        assert pm.blocks == part  # each block came from its holder...
        assert pm.misrouted_want_blocks == 0  # ...and no want-block went to a non-holder
        assert pm.want_blocks_sent == part  # one want-block per block: routed by HAVE
        assert pm.haves > 0  # discovery by want-have found the holders
    # presences for the other seeders' blocks came back as DONT_HAVE, not as wasted want-blocks
    assert sum(m.peer(f"s{i}").dont_haves for i in range(4)) > 0


@claim(four_seeders_disjoint)
def disjoint_within_link_bound(r: Run) -> None:
    """Each holder sends its quarter at once. Measured: the engine 1.2 x."""
    within_bound(r, 1.5)


CLAIMS["disjoint_no_peer_idles"] = (four_seeders_disjoint, no_peer_idles)


# 4 seeders with everything -> 1 leecher


@claim(four_seeders_full)
def full_every_holder_serves_its_share(r: Run) -> None:
    """Four equal holders: each sends at least 15% of the bytes (a fair share is 25%)."""
    assert r.done, r.fetches
    m = r.net.metrics("L")
    shares = {f"s{i}": round(m.share(f"s{i}"), 3) for i in range(4)}
    assert min(shares.values()) >= 0.15, shares


@claim(four_seeders_full)
def full_few_duplicates(r: Run) -> None:
    assert r.done, r.fetches
    m = r.net.metrics("L")
    assert m.duplicate_ratio <= 0.05, m.duplicates


@claim(four_seeders_full)
def full_within_link_bound(r: Run) -> None:
    """Four holders at 20 MB/s each. Measured: the engine 1.25 x; every want to one holder,
    or everything from every holder: 3.8 x."""
    within_bound(r, 1.5)


CLAIMS["full_no_peer_idles"] = (four_seeders_full, no_peer_idles)


# a slow peer beside fast ones


@claim(slow_beside_fast)
def slow_completes_mostly_from_fast(r: Run) -> None:
    assert r.done, r.fetches
    check_store(r.net, "L")
    m = r.net.metrics("L")
    fast = sum(m.peer(f"fast{i}").bytes for i in range(3))
    assert fast >= 0.8 * m.bytes_received  # the fast peers have 97% of the capacity
    assert m.duplicate_ratio <= 0.1


@claim(slow_beside_fast)
def slow_does_not_hold_the_transfer(r: Run) -> None:
    # at most 25% (+ start-up round trips) longer than the three fast peers alone would take
    assert r.done, r.fetches
    assert r.duration <= 1.25 * TOTAL / (3 * FAST_BW) + 3 * RTT, r.duration


@claim(slow_beside_fast)
def slow_queue_stays_short(r: Run) -> None:
    assert r.done, r.fetches
    m = r.net.metrics("L")
    # the slow peer's queue drains in no more time than the fast peers need for theirs
    slow_drain = m.peer("slow").max_outstanding_wants * BLOCK_SIZE / SLOW_BW
    fast_drain = (
        max(m.peer(f"fast{i}").max_outstanding_wants for i in range(3)) * BLOCK_SIZE / FAST_BW
    )
    assert slow_drain <= fast_drain, (slow_drain, fast_drain)


CLAIMS["slow_no_peer_idles"] = (slow_beside_fast, no_peer_idles)


# a seeder leaves mid-transfer


@claim(seeder_disconnects)
def disconnect_rerouted_at_once(r: Run) -> None:
    (f,) = r.fetches
    assert f.done, f
    check_store(r.net, "L")
    m = r.net.metrics("L")
    assert m.peer("s0").blocks < N_BLOCKS // 2
    # the disconnect re-routes s0's wants at once: no timeout wait, no double requests
    assert m.duplicates == 0
    # no worse than the two remaining seeders alone (+50%, + start-up): far from a 5 s timeout
    assert f.duration <= 1.5 * TOTAL / (2 * 20e6) + 5 * RTT, f.duration


@claim(seeder_goes_silent)
def silence_rerouted_by_timeout(r: Run) -> None:
    (f,) = r.fetches
    assert f.done, f
    check_store(r.net, "L")
    m = r.net.metrics("L")
    # nobody told L: its want timeout is what re-routes s0's wants
    timeout = ClientConfig().want_timeout
    assert f.duration < timeout + 1.0
    # a duplicate can only come from re-requesting a want lost with s0
    assert m.duplicates <= r.extra["lost"]


# peers whose speeds change mid-transfer


def within_capacity(r: Run) -> None:
    """Done within 1.6 x the time the holders' summed speeds allow (their uplinks change
    mid-transfer, so the link bound, taken at the start, does not apply)."""
    assert r.done, r.fetches
    ideal = r.extra["ideal"]
    assert r.duration <= 1.6 * ideal, (
        f"done in {r.duration:.3f} s, {r.duration / ideal:.2f} x the {ideal:.3f} s the links allow"
    )


def queues_stay_short(r: Run) -> None:
    """No holder ever has more of L's wants queued than it sends in 0.2 s (2 round trips)."""
    m = r.net.metrics("L")
    deep = {p: round(pm.max_queue_seconds, 3) for p, pm in m.peers.items()}
    assert max(deep.values()) <= 0.2, deep


@claim(speedup)
def speedup_within_capacity(r: Run) -> None:
    """Measured: the engine 1.4 x (its queue at B grows from 9 to 124 want-blocks); fixed caps
    of 24 and less 2.1 x and more (they cannot fill B's pipe); 48: 1.4 x."""
    within_capacity(r)


@claim(speedup)
def speedup_queues_stay_short(r: Run) -> None:
    """Measured: the engine 0.07 s; a fixed cap of 48 queues 0.54 s at A, 96 1.2 s, 512 and
    the naive clients everything (6.6 s)."""
    queues_stay_short(r)


@claim(slowdown)
def slowdown_within_capacity(r: Run) -> None:
    within_capacity(r)


@claim(slowdown)
def slowdown_queues_stay_short(r: Run) -> None:
    queues_stay_short(r)


#: The claims each naive client must fail (a subset of what it fails; measured when written).
NAIVE_FAILS: dict[str, list[str]] = {
    "first_peer": [
        "shared_uplink_leechers_trade",
        "shared_uplink_within_link_bound",
        "disjoint_wants_routed_to_holders",
        "disjoint_within_link_bound",
        "full_every_holder_serves_its_share",
        "full_within_link_bound",
        "slow_does_not_hold_the_transfer",
        "speedup_within_capacity",
        "speedup_queues_stay_short",
    ],
    "broadcast": [
        "shared_uplink_few_duplicates",
        "shared_uplink_within_link_bound",
        "full_few_duplicates",
        "full_within_link_bound",
        "slow_completes_mostly_from_fast",
        "slow_does_not_hold_the_transfer",
        "speedup_queues_stay_short",
    ],
    "cap1": [
        "disjoint_within_link_bound",
        "full_within_link_bound",
        "slow_does_not_hold_the_transfer",
        "speedup_within_capacity",
    ],
    "cap8": ["slow_queue_stays_short", "speedup_within_capacity"],
    "cap16": ["shared_uplink_within_link_bound", "slow_queue_stays_short",
              "speedup_within_capacity"],
    "cap24": ["shared_uplink_within_link_bound", "slow_does_not_hold_the_transfer",
              "slow_queue_stays_short", "speedup_within_capacity"],
    "cap512": [
        "shared_uplink_leechers_trade",
        "shared_uplink_within_link_bound",
        "full_every_holder_serves_its_share",
        "full_within_link_bound",
        "slow_does_not_hold_the_transfer",
        "speedup_within_capacity",
        "speedup_queues_stay_short",
    ],
}


def known_gap(key: str) -> list:
    reason = KNOWN_GAPS.get(key)
    return [pytest.mark.xfail(strict=True, reason=reason)] if reason else []


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=known_gap(n), id=n) for n in CLAIMS]
)
def test_claim(name: str) -> None:
    scenario, check = CLAIMS[name]
    check(run(scenario))


@pytest.mark.parametrize(
    ("client", "name"),
    [pytest.param(c, n, id=f"{c}-{n}") for c, names in NAIVE_FAILS.items() for n in names],
)
def test_naive_client_fails(client: str, name: str) -> None:
    scenario, check = CLAIMS[name]
    with pytest.raises(AssertionError):
        check(run(scenario, client))


def test_every_naive_client_is_caught() -> None:
    assert set(NAIVE_FAILS) == set(NAIVE)
    assert all(n in CLAIMS and n not in KNOWN_GAPS for ns in NAIVE_FAILS.values() for n in ns)


# -- the link bound itself ------------------------------------------------------------------------


def test_link_bound_of_the_scenarios() -> None:
    """The bounds the claims compare against, worked out by hand from the scenarios' links."""
    one_block = RTT  # plus the shortest round trip
    assert run(four_seeders_full).bound == pytest.approx(TOTAL / (4 * 20e6) + one_block)
    assert run(four_seeders_disjoint).bound == pytest.approx(TOTAL / (4 * 20e6) + one_block)
    # the seeder's uplink must send every block once
    assert run(one_seeder_eight_leechers_shared_uplink).bound == pytest.approx(
        TOTAL / SEEDER_UPLINK + one_block
    )
    assert run(slow_beside_fast).bound == pytest.approx(
        TOTAL / (3 * FAST_BW + SLOW_BW) + one_block
    )


# -- determinism ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "scenario", [four_seeders_full, slow_beside_fast], ids=lambda s: s.__name__
)
def test_same_seed_same_metrics(scenario) -> None:
    a = scenario(seed=3)
    b = scenario(seed=3)
    assert a.net.snapshot() == b.net.snapshot()


def test_same_seed_same_metrics_in_another_process() -> None:
    # str hashes are salted per process; the network hands engines int peer keys so that no
    # set-iteration order inside an engine depends on the salt
    root = Path(__file__).resolve().parents[2]
    code = (
        "from tests.testing.test_swarm import four_seeders_full as s\n"
        "import hashlib; net = s(seed=3).net\n"
        "print(hashlib.sha256(repr(net.snapshot()).encode()).hexdigest())"
    )
    digests = set()
    for salt in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=salt)
        out = subprocess.run(
            [sys.executable, "-c", code],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        digests.add(out.stdout.strip())
    assert len(digests) == 1, digests


def _matrix() -> None:
    """Print every claim against the engine and every naive client (for NAIVE_FAILS)."""
    clients = [None, *NAIVE]
    print("claim".ljust(40), *(str(c or "engine")[:10].ljust(10) for c in clients))
    for name, (scenario, check) in CLAIMS.items():
        row = []
        for c in clients:
            try:
                check(run(scenario, c))
                row.append("pass")
            except AssertionError:
                row.append("FAIL")
        print(name.ljust(40), *(x.ljust(10) for x in row))


if __name__ == "__main__":
    _matrix()
