"""The sans-IO DHT node (routing/kad/core.py): answers per the spec, forged records refused,
floods slowed then refused, repeat offenders banned and removed from the table."""

from __future__ import annotations

from pathlib import Path

import pytest

from fastswap.errors import KadMessageError
from fastswap.routing.kad.core import KadConfig, KadCore
from fastswap.routing.kad.messages import KadMessage, MessageType
from fastswap.routing.kad.records import ProviderStore
from tests.routing._kad import kad_peer, peer_ids

KEY = b"\x12\x20" + bytes(32)


@pytest.fixture
def core(tmp_path: Path):
    store = ProviderStore(tmp_path)
    me, *_ = peer_ids(1, seed=9)
    yield KadCore(me, store, KadConfig(k=5, requests_per_second=10.0, request_burst=5,
                                       max_request_delay=1.0, max_strikes=3, ban_seconds=60.0))
    store.close()


def test_find_node_and_providers(core: KadCore) -> None:
    peers = peer_ids(12)
    for i, p in enumerate(peers[:10]):
        assert core.add_peer(p, kad_peer(p, 5000 + i).addrs)
    asker = peers[0]
    ans = core.handle(asker, KadMessage(MessageType.FIND_NODE, KEY), 0.0)
    assert ans is not None and len(ans.closer) == 5
    assert asker not in {kp.peer for kp in ans.closer}
    assert all(kp.addrs for kp in ans.closer)
    # an exact match: the peer itself
    ans = core.handle(asker, KadMessage(MessageType.FIND_NODE, peers[4].multihash), 0.0)
    assert [kp.peer for kp in ans.closer] == [peers[4]]
    # ADD_PROVIDER (no answer), then GET_PROVIDERS finds it with its addresses
    provider = kad_peer(peers[11], 7000)
    assert core.handle(peers[11], KadMessage(MessageType.ADD_PROVIDER, KEY,
                                             providers=[provider]), 0.0) is None
    ans = core.handle(asker, KadMessage(MessageType.GET_PROVIDERS, KEY), 1.0)
    assert ans.providers == [provider] and len(ans.closer) == 5
    with pytest.raises(KadMessageError):
        core.handle(asker, KadMessage(MessageType.GET_PROVIDERS, b""), 1.0)
    assert core.handle(asker, KadMessage(MessageType.PING), 1.0).type is MessageType.PING


def test_forged_provider_records_are_refused_and_the_forger_banned(core: KadCore) -> None:
    victim, forger = peer_ids(2)
    core.add_peer(forger, kad_peer(forger).addrs)
    for i in range(3):
        core.handle(forger, KadMessage(MessageType.ADD_PROVIDER, KEY,
                                       providers=[kad_peer(victim)]), float(i))
    assert core.store.get(KEY, 10.0) == []
    assert core.is_banned(forger, 10.0) and forger not in core.table
    assert core.admit(forger, 10.0) is None  # banned: refused
    assert not core.add_peer(forger, (), 10.0)  # and kept out of the table
    assert not core.is_banned(forger, 70.0)  # for ban_seconds only
    assert core.counters["bans"] == 1


def test_floods_are_slowed_then_refused(core: KadCore) -> None:
    (flooder,) = peer_ids(1, seed=3)
    waits = [core.admit(flooder, 0.0) for _ in range(5)]
    assert waits == [0.0] * 5  # the burst
    assert core.admit(flooder, 0.0) == pytest.approx(0.1)  # then backpressure at 10/s
    for _ in range(9):
        core.admit(flooder, 0.0)
    assert core.admit(flooder, 0.0) is None  # more than max_request_delay behind: refused
    assert core.counters["strikes"] == 1
    assert core.admit(flooder, 5.0) == 0.0  # tokens come back with time


def test_hearsay_does_not_redirect_table_peers(core: KadCore) -> None:
    a, b = peer_ids(2, seed=5)
    core.add_peer(a, kad_peer(a, 4001).addrs)  # first-hand (identify)
    core.learn([kad_peer(a, 6666), kad_peer(b, 7777)])  # named in someone's answer
    assert core.addrs(a) == kad_peer(a, 4001).addrs
    assert core.addrs(b) == kad_peer(b, 7777).addrs  # not in the table: remembered
