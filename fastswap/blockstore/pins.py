"""The pin set of a repo: the roots whose DAGs ``fastswap repo gc`` keeps (Kubo's recursive
pins). Roots added or fetched are pinned; everything no pin reaches (an interrupted import's
leftovers, unpinned content) is garbage.

Kept in its own small LMDB environment, ``<repo>/pins`` (crash-safe like the blockstore, and
apart from it so the blockstore's format does not change), with two databases:

* ``pins``: binary root CID -> JSON ``{"name": ..., "pinned_at": unix seconds}``;
* ``sources``: absolute path of an imported file or directory -> JSON ``{"cid": text CID,
  "size": bytes, "mtime_ns": ..., "settings": importer settings}``, so ``fastswap seed PATH``
  re-hashes a file only when it changed (or ``--reimport`` asks).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any, Self

import lmdb

from ..cid import parse, to_str
from ..errors import RepoError

__all__ = ["PinStore"]

_MAP_SIZE = 64 * 1024 * 1024  # ~300k pins with their sources; grown on demand
_MAX_MAP_SIZE = 1 << 34


class PinStore:
    """``with PinStore(repo) as pins:`` -- add, remove and list pinned roots (see module doc)."""

    def __init__(self, repo: str | os.PathLike[str]) -> None:
        path = os.path.join(os.fspath(repo), "pins")
        try:
            os.makedirs(path, exist_ok=True)
            self._env = lmdb.open(path, map_size=_MAP_SIZE, max_dbs=2, subdir=True,
                                  lock=True, sync=True, metasync=True)
        except (OSError, lmdb.Error) as exc:
            raise RepoError(f"cannot open the pin set at {path}: {exc}") from None
        self._pins = self._env.open_db(b"pins")
        self._sources = self._env.open_db(b"sources")
        self.path = path

    def _write(self, fn: Any) -> Any:
        while True:
            try:
                with self._env.begin(write=True) as txn:
                    return fn(txn)
            except lmdb.MapFullError:
                size = self._env.info()["map_size"] * 2
                if size > _MAX_MAP_SIZE:
                    raise RepoError(f"the pin set at {self.path} is full") from None
                self._env.set_mapsize(size)

    # -- pins -----------------------------------------------------------------------------

    def add(self, cid: bytes | str, name: str = "") -> None:
        """Pin *cid* (idempotent; a later name replaces an earlier one)."""
        key = parse(cid)
        value = json.dumps({"name": name, "pinned_at": int(time.time())}).encode()
        self._write(lambda txn: txn.put(key, value, db=self._pins))

    def remove(self, cid: bytes | str) -> bool:
        """Unpin *cid*; False if it was not pinned."""
        key = parse(cid)
        return bool(self._write(lambda txn: txn.delete(key, db=self._pins)))

    def __contains__(self, cid: object) -> bool:
        if not isinstance(cid, (bytes, str)):
            return False
        with self._env.begin() as txn:
            return txn.get(parse(cid), db=self._pins) is not None

    def __iter__(self) -> Iterator[bytes]:
        with self._env.begin() as txn:
            keys = [bytes(k) for k in txn.cursor(db=self._pins).iternext(values=False)]
        return iter(keys)

    def __len__(self) -> int:
        with self._env.begin() as txn:
            return int(txn.stat(self._pins)["entries"])

    def items(self) -> list[tuple[bytes, dict[str, Any]]]:
        """Every pin with its record, in CID byte order."""
        with self._env.begin() as txn:
            return [(bytes(k), json.loads(bytes(v)))
                    for k, v in txn.cursor(db=self._pins).iternext()]

    # -- import sources -------------------------------------------------------------------

    def source(self, path: str | os.PathLike[str]) -> dict[str, Any] | None:
        """What the last import of *path* recorded (None if never imported)."""
        key = os.path.abspath(os.fspath(path)).encode()
        with self._env.begin() as txn:
            raw = txn.get(key, db=self._sources)
        return None if raw is None else json.loads(bytes(raw))

    def record_source(self, path: str | os.PathLike[str], cid: bytes, size: int,
                      mtime_ns: int, settings: dict[str, Any]) -> None:
        key = os.path.abspath(os.fspath(path)).encode()
        value = json.dumps({"cid": to_str(cid), "size": size, "mtime_ns": mtime_ns,
                            "settings": settings}, sort_keys=True).encode()
        self._write(lambda txn: txn.put(key, value, db=self._sources))

    # -- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        self._env.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
