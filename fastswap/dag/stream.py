"""Streaming UnixFS export over any block source: ``cat``, ``get``, ``ls`` and path resolution.

Spec: ipfs/specs ``UNIXFS.md`` (the walk itself is :class:`fastswap.dag.exporter.Walker`, the
same sans-IO code the local, synchronous exporter runs).

The source is anything with ``async def get(cid) -> bytes-like`` returning a *verified* block
(:class:`BlockSource`): the local repo (:class:`StoreSource`, which verifies), or a node that
fetches over Bitswap what the repo lacks. The exporter writes each file's bytes in order while
asking the source for the blocks it will need next, depth-first, through a bounded window:

* at most ``window_blocks`` blocks requested or received-but-not-yet-consumed, and
* at most ``window_bytes`` of them, counting a block by its link's Tsize until it arrives (for
  a leaf that is its size; a lying Tsize is corrected by the block's real length on arrival;
  a block that is a view of a larger buffer -- the message it came in -- counts as that
  buffer, once for all the blocks of the window that share it, since that is what it keeps),

so memory stays flat whatever the file size, and a slow writer slows the fetch (backpressure)
instead of filling memory. Requests go out in the order the bytes are needed, so the first
bytes are written while the rest is still in flight.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sys
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass
from typing import IO, Any, Protocol, runtime_checkable

from .._defaults import DAG_STREAM_WINDOW_BLOCKS, DAG_STREAM_WINDOW_BYTES, MAX_BLOCK_SIZE
from ..errors import DagError
from .exporter import (
    End,
    Event,
    LsEntry,
    Start,
    Steps,
    TreeWriter,
    Walker,
    _shown,
    load_block,
    ls_steps,
    resolve_steps,
)

__all__ = [
    "BlockSource",
    "GetResult",
    "StoreSource",
    "cat",
    "get",
    "ls",
    "resolve",
    "walk",
]


@runtime_checkable
class BlockSource(Protocol):
    """Where the streaming exporter gets blocks. ``get`` returns the block's data, verified
    against *cid* (the exporter does not hash again), or raises (BlockNotFoundError,
    FetchTimeoutError, ...). It is called for many CIDs at once, up to the window. A source
    may also have ``request(cids) -> list[asyncio.Future]`` (``get`` for many blocks at once,
    as :class:`fastswap.fetch.NodeSource` has): the window then asks for each batch in one
    call rather than through a task per block."""

    async def get(self, cid: bytes) -> bytes | memoryview: ...


class StoreSource:
    """Blocks from a local blockstore, each verified against its CID (``fastswap get`` when
    every block is local; the store may have been corrupted on disk)."""

    def __init__(self, store: Any) -> None:
        self.store = store

    async def get(self, cid: bytes) -> bytes | memoryview:
        return load_block(self.store, cid)


class _Window:
    """Requests ahead of a walk: in need order, bounded in blocks and bytes (see module doc)."""

    def __init__(self, source: BlockSource, blocks: int, nbytes: int) -> None:
        if blocks < 1 or nbytes < 1:
            raise DagError("the fetch window must allow at least one block and one byte")
        self.source = source
        self.max_blocks = blocks
        self.max_bytes = nbytes
        #: requested blocks: their futures (None while counted but not yet requested)
        self.asked: dict[bytes, asyncio.Future[bytes | memoryview] | None] = {}
        self.batch: list[bytes] = []  # counted, to request
        self.cost: dict[bytes, int] = {}  # bytes each requested block counts for
        # id of a buffer that received blocks are views of -> [its size, blocks of ours in it]
        # (the buffer counts once, from its first block's arrival to its last one's take)
        self.shared: dict[int, list[int]] = {}
        self.pinned: dict[bytes, int] = {}  # block -> id of the buffer it is a view of
        self.used = 0
        self.peak_blocks = 0
        self.peak_bytes = 0

    def _launch(self, cid: bytes, hint: int | None) -> None:
        """Count *cid* in the window; :meth:`_request` asks the source for it."""
        cost = MAX_BLOCK_SIZE if hint is None else max(1, min(hint, MAX_BLOCK_SIZE))
        self.asked[cid] = None
        self.batch.append(cid)
        self.cost[cid] = cost
        self.used += cost
        self.peak_blocks = max(self.peak_blocks, len(self.asked))
        self.peak_bytes = max(self.peak_bytes, self.used)

    def _request(self) -> None:
        """Ask the source for the blocks :meth:`_launch` counted: in one call if it takes
        many at once (``request``), else a task per block."""
        batch, self.batch = self.batch, []
        if not batch:
            return
        request = getattr(self.source, "request", None)
        try:
            if request is not None:
                futs = request(batch)
            else:
                futs = [asyncio.ensure_future(self.source.get(c)) for c in batch]
        except BaseException:
            for cid in batch:
                del self.asked[cid]
                self.used -= self.cost.pop(cid)
            raise
        for cid, fut in zip(batch, futs):
            fut.add_done_callback(functools.partial(self._arrived, cid))
            self.asked[cid] = fut

    def _arrived(self, cid: bytes, fut: asyncio.Future[Any]) -> None:
        # count what arrived by its real size from now on
        if cid not in self.cost or fut.cancelled() or fut.exception() is not None:
            return
        data = fut.result()
        real = len(data)
        base = data.obj if isinstance(data, memoryview) else None
        if base is not None and len(base) > real:  # type: ignore[arg-type]
            key = id(base)
            rec = self.shared.get(key)
            if rec is None:
                self.shared[key] = [len(base), 1]  # type: ignore[arg-type]
                real = len(base)  # type: ignore[arg-type]
            else:
                rec[1] += 1
                real = 0
            self.pinned[cid] = key
        self.used += real - self.cost[cid]
        self.cost[cid] = 0 if cid in self.pinned else real
        self.peak_bytes = max(self.peak_bytes, self.used)

    def _release(self, cid: bytes) -> None:
        self.used -= self.cost.pop(cid)
        key = self.pinned.pop(cid, None)
        if key is not None:
            rec = self.shared[key]
            rec[1] -= 1
            if not rec[1]:
                del self.shared[key]
                self.used -= rec[0]

    def _top_up(self, walker: Walker) -> None:
        try:
            self._scan(walker)
        finally:
            self._request()

    def _scan(self, walker: Walker) -> None:
        ahead = walker.upcoming()
        for cid, hint in ahead:  # the block needed now comes first: always asked for
            if cid not in self.asked:
                self._launch(cid, hint)
            break
        room = self.max_blocks - len(self.asked)
        # scan ahead only once a batch of room is free, in blocks and in bytes: each scan
        # costs a pass over the window. (Refilling whenever one block's bytes were free
        # scanned the ~128 blocks already asked for on every block taken: 115,684 steps of
        # Walker.upcoming for a 1,024-block file, against 19,819 batched.)
        if (room < max(1, self.max_blocks // 8)
                or self.used > self.max_bytes - max(1, self.max_bytes // 8)):
            return
        # blocks further ahead than the window is wide cannot be held anyway: stop there, so a
        # scan costs O(window) even when everything in reach is already asked for
        for _, (cid, hint) in zip(range(self.max_blocks), ahead):
            if cid in self.asked:
                continue
            if room <= 0 or self.used >= self.max_bytes:
                break
            self._launch(cid, hint)
            room -= 1

    async def take(self, walker: Walker) -> bytes | memoryview:
        """The block the walker needs now (requesting it and the next ones first)."""
        self._top_up(walker)
        cid = walker.needed
        assert cid is not None
        fut = self.asked[cid]
        assert fut is not None
        try:
            return await fut
        finally:
            if fut.done():
                del self.asked[cid]
                self._release(cid)

    def cancel(self) -> None:
        for fut in self.asked.values():
            if fut is not None:
                fut.cancel()
        self.batch.clear()
        self.asked.clear()
        self.cost.clear()
        self.shared.clear()
        self.pinned.clear()
        self.used = 0


async def run_steps(source: BlockSource, steps: Steps, *, window_blocks: int) -> Any:
    """Drive a step generator (:func:`~fastswap.dag.exporter.resolve_steps`, ...) with blocks
    from *source*, at most *window_blocks* requests in flight; its return value."""
    limit = asyncio.Semaphore(window_blocks)

    async def one(cid: bytes) -> bytes | memoryview:
        async with limit:
            return await source.get(cid)

    try:
        want = next(steps)
        while True:
            blocks = await asyncio.gather(*(one(c) for c in want))
            want = steps.send(list(blocks))
    except StopIteration as stop:
        return stop.value


async def resolve(
    source: BlockSource, path: str | bytes, *, window_blocks: int = DAG_STREAM_WINDOW_BLOCKS
) -> tuple[bytes, str]:
    """(CID, name) that the UnixFS path ``CID/a/b`` names, fetching only the blocks on the way."""
    return await run_steps(source, resolve_steps(path), window_blocks=window_blocks)  # type: ignore[no-any-return]


async def ls(
    source: BlockSource,
    path: str | bytes,
    *,
    resolve_types: bool = True,
    window_blocks: int = DAG_STREAM_WINDOW_BLOCKS,
) -> list[LsEntry]:
    """The entries of the directory at *path* (``ipfs ls``), children's roots read in one
    window-bounded batch when *resolve_types*."""
    steps = ls_steps(path, resolve_types=resolve_types)
    return await run_steps(source, steps, window_blocks=window_blocks)  # type: ignore[no-any-return]


async def walk(
    source: BlockSource,
    path: str | bytes,
    *,
    name: str = "",
    window_blocks: int = DAG_STREAM_WINDOW_BLOCKS,
    window_bytes: int = DAG_STREAM_WINDOW_BYTES,
    stats: dict[str, int] | None = None,
    **limits: Any,
) -> AsyncGenerator[Event, None]:
    """Walk what *path* names, yielding events in write order while fetching ahead.

    *stats*, if given, receives ``peak_blocks``/``peak_bytes`` of the window when the walk ends.
    Close the iterator (``contextlib.aclosing``) when stopping early: that cancels the fetches.
    """
    cid, _ = await resolve(source, path, window_blocks=window_blocks)
    walker = Walker(cid, name=name, **limits)
    window = _Window(source, window_blocks, window_bytes)
    try:
        for ev in walker.start():
            yield ev
        while walker.needed is not None:
            data = await window.take(walker)
            for ev in walker.feed(data):
                yield ev
    finally:
        window.cancel()
        if stats is not None:
            stats["peak_blocks"] = window.peak_blocks
            stats["peak_bytes"] = window.peak_bytes


async def cat(
    source: BlockSource, path: str | bytes, **options: Any
) -> AsyncGenerator[memoryview | bytes, None]:
    """The bytes of the file at *path*, in order, as they can be written (see :func:`walk`).

    DagError if *path* is a directory or symlink. A memoryview is valid until the next
    iteration; write or copy it first.
    """
    async with aclosing(walk(source, path, **options)) as events:
        async for ev in events:
            if isinstance(ev, Start):
                if ev.kind != "file":
                    raise DagError(f"{_shown(path)} is a {ev.kind}, not a file: use ls or get")
            elif not isinstance(ev, End):
                yield ev


@dataclass(slots=True)
class GetResult:
    """What :func:`get` wrote."""

    kind: str = ""
    files: int = 0
    directories: int = 0
    bytes: int = 0
    #: the block source read (set by callers that count, e.g. ``Node.get``: NodeSource)
    source: Any = None


async def get(
    source: BlockSource,
    path: str | bytes,
    dest: str | os.PathLike[str] | IO[bytes] | TreeWriter,
    **options: Any,
) -> GetResult:
    """Write the file, directory tree or symlink at *path* to *dest*, streaming.

    *dest* is a path (see :class:`~fastswap.dag.exporter.TreeWriter`: it is checked writable
    before anything is fetched, written under a temporary ``.part`` name and moved into place
    at the end; an error or cancellation leaves nothing behind), an opened TreeWriter (the
    caller closes it), or a binary file object such as ``sys.stdout.buffer``, which takes a
    file's bytes only (a directory is an error).
    """
    if isinstance(dest, TreeWriter):
        async with aclosing(walk(source, path, **options)) as events:
            async for ev in events:
                dest.handle(ev)
        kind = "directory" if dest.directories else "file" if dest.files else "symlink"
        return GetResult(kind, dest.files, dest.directories, dest.bytes)
    if isinstance(dest, (str, os.PathLike)) and os.fspath(dest) != "-":
        with TreeWriter(dest) as writer:
            return await get(source, path, writer, **options)
    out: IO[bytes] = dest if hasattr(dest, "write") else sys.stdout.buffer  # type: ignore[assignment]
    result = GetResult("file", 1)
    async with aclosing(cat(source, path, **options)) as chunks:
        async for chunk in chunks:
            out.write(chunk)
            result.bytes += len(chunk)
    out.flush()
    return result
