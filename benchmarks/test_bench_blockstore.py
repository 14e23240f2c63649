"""Blockstore hot paths: LMDB (the embedded default) beside MemoryBlockstore for scale, and
AsyncBlockstore's group commit and inline-vs-thread reads.

Measure with
    python -m pytest benchmarks/test_bench_blockstore.py --benchmark-enable --benchmark-only
Groups compare like with like (``put-256k``: lmdb vs memory, ``read-256k``: get copy vs view...).
Round counts are fixed (pedantic) so the writes, and the disk they take, stay bounded; every
benchmark removes its temporary directory.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
import uvloop

from fastswap.blockstore import LMDBBlockstore, MemoryBlockstore
from fastswap.blockstore.aio import AsyncBlockstore

KIB = 1024
SIZES = {"256k": 256 * KIB, "1k": KIB}
# rounds x iterations per size: bounded work (and disk) per benchmark
PUT_ROUNDS = {"256k": (200, 1), "1k": (300, 20)}
BATCH = {"256k": 64, "1k": 1000}  # blocks per put_many call (16 MiB / 1000 KiB)
BATCH_ROUNDS = {"256k": 8, "1k": 15}

_counter = itertools.count()


def fresh_cid() -> bytes:
    """A new CIDv1-raw-shaped key (stores do not hash, so data can be shared)."""
    return b"\x01\x55\x12\x20" + hashlib.sha256(next(_counter).to_bytes(8, "big")).digest()


@pytest.fixture
def tmpdir_clean() -> Iterator[str]:
    d = tempfile.mkdtemp(prefix="fastswap-bench-")
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(params=["lmdb", "memory"])
def store(request: pytest.FixtureRequest, tmpdir_clean: str) -> Iterator[Any]:
    s = LMDBBlockstore(os.path.join(tmpdir_clean, "b")) if request.param == "lmdb" else (
        MemoryBlockstore()
    )
    yield s
    s.close()


@pytest.mark.parametrize("size", list(SIZES))
def test_put(benchmark, store, size: str) -> None:
    benchmark.group = f"put-{size}"
    data = os.urandom(SIZES[size])
    rounds, iterations = PUT_ROUNDS[size]

    def put() -> None:
        store.put(fresh_cid(), data)

    benchmark.pedantic(put, rounds=rounds, iterations=iterations, warmup_rounds=1)


@pytest.mark.parametrize("size", list(SIZES))
def test_put_many(benchmark, store, size: str) -> None:
    benchmark.group = f"put_many-{size}x{BATCH[size]}"
    data = os.urandom(SIZES[size])

    def setup() -> tuple[tuple[list[tuple[bytes, bytes]]], dict]:
        return ([(fresh_cid(), data) for _ in range(BATCH[size])],), {}

    benchmark.pedantic(store.put_many, setup=setup, rounds=BATCH_ROUNDS[size])


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("how", ["get", "view", "view+sha256", "get+sha256"])
def test_read(benchmark, store, size: str, how: str) -> None:
    """Copy (get) vs zero-copy (view) of cached blocks; +sha256 is what a verifier pays."""
    benchmark.group = f"read-{size}"
    cids = [fresh_cid() for _ in range(64)]
    data = os.urandom(SIZES[size])
    store.put_many((c, data) for c in cids)
    it = itertools.cycle(cids)
    sha256 = hashlib.sha256
    if how == "get":
        def op() -> Any:
            return store.get(next(it))
    elif how == "view":
        def op() -> Any:
            with store.view(next(it)) as mv:
                return mv.nbytes
    elif how == "view+sha256":
        def op() -> Any:
            with store.view(next(it)) as mv:
                return sha256(mv).digest()
    else:
        def op() -> Any:
            return sha256(store.get(next(it))).digest()
    benchmark(op)


@pytest.mark.parametrize("how", ["has", "get_size", "has_many64", "get_sizes64", "get_many64"])
def test_index_reads(benchmark, store, how: str) -> None:
    """Per-op cost of the reads a server makes for each want (1 KiB blocks, cached)."""
    benchmark.group = "index-reads"
    cids = [fresh_cid() for _ in range(64)]
    store.put_many((c, os.urandom(KIB)) for c in cids)
    it = itertools.cycle(cids)
    if how == "has":
        benchmark(lambda: store.has(next(it)))
    elif how == "get_size":
        benchmark(lambda: store.get_size(next(it)))
    elif how == "has_many64":
        benchmark(store.has_many, cids)
    elif how == "get_sizes64":
        benchmark(store.get_sizes, cids)
    else:
        benchmark(store.get_many, cids)


# -- AsyncBlockstore ---------------------------------------------------------------------------


@pytest.fixture
def uv_loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = uvloop.new_event_loop()
    yield loop
    loop.close()


@pytest.mark.parametrize("size, n", [("1k", 500), ("256k", 64)])
@pytest.mark.parametrize("how", ["concurrent", "sequential", "sync"])
def test_async_put_throughput(benchmark, tmpdir_clean, uv_loop, size: str, n: int, how: str):
    """One round stores *n* fresh blocks: ``concurrent`` awaits them all at once (they share
    commits: group commit), ``sequential`` awaits each before the next (a commit each), ``sync``
    is the plain store.put loop (a commit each, blocking the loop) for scale."""
    benchmark.group = f"async-put-{size}x{n}"
    store = LMDBBlockstore(os.path.join(tmpdir_clean, "b"))
    astore = AsyncBlockstore(store)
    data = os.urandom(SIZES[size])

    async def concurrent(blocks: list[tuple[bytes, bytes]]) -> None:
        await asyncio.gather(*(astore.put(c, d) for c, d in blocks))

    async def sequential(blocks: list[tuple[bytes, bytes]]) -> None:
        for c, d in blocks:
            await astore.put(c, d)

    def setup() -> tuple[tuple[list[tuple[bytes, bytes]]], dict]:
        return ([(fresh_cid(), data) for _ in range(n)],), {}

    if how == "sync":
        def target(blocks: list[tuple[bytes, bytes]]) -> None:
            for c, d in blocks:
                store.put(c, d)
    else:
        coro = concurrent if how == "concurrent" else sequential

        def target(blocks: list[tuple[bytes, bytes]]) -> None:
            uv_loop.run_until_complete(coro(blocks))

    try:
        benchmark.pedantic(target, setup=setup, rounds=10 if size == "1k" else 6)
    finally:
        uv_loop.run_until_complete(astore.aclose())
        store.close()


@pytest.mark.parametrize("how", ["inline", "thread", "sync"])
def test_async_has(benchmark, tmpdir_clean, uv_loop, how: str) -> None:
    """Is an inline has() worth it? 200 awaited has() per round: inline on the loop thread vs a
    round trip through a reader thread; ``sync`` is the bare store.has for scale."""
    benchmark.group = "async-has-x200"
    store = LMDBBlockstore(os.path.join(tmpdir_clean, "b"))
    astore = AsyncBlockstore(store, inline_reads=(how != "thread"))
    cids = [fresh_cid() for _ in range(200)]
    store.put_many((c, os.urandom(KIB)) for c in cids)

    async def many() -> None:
        for c in cids:
            await astore.has(c)

    if how == "sync":
        def target() -> None:
            for c in cids:
                store.has(c)
    else:
        def target() -> None:
            uv_loop.run_until_complete(many())

    try:
        benchmark(target)
    finally:
        uv_loop.run_until_complete(astore.aclose())
        store.close()
