"""The streaming exporter (fastswap.dag.stream; UNIXFS.md walked depth-first over a block
source): bytes in order while blocks arrive out of order, a bounded fetch-ahead window,
memory flat in the file size, nothing left behind when interrupted."""

from __future__ import annotations

import asyncio
import hashlib
import io
import random
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from _dag_helpers import make_tree, snapshot

from fastswap._defaults import MAX_BLOCK_SIZE
from fastswap.blockstore import MemoryBlockstore
from fastswap.cid import RAW, decode_cid, to_str
from fastswap.dag import import_file, import_path, stream
from fastswap.dag import ls as sync_ls
from fastswap.errors import BlockNotFoundError, DagError

RUN_TIMEOUT = 120.0
CHUNK = 64 * 1024


def _chunk(i: int) -> bytes:
    seed = hashlib.sha256(b"chunk %d" % i).digest()
    return (seed * (CHUNK // 32))[:CHUNK]


class _VirtualFile:
    """A file of *n* chunks whose bytes are computed, never held."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.i = 0

    def read(self, size: int) -> bytes:
        assert size == CHUNK
        if self.i == self.n:
            return b""
        self.i += 1
        return _chunk(self.i - 1)


class VirtualSource:
    """A block source that keeps a file's internal nodes and recomputes its raw leaves on
    demand (so only the exporter's own memory shows), answering after random delays (so blocks
    arrive out of order), and counting what it was asked."""

    def __init__(self, chunks: int, *, seed: int = 1, delay: float = 0.002,
                 fail: bytes | None = None, width: int = 16) -> None:
        self.rng = random.Random(seed)
        self.delay = delay
        self.fail = fail
        self.nodes: dict[bytes, bytes] = {}
        self.leaf: dict[bytes, int] = {}
        self.index = {_chunk(i)[:32]: i for i in range(chunks)}
        self.requests = 0
        self.inflight = 0
        self.max_inflight = 0
        self.cancelled = 0
        self.root = import_file(self, _VirtualFile(chunks), cid_version=1, chunk_size=CHUNK,
                                max_children=width)
        self.expected = hashlib.sha256()
        for i in range(chunks):
            self.expected.update(_chunk(i))

    # the blockstore side, for import_file
    def put_many(self, blocks: Any) -> int:
        for cid, data in blocks:
            if decode_cid(cid)[1] == RAW:
                self.leaf[cid] = self.index[bytes(data[:32])]
            else:
                self.nodes[cid] = bytes(data)
        return 0

    async def get(self, cid: bytes) -> bytes:
        self.requests += 1
        self.inflight += 1
        self.max_inflight = max(self.max_inflight, self.inflight)
        try:
            await asyncio.sleep(self.rng.random() * self.delay)
            if cid == self.fail:
                raise BlockNotFoundError(f"block {to_str(cid)} not found")
            return self.nodes[cid] if cid in self.nodes else _chunk(self.leaf[cid])
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.inflight -= 1


def test_bytes_in_order_from_an_out_of_order_slow_source(run: Any) -> None:
    src = VirtualSource(200)  # 12.5 MiB, a two-level tree of 16-link nodes
    stats: dict[str, int] = {}

    async def go() -> tuple[str, int]:
        h = hashlib.sha256()
        n = 0
        async for chunk in stream.cat(src, src.root, window_blocks=32, window_bytes=1 << 20,
                                      stats=stats):
            h.update(chunk)
            n += len(chunk)
        return h.hexdigest(), n

    digest, n = run(go())
    assert (digest, n) == (src.expected.hexdigest(), 200 * CHUNK)
    assert src.max_inflight > 4  # it fetched ahead ...
    assert stats["peak_blocks"] <= 32  # ... within the window
    assert stats["peak_bytes"] <= (1 << 20) + MAX_BLOCK_SIZE
    assert src.requests == len(src.nodes) + 200  # every block once


def test_blocks_that_keep_their_message_alive_count_as_the_message(run: Any) -> None:
    """A block handed over as a view of the message it came in (as Bitswap delivers them,
    uncopied) keeps the whole message alive: the window counts the message's size, once for
    all of its blocks it holds, until the last of them is taken. Four blocks sharing a 256 KiB
    message cost what they did by their length; one block alone in a 256 KiB message counts 256
    KiB, not its 64 KiB, so the window stops asking ahead."""
    shared = memoryview(bytearray(4 * CHUNK)).toreadonly()
    alone = memoryview(bytearray(4 * CHUNK)).toreadonly()
    datas = {b"s%d" % k: shared[k * CHUNK:(k + 1) * CHUNK] for k in range(4)}
    datas[b"alone"] = alone[:CHUNK]
    datas[b"copy"] = bytes(CHUNK)

    class Source:
        async def get(self, cid: bytes) -> Any:
            return datas[cid]

    async def go() -> None:
        window = stream._Window(Source(), 64, 1 << 20)
        for cid in datas:
            window._launch(cid, CHUNK)
        window._request()
        await asyncio.gather(*(t for t in window.asked.values() if t is not None))
        # 256 KiB shared, once + 256 KiB alone + 64 KiB copied (by length: 6 x 64 KiB)
        assert window.used == 9 * CHUNK
        for cid in (b"s0", b"s1", b"s2"):
            window._release(cid)
        assert window.used == 9 * CHUNK  # s3 still keeps the shared message
        window._release(b"s3")
        assert window.used == 5 * CHUNK
        window._release(b"alone")
        window._release(b"copy")
        assert window.used == 0

    run(go())


def test_memory_does_not_grow_with_the_file(run: Any) -> None:
    window = 2 * 1024 * 1024

    async def drain(src: VirtualSource) -> None:
        h = hashlib.sha256()
        async for chunk in stream.cat(src, src.root, window_bytes=window):
            h.update(chunk)
        assert h.hexdigest() == src.expected.hexdigest()

    peaks = []
    for chunks in (64, 2048):  # 4 MiB and 128 MiB
        # wide nodes: hundreds of leaves are known ahead, only the byte window holds them back
        src = VirtualSource(chunks, delay=0.0002, width=512)
        tracemalloc.start()
        try:
            run(drain(src))
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    # the window plus one block's slack, whatever the size: not a copy of the file
    assert peaks[1] < window + MAX_BLOCK_SIZE + 2 * 1024 * 1024, peaks
    assert peaks[1] < peaks[0] + 1024 * 1024, peaks


def test_a_slow_writer_holds_back_the_fetch(run: Any) -> None:
    src = VirtualSource(64, delay=0.0)
    stats: dict[str, int] = {}

    async def go() -> None:
        async for _ in stream.cat(src, src.root, window_blocks=8, window_bytes=1 << 30,
                                  stats=stats):
            await asyncio.sleep(0.001)  # the consumer is the bottleneck
            assert src.inflight <= 8

    run(go())
    assert stats["peak_blocks"] <= 8


def test_get_streams_a_tree_like_the_local_exporter(run: Any, tmp_path: Path) -> None:
    s = MemoryBlockstore()
    src = make_tree(tmp_path / "src")
    root = import_path(s, src, shard_threshold=100)  # a HAMT root, plain subdirectories
    res = run(stream.get(stream.StoreSource(s), root, tmp_path / "out", window_blocks=4))
    assert snapshot(tmp_path / "out") == snapshot(src)
    assert (res.kind, res.files, res.directories) == ("directory", 3, 5)
    assert run(stream.ls(stream.StoreSource(s), root)) == sync_ls(s, root)
    cid, name = run(stream.resolve(stream.StoreSource(s), f"{to_str(root)}/a.txt"))
    assert cid == {e.name: e.cid for e in sync_ls(s, root)}["a.txt"]
    assert name == "a.txt"
    out = io.BytesIO()
    run(stream.get(stream.StoreSource(s), f"{to_str(root)}/a.txt", out))
    assert out.getvalue() == b"hello\n"
    with pytest.raises(DagError, match="is a directory"):
        run(stream.get(stream.StoreSource(s), root, io.BytesIO()))


def test_output_is_checked_before_anything_is_fetched(run: Any, tmp_path: Path) -> None:
    src = VirtualSource(4)
    with pytest.raises(FileNotFoundError):
        run(stream.get(src, src.root, tmp_path / "missing" / "out"))
    assert src.requests == 0


def test_an_interrupted_get_leaves_nothing(run: Any, tmp_path: Path) -> None:
    src = VirtualSource(400, delay=0.005)

    async def go() -> None:
        task = asyncio.ensure_future(stream.get(src, src.root, tmp_path / "out"))
        while src.requests < 40:
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.01)

    run(go())
    assert list(tmp_path.iterdir()) == []  # no output, no .part
    assert src.cancelled > 0 and src.inflight == 0  # the fetches ahead were cancelled too


def test_a_failing_source_fails_the_get_and_cleans_up(run: Any, tmp_path: Path) -> None:
    probe = VirtualSource(100)
    victim = next(c for c, i in probe.leaf.items() if i == 70)
    src = VirtualSource(100, fail=victim)
    with pytest.raises(BlockNotFoundError):
        run(stream.get(src, src.root, tmp_path / "out"))
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(DagError, match="at least one block"):
        run(stream.get(src, src.root, tmp_path / "x", window_blocks=0))


def test_the_window_asks_ahead_in_batches_not_a_scan_per_block(
        run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each look ahead walks the window's worth of upcoming blocks, so it must not happen for
    every block taken: it waits until an eighth of the window (in blocks or bytes) is free.
    Refilling whenever one block's bytes were free walked ~window/block entries per block.
    Everything is still fetched once, in order, within the window."""
    chunks, window = 1024, 128 * CHUNK
    src = VirtualSource(chunks, delay=0.0, width=512)
    steps = [0]
    upcoming = stream.Walker.upcoming

    def counted(self: Any) -> Any:
        for item in upcoming(self):
            steps[0] += 1
            yield item

    monkeypatch.setattr(stream.Walker, "upcoming", counted)
    stats: dict[str, int] = {}

    async def go() -> str:
        h = hashlib.sha256()
        async for chunk in stream.cat(src, src.root, window_bytes=window, stats=stats):
            h.update(chunk)
        return h.hexdigest()

    assert run(go()) == src.expected.hexdigest()
    assert src.requests == len(src.nodes) + chunks
    assert stats["peak_bytes"] <= window + MAX_BLOCK_SIZE
    # batched: 19,819 steps (~19 a block); a scan per block: 115,684 (~113)
    assert steps[0] < 40 * chunks, steps[0]
