"""AsyncBlockstore on stock asyncio and on uvloop: results, ordering, group commit, errors,
a loop that keeps running during large writes, and a clean shutdown with no threads left."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
from _bs_helpers import make_blocks

from fastswap.blockstore import LMDBBlockstore, MemoryBlockstore
from fastswap.blockstore.aio import AsyncBlockstore
from fastswap.cid import compute_cid, verify_block
from fastswap.errors import BlockNotFoundError, BlockstoreError, CIDError


def our_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("fastswap-blockstore")]


@pytest.fixture(params=["lmdb", "memory"])
def sync_store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    s = LMDBBlockstore(tmp_path / "b") if request.param == "lmdb" else MemoryBlockstore()
    yield s
    s.close()


@pytest.mark.parametrize("inline_reads", [True, False])
def test_round_trip(run, sync_store, inline_reads: bool) -> None:
    blocks = make_blocks(20, 3000, seed=1)
    missing = compute_cid(b"missing")

    async def main() -> None:
        async with AsyncBlockstore(sync_store, inline_reads=inline_reads) as a:
            await a.put(*blocks[0])
            assert await a.put_many(blocks) == 19
            assert await a.put_many(blocks[:3]) == 0
            assert await a.put_many([]) == 0
            cid, data = blocks[5]
            assert await a.has(cid) and not await a.has(missing)
            assert await a.get(cid) == data
            assert await a.get_size(cid) == len(data)
            assert await a.has_many([cid, missing]) == [True, False]
            assert await a.get_sizes([cid, missing]) == [len(data), None]
            assert await a.get_many([cid, missing]) == [data, None]
            # zero-copy: fn runs on the view in a worker, inside the view's lifetime
            digest_ok = await a.read(cid, lambda mv: verify_block(cid, mv) is None)
            assert digest_ok
            head = await a.read(cid, lambda mv: bytes(mv[:16]))
            assert head == data[:16]
            leaked = await a.read(cid, lambda mv: mv)
            with pytest.raises(ValueError):
                bytes(leaked)  # released when fn returned
            sizes = await a.read_many(
                [cid, missing], lambda vs: [None if v is None else v.nbytes for v in vs]
            )
            assert sizes == [len(data), None]
            with pytest.raises(BlockNotFoundError):
                await a.get(missing)
            with pytest.raises(BlockNotFoundError):
                await a.get_size(missing)
            with pytest.raises(BlockNotFoundError):
                await a.read(missing, bytes)
            assert await a.delete(cid) is True
            assert await a.delete(cid) is False
            assert not await a.has(cid)
            await a.flush()

    run(main())
    assert len(sync_store) == 19
    assert not our_threads()


def test_bad_input_raises_named_errors(run, sync_store) -> None:
    async def main() -> None:
        async with AsyncBlockstore(sync_store) as a:
            with pytest.raises(CIDError):
                await a.put("bafy...", b"x")
            with pytest.raises(TypeError):
                await a.put(compute_cid(b"x"), "x")
            with pytest.raises(CIDError):
                await a.put_many([(compute_cid(b"x"), b"x"), (b"", b"y")])
            with pytest.raises(CIDError):
                await a.get(b"")
            # the store is untouched by refused calls and still works
            assert len(sync_store) == 0
            await a.put(compute_cid(b"x"), b"x")
            assert await a.get(compute_cid(b"x")) == b"x"

    run(main())


def test_writes_keep_their_order(run, sync_store) -> None:
    blocks = make_blocks(50, 500, seed=2)

    async def main() -> None:
        async with AsyncBlockstore(sync_store) as a:
            cid, data = blocks[0]
            # put, delete, put, delete... queued together: the last op wins
            ops = []
            for i in range(10):
                ops.append(a.put(cid, data))
                ops.append(a.delete(cid))
            ops.append(a.put(cid, data))
            results = await asyncio.gather(*ops)
            assert results[1::2][:10] == [True] * 10
            assert await a.has(cid)

    run(main())


def test_group_commit_coalesces(run, tmp_path: Path) -> None:
    store = LMDBBlockstore(tmp_path / "b")
    blocks = make_blocks(400, 1024, seed=3)

    async def main() -> int:
        async with AsyncBlockstore(store) as a:
            before = store._env.info()["last_txnid"]
            # 400 concurrent single puts
            await asyncio.gather(*(a.put(c, d) for c, d in blocks))
            return store._env.info()["last_txnid"] - before

    txns = run(main())
    assert len(store) == 400
    # one commit per put would be 400; queued puts share commits
    assert txns < 200, txns
    for cid, data in blocks[::37]:
        assert store.get(cid) == data
    store.close()


def test_concurrent_put_many_counts_are_per_caller(run, tmp_path: Path) -> None:
    store = LMDBBlockstore(tmp_path / "b")
    blocks = make_blocks(60, 2000, seed=4)

    async def main() -> list[int]:
        async with AsyncBlockstore(store) as a:
            await a.put_many(blocks[:10])
            return await asyncio.gather(
                a.put_many(blocks[0:20]),  # 10 new
                a.put_many(blocks[20:40]),  # 20 new
                a.put_many(blocks[15:45]),  # 5 new ones of its own (40..44), the rest overlap
                a.put_many(blocks[45:60]),  # 15 new
            )

    counts = run(main())
    assert counts[0] == 10 and counts[1] == 20 and counts[3] == 15
    assert sum(counts) == 50  # every block counted once, for whoever stored it first
    assert len(store) == 60
    store.close()


def test_failure_in_a_group_fails_only_its_caller(run, tmp_path: Path) -> None:
    store = LMDBBlockstore(tmp_path / "b", map_size=64 * 1024, max_map_size=2 * 1024 * 1024)
    small = make_blocks(10, 1000, seed=5)
    huge = make_blocks(1, 3 * 1024 * 1024, seed=6)

    async def main() -> list[Any]:
        async with AsyncBlockstore(store) as a:
            ops = [a.put(c, d) for c, d in small[:5]]
            ops.append(a.put(*huge[0]))  # 3 MiB cannot fit under max_map_size
            ops += [a.put(c, d) for c, d in small[5:]]
            return await asyncio.gather(*ops, return_exceptions=True)

    results = run(main())
    assert isinstance(results[5], BlockstoreError) and "full" in str(results[5])
    assert results[:5] + results[6:] == [None] * 10
    assert not store.has(huge[0][0])
    for cid, data in small:
        assert store.get(cid) == data
    store.close()


def test_loop_keeps_running_during_large_put_many(run, tmp_path: Path) -> None:
    store = LMDBBlockstore(tmp_path / "b", map_size=64 * 1024)  # growth happens in the writer
    blocks = make_blocks(160, 256 * 1024, seed=7)  # ~40 MiB

    async def main() -> tuple[int, int, bool]:
        ticks = 0
        running = True

        async def ticker() -> None:
            nonlocal ticks
            while running:
                ticks += 1
                await asyncio.sleep(0)

        async with AsyncBlockstore(store) as a:
            t = asyncio.ensure_future(ticker())
            await asyncio.sleep(0)
            write = asyncio.ensure_future(a.put_many(blocks))
            start = ticks
            # progress while the write is in flight: the loop runs other tasks
            while not write.done() and ticks - start < 20:
                await asyncio.sleep(0)
            ticks_before_done = ticks - start
            was_in_flight = not write.done()
            n = await write
            running = False
            await t
        return n, ticks_before_done, was_in_flight

    n, ticks, in_flight = run(main())
    assert n == 160
    # The ticker ran 20 times while the put_many was still being written: the loop was free
    # (a put_many that blocked the loop would finish before the ticker ran again).
    assert in_flight and ticks >= 20
    assert len(store) == 160
    store.close()


def test_aclose_stops_threads_and_finishes_queued_work(run, sync_store) -> None:
    blocks = make_blocks(30, 4000, seed=8)
    assert not our_threads()

    async def main() -> None:
        a = AsyncBlockstore(sync_store, readers=3)
        await a.put(*blocks[0])
        assert len(our_threads()) == 4  # one writer, three readers
        pending = [asyncio.ensure_future(a.put(c, d)) for c, d in blocks[1:]]
        reads = [asyncio.ensure_future(a.get(blocks[0][0])) for _ in range(10)]
        await asyncio.sleep(0)
        await a.aclose()
        assert all(p.done() and p.exception() is None for p in pending)
        assert all(r.result() == blocks[0][1] for r in reads)
        assert not our_threads()
        await a.aclose()  # idempotent
        with pytest.raises(BlockstoreError, match="closed"):
            await a.put(*blocks[0])
        with pytest.raises(BlockstoreError, match="closed"):
            await a.get(blocks[0][0])
        with pytest.raises(BlockstoreError, match="closed"):
            await a.has(blocks[0][0])

    run(main())
    assert not our_threads()
    assert len(sync_store) == 30  # the store stays open after aclose


def test_unused_instance_starts_no_threads(run, sync_store) -> None:
    async def main() -> None:
        a = AsyncBlockstore(sync_store)
        assert not our_threads()
        assert not await a.has(compute_cid(b"x"))  # inline: still no threads
        assert not our_threads()
        await a.aclose()

    run(main())


def test_cancelled_caller_does_not_break_the_writer(run, sync_store) -> None:
    blocks = make_blocks(5, 1000, seed=9)

    async def main() -> None:
        async with AsyncBlockstore(sync_store) as a:
            t = asyncio.ensure_future(a.put_many(blocks))
            await asyncio.sleep(0)
            t.cancel()
            with pytest.raises(asyncio.CancelledError):
                await t
            # the writer still serves (the cancelled write may or may not have landed)
            await a.put(*blocks[0])
            assert await a.has(blocks[0][0])

    run(main())
    assert not our_threads()
