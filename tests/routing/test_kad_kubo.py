"""The DHT against Kubo 0.22 on loopback, through the CLI as a user runs it (issue 12's
"Done when"): a fastswap seeder found by a Kubo that only knows a Kubo bootstrap peer, and a
fastswap fetcher that finds a Kubo provider the same way. Kubo's LAN DHT carries it (see
tests/peers/kubo.py DHT_CONFIG); every address is 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
from pathlib import Path

import pytest

from tests.peers.fastswap_cli import Seeder, get
from tests.peers.kubo import DHT_CONFIG, wait_for_provider

pytestmark = [pytest.mark.interop, pytest.mark.timeout(180)]


def _peer_ids(kubo) -> set[str]:
    return {p.rsplit("/", 1)[-1] for p in kubo.peers()}


def test_kubo_finds_fastswap_seeder_through_the_dht(tmp_path: Path, kubo_factory) -> None:
    a = kubo_factory(config=DHT_CONFIG)
    data = os.urandom(700_000)
    src = tmp_path / "data.bin"
    src.write_bytes(data)
    seeder = Seeder(tmp_path / "seed-repo", str(src), extra=("--bootstrap", a.multiaddrs[0]))
    try:
        info = seeder.info
        # the root went to the DHT: A is the only DHT peer, so A holds the record
        assert info["provided_to"] == [a.peer_id]
        (root,) = info["roots"]
        b = kubo_factory(config=DHT_CONFIG)
        b.connect(a.multiaddrs[0])
        assert _peer_ids(b) == {a.peer_id}  # B knows only A: it must find the seeder via A
        got = b.download(root["cid"], tmp_path / "out.bin", timeout=60)
        assert got["sha256"] == hashlib.sha256(data).hexdigest()
        assert info["peer_id"] in _peer_ids(b)  # B dialled the seeder it found
    finally:
        assert seeder.stop(signal.SIGINT) == 0


def test_fastswap_get_finds_kubo_provider_through_the_dht(tmp_path: Path, kubo_factory) -> None:
    a = kubo_factory(config=DHT_CONFIG)
    c = kubo_factory(config=DHT_CONFIG)
    c.connect(a.multiaddrs[0])
    data = os.urandom(600_000)
    src = tmp_path / "data.bin"
    src.write_bytes(data)
    cid = c.add(src)
    asyncio.run(wait_for_provider(a.multiaddrs[0], cid, c.peer_id))
    out = tmp_path / "out.bin"
    p = get(tmp_path / "get-repo", cid, None, out, "--bootstrap", a.multiaddrs[0], timeout=60)
    assert p.returncode == 0, p.stderr.decode()
    assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(data).digest()
