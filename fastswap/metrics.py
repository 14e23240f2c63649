"""Prometheus metrics of a running node (``fastswap seed --metrics HOST:PORT``; issue 9,
"Observability"), in the Prometheus text exposition format (prometheus_client's own).

Nothing is counted twice and nothing is added to the hot paths for this: the node and its
engines already keep every counter (``Node.totals()``; the server engine's are batched per
message and per response, the task-wait histogram is filed per sent response in the compiled
task queue); a ``prometheus_client`` collector reads them when Prometheus scrapes, on the event
loop (an aiohttp handler), so it never races the code that updates them.

:data:`METRICS` is the one table of what is exposed (name, type, labels, help): the collector
emits exactly those families, in that order, with that help text, and the docs' metrics
reference is generated from it. Counters are process totals since start (they never go down:
a disconnected peer's counts stay).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["METRICS", "MetricSpec", "MetricsServer", "NodeCollector", "parse_listen"]

log = logging.getLogger("fastswap.metrics")


@dataclass(frozen=True)
class MetricSpec:
    """One exposed metric family: its full name as scraped (a counter's ends in ``_total``),
    ``kind`` (``counter``, ``gauge`` or ``histogram``), label names and help text."""

    name: str
    kind: str
    help: str
    labels: tuple[str, ...] = ()


#: Every metric ``--metrics`` exposes, in exposition order (see the module docstring).
METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("fastswap_blocks_sent_total", "counter",
               "Blocks sent, by Bitswap protocol version", ("version",)),
    MetricSpec("fastswap_bytes_sent_total", "counter",
               "Block data bytes sent, by Bitswap protocol version", ("version",)),
    MetricSpec("fastswap_blocks_received_total", "counter",
               "Wanted blocks received and verified, by Bitswap protocol version", ("version",)),
    MetricSpec("fastswap_bytes_received_total", "counter",
               "Block data bytes of wanted blocks received, by Bitswap protocol version",
               ("version",)),
    MetricSpec("fastswap_wants_received_total", "counter",
               "Wantlist entries received, by type (block, have, cancel; a 1.0.0/1.1.0 "
               "peer's entries are all want-block)", ("type",)),
    MetricSpec("fastswap_presences_sent_total", "counter",
               "Block presences sent, by type (have, dont_have)", ("type",)),
    MetricSpec("fastswap_duplicate_blocks_total", "counter",
               "Blocks received that were already here (another peer sent them first)"),
    MetricSpec("fastswap_unwanted_blocks_total", "counter",
               "Blocks received that nobody here wanted"),
    MetricSpec("fastswap_bad_blocks_total", "counter",
               "Blocks received whose data did not hash to their CID"),
    MetricSpec("fastswap_peers", "gauge", "Connected peers speaking Bitswap with this node"),
    MetricSpec("fastswap_connections", "gauge", "Open libp2p connections"),
    MetricSpec("fastswap_task_queue_tasks", "gauge",
               "Answers (blocks, HAVEs, DONT_HAVEs) queued by the server, not yet sent"),
    MetricSpec("fastswap_task_queue_bytes", "gauge",
               "Block data bytes queued by the server, not yet sent"),
    MetricSpec("fastswap_inflight_bytes", "gauge",
               "Response bytes taken from the queue and being written to peers"),
    MetricSpec("fastswap_task_wait_seconds", "histogram",
               "Seconds from a want's arrival (or its block's) to its answer sent"),
    MetricSpec("fastswap_blockstore_blocks", "gauge", "Blocks in the blockstore"),
    MetricSpec("fastswap_blockstore_bytes", "gauge", "Block data bytes in the blockstore"),
    MetricSpec("fastswap_connections_refused_total", "counter",
               "Inbound connections refused, by reason", ("reason",)),
    MetricSpec("fastswap_penalties_total", "counter",
               "Penalties given to misbehaving peers, by layer (host: connection and stream "
               "level; bitswap: messages and blocks)", ("layer",)),
    MetricSpec("fastswap_peers_penalised", "gauge",
               "Peers with a Bitswap penalty on record now (it decays over time)"),
    MetricSpec("fastswap_peers_banned", "gauge", "Peers banned now (connections refused)"),
    MetricSpec("fastswap_uptime_seconds", "gauge", "Seconds since the node started"),
)

def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[v6]:PORT`` or a bare ``PORT`` (on 127.0.0.1) -> (host, port)."""
    text = text.strip()
    if text.isdigit():
        return "127.0.0.1", _port(text, text)
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host.strip("[]"):
        raise ValueError(f"metrics address {text!r}: expected HOST:PORT or a port number")
    return host.strip("[]"), _port(port, text)


def _port(port: str, text: str) -> int:
    n = int(port)
    if n > 65535:
        raise ValueError(f"metrics address {text!r}: port {n} is above 65535")
    return n


def _values(node: Any) -> dict[str, Any]:
    """Each metric's value (a number, or ``[(labels, number)]``), read from ``Node.totals()``
    (no per-peer data: a scrape costs the same with one peer or thousands)."""
    st = node.totals()
    server, client, scores = st["server"], st["client"], st["scores"]
    traffic = sorted(st["traffic"].items())
    host = node.host
    # refused by the host (its reasons), plus the ones the node refused itself: peers whose
    # Bitswap refusal outlived the host's ban (st["connections_refused"] counts both)
    refused = dict(st["refused"])
    own = st["connections_refused"] - refused.get("banned", 0)
    if own:
        refused["score"] = refused.get("score", 0) + own
    return {
        "fastswap_blocks_sent_total": [([v], r["blocks_sent"]) for v, r in traffic],
        "fastswap_bytes_sent_total": [([v], r["bytes_sent"]) for v, r in traffic],
        "fastswap_blocks_received_total": [([v], r["blocks_received"]) for v, r in traffic],
        "fastswap_bytes_received_total": [([v], r["bytes_received"]) for v, r in traffic],
        "fastswap_wants_received_total": [
            (["block"], server.get("want_blocks_received", 0)),
            (["have"], server.get("want_haves_received", 0)),
            (["cancel"], server.get("cancels_received", 0))],
        "fastswap_presences_sent_total": [
            (["have"], server.get("haves_sent", 0)),
            (["dont_have"], server.get("dont_haves_sent", 0))],
        "fastswap_duplicate_blocks_total": client.get("duplicates", 0),
        "fastswap_unwanted_blocks_total": client.get("unwanted_blocks", 0),
        "fastswap_bad_blocks_total": st["bad_blocks"],
        "fastswap_peers": st["peer_count"],
        "fastswap_connections": st["connections"],
        "fastswap_task_queue_tasks": server.get("queued_tasks", 0),
        "fastswap_task_queue_bytes": server.get("queued_bytes", 0),
        "fastswap_inflight_bytes": server.get("inflight_bytes", 0),
        "fastswap_task_wait_seconds": server.get("task_wait"),
        "fastswap_blockstore_blocks": st["blocks"],
        "fastswap_blockstore_bytes": st["bytes"],
        "fastswap_connections_refused_total": [([k], n) for k, n in sorted(refused.items())],
        "fastswap_penalties_total": [(["host"], host.penalties),
                                     (["bitswap"], scores.get("penalties", 0))],
        "fastswap_peers_penalised": scores.get("penalised", 0),
        "fastswap_peers_banned": host.banned_count,
        "fastswap_uptime_seconds": st["uptime"],
    }


class NodeCollector:
    """A prometheus_client collector over a :class:`~fastswap.node.Node`: the families of
    :data:`METRICS`, read from the node at each scrape."""

    def __init__(self, node: Any) -> None:
        self.node = node

    def describe(self) -> list[Any]:
        return []  # no describe-time scrape: collect() reads live state

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        families: dict[str, Callable[..., Any]] = {
            "counter": CounterMetricFamily, "gauge": GaugeMetricFamily}
        values = _values(self.node)
        for spec in METRICS:
            value = values[spec.name]
            if value is None:
                continue  # a store or an engine that does not keep it
            if spec.kind == "histogram":
                yield _histogram(HistogramMetricFamily, spec, value)
                continue
            fam = families[spec.kind](spec.name, spec.help, labels=list(spec.labels))
            if spec.labels:
                for labels, v in value:
                    fam.add_metric(labels, v)
            else:
                fam.add_metric([], value)
            yield fam


def _histogram(family: Callable[..., Any], spec: MetricSpec, snap: dict[str, Any]) -> Any:
    """A :class:`~fastswap.server.taskqueue.WaitHistogram` snapshot (counts per bucket) as
    Prometheus wants it (cumulative counts, the last bucket ``+Inf``)."""
    h = family(spec.name, spec.help)
    buckets = []
    total = 0
    for bound, n in zip([*snap["bounds"], float("inf")], snap["counts"]):
        total += n
        buckets.append(("+Inf" if bound == float("inf") else repr(float(bound)), total))
    h.add_metric([], buckets, snap["sum"])
    return h


class MetricsServer:
    """``/metrics`` over HTTP on the node's event loop (aiohttp), for Prometheus to scrape."""

    def __init__(self, node: Any, host: str, port: int) -> None:
        from prometheus_client import CollectorRegistry

        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(NodeCollector(node))  # type: ignore[arg-type]
        self.host = host
        self.port = port
        self._runner: Any = None

    async def start(self) -> None:
        from aiohttp import web
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        async def metrics(request: web.Request) -> web.Response:
            body = generate_latest(self.registry)
            return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

        app = web.Application()
        app.router.add_get("/metrics", metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        if self.port == 0:
            self.port = self._runner.addresses[0][1]

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
