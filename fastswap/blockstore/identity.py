"""The identity layer: a Blockstore that answers identity CIDs from the CID itself.

Spec: multiformats multihash, code ``0x00`` (identity): the "digest" is the data, so a CID with
that multihash carries its whole block. Such a block is never stored and never fetched: Kubo's
blockstore (go-ipfs-blockstore ``idstore``) and Helia's (``IdentityBlockstore``) answer ``has``
and ``get`` for it from the CID and treat a put as a no-op, and Kubo's Bitswap server treats a
want for one as a broken client and drops the connection. fastswap does the same one layer
down from everything that reads blocks, so the DAG walkers, the fetch sessions (which then never
want such a CID: it is "already stored") and the server (which answers a peer's want for one
from the CID) all see it, whatever store sits below.

:func:`with_identity` wraps a store once (``fastswap.Node`` and the CLI do it). Every read
answers identity CIDs from the CID (a malformed one raises CIDError, as a bad key would) and
passes the rest to the store below in one call, so a batch keeps its single snapshot; a batch
without identity CIDs -- nearly all of them -- is handed down untouched. Writes drop identity
blocks (there is nothing to keep); ``delete`` of one is False. ``cids()``, ``len()`` and
``size_bytes()`` count what the store below holds. Anything else (``flush``, ``path``,
``map_size``...) is the store below's.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Self

from ..cid import identity_data, is_identity
from .base import check_cid, view_of

__all__ = ["IdentityBlockstore", "with_identity"]


def _inline(cid: Any) -> bytes | None:
    """The data of identity CID *cid*, None for any other key (the store below checks those).

    Every read asks this, the server's for every wantlist: two byte reads rule out nearly every
    CID (a CIDv0; a CIDv1 with a one-byte codec and a real hash) before a full look."""
    try:
        if cid[0] != 1 or (cid[2] and not cid[1] & 0x80):
            return None
    except (TypeError, IndexError):
        return None  # not a CID at all: the store below refuses it
    cid = check_cid(cid)
    return identity_data(cid) if is_identity(cid) else None


class IdentityBlockstore:
    """A Blockstore over *store* that resolves identity CIDs itself (see the module docstring).
    Closing it closes *store*."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def __getattr__(self, name: str) -> Any:
        # the store's own extras (flush, path, map_size, closed...); only called for names
        # this class does not define
        if name == "store":  # not set yet (unpickling, a failed __init__): no recursion
            raise AttributeError(name)
        return getattr(self.store, name)

    def _split(self, cids: Sequence[bytes]) -> dict[int, bytes]:
        """Positions of the identity CIDs in *cids* -> their data (usually empty)."""
        out: dict[int, bytes] = {}
        for i, c in enumerate(cids):
            try:  # _inline's first test, inlined: a call per CID costs as much as the test
                if c[0] != 1 or (c[2] and not c[1] & 0x80):
                    continue
            except (TypeError, IndexError):
                continue
            data = _inline(c)
            if data is not None:
                out[i] = data
        return out

    def _below(self, cids: Sequence[bytes], inline: dict[int, Any],
               fn: Any) -> list[Any]:
        """``fn(rest)`` of the store below for the CIDs of *cids* not in *inline*, with
        *inline*'s answers put back in their places."""
        rest = [c for i, c in enumerate(cids) if i not in inline]
        it = iter(fn(rest) if rest else ())
        return [inline[i] if i in inline else next(it) for i in range(len(cids))]

    # -- reads -----------------------------------------------------------------------------

    def has(self, cid: bytes) -> bool:
        return True if _inline(cid) is not None else bool(self.store.has(cid))

    def __contains__(self, cid: object) -> bool:
        return self.has(cid)  # type: ignore[arg-type]

    def get(self, cid: bytes) -> bytes:
        data = _inline(cid)
        return data if data is not None else self.store.get(cid)

    def get_size(self, cid: bytes) -> int:
        data = _inline(cid)
        return len(data) if data is not None else int(self.store.get_size(cid))

    def view(self, cid: bytes) -> AbstractContextManager[memoryview]:
        data = _inline(cid)
        if data is None:
            return self.store.view(cid)
        return view_of(data)

    def has_many(self, cids: Sequence[bytes]) -> list[bool]:
        inline = self._split(cids)
        if not inline:
            return self.store.has_many(cids)
        return self._below(cids, dict.fromkeys(inline, True), self.store.has_many)

    def get_sizes(self, cids: Sequence[bytes]) -> list[int | None]:
        inline = self._split(cids)
        if not inline:
            return self.store.get_sizes(cids)
        return self._below(cids, {i: len(d) for i, d in inline.items()}, self.store.get_sizes)

    def get_many(self, cids: Sequence[bytes]) -> list[bytes | None]:
        inline = self._split(cids)
        if not inline:
            return self.store.get_many(cids)
        return self._below(cids, inline, self.store.get_many)

    def view_many(
        self, cids: Sequence[bytes]
    ) -> AbstractContextManager[list[memoryview | None]]:
        inline = self._split(cids)
        if not inline:
            return self.store.view_many(cids)
        return self._view_many(cids, inline)

    @contextmanager
    def _view_many(self, cids: Sequence[bytes], inline: dict[int, bytes]
                   ) -> Iterator[list[memoryview | None]]:
        mine = {i: memoryview(d) for i, d in inline.items()}
        rest = [c for i, c in enumerate(cids) if i not in inline]
        try:
            # the store below's views live as long as this block, in one snapshot
            with self.store.view_many(rest) as below:
                yield self._below(cids, mine, lambda _rest: below)
        finally:
            for mv in mine.values():
                mv.release()

    # -- writes ----------------------------------------------------------------------------

    def put(self, cid: bytes, data: bytes | memoryview) -> None:
        if _inline(cid) is None:
            self.store.put(cid, data)

    def put_many(self, blocks: Iterable[tuple[bytes, bytes | memoryview]]) -> int:
        return int(self.store.put_many(_stored(blocks)))

    def _put_groups(self, groups: Sequence[Iterable[tuple[bytes, Any]]]) -> list[int]:
        """AsyncBlockstore's group commit (LMDBBlockstore._put_groups), identity blocks left
        out; one put_many per group for a store below without it."""
        below = getattr(self.store, "_put_groups", None)
        if below is not None:
            return list(below([_stored(g) for g in groups]))
        return [int(self.store.put_many(_stored(g))) for g in groups]

    def delete(self, cid: bytes) -> bool:
        return False if _inline(cid) is not None else bool(self.store.delete(cid))

    # -- the rest: the store below's -------------------------------------------------------

    def cids(self) -> Iterator[bytes]:
        return self.store.cids()

    def __iter__(self) -> Iterator[bytes]:
        return self.store.cids()

    def __len__(self) -> int:
        return len(self.store)

    def size_bytes(self) -> int:
        return int(self.store.size_bytes())

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<IdentityBlockstore over {self.store!r}>"


def _stored(blocks: Iterable[tuple[bytes, Any]]) -> Iterator[tuple[bytes, Any]]:
    """The blocks of *blocks* a store keeps: all but identity ones (their data is the CID)."""
    for item in blocks:
        if _inline(item[0]) is None:  # (a malformed identity CID is refused like any bad key)
            yield item



def with_identity(store: Any) -> IdentityBlockstore:
    """*store* with identity CIDs answered from the CID (*store* itself if it already is)."""
    return store if isinstance(store, IdentityBlockstore) else IdentityBlockstore(store)
