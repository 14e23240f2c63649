"""Swarm scenarios on the virtual network with the real engines (issue 4): 1 seeder -> 8
leechers, 4 seeders holding disjoint parts -> 1 leecher, a seeder that leaves (cleanly, or by
going silent), a slow peer beside fast ones; completion, duplicates, routing, queue lengths and
idle time; and determinism.

Everything runs in virtual time (fastswap.testing): the durations asserted here are virtual
seconds computed by the link model, so they are properties of the algorithms, not of this
machine's speed. Blocks are 128 x 128 KiB of random data (16 MiB per full fetch), links 10 ms one
way.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fastswap.client.engine import ClientConfig
from fastswap.testing import Link, VirtualNetwork, random_blocks

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

#: Assertions the engines do not meet yet, with what was measured (strict xfail: when an engine
#: change makes one pass, the suite says so and its entry goes). Every scenario assertion has a
#: key; only the failing ones are listed.
KNOWN_GAPS: dict[str, str] = {
    "idle:one_seeder_eight_leechers_shared_uplink": (
        "done in 2.3-2.4 s (seeder alone: 6.7 s), 672 of 1024 blocks from leechers, 1-2 "
        "duplicates per leecher; 61 of 64 pairs stay under 10% idle, but three peers idle "
        "11-27% toward one leecher (L6): its want-blocks to each wait on that connection "
        "behind the blocks L6 is uploading to the same peer (one ordered stream per direction, "
        "as on a real connection), so they arrive up to ~60 ms after they were sent"
    ),
}


def known_gap(key: str) -> list:
    reason = KNOWN_GAPS.get(key)
    return [pytest.mark.xfail(strict=True, reason=reason)] if reason else []


def gap(key: str):
    """Decorator: mark a test with its known gap, if it has one."""

    def deco(fn):
        for mark in known_gap(key):
            fn = mark(fn)
        return fn

    return deco


def check_store(net: VirtualNetwork, name: str) -> None:
    store = net.node(name).store
    assert len(store) == N_BLOCKS
    assert all(store.get(c) == d for c, d in BLOCKS)


# -- scenarios (each returns the network after the run, and what it needs to assert) ------------


def one_seeder_eight_leechers(seed: int = 1) -> tuple[VirtualNetwork, list]:
    net = VirtualNetwork(seed)
    net.add_node("seed", blocks=BLOCKS, link=Link(LATENCY, 20e6))
    for i in range(8):
        net.add_node(f"L{i}", link=Link(LATENCY, 20e6))
    net.connect_all()
    fetches = [net.fetch(f"L{i}", CIDS) for i in range(8)]
    net.run_fetches(fetches, max_time=30.0)
    return net, fetches


SEEDER_UPLINK = 20e6


def one_seeder_eight_leechers_shared_uplink(seed: int = 1) -> tuple[VirtualNetwork, list]:
    """As above, but every node's total upload is capped at 20 MB/s (one FIFO for all its
    connections): the seeder alone would need 8 x 16 MiB / 20 MB/s = 6.7 s, so leechers must
    trade blocks among themselves to do better."""
    net = VirtualNetwork(seed)
    net.add_node("seed", blocks=BLOCKS, link=Link(LATENCY, 20e6), uplink=SEEDER_UPLINK)
    for i in range(8):
        net.add_node(f"L{i}", link=Link(LATENCY, 20e6), uplink=20e6)
    net.connect_all()
    fetches = [net.fetch(f"L{i}", CIDS) for i in range(8)]
    net.run_fetches(fetches, max_time=60.0)
    return net, fetches


def four_seeders_disjoint(seed: int = 1) -> tuple[VirtualNetwork, list]:
    net = VirtualNetwork(seed)
    for i in range(4):
        net.add_node(f"s{i}", blocks=BLOCKS[i::4], link=Link(LATENCY, 20e6))
    net.add_node("L", link=Link(LATENCY, 20e6))
    net.connect_all()
    fetches = [net.fetch("L", CIDS)]
    net.run_fetches(fetches, max_time=30.0)
    return net, fetches


def four_seeders_full(seed: int = 1) -> tuple[VirtualNetwork, list]:
    net = VirtualNetwork(seed)
    for i in range(4):
        net.add_node(f"s{i}", blocks=BLOCKS, link=Link(LATENCY, 20e6, jitter=0.002))
    net.add_node("L", link=Link(LATENCY, 20e6, jitter=0.002))
    net.connect_all()
    fetches = [net.fetch("L", CIDS)]
    net.run_fetches(fetches, max_time=30.0)
    return net, fetches


FAST_BW, SLOW_BW = 10e6, 1e6


def slow_beside_fast(seed: int = 1) -> tuple[VirtualNetwork, list]:
    net = VirtualNetwork(seed)
    for i in range(3):
        net.add_node(f"fast{i}", blocks=BLOCKS, link=Link(LATENCY, FAST_BW))
    net.add_node("slow", blocks=BLOCKS, link=Link(LATENCY, SLOW_BW))
    net.add_node("L", link=Link(LATENCY, 100e6))
    net.connect_all()
    fetches = [net.fetch("L", CIDS)]
    net.run_fetches(fetches, max_time=30.0)
    return net, fetches


def seeder_leaves(how: str, seed: int = 1) -> tuple[VirtualNetwork, list, int]:
    """3 seeders with everything; s0 leaves (``leave``: connections close; ``vanish``: it goes
    silent) once a third of the blocks arrived. Returns also the want-blocks L had out at s0."""
    net = VirtualNetwork(seed)
    for i in range(3):
        net.add_node(f"s{i}", blocks=BLOCKS, link=Link(LATENCY, 20e6))
    net.add_node("L", link=Link(LATENCY, 20e6))
    net.connect_all()
    f = net.fetch("L", CIDS)
    assert net.run_until(lambda: len(net.node("L").store) >= N_BLOCKS // 3, max_time=30.0)
    assert net.metrics("L").peer("s0").blocks > 0  # s0 was serving
    lost = net.outstanding_wants("L", "s0")
    assert lost > 0  # ...and had work queued when it went
    getattr(net, how)("s0")
    net.run_fetches([f], max_time=60.0)
    return net, [f], lost


# -- 1 seeder -> 8 leechers ----------------------------------------------------------------------


@gap("eight_complete")
def test_one_seeder_eight_leechers_all_complete() -> None:
    net, fetches = one_seeder_eight_leechers()
    assert all(f.done for f in fetches), fetches
    for i in range(8):
        check_store(net, f"L{i}")
        m = net.metrics(f"L{i}")
        assert m.duplicate_ratio <= 0.05, (f"L{i}", m.duplicates)
        assert m.unwanted_blocks == 0 and m.bad_blocks == 0
    # the seeder did not have to send any block to one leecher twice
    sent = sum(net.metrics("seed").peer(f"L{i}").blocks_sent for i in range(8))
    assert sent <= 8 * N_BLOCKS * 1.05


@gap("swarm_complete")
def test_one_seeder_eight_leechers_with_a_shared_uplink_all_complete() -> None:
    net, fetches = one_seeder_eight_leechers_shared_uplink()
    assert all(f.done for f in fetches), fetches
    for i in range(8):
        check_store(net, f"L{i}")
        m = net.metrics(f"L{i}")
        assert m.unwanted_blocks == 0 and m.bad_blocks == 0


@gap("swarm_duplicates")
def test_one_seeder_eight_leechers_with_a_shared_uplink_few_duplicates() -> None:
    net, fetches = one_seeder_eight_leechers_shared_uplink()
    assert all(f.done for f in fetches), fetches
    for i in range(8):
        m = net.metrics(f"L{i}")
        assert m.duplicate_ratio <= 0.05, (f"L{i}", m.duplicates)


@gap("swarm_trade")
def test_leechers_trade_blocks_when_the_seeder_uplink_is_the_bottleneck() -> None:
    net, fetches = one_seeder_eight_leechers_shared_uplink()
    assert all(f.done for f in fetches), fetches
    from_peers = sum(
        pm.blocks for i in range(8) for p, pm in net.metrics(f"L{i}").peers.items() if p != "seed"
    )
    # BitTorrent-style swarms get most data from peers; ask for a quarter
    assert from_peers >= 0.25 * 8 * N_BLOCKS, from_peers
    seeder_alone = 8 * TOTAL / SEEDER_UPLINK
    assert max(f.duration for f in fetches) <= 0.5 * seeder_alone


# -- 4 seeders with disjoint parts -> 1 leecher ---------------------------------------------------


@gap("disjoint")
def test_four_disjoint_seeders_complete_with_wants_routed_to_holders() -> None:
    net, (f,) = four_seeders_disjoint()
    assert f.done, f
    check_store(net, "L")
    m = net.metrics("L")
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


# -- a seeder leaves mid-transfer -----------------------------------------------------------------


@gap("leave")
def test_seeder_that_disconnects_mid_transfer() -> None:
    net, (f,), _lost = seeder_leaves("leave")
    assert f.done, f
    check_store(net, "L")
    m = net.metrics("L")
    assert m.peer("s0").blocks < N_BLOCKS // 2
    # the disconnect re-routes s0's wants at once: no timeout wait, no double requests
    assert m.duplicates == 0
    # no worse than the two remaining seeders alone (+50%, + start-up): far from a 5 s timeout
    assert f.duration <= 1.5 * TOTAL / (2 * 20e6) + 5 * RTT, f.duration


@gap("vanish")
def test_seeder_that_goes_silent_mid_transfer() -> None:
    net, (f,), lost = seeder_leaves("vanish")
    assert f.done, f
    check_store(net, "L")
    m = net.metrics("L")
    # nobody told L: its want timeout is what re-routes s0's wants
    timeout = ClientConfig().want_timeout
    assert f.duration < timeout + 1.0
    # a duplicate can only come from re-requesting a want lost with s0
    assert m.duplicates <= lost


# -- a slow peer beside fast ones -----------------------------------------------------------------


@gap("slow_complete")
def test_slow_peer_beside_fast_ones_completes_mostly_from_fast() -> None:
    net, (f,) = slow_beside_fast()
    assert f.done, f
    check_store(net, "L")
    m = net.metrics("L")
    fast = sum(m.peer(f"fast{i}").bytes for i in range(3))
    assert fast >= 0.8 * m.bytes_received  # the fast peers have 97% of the capacity
    assert m.duplicate_ratio <= 0.1


@gap("slow_not_holding")
def test_slow_peer_does_not_hold_the_transfer() -> None:
    _, (f,) = slow_beside_fast()
    assert f.done, f
    # at most 25% (+ start-up round trips) longer than the three fast peers alone would take
    assert f.duration <= 1.25 * TOTAL / (3 * FAST_BW) + 3 * RTT, f.duration


@gap("slow_queue")
def test_slow_peer_queue_stays_short() -> None:
    net, (f,) = slow_beside_fast()
    assert f.done, f
    m = net.metrics("L")
    # the slow peer's queue drains in no more time than the fast peers need for theirs
    slow_drain = m.peer("slow").max_outstanding_wants * BLOCK_SIZE / SLOW_BW
    fast_drain = (
        max(m.peer(f"fast{i}").max_outstanding_wants for i in range(3)) * BLOCK_SIZE / FAST_BW
    )
    assert slow_drain <= fast_drain, (slow_drain, fast_drain)


# -- no peer idles while wants remain -------------------------------------------------------------


@pytest.mark.parametrize(
    "scenario",
    [
        pytest.param(s, marks=known_gap(f"idle:{s.__name__}"), id=s.__name__)
        for s in (
            one_seeder_eight_leechers,
            one_seeder_eight_leechers_shared_uplink,
            four_seeders_disjoint,
            four_seeders_full,
            slow_beside_fast,
        )
    ],
)
def test_no_peer_idles_while_wants_remain(scenario) -> None:
    net, fetches = scenario()
    assert all(f.done for f in fetches)
    for f in fetches:
        m = net.metrics(f.node.name)
        assert m.serve_time > 0
        for peer, pm in m.peers.items():
            if pm.serve_time == 0:
                continue  # never held anything this leecher wanted
            idle = max(0.0, pm.idle_time - STARTUP_IDLE)
            assert idle <= MAX_IDLE_FRACTION * pm.serve_time, (
                f"{peer} idled {pm.idle_time:.3f} s of {pm.serve_time:.3f} s toward {f.node.name}"
            )


# -- determinism ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "scenario", [four_seeders_full, slow_beside_fast], ids=lambda s: s.__name__
)
def test_same_seed_same_metrics(scenario) -> None:
    a, _ = scenario(seed=3)
    b, _ = scenario(seed=3)
    assert a.snapshot() == b.snapshot()


def test_same_seed_same_metrics_in_another_process() -> None:
    # str hashes are salted per process; the network hands engines int peer keys so that no
    # set-iteration order inside an engine depends on the salt
    root = Path(__file__).resolve().parents[2]
    code = (
        "from tests.testing.test_swarm import four_seeders_full as s\n"
        "import hashlib; net, _ = s(seed=3)\n"
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
