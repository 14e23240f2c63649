"""The Blockstore protocol every store implements (LMDB, memory).

Keys are binary CID bytes (multiformats CID, as carried by ipfs/specs bitswap-protocol); values
are the block data. Stores do not hash: callers verify blocks before ``put`` (the network layer
always does, `fastswap.cid.verify_block`). ``put`` is durable against a crash of this process
once it returns.

Batch reads (``has_many``, ``get_sizes``, ``get_many``, ``view_many``) exist for the decision
engine, which answers a whole wantlist at once: a store can serve them from one snapshot (one
LMDB read transaction) instead of one per CID.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol, runtime_checkable

from .._defaults import MAX_CID_SIZE
from ..errors import CIDError

__all__ = ["Blockstore", "check_cid", "check_data", "view_of", "views_of"]


@runtime_checkable
class Blockstore(Protocol):
    def has(self, cid: bytes) -> bool:
        """True if the block is stored."""

    def get(self, cid: bytes) -> bytes:
        """A copy of the block's data; BlockNotFoundError if absent."""

    def view(self, cid: bytes) -> AbstractContextManager[memoryview]:
        """Zero-copy access: ``with store.view(cid) as mv:``; *mv* is released after the block
        (using it afterwards raises ValueError). Slices of *mv* share its lifetime: do not keep
        them, copy what must outlive the block."""

    def get_size(self, cid: bytes) -> int:
        """The block's size in bytes; BlockNotFoundError if absent."""

    def has_many(self, cids: Sequence[bytes]) -> list[bool]:
        """``[has(c) for c in cids]`` from one consistent snapshot."""

    def get_sizes(self, cids: Sequence[bytes]) -> list[int | None]:
        """Each block's size, None where absent, from one consistent snapshot."""

    def get_many(self, cids: Sequence[bytes]) -> list[bytes | None]:
        """Copies of many blocks, None where absent, from one consistent snapshot."""

    def view_many(
        self, cids: Sequence[bytes]
    ) -> AbstractContextManager[list[memoryview | None]]:
        """Zero-copy views of many blocks (None where absent), all released after the block."""

    def put(self, cid: bytes, data: bytes | memoryview) -> None:
        """Store one block (a no-op if it is already there)."""

    def put_many(self, blocks: Iterable[tuple[bytes, bytes | memoryview]]) -> int:
        """Store many blocks in as few transactions as sensible; return how many were new."""

    def delete(self, cid: bytes) -> bool:
        """Remove a block; True if it was there."""

    def cids(self) -> Iterator[bytes]:
        """Every stored CID (order unspecified)."""

    def __len__(self) -> int:
        """Number of blocks."""

    def size_bytes(self) -> int:
        """Total bytes of block data stored."""

    def close(self) -> None:
        """Release resources (idempotent); further use raises BlockstoreError."""


_BUFFER_TYPES = (bytes, bytearray, memoryview)


def check_cid(cid: object) -> bytes | bytearray | memoryview:
    """Refuse what cannot be a binary CID key before it reaches a store.

    Only the type and the length are checked (cheap, and what a B-tree key needs); the stores
    do not parse CIDs, callers that take CIDs from outside use `fastswap.cid.parse`.
    """
    if not isinstance(cid, _BUFFER_TYPES):
        raise CIDError(
            f"a blockstore key must be binary CID bytes, not {type(cid).__name__}; "
            "convert text with fastswap.cid.parse()"
        )
    n = len(cid)
    if n == 0 or n > MAX_CID_SIZE:
        raise CIDError(f"a CID of {n} bytes cannot be a blockstore key (1..{MAX_CID_SIZE} bytes)")
    return cid


def check_data(data: object) -> bytes | bytearray | memoryview:
    """Refuse block data that is not a bytes-like object."""
    if not isinstance(data, _BUFFER_TYPES):
        raise TypeError(f"block data must be bytes-like, not {type(data).__name__}")
    return data


@contextmanager
def view_of(data: bytes) -> Iterator[memoryview]:
    """A view of an in-memory block, released when the block ends (see :func:`views_of`)."""
    mv = memoryview(data)
    try:
        yield mv
    finally:
        mv.release()


@contextmanager
def views_of(datas: Sequence[bytes | None]) -> Iterator[list[memoryview | None]]:
    """Views of in-memory blocks (None stays None), released when the block ends: ``view`` and
    ``view_many`` of a store whose reads return ``bytes`` (a released view cannot outlive its
    ``with``, as an LMDB view cannot outlive its read transaction)."""
    views = [None if d is None else memoryview(d) for d in datas]
    try:
        yield views
    finally:
        for mv in views:
            if mv is not None:
                mv.release()
