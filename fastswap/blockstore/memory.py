"""An in-memory Blockstore (the protocol in `fastswap.blockstore.base`): tests, caches, the
virtual network. Not durable; not thread-safe beyond what the GIL gives single dict operations.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Self

from ..cid import to_str
from ..errors import BlockNotFoundError, BlockstoreError
from .base import check_cid, check_data, view_of, views_of

__all__ = ["MemoryBlockstore"]


def _key(cid: object) -> bytes:
    cid = check_cid(cid)
    return cid if type(cid) is bytes else bytes(cid)


class MemoryBlockstore:
    def __init__(self) -> None:
        self._blocks: dict[bytes, bytes] | None = {}
        self._bytes = 0

    def _d(self) -> dict[bytes, bytes]:
        if self._blocks is None:
            raise BlockstoreError("blockstore is closed; open a new one")
        return self._blocks

    def has(self, cid: bytes) -> bool:
        return _key(cid) in self._d()

    def get(self, cid: bytes) -> bytes:
        key = _key(cid)
        try:
            return self._d()[key]
        except KeyError:
            raise BlockNotFoundError(f"block {to_str(key)} not found") from None

    def view(self, cid: bytes) -> AbstractContextManager[memoryview]:
        return view_of(self.get(cid))

    def get_size(self, cid: bytes) -> int:
        return len(self.get(cid))

    def has_many(self, cids: Sequence[bytes]) -> list[bool]:
        d = self._d()
        return [_key(c) in d for c in cids]

    def get_sizes(self, cids: Sequence[bytes]) -> list[int | None]:
        d = self._d()
        out: list[int | None] = []
        for c in cids:
            data = d.get(_key(c))
            out.append(None if data is None else len(data))
        return out

    def get_many(self, cids: Sequence[bytes]) -> list[bytes | None]:
        d = self._d()
        return [d.get(_key(c)) for c in cids]

    @contextmanager
    def view_many(self, cids: Sequence[bytes]) -> Iterator[list[memoryview | None]]:
        with views_of(self.get_many(cids)) as views:
            yield views

    def put(self, cid: bytes, data: bytes | memoryview) -> None:
        d = self._d()
        key = _key(cid)
        check_data(data)
        if key not in d:
            data = bytes(data)
            d[key] = data
            self._bytes += len(data)

    def put_many(self, blocks: Iterable[tuple[bytes, bytes | memoryview]]) -> int:
        n = len(self._d())
        for cid, data in blocks:
            self.put(cid, data)
        return len(self._d()) - n

    def delete(self, cid: bytes) -> bool:
        data = self._d().pop(_key(cid), None)
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

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
