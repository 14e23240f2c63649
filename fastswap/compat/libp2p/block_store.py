"""Block stores with the names and call shapes of py-libp2p 0.8.1's ``libp2p.bitswap.block_store``:
the ``BlockStore`` base class (async ``get_block``/``put_block``/``has_block``/``delete_block``,
``get_all_cids``), ``MemoryBlockStore`` and ``FilesystemBlockStore`` (py-libp2p's on-disk layout:
``<base>/<first 2 chars of the CID text>/<the rest>``, the text being py-cid's ``str(cid)``), plus
``LmdbBlockStore``: blocks in fastswap's LMDB store (``fastswap.blockstore``).

fastswap's drivers serve blocks straight from the synchronous fastswap ``Blockstore`` behind the
three stores here (``_blockstore()``: zero-copy LMDB reads, no task switch per block). Any other
``BlockStore`` (a subclass of the caller's, or py-libp2p's own ``MemoryBlockStore``) is used
through its async methods only; see ``fastswap/compat/_trio.py``.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import trio

from ...blockstore import MemoryBlockstore, open_blockstore
from ...blockstore.base import check_cid, check_data, view_of, views_of
from ...cid import to_str
from ...errors import BlockNotFoundError
from .cid import CIDInput, cid_to_bytes, parse_cid

__all__ = ["BlockStore", "FilesystemBlockStore", "LmdbBlockStore", "MemoryBlockStore"]


class BlockStore(ABC):
    """Where a BitswapClient keeps blocks: async access by CID (bytes, text or CID object)."""

    @abstractmethod
    async def get_block(self, cid: CIDInput) -> bytes | None:
        """The block's data, or None."""

    @abstractmethod
    async def put_block(self, cid: CIDInput, data: bytes) -> None:
        """Store a block (the caller has verified it)."""

    @abstractmethod
    async def has_block(self, cid: CIDInput) -> bool: ...

    @abstractmethod
    async def delete_block(self, cid: CIDInput) -> None: ...

    @abstractmethod
    def get_all_cids(self) -> list[bytes]:
        """Every stored CID, as binary CID bytes."""

    def _blockstore(self) -> Any:
        """The synchronous fastswap Blockstore holding these blocks, or None (the default)
        when the store can only be reached through its async methods."""
        return None


class _SyncBacked(BlockStore):
    """A BlockStore over a synchronous fastswap Blockstore (``self._store``)."""

    _store: Any

    async def get_block(self, cid: CIDInput) -> bytes | None:
        # get_many answers None for a missing block; get() would raise, naming the CID in
        # text: 0.3 ms a miss, 0.6 s of a 2,000-block get_blocks_batch's local check
        data = self._store.get_many([cid_to_bytes(cid)])[0]
        return None if data is None else bytes(data)

    async def put_block(self, cid: CIDInput, data: bytes) -> None:
        self._store.put(cid_to_bytes(cid), data)

    async def has_block(self, cid: CIDInput) -> bool:
        return bool(self._store.has(cid_to_bytes(cid)))

    async def delete_block(self, cid: CIDInput) -> None:
        self._store.delete(cid_to_bytes(cid))

    def get_all_cids(self) -> list[bytes]:
        return [bytes(c) for c in self._store.cids()]

    def size(self) -> int:
        """The number of blocks stored."""
        return len(self._store)

    def _blockstore(self) -> Any:
        return self._store


class MemoryBlockStore(_SyncBacked):
    """Blocks in memory (fastswap's ``MemoryBlockstore``)."""

    def __init__(self) -> None:
        self._store = MemoryBlockstore()


class LmdbBlockStore(_SyncBacked):
    """Blocks in fastswap's LMDB store at ``<repo>/blocks`` (durable, zero-copy serving): the
    drop-in's fastest store. ``close()`` releases it."""

    def __init__(self, repo: str | os.PathLike[str]) -> None:
        self._store = open_blockstore(repo)

    def close(self) -> None:
        self._store.close()


class _FilesystemBlockstore:
    """fastswap's Blockstore protocol over py-libp2p's file-per-block layout (sync, so the
    drivers can serve from it; the async API below runs it in a worker thread)."""

    def __init__(self, base: Path) -> None:
        self.base = base

    def path(self, cid: bytes) -> Path:
        text = str(parse_cid(bytes(check_cid(cid))))
        return self.base / text[:2] / text[2:]

    def has(self, cid: bytes) -> bool:
        return self.path(cid).is_file()

    def _read(self, cid: bytes) -> bytes | None:
        try:
            return self.path(cid).read_bytes()
        except FileNotFoundError:
            return None

    def _size(self, cid: bytes) -> int | None:
        try:
            return self.path(cid).stat().st_size
        except FileNotFoundError:
            return None

    def get(self, cid: bytes) -> bytes:
        data = self._read(cid)
        if data is None:
            raise BlockNotFoundError(f"block {to_str(cid)} not found")
        return data

    def view(self, cid: bytes) -> AbstractContextManager[memoryview]:
        return view_of(self.get(cid))

    def get_size(self, cid: bytes) -> int:
        size = self._size(cid)
        if size is None:
            raise BlockNotFoundError(f"block {to_str(cid)} not found")
        return size

    def has_many(self, cids: Sequence[bytes]) -> list[bool]:
        return [self.has(c) for c in cids]

    def get_sizes(self, cids: Sequence[bytes]) -> list[int | None]:
        # no exception per missing block: its message names the CID in text (0.3 ms)
        return [self._size(c) for c in cids]

    def get_many(self, cids: Sequence[bytes]) -> list[bytes | None]:
        return [self._read(c) for c in cids]

    @contextmanager
    def view_many(self, cids: Sequence[bytes]) -> Iterator[list[memoryview | None]]:
        with views_of(self.get_many(cids)) as views:
            yield views

    def put(self, cid: bytes, data: bytes | memoryview) -> None:
        path = self.path(cid)
        data = check_data(data)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)  # atomic: a reader never sees half a block

    def put_many(self, blocks: Iterable[tuple[bytes, bytes | memoryview]]) -> int:
        n = 0
        for cid, data in blocks:
            if not self.has(cid):
                n += 1
            self.put(cid, data)
        return n

    def delete(self, cid: bytes) -> bool:
        try:
            self.path(cid).unlink()
        except FileNotFoundError:
            return False
        return True

    def cids(self) -> Iterator[bytes]:
        if not self.base.is_dir():
            return
        for sub in self.base.iterdir():
            if not sub.is_dir():
                continue
            for entry in sub.iterdir():
                if not entry.is_file() or entry.suffix == ".tmp":
                    continue
                try:
                    yield bytes(parse_cid(sub.name + entry.name).buffer)
                except ValueError:
                    continue  # not a block file

    def __len__(self) -> int:
        return sum(1 for _ in self.cids())

    def size_bytes(self) -> int:
        return sum(self.get_size(c) for c in self.cids())

    def close(self) -> None:
        pass


class FilesystemBlockStore(BlockStore):
    """One file per block under *base_path* (created if missing), in py-libp2p's layout, so a
    directory written by either library is read by the other. Writes are atomic (temporary
    file, then rename)."""

    def __init__(self, base_path: str | Path) -> None:
        self._path = Path(base_path)
        self._path.mkdir(parents=True, exist_ok=True)
        self._store = _FilesystemBlockstore(self._path)

    def _cid_to_path(self, cid: CIDInput) -> Path:
        return self._store.path(cid_to_bytes(cid))

    async def get_block(self, cid: CIDInput) -> bytes | None:
        return await trio.to_thread.run_sync(self._store._read, cid_to_bytes(cid))

    async def put_block(self, cid: CIDInput, data: bytes) -> None:
        await trio.to_thread.run_sync(self._store.put, cid_to_bytes(cid), data)

    async def has_block(self, cid: CIDInput) -> bool:
        return await trio.to_thread.run_sync(self._store.has, cid_to_bytes(cid))

    async def delete_block(self, cid: CIDInput) -> None:
        await trio.to_thread.run_sync(self._store.delete, cid_to_bytes(cid))

    def get_all_cids(self) -> list[bytes]:
        return list(self._store.cids())

    def size(self) -> int:
        return len(self._store)

    def base_path(self) -> Path:
        return self._path

    def _blockstore(self) -> Any:
        return self._store
