"""An in-memory Blockstore: tests, caches, the virtual network."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterable, Iterator

from ..errors import BlockNotFoundError, BlockstoreError
from ..cid import to_str


class MemoryBlockstore:
    def __init__(self) -> None:
        self._blocks: dict[bytes, bytes] | None = {}
        self._bytes = 0

    def _d(self) -> dict[bytes, bytes]:
        if self._blocks is None:
            raise BlockstoreError("blockstore is closed")
        return self._blocks

    def has(self, cid: bytes) -> bool:
        return cid in self._d()

    def get(self, cid: bytes) -> bytes:
        try:
            return self._d()[cid]
        except KeyError:
            raise BlockNotFoundError(f"block {to_str(cid)} not found") from None

    @contextmanager
    def view(self, cid: bytes) -> Iterator[memoryview]:
        mv = memoryview(self.get(cid))
        try:
            yield mv
        finally:
            mv.release()

    def get_size(self, cid: bytes) -> int:
        return len(self.get(cid))

    def put(self, cid: bytes, data: bytes | memoryview) -> None:
        d = self._d()
        if cid not in d:
            data = bytes(data)
            d[bytes(cid)] = data
            self._bytes += len(data)

    def put_many(self, blocks: Iterable[tuple[bytes, bytes | memoryview]]) -> int:
        n = len(self._d())
        for cid, data in blocks:
            self.put(cid, data)
        return len(self._d()) - n

    def delete(self, cid: bytes) -> bool:
        data = self._d().pop(cid, None)
        if data is None:
            return False
        self._bytes -= len(data)
        return True

    def cids(self) -> Iterator[bytes]:
        return iter(list(self._d()))

    def __iter__(self) -> Iterator[bytes]:
        return self.cids()

    def __len__(self) -> int:
        return len(self._d())

    def size_bytes(self) -> int:
        self._d()
        return self._bytes

    def close(self) -> None:
        self._blocks = None

    def __enter__(self) -> "MemoryBlockstore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
