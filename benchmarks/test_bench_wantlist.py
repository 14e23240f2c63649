"""Wantlist hot paths, compiled and pure twins side by side (one group per operation).

Measure with
    python -m pytest benchmarks/test_bench_wantlist.py --benchmark-enable --benchmark-only
and compare the ``c`` and ``py`` medians of each group.
"""

from __future__ import annotations

import hashlib
import random

import pytest

from tests.conftest import import_twin, twin_params

N = 1000
CHANGES = 100


@pytest.fixture(params=twin_params("fastswap.client._wantlist_c", "fastswap.client._wantlist_py"))
def wl(request):
    return import_twin(request.param)


def _cids(n: int, salt: bytes = b"") -> list[bytes]:
    # CIDv1 raw sha2-256 shaped keys (36 bytes), like real ones
    return [b"\x01\x55\x12\x20" + hashlib.sha256(salt + i.to_bytes(4, "big")).digest()
            for i in range(n)]


CIDS = _cids(N)
EXTRA = _cids(N, b"extra")


def _base(wl):
    w = wl.Wantlist()
    rng = random.Random(1)
    for i, cid in enumerate(CIDS):
        w.add(cid, rng.randrange(1 << 20), wl.WANT_HAVE if i % 2 else wl.WANT_BLOCK, i % 3 == 0)
    return w


def _mutate(wl, target, rng: random.Random, n: int) -> None:
    """n changes to *target* (a Wantlist or PeerWants): a third each adds, removes, upgrades."""
    present = [c for c in CIDS if c in target]
    haves = [c for c in present if target.get(c).want_type == wl.WANT_HAVE]
    rng.shuffle(present)
    rng.shuffle(haves)
    k = n // 3
    for cid in EXTRA[:n - 2 * k]:
        target.add(cid, rng.randrange(1 << 20), wl.WANT_BLOCK)
    for cid in present[:k]:
        target.remove(cid)
    upgraded = 0
    for cid in haves:
        if upgraded == k:
            break
        if cid in target:
            target.add(cid, rng.randrange(1 << 20), wl.WANT_BLOCK, True)
            upgraded += 1


@pytest.mark.benchmark(group="wantlist-build-1000")
def test_build_1000(benchmark, wl):
    prios = list(range(N))
    block, have = wl.WANT_BLOCK, wl.WANT_HAVE

    def build():
        w = wl.Wantlist()
        add = w.add
        for i, cid in enumerate(CIDS):
            add(cid, prios[i], have if i & 1 else block, False)
        return w

    w = benchmark(build)
    assert len(w) == N


@pytest.mark.benchmark(group="wantlist-diff-1000-10pct")
def test_diff_1000_10pct(benchmark, wl):
    old = _base(wl)
    new = old.copy()
    _mutate(wl, new, random.Random(2), CHANGES)
    d = benchmark(wl.diff, old, new)
    assert len(d.wants) == 67 and len(d.cancels) == 33
    old.apply(d)
    assert old == new


@pytest.mark.benchmark(group="wantlist-peerwants-flush-100-of-1000")
def test_peerwants_flush(benchmark, wl):
    def setup():
        pw = wl.PeerWants()
        rng = random.Random(1)
        for i, cid in enumerate(CIDS):
            pw.add(cid, rng.randrange(1 << 20), wl.WANT_HAVE if i % 2 else wl.WANT_BLOCK, i % 3 == 0)
        pw.flush()
        _mutate(wl, pw, random.Random(2), CHANGES)
        return (pw,), {}

    def flush(pw):
        return pw.flush()

    d = benchmark.pedantic(flush, setup=setup, rounds=1000, warmup_rounds=5)
    assert len(d) == CHANGES
