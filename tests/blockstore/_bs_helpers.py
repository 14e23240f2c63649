"""Helpers shared by the blockstore tests (a module name of its own: tests/ has no packages)."""

from __future__ import annotations

import random
from typing import Any

from fastswap.blockstore import IdentityBlockstore, LMDBBlockstore, MemoryBlockstore
from fastswap.cid import compute_cid


def make_blocks(n: int, size: int, seed: int = 0) -> list[tuple[bytes, bytes]]:
    """*n* distinct raw blocks of *size* bytes (sizes vary a little when size > 64)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        s = size if size <= 64 else size - rng.randrange(0, 64)
        data = rng.randbytes(s)
        out.append((compute_cid(data), data))
    return out


class StoreMaker:
    """Opens stores of one kind (memory, lmdb, or identity: the identity layer over lmdb); ``reopen()`` reopens the last one (LMDB: same directory)."""

    def __init__(self, kind: str, tmp_path: Any) -> None:
        self.kind = kind
        self.path = tmp_path / "blocks"
        self.opened: list[Any] = []

    @property
    def persistent(self) -> bool:
        return self.kind != "memory"

    def open(self, **kw: Any) -> Any:
        if self.kind == "memory":
            s: Any = MemoryBlockstore()
        elif self.kind == "identity":
            # the identity layer (what every Node and the CLI use) over LMDB: every protocol
            # test holds for it too
            s = IdentityBlockstore(LMDBBlockstore(self.path, **kw))
        else:
            s = LMDBBlockstore(self.path, **kw)
        self.opened.append(s)
        return s

    def close_all(self) -> None:
        for s in self.opened:
            s.close()
