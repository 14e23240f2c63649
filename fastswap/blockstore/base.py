"""The Blockstore protocol every store implements (LMDB, memory).

Keys are binary CID bytes. Stores do not hash: callers verify blocks before ``put`` (the network
layer always does). ``put`` is durable against a crash of this process once it returns.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Iterable, Iterator, Protocol, runtime_checkable


@runtime_checkable
class Blockstore(Protocol):
    def has(self, cid: bytes) -> bool:
        """True if the block is stored."""

    def get(self, cid: bytes) -> bytes:
        """A copy of the block's data; BlockNotFoundError if absent."""

    def view(self, cid: bytes) -> AbstractContextManager[memoryview]:
        """Zero-copy access: ``with store.view(cid) as mv:``; *mv* is invalid after the block."""

    def get_size(self, cid: bytes) -> int:
        """The block's size in bytes; BlockNotFoundError if absent."""

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
        """Release resources; further use raises BlockstoreError."""
