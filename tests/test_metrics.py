"""The Prometheus endpoint (fastswap/metrics.py; issue 9, "Observability"): scraped over HTTP
during a real transfer between two nodes on 127.0.0.1, its counters move and end at what was
sent; every metric of ``METRICS`` is exposed with its help text; refusals, penalties and bans
are counted; ``--metrics`` addresses parse (a bare port is loopback); ``fastswap seed`` serves
none without ``--metrics`` and serves one on loopback with a bare port."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import urllib.request
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from fastswap.bandwidth import BandwidthLimiter
from fastswap.message.versions import BITSWAP_1_2_0
from fastswap.metrics import METRICS, MetricsServer, parse_listen
from fastswap.node import Node
from tests.peers.fastswap_cli import Seeder, get

pytestmark = pytest.mark.timeout(120)

V12 = BITSWAP_1_2_0
BLOCK = 64 * 1024


def blobs(n: int, size: int) -> list[bytes]:
    out = []
    for i in range(n):
        h = hashlib.sha256(b"metrics" + i.to_bytes(4, "big")).digest()
        out.append((h * (size // 32 + 1))[:size])
    return out


async def scrape(http: aiohttp.ClientSession, server: MetricsServer) -> dict:
    """``{(sample name, frozenset(labels)): value}`` plus the families' help under
    ``("#help", family name)``."""
    async with http.get(server.url) as resp:
        assert resp.status == 200
        text = await resp.text()
    out: dict = {}
    for fam in text_string_to_metric_families(text):
        out[("#help", fam.name)] = fam.documentation
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def v(sample: dict, name: str, **labels: str) -> float:
    return sample.get((name, frozenset(labels.items())), 0.0)


def test_parse_listen() -> None:
    assert parse_listen("9100") == ("127.0.0.1", 9100)  # a bare port: loopback only
    assert parse_listen(" 0.0.0.0:9100 ") == ("0.0.0.0", 9100)
    assert parse_listen("[::1]:9100") == ("::1", 9100)
    for bad in ("", "host", "host:", ":9100", "[]:9100", "h:x", "70000", "h:70000"):
        with pytest.raises(ValueError, match="metrics address"):
            parse_listen(bad)


def test_scrape_during_a_transfer_finds_the_counters_moving(run) -> None:
    """A seeder whose per-peer limit stretches a 6 MiB fetch over about 1.5 s, both nodes
    scraped every 0.1 s: mid-transfer the seeder's blocks/bytes sent, wants received and
    task-wait count rise, as the leecher's blocks/bytes received do; at the end they are what
    was sent, per protocol version, and every metric of the table is there with its help."""
    datas = blobs(96, BLOCK)
    total = sum(len(d) for d in datas)

    async def main() -> None:
        limit = BandwidthLimiter(peer_rate=4 << 20)
        async with Node(bandwidth=limit) as seeder, Node() as leecher, \
                aiohttp.ClientSession() as http:
            cids = await seeder.put_blocks(datas)
            servers = [MetricsServer(n, "127.0.0.1", 0) for n in (seeder, leecher)]
            for m in servers:
                await m.start()
            try:
                await leecher.connect(seeder.addrs[0])
                fetch = asyncio.ensure_future(_fetch_all(leecher, cids))
                during = []
                while not fetch.done():
                    during.append([await scrape(http, m) for m in servers])
                    await asyncio.sleep(0.1)
                assert await fetch == len(cids)
                seen, got = [await scrape(http, m) for m in servers]
            finally:
                for m in servers:
                    await m.stop()
        sent = [v(s, "fastswap_blocks_sent_total", version=V12) for s, _ in during]
        received = [v(r, "fastswap_bytes_received_total", version=V12) for _, r in during]
        waits = [v(s, "fastswap_task_wait_seconds_count") for s, _ in during]
        mid = [x for x in sent if 0 < x < len(cids)]
        # scraped while moving: several distinct partial values, never going down
        assert len(set(mid)) >= 3, sent
        assert sent == sorted(sent) and received == sorted(received)
        assert len({x for x in received if 0 < x < total}) >= 3, received
        assert len({x for x in waits if x > 0}) >= 3, waits
        # the limit holds responses back: seen queued and in flight mid-transfer, none at the end
        assert max(v(s, "fastswap_task_queue_tasks") for s, _ in during) > 0
        assert max(v(s, "fastswap_task_queue_bytes") for s, _ in during) > 0
        assert max(v(s, "fastswap_inflight_bytes") for s, _ in during) > 0
        # at the end: what was sent, on the protocol version the two spoke
        assert v(seen, "fastswap_blocks_sent_total", version=V12) == len(cids)
        assert v(seen, "fastswap_bytes_sent_total", version=V12) == total
        assert v(got, "fastswap_blocks_received_total", version=V12) == len(cids)
        assert v(got, "fastswap_bytes_received_total", version=V12) == total
        # a 64 KiB block goes out only on a want-block (a want-have of it is answered HAVE)
        assert v(seen, "fastswap_wants_received_total", type="block") >= len(cids)
        assert v(seen, "fastswap_task_wait_seconds_count") >= len(cids)
        assert v(seen, "fastswap_task_wait_seconds_bucket", le="+Inf") \
            == v(seen, "fastswap_task_wait_seconds_count")
        assert v(seen, "fastswap_task_wait_seconds_sum") > 0
        assert v(seen, "fastswap_task_queue_tasks") == 0
        assert v(seen, "fastswap_inflight_bytes") == 0
        assert v(seen, "fastswap_blockstore_blocks") == len(cids)
        assert v(seen, "fastswap_blockstore_bytes") >= total
        assert v(got, "fastswap_blockstore_blocks") == len(cids)
        assert v(seen, "fastswap_peers") == 1 and v(seen, "fastswap_connections") >= 1
        assert v(got, "fastswap_duplicate_blocks_total") == 0
        assert v(seen, "fastswap_uptime_seconds") > 0
        # the table is what is exposed (counters' family names drop "_total")
        for spec in METRICS:
            family = spec.name.removesuffix("_total") if spec.kind == "counter" else spec.name
            assert seen.get(("#help", family)) == spec.help, spec.name

    run(main())


async def _fetch_all(node: Node, cids: list) -> int:
    return len([b async for b in node.get_blocks(cids)])


def test_refusals_penalties_and_bans_are_counted(run) -> None:
    async def main() -> None:
        async with Node() as a, Node() as b, aiohttp.ClientSession() as http:
            m = MetricsServer(a, "127.0.0.1", 0)
            await m.start()
            try:
                before = await scrape(http, m)
                a.host.penalise(b.peer_id, "test misdeed", 1.0)
                a.core.penalise(b.peer_id, 1.0, "test misdeed", a._now())
                a.host.ban(b.peer_id, 60.0, "test ban")
                # refused by a after the handshake (how b's connect ends is not this test's)
                dial = asyncio.ensure_future(b.connect(a.addrs[0]))
                for _ in range(100):
                    after = await scrape(http, m)
                    if v(after, "fastswap_connections_refused_total", reason="banned"):
                        break
                    await asyncio.sleep(0.05)
                dial.cancel()
                await asyncio.gather(dial, return_exceptions=True)
            finally:
                await m.stop()
        for name in ("fastswap_penalties_total", "fastswap_connections_refused_total"):
            assert not any(k[0] == name and v for k, v in before.items()), name
        assert v(after, "fastswap_penalties_total", layer="host") == 1
        assert v(after, "fastswap_penalties_total", layer="bitswap") == 1
        assert v(after, "fastswap_peers_penalised") == 1
        assert v(before, "fastswap_peers_banned") == 0
        assert v(after, "fastswap_peers_banned") == 1
        assert v(after, "fastswap_connections_refused_total", reason="banned") >= 1

    run(main())


@pytest.mark.timeout(180)
def test_seed_serves_metrics_only_when_asked_on_loopback_for_a_bare_port(tmp_path: Path) -> None:
    src = tmp_path / "data.bin"
    src.write_bytes(os.urandom(1024 * 1024 + 3))
    plain = Seeder(tmp_path / "plain-repo", str(src))
    try:
        assert plain.info["metrics"] is None  # off by default
    finally:
        assert plain.stop(signal.SIGTERM) == 0
    seeder = Seeder(tmp_path / "seed-repo", str(src), extra=("--metrics", "0"))
    try:
        url = seeder.info["metrics"]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/metrics"), url
        (root,) = seeder.info["roots"]
        p = get(tmp_path / "get-repo", root["cid"], seeder.info["addrs"][0], tmp_path / "out")
        assert p.returncode == 0, p.stderr.decode()
        with urllib.request.urlopen(url, timeout=10) as resp:
            text = resp.read().decode()
        sent = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                if line.startswith("fastswap_blocks_sent_total{")]
        assert sum(sent) >= 4, text  # 4 leaves and their parent
    finally:
        assert seeder.stop(signal.SIGTERM) == 0
