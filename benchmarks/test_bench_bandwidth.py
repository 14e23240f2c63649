"""The per-peer bandwidth limit on a real transfer (fastswap/bandwidth.py, applied in
``Node``'s serve loop; issue 9, "Serving controls"): one seeder limited to 4 MiB/s per peer,
two leechers fetching 20 MiB each from it at once over Noise + yamux on 127.0.0.1
(``tests/test_bandwidth.py``'s ``limited_transfer``, whose test asserts each rate within 10% of
the limit). Recorded: each round's leecher rates as a fraction of the limit
(``extra_info["rate / limit (median)"]``, its minimum and maximum over all leechers and rounds).
A rate of about 1.02 is expected: the first tenth of a second of data goes out at once (the
default burst).

3 rounds of 5 s when measured; one round of 1 s in the suite's smoke run.

Measure with: python -m pytest benchmarks/test_bench_bandwidth.py --benchmark-enable
--benchmark-only
"""

from __future__ import annotations

import asyncio
import statistics

import pytest

from tests.test_bandwidth import LIMITED_RATE, limited_transfer

pytestmark = pytest.mark.timeout(120)


@pytest.mark.benchmark(group="bandwidth-per-peer-limit")
def test_bench_per_peer_limit_rate(benchmark) -> None:
    seconds, rounds = (1.0, 1) if benchmark.disabled else (5.0, 3)
    ratios: list[float] = []

    def transfer() -> None:
        rates = asyncio.run(limited_transfer(LIMITED_RATE, seconds, leechers=2))
        ratios.extend(r / LIMITED_RATE for r in rates)

    benchmark.pedantic(transfer, rounds=rounds, warmup_rounds=0)
    med = statistics.median(ratios)
    benchmark.extra_info["limit MiB/s"] = LIMITED_RATE / (1 << 20)
    benchmark.extra_info["rate / limit (median)"] = round(med, 4)
    benchmark.extra_info["rate / limit (min)"] = round(min(ratios), 4)
    benchmark.extra_info["rate / limit (max)"] = round(max(ratios), 4)
    print(f"\nper-peer limit {LIMITED_RATE / (1 << 20):g} MiB/s, {seconds:g} s transfers: rate / "
          f"limit median {med:.4f} (min {min(ratios):.4f}, max {max(ratios):.4f}) over "
          f"{len(ratios)} leecher fetches")
