"""Baseline for the stream benchmarks: py-libp2p 0.8.1 <-> py-libp2p one-stream throughput over
Noise + yamux on 127.0.0.1 (libp2p/specs noise, yamux), two driver processes
(tests/peers/pylibp2p*), one connection, a fresh stream per round.

- ``sink``: the client streams 64 MiB, the server reads it and answers with count + sha256.
- ``echo``: the server writes every byte back; the payload is counted once.

The timed call is the whole command round trip (JSON line out, transfer, answer back); every
round sends the same payload, which the driver generates (and hashes) once, before the first. ``extra_info`` keeps the driver's own
per-round MB/s (10**6 bytes/s) and their median. Measure with:

    python -m pytest benchmarks/test_bench_pylibp2p_stream.py --benchmark-enable --benchmark-only

A fastswap stream benchmark compares against these figures (or calls ``stream_throughput``
from ``tests.peers.pylibp2p`` for the same numbers in one run).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from typing import Any

import pytest

from tests.peers import PeerError
from tests.peers.pylibp2p import PyLibp2pPeer, expected_stream_sha256, start_pylibp2p

pytestmark = [pytest.mark.interop, pytest.mark.timeout(600)]

NBYTES = 64 << 20
ROUNDS = 5


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[PyLibp2pPeer, PyLibp2pPeer]]:
    server = client = None
    try:
        server = start_pylibp2p(muxers=("yamux",))
        client = start_pylibp2p(muxers=("yamux",))
        client.dial(server.multiaddr)
    except PeerError as exc:
        for p in (client, server):
            if p is not None:
                p.close()
        pytest.fail(f"py-libp2p peer could not be installed or started: {exc}", pytrace=False)
    try:
        yield server, client
    finally:
        client.close()
        server.close()


@pytest.mark.parametrize("mode", ["sink", "echo"])
def test_pylibp2p_to_pylibp2p_one_stream(benchmark, pair, mode: str) -> None:
    server, client = pair
    runs: list[dict[str, Any]] = []
    seed = 1
    # the driver makes the payload once per (size, seed): keep that out of the timed rounds
    getattr(client, mode)(server.peer_id, NBYTES, seed=seed, timeout=300)

    def transfer() -> None:
        res = getattr(client, mode)(server.peer_id, NBYTES, seed=seed, timeout=300)
        assert res["muxer"] == "yamux"
        assert res["received"] == NBYTES
        assert res["sha256Received"] == res["sha256Sent"] == expected_stream_sha256(NBYTES, seed)
        runs.append(res)

    benchmark.pedantic(transfer, rounds=ROUNDS, iterations=1, warmup_rounds=0)
    rates = [r["MBps"] for r in runs]
    benchmark.extra_info.update(
        {
            "bytes": NBYTES,
            "mode": mode,
            "muxer": "yamux",
            "driver_MBps": [round(x, 1) for x in rates],
            "driver_MBps_median": round(statistics.median(rates), 1),
        }
    )
