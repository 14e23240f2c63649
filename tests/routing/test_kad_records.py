"""Provider records in LMDB (routing/kad/records.py): expiry on time, re-announcement extends,
every bound holds (per key, per provider, in all), and records survive a reopen."""

from __future__ import annotations

from pathlib import Path

from fastswap.routing.kad.records import ProviderStore
from tests.routing._kad import peer_ids

KEY = b"\x12\x20" + bytes(range(32))
ADDR = b"\x04\x7f\x00\x00\x01\x06\x0f\xa1"  # /ip4/127.0.0.1/tcp/4001


def test_records_expire_on_time_and_reannouncing_extends(tmp_path: Path) -> None:
    a, b = peer_ids(2)
    store = ProviderStore(tmp_path, ttl=100.0)
    try:
        assert store.add(KEY, a, [ADDR], now=1000.0)
        assert store.add(KEY, b, [], now=1050.0)
        assert [p for p, _ in store.get(KEY, 1099.9)] == [b, a]  # latest expiry first
        assert store.get(KEY, 1000.0)[1] == (a, [ADDR])
        assert [p for p, _ in store.get(KEY, 1100.0)] == [b]  # a's expired at exactly 1100
        assert store.get(KEY, 1150.0) == []
        assert len(store) == 2  # expired records stay until swept
        assert store.sweep(1100.0) == 1 and len(store) == 1
        assert store.add(KEY, b, [ADDR], now=1140.0)  # re-announced: lives to 1240
        assert store.get(KEY, 1200.0) == [(b, [ADDR])]
        assert store.sweep(1239.0) == 0 and store.sweep(1240.0) == 1
        assert len(store) == 0 and store.records_of(b) == 0
    finally:
        store.close()


def test_bounds_per_key_per_provider_and_in_all(tmp_path: Path) -> None:
    peers = peer_ids(12)
    store = ProviderStore(tmp_path, ttl=100.0, max_per_key=3, max_per_provider=4,
                          max_records=6)
    try:
        # per key: the earliest-expiring provider makes room for the newcomer
        for i, p in enumerate(peers[:4]):
            assert store.add(KEY, p, [], now=float(i))
        assert {p for p, _ in store.get(KEY, 0)} == set(peers[1:4])
        assert store.evicted == 1
        # per provider: the fifth record of one peer is refused
        for i in range(4):
            assert store.add(bytes([0x12, 1, i]), peers[5], [], now=10.0)
        assert not store.add(bytes([0x12, 1, 9]), peers[5], [], now=10.0)
        assert store.refused == 1 and store.records_of(peers[5]) == 4
        # in all (6): the earliest-expiring record overall goes
        assert len(store) == 3 + 4 - 1  # the sixth record made room by evicting
        assert store.add(bytes([0x12, 1, 50]), peers[7], [], now=20.0)
        assert len(store) == 6
        assert peers[1] not in {p for p, _ in store.get(KEY, 0)}
    finally:
        store.close()


def test_records_survive_reopening(tmp_path: Path) -> None:
    (a,) = peer_ids(1)
    store = ProviderStore(tmp_path, ttl=100.0)
    store.add(KEY, a, [ADDR], now=0.0)
    store.close()
    again = ProviderStore(tmp_path, ttl=100.0)
    try:
        assert again.get(KEY, 50.0) == [(a, [ADDR])]
    finally:
        again.close()
