"""What watching a seeder costs (issue 9: metrics and logging at their defaults under 3% of a
256 MiB transfer's throughput), as a same-run A/B of the fastswap -> fastswap transfer of
``test_bench_transfer.py`` (256 KiB raw leaves, Noise + yamux on 127.0.0.1, a fresh leecher
repo and Node each round, the leecher's own clock around connect + fetch_dag).

Two seeder processes serve the same kind of file to one leecher process, taking turns:

* ``observed``: ``fastswap seed``'s defaults when asked for metrics: logging at ``info`` to
  stderr, and the Prometheus endpoint (``--metrics``), scraped from this process every
  ``SCRAPE_INTERVAL`` seconds during the whole run (15 times as often as Prometheus's default
  15 s, so its cost is not hidden by rarity);
* ``quiet``: no endpoint, logging disabled (``logging.disable``).

The counters behind the endpoint (the engines' stats, the task-wait histogram) are kept in both:
they are not optional, and their own cost is in ``test_bench_server.py``'s group
``server-engine-wait-times``.

Rounds alternate (observed then quiet, then quiet then observed, ...) so a drift of the shared
machine falls on both sides. Recorded: each side's median seconds and MB/s, and
``extra_info["cost %"]`` = (observed median / quiet median - 1) x 100, plus the scrapes made
(each must have answered, and the blocks-sent counter must have moved between them).
5 rounds a side after a warm-up pair when measured; 16 MiB and 1 round in the smoke run.

Measure with: python -m pytest benchmarks/test_bench_observability.py --benchmark-enable
--benchmark-only
"""

from __future__ import annotations

import statistics
import threading
import urllib.request
from typing import Any

import pytest

from benchmarks._peerproc import PeerProc

MEASURED = 256 * 1024 * 1024
SMOKE = 16 * 1024 * 1024
ROUNDS = 5
#: seconds between scrapes of the observed seeder
SCRAPE_INTERVAL = 1.0

pytestmark = pytest.mark.timeout(900)


class Scraper(threading.Thread):
    """GET the metrics URL every *interval* seconds until stopped; keep each
    ``fastswap_blocks_sent_total`` sum seen."""

    def __init__(self, url: str, interval: float) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.interval = interval
        self.stopping = threading.Event()
        self.sent: list[float] = []

    def run(self) -> None:
        while not self.stopping.wait(self.interval):
            self.scrape()

    def scrape(self) -> None:
        with urllib.request.urlopen(self.url, timeout=10) as resp:
            text = resp.read().decode()
        self.sent.append(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                             if line.startswith("fastswap_blocks_sent_total{")))


@pytest.mark.benchmark(group="transfer-observability")
def test_bench_metrics_and_logging_cost(benchmark) -> None:
    size = SMOKE if benchmark.disabled else MEASURED
    rounds = 1 if benchmark.disabled else ROUNDS
    observed = PeerProc("seed", str(size), "--observe")
    quiet = PeerProc("seed", str(size), "--quiet")
    leecher = PeerProc("leech")
    secs: dict[str, list[float]] = {"observed": [], "quiet": []}
    scraper = None
    try:
        infos = {"observed": observed.line(), "quiet": quiet.line()}
        scraper = Scraper(infos["observed"]["metrics"], SCRAPE_INTERVAL)
        scraper.start()
        turn = [0]

        def fetch(side: str) -> dict[str, Any]:
            info = infos[side]
            r = leecher.ask(f"{info['addr']} {info['root']} sha256 ready")
            assert leecher.line() == {"ready": True}
            assert size <= r["bytes"] < size * 1.01 and r["sha256"] == info["sha256"]
            return r

        def pair() -> None:
            order = ("observed", "quiet") if turn[0] % 2 == 0 else ("quiet", "observed")
            for side in order:
                r = fetch(side)
                if turn[0] > 0 or benchmark.disabled:  # the first pair warms up
                    secs[side].append(r["seconds"])
            turn[0] += 1

        benchmark.pedantic(pair, rounds=rounds, warmup_rounds=0 if benchmark.disabled else 1)
        scraper.stopping.set()
        scraper.join(15)
        scraper.scrape()  # after the last round: every block the observed seeder sent
    finally:
        if scraper is not None:
            scraper.stopping.set()
        leecher.close(30)
        observed.close(30)
        quiet.close(30)
    assert scraper.sent == sorted(scraper.sent) and scraper.sent[-1] >= size // (256 * 1024)
    assert benchmark.disabled or len(set(scraper.sent)) >= 3, scraper.sent
    meds = {side: statistics.median(s) for side, s in secs.items()}
    cost = (meds["observed"] / meds["quiet"] - 1.0) * 100.0
    for side, med in meds.items():
        benchmark.extra_info[f"{side} seconds (median)"] = round(med, 4)
        benchmark.extra_info[f"{side} MB/s (median)"] = round(size / med / 1e6, 1)
    benchmark.extra_info["cost %"] = round(cost, 2)
    benchmark.extra_info["scrapes"] = len(scraper.sent)
    print(f"\n{size >> 20} MiB, {len(secs['quiet'])} rounds a side: quiet median "
          f"{meds['quiet']:.3f} s ({size / meds['quiet'] / 1e6:.1f} MB/s), observed median "
          f"{meds['observed']:.3f} s ({size / meds['observed'] / 1e6:.1f} MB/s): cost "
          f"{cost:+.2f}% ({len(scraper.sent)} scrapes every {SCRAPE_INTERVAL:g} s)")
