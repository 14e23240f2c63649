"""The virtual network's own mechanics, with stand-in engines (tests/testing/standins.py):
link timing (latency, serialization, FIFO), the driver loop, loss on disconnect, routing,
timers, protocol versions, and the metrics (duplicates, misrouted wants, idle time)."""

from __future__ import annotations

import hashlib
import math

import pytest

from fastswap.cid import compute_cid
from fastswap.errors import SimulationError
from fastswap.message import Entry, Message, encode_message, frame_length_prefix, wire_block
from fastswap.message.versions import BITSWAP_1_0_0, BITSWAP_1_2_0
from fastswap.testing import Link, VirtualNetwork, random_blocks
from tests.standin_engines import StandInClient, StandInServer


def wire_size(msg: Message) -> int:
    data = encode_message(msg)
    return len(data) + len(frame_length_prefix(len(data)))


def make_net(seed: int = 0, *, client_kw: dict | None = None, **kw) -> VirtualNetwork:
    kw.setdefault("server_factory", StandInServer)
    kw.setdefault("client_factory", lambda: StandInClient(**(client_kw or {})))
    return VirtualNetwork(seed, **kw)


def test_one_block_takes_two_serializations_and_two_latencies() -> None:
    lat, bw = 0.01, 1e6
    ((cid, data),) = random_blocks(1, 10_000, seed=1)
    net = make_net()
    a = net.add_node("A", blocks=[(cid, data)], link=Link(lat, bw))
    b = net.add_node("B", link=Link(lat, bw))
    net.connect("A", "B")
    f = net.fetch("B", [cid])
    assert net.run_until(lambda: f.done, max_time=5.0)

    want = wire_size(Message([Entry(cid)]))
    resp = wire_size(Message(blocks=[wire_block(cid, data)]))
    t_want_arrives = want / bw + lat
    assert f.finished == pytest.approx(t_want_arrives + resp / bw + lat, abs=1e-12)
    # the engines are told the virtual time of each event
    ((_, peer, n_entries, t_recv),) = [e for e in a.server.log if e[0] == "message"]
    assert (peer, n_entries) == (b.key, 1) and t_recv == pytest.approx(t_want_arrives, abs=1e-12)
    assert b.store.get(cid) == data
    # idle while the want travelled; busy from the moment the answer started serializing
    pm = net.metrics("B").peer("A")
    assert pm.serve_time == pytest.approx(f.finished, abs=1e-12)
    assert pm.idle_time == pytest.approx(t_want_arrives, abs=1e-12)
    assert b.client.closed == [f.session]  # the finished session is closed


def test_responses_serialize_back_to_back_without_gaps() -> None:
    lat, bw, n = 0.02, 2e6, 5
    blocks = random_blocks(n, 20_000, seed=2)
    net = make_net()
    a = net.add_node("A", blocks=blocks, link=Link(lat, bw))
    net.add_node("B", link=Link(lat, bw))
    net.connect("A", "B")
    f = net.fetch("B", [c for c, _ in blocks])
    assert net.run_until(lambda: f.done, max_time=5.0)
    # one want message, then one block per response (the stand-in's packing), FIFO on one pipe
    t_want = wire_size(Message([Entry(c) for c, _ in sorted(blocks)])) / bw + lat
    sizes = [
        wire_size(Message(blocks=[wire_block(c, d)], pending_bytes=p))
        for (c, d), p in zip(sorted(blocks), [20_000 * (n - 1 - i) for i in range(n)])
    ]
    assert f.finished == pytest.approx(t_want + sum(sizes) / bw + lat, abs=1e-9)
    # the server got response_sent for each response, and never had two out at once
    assert len(a.server.sent) == n and a.server.in_flight == 0
    pm = net.metrics("B").peer("A")
    assert pm.idle_time == pytest.approx(t_want, abs=1e-9)  # the pipe never drained
    assert pm.max_pending_bytes == 20_000 * (n - 1)
    assert net.metrics("B").wire_bytes_received == net.metrics("A").wire_bytes_sent


def test_path_takes_slower_end_and_explicit_link_overrides() -> None:
    assert Link.between(Link(0.01, 1e6), Link(0.05, 1e8)) == Link(0.05, 1e6)
    ((cid, data),) = random_blocks(1, 1000, seed=3)
    net = make_net()
    net.add_node("A", blocks=[(cid, data)], link=Link(0.0, 1e9))
    net.add_node("B", link=Link(0.0, 1e9))
    net.connect("A", "B", Link(latency=1.0, bandwidth=1e9))
    f = net.fetch("B", [cid])
    net.run_until(lambda: f.done, 10.0)
    assert 2.0 < f.finished < 2.001


def test_naive_broadcast_makes_duplicates_and_they_are_counted() -> None:
    n = 6
    blocks = random_blocks(n, 10_000, seed=4)
    net = make_net()
    net.add_node("A", blocks=blocks, link=Link(0.01, 1e6))
    net.add_node("C", blocks=blocks, link=Link(0.01, 1e6))
    b = net.add_node("B", link=Link(0.01, 1e6))
    net.connect_all()
    f = net.fetch("B", [c for c, _ in blocks])
    assert net.run_until(lambda: f.done, 5.0)
    net.run_until(lambda: False, 1.0)  # let late copies land
    m = net.metrics("B")
    assert len(b.store) == n
    assert m.unique_blocks == n
    assert m.duplicates >= 1  # both seeders started serving before any cancel reached them
    assert m.duplicates == sum(p.duplicates for p in m.peers.values())
    assert m.blocks_received == sum(p.blocks for p in m.peers.values()) == n + m.duplicates
    assert m.duplicate_ratio == pytest.approx(m.duplicates / n)
    # every block either seeder sent arrived (nothing was lost or invented on the way)
    sent = net.metrics("A").peer("B").blocks_sent + net.metrics("C").peer("B").blocks_sent
    assert sent == m.blocks_received


def test_wants_to_a_peer_without_the_block_count_as_misrouted() -> None:
    n = 4
    blocks = random_blocks(n, 5_000, seed=5)
    net = make_net()
    net.add_node("A", blocks=blocks)
    net.add_node("C")  # holds nothing
    net.add_node("B")
    net.connect_all()
    f = net.fetch("B", [c for c, _ in blocks])
    assert net.run_until(lambda: f.done, 5.0)
    m = net.metrics("B")
    assert m.peer("C").want_blocks_sent == n and m.peer("C").misrouted_want_blocks == n
    assert m.peer("A").want_blocks_sent == n and m.peer("A").misrouted_want_blocks == 0
    assert m.peer("C").max_outstanding_wants == n
    assert m.peer("C").cancels_sent == n  # the stand-in cancels everywhere once a block lands
    assert m.peer("C").serve_time == 0.0  # C never held anything B wanted: never "idle"
    assert m.peer("A").serve_time > 0.0


def test_leaving_peer_loses_in_flight_messages_and_others_finish() -> None:
    n = 20
    blocks = random_blocks(n, 10_000, seed=6)
    net = make_net()
    a = net.add_node("A", blocks=blocks, link=Link(0.01, 1e6))
    c = net.add_node("C", blocks=blocks, link=Link(0.01, 1e5))  # slow: A serves most
    b = net.add_node("B", link=Link(0.01, 1e6))
    net.connect_all()
    f = net.fetch("B", [x for x, _ in blocks])
    assert net.run_until(lambda: net.metrics("B").peer("A").blocks >= 3, 5.0)
    assert net._pipes[("A", "B")].in_flight > 0  # a block is on the wire right now
    net.leave("A")
    assert not net.connected("A", "B") and not net.connected("C", "A")
    assert a.key not in b.client.peers and ("disconnected", a.key) in c.server.log
    assert net.providers(blocks[0][0]) == ["C"]
    assert net.run_until(lambda: f.done, 30.0)
    got_from_a = net.metrics("B").peer("A").blocks
    assert got_from_a < net.metrics("A").peer("B").blocks_sent  # lost with the connection
    assert len(b.store) == n
    # nothing from A after it left: its server saw no further events either
    log_len = len(a.server.log)
    net.run_until(lambda: False, net.now + 1.0)
    assert len(a.server.log) == log_len and net.metrics("B").peer("A").blocks == got_from_a


def test_find_providers_connects_the_holders_after_routing_delay() -> None:
    blocks = random_blocks(3, 4_000, seed=7)
    net = make_net(routing_delay=0.25)
    net.add_node("A", blocks=blocks[:2])
    net.add_node("C", blocks=blocks[2:])
    net.add_node("D")  # holds nothing: routing must not return it
    b = net.add_node("B")
    f = net.fetch("B", [x for x, _ in blocks])
    assert net.run_until(lambda: f.done, 5.0)
    assert net.metrics("B").provider_queries == 3
    assert net.connected("B", "A") and net.connected("B", "C") and not net.connected("B", "D")
    assert f.finished > 0.25
    assert len(b.store) == 3


def test_timers_fire_at_the_engine_deadlines() -> None:
    net = make_net(client_kw={"timer_period": 0.1})
    net.add_node("A")
    b = net.add_node("B")
    net.connect("A", "B")
    net.fetch("B", [compute_cid(b"nobody has this")])
    net.run_until(lambda: False, 0.35)
    assert b.client.ticks == pytest.approx([0.1, 0.2, 0.3])


def test_a_deadline_stuck_in_the_past_cannot_spin() -> None:
    class Stuck(StandInClient):
        def next_deadline(self) -> float:
            return 0.0  # always overdue

    net = make_net(client_factory=Stuck, max_events=10_000)
    b = net.add_node("B")
    net.fetch("B", [compute_cid(b"x")])
    net.run_until(lambda: False, 0.0105)
    assert 9 <= len(b.client.ticks) <= 12  # one per timer resolution (1 ms), not a hang


def test_legacy_peer_gets_field2_blocks_and_no_presences() -> None:
    data = b"a CIDv0 block for a 1.0.0 peer"
    v0 = b"\x12\x20" + hashlib.sha256(data).digest()
    net = make_net(client_kw={"want_have": True})
    a = net.add_node("A", blocks=[(v0, data)], version=BITSWAP_1_0_0)
    b = net.add_node("B", version=BITSWAP_1_2_0)
    net.connect("A", "B")
    assert a.server.versions[b.key] == BITSWAP_1_0_0 and b.client.versions[a.key] == BITSWAP_1_0_0
    net.fetch("B", [v0])
    net.run_until(lambda: False, 1.0)
    # the stand-in server answered want-have with HAVE, but 1.0.0 cannot carry it: the core
    # packs no message for it, and the response is handed back unsent
    assert not a.server.sent and a.server.given_up and a.server.given_up[0].haves == [v0]
    assert not b.client.messages
    # fetch with want-block instead: the block travels in field 2 (prefix None)
    net2 = make_net()
    net2.add_node("A", blocks=[(v0, data)], version=BITSWAP_1_0_0)
    b2 = net2.add_node("B")
    net2.connect("A", "B")
    f = net2.fetch("B", [v0])
    assert net2.run_until(lambda: f.done, 1.0)
    ((_, msg),) = b2.client.messages
    assert msg.blocks[0][0] is None and bytes(msg.blocks[0][1]) == data


def test_a_forged_block_is_unwanted_and_not_stored() -> None:
    # a block travels as (prefix, data) and is named by hashing its data, so forged data arrives
    # as some other, unwanted block: counted, not stored, and the fetch still waits
    good = b"the real data"
    cid = compute_cid(good)
    net = make_net()
    net.add_node("A", blocks=[(cid, b"forged data!!")])
    b = net.add_node("B")
    net.connect("A", "B")
    f = net.fetch("B", [cid])
    assert not net.run_until(lambda: f.done, 1.0)
    m = net.metrics("B")
    assert m.blocks_received == 1 and m.unwanted_blocks == 1
    assert len(b.store) == 0 and f.remaining == {cid}


def test_same_seed_same_metrics_and_seed_matters_with_jitter() -> None:
    def run(seed: int) -> dict:
        blocks = random_blocks(12, 8_000, seed=9)
        net = make_net(seed)
        for i in range(3):
            net.add_node(f"s{i}", blocks=blocks[i::3], link=Link(0.01, 1e6, jitter=0.01))
        net.add_node("L", link=Link(0.01, 1e6, jitter=0.01))
        net.connect_all()
        f = net.fetch("L", [c for c, _ in blocks])
        assert net.run_until(lambda: f.done, 10.0)
        return net.snapshot()

    first = run(1)
    assert first == run(1)
    assert first["L"]["fetches"] != run(2)["L"]["fetches"]


def test_bad_input_raises_named_errors() -> None:
    for bad in (
        {"bandwidth": 0},
        {"bandwidth": -5},
        {"latency": -0.1},
        {"latency": math.nan},
        {"jitter": math.inf},
        {"bandwidth": math.nan},
    ):
        with pytest.raises(SimulationError):
            Link(**bad)
    net = make_net()
    net.add_node("A")
    with pytest.raises(SimulationError, match="exists already"):
        net.add_node("A")
    with pytest.raises(SimulationError, match="no node named"):
        net.connect("A", "nope")
    with pytest.raises(SimulationError, match="itself"):
        net.connect("A", "A")
    with pytest.raises(SimulationError, match="protocol"):
        net.add_node("B", version="/ipfs/bitswap/9.9.9")
    with pytest.raises(SimulationError):
        VirtualNetwork(send_buffer=-1)
    with pytest.raises(SimulationError):
        VirtualNetwork(response_bytes=0)
    with pytest.raises(SimulationError):
        random_blocks(-1, 10)
    net.add_node("B")
    with pytest.raises(SimulationError, match="itself"):
        net.connect("A", "A", at=5.0)  # refused when asked, not when the event fires
    net.run_until(lambda: False, 1.0)
    with pytest.raises(SimulationError, match="already at"):
        net.connect("A", "B", at=0.5)


def test_scheduled_connect_and_disconnect() -> None:
    blocks = random_blocks(2, 1000, seed=10)
    net = make_net(routing_delay=10.0)  # so the scheduled connect, not routing, links A and B
    a = net.add_node("A", blocks=blocks)
    b = net.add_node("B")
    net.connect("A", "B", at=0.5)
    net.disconnect("A", "B", at=2.0)
    f = net.fetch("B", [c for c, _ in blocks], at=0.25)
    assert net.run_until(lambda: f.done, 5.0)
    assert f.started == 0.25 and f.finished > 0.5
    assert net.connected("A", "B")
    net.run_until(lambda: False, 3.0)
    assert not net.connected("A", "B")
    assert a.server.log[0] == ("connected", b.key, BITSWAP_1_2_0)
    assert a.server.log[-1] == ("disconnected", b.key)


def test_a_vanished_peer_goes_silent_without_a_disconnect() -> None:
    blocks = random_blocks(6, 10_000, seed=11)
    net = make_net(client_kw={"timer_period": 0.1})
    a = net.add_node("A", blocks=blocks, link=Link(0.01, 1e6))
    b = net.add_node("B", link=Link(0.01, 1e6))
    net.connect("A", "B")
    f = net.fetch("B", [c for c, _ in blocks])
    assert net.run_until(lambda: net.metrics("B").peer("A").blocks >= 2, 5.0)
    net.vanish("A")
    assert net.connected("A", "B") and a.key in b.client.peers  # nobody told B
    served = len(a.server.sent)
    assert not net.run_until(lambda: f.done, 2.0)
    assert len(a.server.sent) == served  # A's engines saw nothing more
    assert net.metrics("B").peer("A").blocks < 6
    assert b.client.ticks  # B's timers kept running: timeouts are how it can notice
    # while A is silent it does not count as idle: it cannot serve anyone
    idle = net.metrics("B").peer("A").idle_time
    net.run_until(lambda: False, net.now + 1.0)
    assert net.metrics("B").peer("A").idle_time == idle


def test_a_shared_uplink_serializes_all_of_a_nodes_uploads() -> None:
    blocks = random_blocks(5, 10_000, seed=12)
    cids = [c for c, _ in blocks]
    resp = wire_size(Message(blocks=[wire_block(cids[0], blocks[0][1])], pending_bytes=10_000))

    def run(uplink: float | None) -> list[float]:
        net = make_net()
        net.add_node("S", blocks=blocks, link=Link(0.01, 1e6), uplink=uplink)
        net.add_node("A", link=Link(0.01, 1e6))
        net.add_node("B", link=Link(0.01, 1e6))
        net.connect("S", "A")
        net.connect("S", "B")
        fs = [net.fetch("A", cids), net.fetch("B", cids)]
        assert net.run_fetches(fs, 10.0)
        return [f.finished for f in fs]

    # each connection alone: 5 responses back to back at 1 MB/s
    alone = run(None)
    assert max(alone) < 5 * (resp + 50) / 1e6 + 0.05
    # one 1 MB/s uplink for both: 10 responses through one FIFO
    shared = run(1e6)
    assert max(shared) >= 10 * (resp - 50) / 1e6
    with pytest.raises(SimulationError, match="uplink"):
        make_net().add_node("X", uplink=0)


def test_a_routing_answer_after_the_fetch_finished_goes_nowhere() -> None:
    class Strict(StandInClient):
        def add_peers(self, session, peers, now) -> None:
            assert session not in self.closed, "add_peers on a closed session"
            super().add_peers(session, peers, now)

    blocks = random_blocks(1, 1000, seed=13)
    net = make_net(client_factory=Strict, routing_delay=0.5)
    net.add_node("A", blocks=blocks)
    b = net.add_node("B")
    f = net.fetch("B", [blocks[0][0]])  # no peers yet: the stand-in asks routing
    net.connect("A", "B", at=0.01)  # ...and finds the block before routing answers
    assert net.run_until(lambda: f.done, 0.4)
    assert net.metrics("B").provider_queries == 1
    net.run_until(lambda: False, 1.0)  # the routing answer arrives at 0.5 s
    assert b.client.closed == [f.session]


def test_engines_see_int_peer_keys_named_after_the_nodes() -> None:
    net = make_net()
    a = net.add_node("A")
    b = net.add_node(("any", "hashable"))
    net.connect("A", ("any", "hashable"))
    (key,) = a.client.peers
    # an int (its hash is itself: set order does not depend on the process's str hash salt)
    assert key is b.key and isinstance(key, int) and hash(key) == 1
    assert repr(key) == "<peer ('any', 'hashable')>" and key.name == ("any", "hashable")


def test_an_engine_naming_an_unknown_peer_is_an_error() -> None:
    class Confused(StandInClient):
        def outgoing(self, now) -> list:
            return [("B", Message([Entry(compute_cid(b"x"))]))] if self.peers else []

    net = make_net(client_factory=Confused)
    net.add_node("A")
    net.add_node("B")
    with pytest.raises(SimulationError, match="never gave"):
        net.connect("A", "B")


@pytest.mark.parametrize("response_bytes", [None, 16384])
def test_response_size_is_passed_to_the_server(response_bytes) -> None:
    blocks = random_blocks(2, 1000, seed=14)
    net = make_net(response_bytes=response_bytes)
    a = net.add_node("A", blocks=blocks)
    net.add_node("B")
    net.connect("A", "B")
    f = net.fetch("B", [c for c, _ in blocks])
    assert net.run_until(lambda: f.done, 1.0)
    assert a.server.max_bytes_seen == (1 << 20 if response_bytes is None else response_bytes)


# -- the yardsticks a naive client fails (issue 14) -------------------------------------------


def test_share_and_queue_depth_in_seconds() -> None:
    lat, bw, n = 0.02, 2e6, 5
    blocks = random_blocks(n, 20_000, seed=20)
    net = make_net()
    net.add_node("A", blocks=blocks, link=Link(lat, bw))
    net.add_node("B", link=Link(lat, bw))
    net.connect("A", "B")
    f = net.fetch("B", [c for c, _ in blocks])
    assert net.run_until(lambda: f.done, max_time=5.0)
    m = net.metrics("B")
    assert m.share("A") == 1.0 and m.share("nobody") == 0.0
    pm = m.peer("A")
    # the deepest report: 4 blocks queued behind the first response, at A's 2 MB/s
    assert pm.max_queue_seconds == pytest.approx(20_000 * (n - 1) / bw)
    assert pm.useful_bytes == pm.bytes == n * 20_000
    # a shared uplink slower than the link is what a queue drains at
    net2 = make_net()
    net2.add_node("A", blocks=blocks, link=Link(lat, bw), uplink=bw / 4)
    net2.add_node("B", link=Link(lat, bw))
    net2.connect("A", "B")
    f2 = net2.fetch("B", [c for c, _ in blocks])
    assert net2.run_until(lambda: f2.done, max_time=5.0)
    assert net2.metrics("B").peer("A").max_queue_seconds == pytest.approx(
        20_000 * (n - 1) / (bw / 4)
    )


def test_wants_wait_behind_blocks_on_their_connection() -> None:
    """Head-of-line blocking: B's want to A leaves only once the block B is sending A on the
    same connection has been serialized."""
    lat, bw = 0.01, 1e6
    (x, xd), (y, yd) = random_blocks(2, 100_000, seed=21)
    net = make_net()
    net.add_node("A", blocks=[(y, yd)], link=Link(lat, bw))
    net.add_node("B", blocks=[(x, xd)], link=Link(lat, bw))
    net.connect("A", "B")
    fa = net.fetch("A", [x])
    want_x = wire_size(Message([Entry(x)]))
    block_x = wire_size(Message(blocks=[wire_block(x, xd)]))
    t_serving = want_x / bw + lat  # B starts sending X to A
    t_ask = t_serving + 0.01
    fb = net.fetch("B", [y], at=t_ask)  # B's want for Y waits behind X on the B -> A pipe
    assert net.run_fetches([fa, fb], 5.0)
    pm = net.metrics("B").peer("A")
    assert pm.max_want_delay == pytest.approx(t_serving + block_x / bw - t_ask)
    assert pm.want_delay == pytest.approx(pm.max_want_delay)  # B sent A one want message
    assert net.metrics("B").max_want_delay == pm.max_want_delay
    assert net.metrics("A").max_want_delay == 0.0  # A's want found its pipe empty


def test_link_bound() -> None:
    blocks = random_blocks(10, 100_000, seed=22)
    cids = [c for c, _ in blocks]
    total = 10 * 100_000
    net = make_net()
    net.add_node("S1", blocks=blocks, link=Link(0.01, 1e6))
    net.add_node("S2", blocks=blocks[:5], link=Link(0.02, 4e6), uplink=2e6)
    net.add_node("L", link=Link(0.005, 8e6))
    net.add_node("M", link=Link(0.005, 8e6))
    net.connect_all()
    fl = net.fetch("L", cids)
    # L takes in 1 MB/s from S1, 2 MB/s from S2 (its uplink), 8 MB/s from M (which has
    # nothing yet, but could relay); but blocks 5..9 are only on S1, whose connections carry
    # 1 MB/s each: 3 MB/s for 500 kB. Plus L's shortest round trip (to M: 2 x 5 ms).
    assert net.link_bound([fl]) == pytest.approx(max(total / 11e6, 500_000 / 3e6) + 0.01)
    # two fetches: everything they need leaves some node's upload (S1 3, S2 2, L 10, M 10 MB/s)
    fm = net.fetch("M", cids)
    assert net.link_bound([fl, fm]) == pytest.approx(max(500_000 / 3e6, 2 * total / 25e6)
                                                      + 0.01)
    net.run_fetches([fl, fm], 10.0)
    assert min(fl.duration, fm.duration) >= 500_000 / 3e6  # a bound indeed
    with pytest.raises(SimulationError, match="between fetch"):
        net.link_bound([fl])  # it ran already: the stores changed
    lonely = make_net()
    lonely.add_node("S", blocks=blocks)
    lonely.add_node("X")
    with pytest.raises(SimulationError, match="no connection"):
        lonely.link_bound([lonely.fetch("X", cids)])


def test_a_peer_that_slows_down_mid_transfer() -> None:
    lat, bw = 0.01, 1e6
    blocks = random_blocks(4, 50_000, seed=23)
    cids = [c for c, _ in blocks]

    def run(change: float | None) -> float:
        net = make_net()
        net.add_node("S", blocks=blocks, link=Link(lat, bw), uplink=bw)
        net.add_node("L", link=Link(lat, bw))
        net.connect("S", "L")
        if change is not None:
            net.set_uplink("S", bw / 10, at=change)
        f = net.fetch("L", cids)
        assert net.run_fetches([f], 10.0)
        return f.duration

    steady = run(None)
    assert steady < 4 * 0.051 + 0.05
    # from 0.1 s on, blocks leave at a tenth of the speed: the last two or three take 0.5 s each
    assert run(0.1) > steady + 2 * 50_000 * 9 / bw
    net = make_net()
    net.add_node("S")
    with pytest.raises(SimulationError, match="uplink"):
        net.set_uplink("S", 0)
    net.set_uplink("S", None)
    assert net.node("S").uplink is None


def test_a_flooding_peer_is_disconnected_by_the_core() -> None:
    """The core's DisconnectPeer (issue 8 item 7) closes the connection in the virtual network
    too: a node sending blocks nobody asked for is refused after the threshold's worth."""
    net = VirtualNetwork(0)
    net.add_node("flooder")
    net.add_node("B")
    net.connect("flooder", "B")
    net.run_until(lambda: False, 0.1)
    data = bytes(2 * 1024 * 1024 - 64)
    flood = Message(blocks=[wire_block(compute_cid(data), data)])
    for i in range(80):  # 160 MiB, past the 100-point threshold
        net.call_at(0.2 + i * 0.01, net._transmit, net.node("flooder"), "B", flood, None)
    net.run_until(lambda: not net.connected("flooder", "B"), 5.0)
    assert not net.connected("flooder", "B")
    assert net.metrics("B").peers_disconnected == 1
    assert net.node("B").core.stats()["peers"]["bytes_unsolicited"] >= 100 * 1024 * 1024
    net.connect("flooder", "B")  # refused while its ban lasts
    net.run_until(lambda: not net.connected("flooder", "B"), net.now + 1.0)
    assert not net.connected("flooder", "B")
