"""Prometheus metrics of a running node (``fastswap seed --metrics HOST:PORT``).

Nothing is counted twice and nothing is added to the hot paths for this: the node and its
engines already keep every counter (``Node.stat()``); a ``prometheus_client`` collector reads
them when Prometheus scrapes, on the event loop (an aiohttp handler), so it never races the
code that updates them. The exposition format is prometheus_client's own.

Metrics (all prefixed ``fastswap_``):

* ``blocks_sent_total``, ``bytes_sent_total``, ``blocks_received_total``,
  ``bytes_received_total`` by ``version`` (the Bitswap protocol id): block traffic;
* ``wants_received_total`` by ``type`` (block, have, cancel); ``presences_sent_total`` by
  ``type`` (have, dont_have);
* ``duplicate_blocks_total``, ``unwanted_blocks_total``, ``bad_blocks_total``;
* ``peers`` (speaking Bitswap), ``connections``;
* ``task_queue_tasks``, ``task_queue_bytes``, ``inflight_bytes``; ``task_wait_seconds``: a
  histogram of how long answered wants waited in the task queue;
* ``blockstore_blocks``, ``blockstore_bytes``;
* ``connections_refused_total`` by ``reason``; ``peers_penalised_total``, ``peers_banned``;
* ``uptime_seconds``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

__all__ = ["MetricsServer", "NodeCollector", "parse_listen"]

log = logging.getLogger("fastswap.metrics")


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[v6]:PORT`` or a bare ``PORT`` (on 127.0.0.1) -> (host, port)."""
    text = text.strip()
    if text.isdigit():
        return "127.0.0.1", int(text)
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"metrics address {text!r}: expected HOST:PORT or a port number")
    return host.strip("[]"), int(port)


class NodeCollector:
    """A prometheus_client collector over a :class:`~fastswap.node.Node`."""

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

        node = self.node
        st = node.stat(top=0)
        server, client = st["server"], st["client"]

        def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Any:
            return CounterMetricFamily(f"fastswap_{name}", doc, labels=list(labels))

        def gauge(name: str, doc: str, value: float) -> Any:
            return GaugeMetricFamily(f"fastswap_{name}", doc, value=value)

        traffic = st["traffic"]
        for what, doc in (("blocks_sent", "Blocks sent"), ("bytes_sent", "Block bytes sent"),
                          ("blocks_received", "Wanted blocks received"),
                          ("bytes_received", "Wanted block bytes received")):
            m = counter(f"{what}_total", f"{doc}, by Bitswap protocol version", ("version",))
            for version, row in sorted(traffic.items()):
                m.add_metric([version], row[what])
            yield m
        m = counter("wants_received_total", "Wantlist entries received, by type", ("type",))
        for kind in ("block", "have", "cancel"):
            m.add_metric([kind], server.get(f"want_{kind}s_received", 0))
        yield m
        m = counter("presences_sent_total", "HAVE and DONT_HAVE presences sent", ("type",))
        m.add_metric(["have"], server.get("haves_sent", 0))
        m.add_metric(["dont_have"], server.get("dont_haves_sent", 0))
        yield m
        m = counter("duplicate_blocks_total", "Blocks received that we had already")
        m.add_metric([], client.get("duplicates", 0))
        yield m
        m = counter("unwanted_blocks_total", "Blocks received that nobody here wanted")
        m.add_metric([], client.get("unwanted_blocks", 0))
        yield m
        m = counter("bad_blocks_total", "Blocks received that could not be verified")
        m.add_metric([], st.get("bad_blocks", 0))
        yield m
        yield gauge("peers", "Peers speaking Bitswap with us", len(st["peers"]))
        yield gauge("connections", "Open libp2p connections", st["connections"])
        yield gauge("task_queue_tasks", "Tasks queued by the server", server.get("queued_tasks", 0))
        yield gauge("task_queue_bytes", "Block bytes queued by the server",
                    server.get("queued_bytes", 0))
        yield gauge("inflight_bytes", "Response bytes being written", server.get("inflight_bytes", 0))
        waits = server.get("task_wait_histogram")
        if waits is not None:
            h = HistogramMetricFamily("fastswap_task_wait_seconds",
                                      "Seconds answered wants waited in the task queue")
            h.add_metric([(str(b), c) for b, c in waits["buckets"]], waits["sum"])
            yield h
        yield gauge("blockstore_blocks", "Blocks in the repo", st["blocks"])
        if st.get("bytes") is not None:
            yield gauge("blockstore_bytes", "Block bytes in the repo", st["bytes"])
        m = counter("connections_refused_total", "Inbound connections refused, by reason",
                    ("reason",))
        for reason, n in sorted(st["refused"].items()):
            m.add_metric([reason], n)
        yield m
        host = node.host
        m = counter("peers_penalised_total", "Penalties given to misbehaving peers")
        m.add_metric([], getattr(host, "penalties", 0))
        yield m
        yield gauge("peers_banned", "Peers banned now", getattr(host, "banned_count", 0))
        yield gauge("uptime_seconds", "Seconds since the node started", st["uptime"])


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
