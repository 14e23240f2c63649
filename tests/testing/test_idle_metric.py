"""The virtual network's idle metric for nodes with a shared uplink (fastswap.testing.network,
module docstring, "What is measured"): a peer whose one upload FIFO is busy serving another
leecher wastes no capacity, so it is not idle toward a leecher it is not serving; the same node
with nothing on its uplink is. Nodes without an uplink keep the pairwise definition."""

from __future__ import annotations

import pytest

from fastswap.testing import Link, VirtualNetwork, random_blocks
from tests.standin_engines import StandInClient, StandInServer

BW = 1e6
LAT = 0.01


class SilentClient(StandInClient):
    """Wants blocks but never asks anyone for them: a leecher its peers can only idle toward."""

    def outgoing(self, now) -> list:
        return []


def run(uplink: float | None):
    """S holds 5 blocks and serves all of them to A (one response per block, back to back);
    B wants S's last block but never asks for it. Returns the network at the moment A is done,
    and A's fetch."""
    blocks = random_blocks(5, 10_000, seed=21)
    cids = [c for c, _ in blocks]
    net = VirtualNetwork(0, server_factory=StandInServer, client_factory=StandInClient)
    net.add_node("S", blocks=blocks, link=Link(LAT, BW), uplink=uplink)
    net.add_node("A", link=Link(LAT, BW))
    net.add_node("B", link=Link(LAT, BW), client=SilentClient())
    net.connect("S", "A")
    net.connect("S", "B")
    fb = net.fetch("B", cids[-1:])
    fa = net.fetch("A", cids)
    assert net.run_until(lambda: fa.done, 5.0)
    assert not fb.done
    return net, fa


def test_a_shared_uplink_busy_serving_one_leecher_is_not_idle_toward_another() -> None:
    net, fa = run(uplink=BW)
    s = net.node("S")
    pm = net.metrics("B").peer("S")
    assert pm.serve_time == pytest.approx(fa.finished)  # B wanted a block S held all along
    # S's uplink serialized its 5 responses to A back to back, from the moment A's want
    # arrived until the last one left (one latency before A had it): busy, so not idle
    # toward B, though nothing went to B
    assert s._uplink_busy_until == pytest.approx(fa.finished - LAT)
    busy = fa.finished - LAT - want_arrived(net)
    assert busy > 5 * 10_000 / BW
    assert pm.idle_time == pytest.approx(pm.serve_time - busy)
    # nothing more on S's uplink: from now on it is idle toward B, second for second
    before = pm.idle_time
    net.run_until(lambda: False, net.now + 1.0)
    assert net.metrics("B").peer("S").idle_time == pytest.approx(before + 1.0)


def want_arrived(net: VirtualNetwork) -> float:
    """When A's want reached S, which starts serializing its first response at once."""
    (t,) = [e[3] for e in net.node("S").server.log if e[0] == "message"]
    return t


def test_without_an_uplink_the_same_node_counts_idle_toward_a_leecher_it_does_not_serve() -> None:
    net, fa = run(uplink=None)
    pm = net.metrics("B").peer("S")
    # one pipe per connection: S's pipe toward B was empty the whole time
    assert pm.serve_time == pytest.approx(fa.finished)
    assert pm.idle_time == pytest.approx(pm.serve_time)


# -- waiting work: a block asked of another holder is that holder's work ------------------------


class AsksOnly(StandInClient):
    """Sends its want-blocks to one peer only (given by node name once the network is built)."""

    target = None  # the PeerKey of the one peer it asks

    def outgoing(self, now) -> list:
        return [(p, m) for p, m in super().outgoing(now) if p == self.target]


def two_holders(ask: str):
    """S1 and S2 hold block X, C holds nothing; L wants X and asks only *ask* for it (S1 is
    slow: 2 s to send X, so there is time to watch)."""
    ((cid, data),) = random_blocks(1, 20_000, seed=22)
    net = VirtualNetwork(0, server_factory=StandInServer, client_factory=StandInClient)
    net.add_node("S1", blocks=[(cid, data)], link=Link(LAT, 1e4))
    net.add_node("S2", blocks=[(cid, data)], link=Link(LAT, BW))
    net.add_node("C", link=Link(LAT, BW))
    client = AsksOnly()
    net.add_node("L", link=Link(LAT, BW), client=client)
    net.connect_all()
    client.target = net.node(ask).key
    f = net.fetch("L", [cid])
    return net, f


def test_a_block_asked_of_one_holder_is_not_idle_work_for_another() -> None:
    net, f = two_holders("S1")
    assert net.run_until(lambda: f.done, 10.0)
    m = net.metrics("L")
    assert m.peer("S1").blocks == 1
    # S1 had the work from the start: idle while the want travelled, busy while it sent
    assert m.peer("S1").serve_time == pytest.approx(f.finished)
    assert 0 < m.peer("S1").idle_time < 0.1 * f.finished
    # S2 held X too, but L gave X to S1: nothing waited for S2, so it never idled toward L
    assert m.peer("S2").serve_time == 0.0
    assert m.peer("C").serve_time == 0.0  # C never held anything L wanted


def test_a_block_asked_only_of_a_peer_without_it_is_idle_work_for_the_holders() -> None:
    net, f = two_holders("C")
    net.run_until(lambda: False, 1.0)
    assert not f.done  # C cannot deliver, and nobody else was asked
    m = net.metrics("L")
    # a want-block at a non-holder is nobody's work: both holders idle the whole second
    for s in ("S1", "S2"):
        assert m.peer(s).serve_time == pytest.approx(1.0)
        assert m.peer(s).idle_time == pytest.approx(1.0)
