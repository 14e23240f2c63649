"""The LMDB blockstore: fastswap's embedded default (the Blockstore protocol of
`fastswap.blockstore.base`, on py-lmdb).

Layout (one LMDB environment, three named databases, all updated in the same write txn):

* ``blocks``: binary CID -> block data.
* ``index``: binary CID -> block length (4 bytes, little endian). ``has``, ``get_size``,
  ``__len__`` and ``cids`` read only this. Why a second database rather than the value length
  of ``blocks``: py-lmdb faults in every page of a value it returns (its "preload", so the copy
  never page-faults with the GIL held), even with ``buffers=True``, so asking ``blocks`` for a
  256 KiB value's length reads 64 pages of data; on a store larger than RAM that is a disk read
  for every want-have the server answers. ``index`` keeps ~60 bytes per block, a dense tree
  that stays cached. It costs one small extra B-tree insert per put (see the benchmarks).
* ``meta``: ``format`` (the on-disk format marker, checked on open) and ``bytes`` (the total
  length of the stored blocks, 8 bytes little endian). Updated in the same txn as the blocks,
  so it is exact after any crash.

Durability (LMDB ``MDB_NOSYNC`` / ``MDB_NOMETASYNC``): a commit writes its pages to the file
with write() before it returns, so with ``sync=False`` (the default) a block whose ``put``
returned survives SIGKILL or any crash of this process: the kernel's page cache has it. It does
not promise survival of a power loss or a kernel crash: without fsync the last commits can be
lost and, because page order on disk is not guaranteed, the environment can be left corrupt.
``sync=True`` fsyncs data and meta pages at every commit (full ACID durability, at the cost of
one or two fsyncs per transaction: put_many and AsyncBlockstore's group commit amortize it), and
``flush()`` fsyncs once on demand (e.g. at the end of an import).

Batching: ``put_many`` (and AsyncBlockstore's group commit) puts many blocks in one write txn,
committing every ``batch_bytes`` (`_defaults.LMDB_BATCH_BYTES`). Without fsync, blocks over
2 KiB also commit every ``large_batch_bytes`` (256 KiB): LMDB mallocs such values per txn and a
big freed txn goes back to the OS, so the next one page-faults it all in again; one 256 KiB
block per txn measured ~5x faster than 64 per txn. Small blocks batch fully (the commit is the
cost there). With ``sync=True`` everything batches fully: the fsync is the cost.

The map grows instead of failing: a write that hits ``MDB_MAP_FULL`` is aborted, the map is
enlarged (doubled, or more when the batch needs it, up to ``max_map_size``) and the batch is
retried. ``mdb_env_set_mapsize`` remaps the file, which invalidates every pointer into the map;
only one thing may be running then: so every read txn in this process (and every zero-copy view)
holds a shared "gate" and the resize takes it exclusively, waiting for open views to end. A
growth by another process is adopted the same way when LMDB reports ``MDB_MAP_RESIZED``.

Threads: every method may be called from any thread. Writes (put, put_many, delete) are
serialized by a lock, and each write txn begins and commits within one call, so it stays on one
thread as LMDB requires. Reads run concurrently (py-lmdb opens the environment ``MDB_NOTLS``:
read txns are not bound to threads), each in a short read txn; reset read txns are reused
(``max_spare_txns``). ``lock=True`` is always on: other processes may open the same store.
Never hold a view across an ``await`` or while waiting for a writer: a map resize waits for it
(and gives up with BlockstoreError after ``LMDB_RESIZE_TIMEOUT_SECONDS``).
"""

from __future__ import annotations

import itertools
import os
import struct
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Self

import lmdb

from .. import _defaults
from ..cid import to_str
from ..errors import BlockNotFoundError, BlockstoreError, DiskFullError
from .base import check_cid, check_data

__all__ = ["FORMAT", "LMDBBlockstore"]

#: The on-disk format marker. Change it (and write a migration) when the layout changes.
FORMAT = b"fastswap-blockstore/1"

_DB_BLOCKS = b"blocks"
_DB_INDEX = b"index"
_DB_META = b"meta"
_META_FORMAT = b"format"
_META_BYTES = b"bytes"

_SIZE = struct.Struct("<I")
_TOTAL = struct.Struct("<Q")
_MAX_BLOCK = 0xFFFFFFFF  # what the 4-byte index value can hold
#: Values above this go to LMDB overflow pages (malloc'd per txn) rather than into a leaf page.
_LARGE_VALUE = 2048

#: Keys cids() reads per read txn: iteration never pins a snapshot (or the resize gate) for long.
_CIDS_CHUNK = 1024
#: Pages a write needs beyond its values' bytes (B-tree pages copied on write, the meta page):
#: a failed write with less free space than that was short of room.
_WRITE_MARGIN_PAGES = 64


class _Gate:
    """Shared (read txns, views) / exclusive (map remap, close) gate within this process.

    Exclusive waits for every shared holder to leave and stops new ones from entering; a thread
    that already holds the gate shared may enter again (nested views) without waiting, which
    would otherwise deadlock against a pending resize.
    """

    __slots__ = ("_active", "_cond", "_exclusive", "_local", "_lock")

    def __init__(self) -> None:
        # The fast path takes the bare lock (C calls only); waits go through the Condition
        # built on that same lock.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._active = 0
        self._exclusive = False
        self._local = threading.local()

    def acquire_shared(self) -> None:
        local = self._local
        held = getattr(local, "n", 0)
        lock = self._lock
        lock.acquire()
        try:
            if self._exclusive and not held:
                while self._exclusive:
                    self._cond.wait()
            self._active += 1
        finally:
            lock.release()
        local.n = held + 1

    def release_shared(self) -> None:
        self._local.n -= 1
        lock = self._lock
        lock.acquire()
        self._active -= 1
        if self._exclusive and not self._active:
            self._cond.notify_all()
        lock.release()

    def held_here(self) -> bool:
        return bool(getattr(self._local, "n", 0))

    @contextmanager
    def exclusive(self, what: str, timeout: float) -> Iterator[None]:
        if self.held_here():
            raise BlockstoreError(
                f"cannot {what} while this thread has a block view open; "
                "leave the `with store.view(...)` block first (copy what you need with bytes())"
            )
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._exclusive:
                self._cond.wait()
            self._exclusive = True
            try:
                while self._active:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise BlockstoreError(
                            f"cannot {what}: {self._active} block view(s) stayed open for "
                            f"{timeout:g} s; do not hold a view across an await or while "
                            "waiting for a write"
                        )
                    self._cond.wait(left)
            except BaseException:
                self._exclusive = False
                self._cond.notify_all()
                raise
        try:
            yield
        finally:
            with self._cond:
                self._exclusive = False
                self._cond.notify_all()


def _nbytes(data: Any) -> int:
    return data.nbytes if type(data) is memoryview else len(data)


class _Read:
    """``with store._read(buffers) as txn``: a read txn inside the shared gate."""

    __slots__ = ("_buffers", "_store", "_txn")

    def __init__(self, store: LMDBBlockstore, buffers: bool) -> None:
        self._store = store
        self._buffers = buffers

    def __enter__(self) -> Any:
        self._txn = self._store._begin_read(self._buffers)
        return self._txn

    def __exit__(self, *exc: object) -> None:
        self._store._end_read(self._txn)


class _View:
    """``with store.view(cid) as mv``: a zero-copy view released with its read txn."""

    __slots__ = ("_key", "_mv", "_store", "_txn")

    def __init__(self, store: LMDBBlockstore, key: Any) -> None:
        self._store = store
        self._key = key

    def __enter__(self) -> memoryview:
        store = self._store
        txn = store._begin_read(True)
        try:
            mv = txn.get(self._key, db=store._blocks)
        except BaseException:
            store._end_read(txn)
            raise
        if mv is None:
            store._end_read(txn)
            raise BlockNotFoundError(f"block {to_str(self._key)} not found")
        self._txn = txn
        self._mv = mv
        return mv

    def __exit__(self, *exc: object) -> None:
        try:
            _release(self._mv)
        finally:
            self._store._end_read(self._txn)


class _ViewMany:
    __slots__ = ("_keys", "_mvs", "_store", "_txn")

    def __init__(self, store: LMDBBlockstore, keys: list[Any]) -> None:
        self._store = store
        self._keys = keys

    def __enter__(self) -> list[memoryview | None]:
        store = self._store
        txn = store._begin_read(True)
        try:
            get = txn.get
            db = store._blocks
            self._mvs = mvs = [get(k, db=db) for k in self._keys]
        except BaseException:
            store._end_read(txn)
            raise
        self._txn = txn
        return mvs

    def __exit__(self, *exc: object) -> None:
        try:
            errors = 0
            for mv in self._mvs:
                if mv is not None:
                    try:
                        _release(mv)
                    except BlockstoreError:
                        errors += 1
            if errors:
                raise BlockstoreError(
                    f"{errors} views were still exported when their block ended; "
                    "copy data that must outlive the view with bytes()"
                )
        finally:
            self._store._end_read(self._txn)


def _release(mv: memoryview) -> None:
    try:
        mv.release()
    except BufferError:
        # Something (numpy.frombuffer, a ctypes array...) still exports the view's buffer; it
        # would read unmapped memory after a resize. Make the bug loud rather than silent.
        raise BlockstoreError(
            "a buffer exported from a block view outlived its `with` block; "
            "copy data that must outlive the view with bytes()"
        ) from None


class LMDBBlockstore:
    """Blocks in an LMDB environment at *path* (a directory, created if missing).

    * ``map_size``: the initial map (sparse address space, not disk); it grows on demand up to
      ``max_map_size`` (then writes fail with BlockstoreError "full").
    * ``sync``: fsync every commit (power-loss durable). The default survives any crash of the
      process, not of the machine (see the module docstring); ``flush()`` fsyncs on demand.
    * ``max_readers`` / ``max_spare_txns``: LMDB reader slots, and reset read txns kept for
      reuse (renewing one is cheaper than taking a slot).
    * ``batch_bytes``: put_many commits at least every this many bytes;
      ``large_batch_bytes``: and every this many bytes of values over 2 KiB (0: no such limit;
      default: `_defaults.LMDB_NOSYNC_LARGE_BATCH_BYTES` without ``sync``, 0 with it).
    * ``resize_timeout``: how long a map resize or close waits for open views.

    Safe to share between threads (see the module docstring); one instance per process and
    environment (LMDB refuses a second open of the same files in one process).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        map_size: int = _defaults.LMDB_INITIAL_MAP_SIZE,
        max_map_size: int = _defaults.LMDB_MAX_MAP_SIZE,
        sync: bool = _defaults.LMDB_SYNC,
        max_readers: int = _defaults.LMDB_MAX_READERS,
        max_spare_txns: int = _defaults.LMDB_MAX_SPARE_TXNS,
        batch_bytes: int = _defaults.LMDB_BATCH_BYTES,
        large_batch_bytes: int | None = None,
        resize_timeout: float = _defaults.LMDB_RESIZE_TIMEOUT_SECONDS,
    ) -> None:
        self.path = os.fspath(path)
        if map_size <= 0 or max_map_size <= 0 or batch_bytes <= 0:
            raise ValueError("map_size, max_map_size and batch_bytes must be positive")
        self._max_map_size = max(max_map_size, map_size)
        self._batch_bytes = batch_bytes
        if large_batch_bytes is None:
            # With fsync a commit costs a disk flush: batch big. Without, large values commit
            # in small txns (see _defaults.LMDB_NOSYNC_LARGE_BATCH_BYTES).
            large_batch_bytes = 0 if sync else _defaults.LMDB_NOSYNC_LARGE_BATCH_BYTES
        self._large_batch_bytes = large_batch_bytes
        self._resize_timeout = resize_timeout
        self._sync = sync
        self._wlock = threading.Lock()
        self._gate = _Gate()
        _make_dir(self.path, "blockstore")
        try:
            env = lmdb.open(
                self.path,
                map_size=map_size,
                subdir=True,
                max_dbs=3,
                sync=sync,
                metasync=sync,
                lock=True,
                max_readers=max_readers,
                max_spare_txns=max_spare_txns,
            )
        except lmdb.Error as exc:
            raise BlockstoreError(_open_error_message(self.path, exc)) from exc
        try:
            self._blocks, self._index, self._meta = self._open_dbs(env)
        except BaseException:
            env.close()
            raise
        self._env: Any = env

    # -- opening -------------------------------------------------------------------------

    def _open_dbs(self, env: Any) -> tuple[Any, Any, Any]:
        try:
            # The main database lists the named ones. Read at most a few keys: a foreign
            # environment may hold millions.
            with env.begin() as txn:
                named = {k for k, _ in itertools.islice(txn.cursor(), 4)}
            if not named:
                # A fresh environment: create the databases and write the format marker.
                with env.begin(write=True) as txn:
                    blocks = env.open_db(_DB_BLOCKS, txn=txn)
                    index = env.open_db(_DB_INDEX, txn=txn)
                    meta = env.open_db(_DB_META, txn=txn)
                    txn.put(_META_FORMAT, FORMAT, db=meta)
                    txn.put(_META_BYTES, _TOTAL.pack(0), db=meta)
                return blocks, index, meta
            if _DB_META not in named or not named <= {_DB_BLOCKS, _DB_INDEX, _DB_META}:
                raise BlockstoreError(
                    f"{self.path!r} holds an LMDB environment that is not a fastswap blockstore "
                    f"(databases {sorted(named)!r}); point fastswap at another directory"
                )
            # Handles are opened in write txns: a handle opened in a read txn dies with it
            # when py-lmdb resets the txn for reuse instead of committing it.
            with env.begin(write=True) as txn:
                meta = env.open_db(_DB_META, txn=txn, create=False)
                fmt = txn.get(_META_FORMAT, db=meta)
            if fmt != FORMAT:
                found = "no format marker" if fmt is None else f"format {fmt!r}"
                raise BlockstoreError(
                    f"the blockstore at {self.path!r} has {found}; this fastswap reads "
                    f"{FORMAT!r}. Use the fastswap version that wrote it to export the blocks "
                    "(fastswap export), or move the directory aside"
                )
            missing = {_DB_BLOCKS, _DB_INDEX} - named
            if missing:
                raise BlockstoreError(
                    f"the blockstore at {self.path!r} lacks databases {sorted(missing)!r}; "
                    "it is damaged: move it aside and re-import"
                )
            with env.begin(write=True) as txn:
                blocks = env.open_db(_DB_BLOCKS, txn=txn, create=False)
                index = env.open_db(_DB_INDEX, txn=txn, create=False)
            return blocks, index, meta
        except lmdb.Error as exc:
            raise BlockstoreError(f"cannot open the blockstore at {self.path!r}: {exc}") from exc

    # -- transactions ----------------------------------------------------------------------

    def _begin_read(self, buffers: bool) -> Any:
        gate = self._gate
        while True:
            gate.acquire_shared()
            try:
                env = self._env
                if env is None:
                    raise BlockstoreError("the blockstore is closed; open it again")
                return env.begin(buffers=buffers)
            except lmdb.MapResizedError:
                pass
            except BaseException:
                gate.release_shared()
                raise
            # Another process grew the map past ours: adopt its size, then retry.
            gate.release_shared()
            with self._wlock:
                self._adopt_map_size()

    def _end_read(self, txn: Any) -> None:
        try:
            txn.abort()  # a read txn: returns it to py-lmdb's spare list
        finally:
            self._gate.release_shared()

    def _read(self, buffers: bool = False) -> _Read:
        return _Read(self, buffers)

    def _live_env(self) -> Any:
        env = self._env
        if env is None:
            raise BlockstoreError("the blockstore is closed; open it again")
        return env

    def _adopt_map_size(self) -> None:
        """With the write lock held: take the map size another process set."""
        env = self._live_env()
        with self._gate.exclusive("adopt the map size another process set", self._resize_timeout):
            env.set_mapsize(0)

    def _grow(self, need: int) -> None:
        """With the write lock held and no write txn open: enlarge the map for *need* more bytes."""
        env = self._live_env()
        with self._gate.exclusive("grow the LMDB map", self._resize_timeout):
            info = env.info()
            psize = env.stat()["psize"]
            current = info["map_size"]
            used = (info["last_pgno"] + 1) * psize
            if current >= self._max_map_size:
                raise BlockstoreError(
                    f"the blockstore at {self.path!r} is full: its map reached "
                    f"{current} bytes (max_map_size); open it with a larger max_map_size"
                )
            # Double; more when one batch needs more (copy-on-write can touch twice its pages).
            target = current * 2
            while target < used + 2 * need + 64 * psize:
                target *= 2
            target = min(target, self._max_map_size)
            env.set_mapsize(target)

    def _write_txn(self, fn: Any, need: int) -> Any:
        """Run ``fn(txn)`` in a write txn and commit, growing the map and retrying on MapFull.

        The caller holds the write lock. *fn* must be safe to run again after an abort.
        """
        env = self._live_env()
        while True:
            try:
                txn = env.begin(write=True)
            except lmdb.MapResizedError:
                self._adopt_map_size()
                continue
            try:
                result = fn(txn)
                txn.commit()
                return result
            except lmdb.MapFullError:
                _abort(txn)
                self._grow(need)
            except lmdb.MapResizedError:
                _abort(txn)
                self._adopt_map_size()
            except lmdb.Error as exc:
                _abort(txn)
                raise self._write_error(exc, need) from exc
            except BaseException:
                _abort(txn)
                raise

    def _write_error(self, exc: lmdb.Error, need: int) -> BlockstoreError:
        """What to raise for a write txn LMDB refused. A full filesystem gets its own error in
        words: LMDB reports the short write a full disk gives as EIO ("Input/output error",
        mdb_page_flush), so the cause is read from the filesystem instead (free space below
        what the write needs). The txn was aborted: the store is as before the write, and
        takes writes again once there is room."""
        try:
            st = os.statvfs(self.path)
        except OSError:
            st = None
        if st is not None:
            free = st.f_bavail * st.f_frsize
            # LMDB writes whole pages (data, overflow, B-tree copies, meta): a margin above
            # what the values need
            needed = need + _WRITE_MARGIN_PAGES * st.f_frsize
            if free < needed:
                return DiskFullError(
                    f"disk full at {self.path!r}: {free:,} bytes free, the write needs about "
                    f"{needed:,}; free some space or move the repo elsewhere (--repo or "
                    "$FASTSWAP_HOME). The write was rolled back; the store is intact",
                    path=self.path, free=free, needed=needed,
                )
        return BlockstoreError(f"blockstore write failed at {self.path!r}: {exc}")

    # -- writes ----------------------------------------------------------------------------

    def put(self, cid: bytes, data: bytes | memoryview) -> None:
        self._put_groups([((cid, data),)])

    def put_many(self, blocks: Iterable[tuple[bytes, bytes | memoryview]]) -> int:
        """Store blocks in transactions of at most ``batch_bytes`` (one block larger than that
        gets a transaction of its own). If an item is invalid, every block before it is
        committed and the error is raised."""
        return self._put_groups([blocks])[0]

    def _put_groups(self, groups: Sequence[Iterable[tuple[bytes, Any]]]) -> list[int]:
        """Store several callers' blocks together (AsyncBlockstore's group commit); return the
        number of new blocks of each group."""
        counts = [0] * len(groups)
        limit = self._batch_bytes
        large_limit = self._large_batch_bytes
        with self._wlock:
            self._live_env()
            batch: list[tuple[int, Any, Any, int]] = []
            batch_bytes = 0
            large_bytes = 0
            for gi, group in enumerate(groups):
                items = iter(group)
                while True:
                    try:
                        item = next(items, None)
                        if item is None:
                            break
                        cid, data = item
                        key = check_cid(cid)
                        check_data(data)
                        n = _nbytes(data)
                        if n > _MAX_BLOCK:
                            raise BlockstoreError(f"a block of {n} bytes is too large to store")
                    except Exception:
                        # A bad item (or a failing iterator): what came before it is stored.
                        if batch:
                            self._commit_batch(batch, batch_bytes, counts)
                        raise
                    large = n > _LARGE_VALUE
                    if batch and (
                        batch_bytes + n > limit
                        or (large and large_limit and large_bytes + n > large_limit)
                    ):
                        self._commit_batch(batch, batch_bytes, counts)
                        batch = []
                        batch_bytes = large_bytes = 0
                    batch.append((gi, key, data, n))
                    batch_bytes += n
                    if large:
                        large_bytes += n
            if batch:
                self._commit_batch(batch, batch_bytes, counts)
        return counts

    def _commit_batch(
        self, batch: list[tuple[int, Any, Any, int]], batch_bytes: int, counts: list[int]
    ) -> None:
        blocks, index, meta = self._blocks, self._index, self._meta
        pack = _SIZE.pack

        def write(txn: Any) -> list[int]:
            put = txn.put
            new: list[int] = []
            added = 0
            for gi, key, data, n in batch:
                # The index says whether the block is new; an existing block is left untouched.
                if put(key, pack(n), overwrite=False, db=index):
                    put(key, data, db=blocks)
                    added += n
                    new.append(gi)
            if added:
                (total,) = _TOTAL.unpack(txn.get(_META_BYTES, db=meta))
                put(_META_BYTES, _TOTAL.pack(total + added), db=meta)
            return new

        for gi in self._write_txn(write, batch_bytes + 64 * len(batch)):
            counts[gi] += 1

    def delete(self, cid: bytes) -> bool:
        key = check_cid(cid)
        blocks, index, meta = self._blocks, self._index, self._meta

        def write(txn: Any) -> bool:
            raw = txn.get(key, db=index)
            if raw is None:
                return False
            (n,) = _SIZE.unpack(raw)
            txn.delete(key, db=blocks)
            txn.delete(key, db=index)
            (total,) = _TOTAL.unpack(txn.get(_META_BYTES, db=meta))
            txn.put(_META_BYTES, _TOTAL.pack(total - n), db=meta)
            return True

        with self._wlock:
            # Deleting copies pages too (copy-on-write), so even a delete can need map room.
            return bool(self._write_txn(write, 16 * 4096))

    def flush(self) -> None:
        """fsync what is committed: power-loss durability for everything stored so far."""
        with self._wlock:
            env = self._live_env()
            try:
                env.sync(True)
            except lmdb.Error as exc:
                err = self._write_error(exc, 0)
                if isinstance(err, DiskFullError):
                    raise err from exc
                raise BlockstoreError(f"fsync of {self.path!r} failed: {exc}") from exc

    # -- reads -----------------------------------------------------------------------------

    def has(self, cid: bytes) -> bool:
        key = check_cid(cid)
        txn = self._begin_read(False)
        try:
            return txn.get(key, db=self._index) is not None
        finally:
            self._end_read(txn)

    def __contains__(self, cid: object) -> bool:
        return self.has(cid)  # type: ignore[arg-type]

    def get_size(self, cid: bytes) -> int:
        key = check_cid(cid)
        txn = self._begin_read(False)
        try:
            raw = txn.get(key, db=self._index)
        finally:
            self._end_read(txn)
        if raw is None:
            raise BlockNotFoundError(f"block {to_str(key)} not found")
        return _SIZE.unpack(raw)[0]

    def get(self, cid: bytes) -> bytes:
        key = check_cid(cid)
        txn = self._begin_read(False)
        try:
            data = txn.get(key, db=self._blocks)
        finally:
            self._end_read(txn)
        if data is None:
            raise BlockNotFoundError(f"block {to_str(key)} not found")
        return data

    def view(self, cid: bytes) -> _View:
        """``with store.view(cid) as mv:`` zero-copy access to a block (BlockNotFoundError if
        absent). *mv* points into the LMDB map; it is released (any use raises ValueError) when
        the block exits. Slices of *mv* share its lifetime: do not keep them."""
        return _View(self, check_cid(cid))

    def has_many(self, cids: Sequence[bytes]) -> list[bool]:
        keys = [check_cid(c) for c in cids]
        with _Read(self, False) as txn:
            get = txn.get
            index = self._index
            return [get(k, db=index) is not None for k in keys]

    def get_sizes(self, cids: Sequence[bytes]) -> list[int | None]:
        keys = [check_cid(c) for c in cids]
        with _Read(self, False) as txn:
            get = txn.get
            index = self._index
            raws = [get(k, db=index) for k in keys]
        unpack = _SIZE.unpack
        return [None if r is None else unpack(r)[0] for r in raws]

    def get_many(self, cids: Sequence[bytes]) -> list[bytes | None]:
        keys = [check_cid(c) for c in cids]
        with _Read(self, False) as txn:
            get = txn.get
            blocks = self._blocks
            return [get(k, db=blocks) for k in keys]

    def view_many(self, cids: Sequence[bytes]) -> _ViewMany:
        """``with store.view_many(cids) as views:`` one read txn, a view per CID (None where
        absent); all released when the block exits."""
        return _ViewMany(self, [check_cid(c) for c in cids])

    def cids(self) -> Iterator[bytes]:
        """Every stored CID, in key order. Reads in chunks, each from its own short read txn,
        so a long iteration pins neither a snapshot nor a map resize; blocks put or deleted
        meanwhile may or may not be seen."""
        after: bytes | None = None
        while True:
            keys: list[bytes] = []
            more = False
            with _Read(self, False) as txn:
                cur = txn.cursor(db=self._index)
                try:
                    if after is None:
                        more = cur.first()
                    else:
                        more = cur.set_range(after)
                        if more and cur.key() == after:
                            more = cur.next()
                    while more and len(keys) < _CIDS_CHUNK:
                        keys.append(cur.key())
                        more = cur.next()
                finally:
                    cur.close()
            yield from keys
            if not more:
                return
            after = keys[-1]

    def __iter__(self) -> Iterator[bytes]:
        return self.cids()

    def __len__(self) -> int:
        with _Read(self, False) as txn:
            return int(txn.stat(self._index)["entries"])

    def size_bytes(self) -> int:
        with _Read(self, False) as txn:
            return int(_TOTAL.unpack(txn.get(_META_BYTES, db=self._meta))[0])

    @property
    def map_size(self) -> int:
        """The current size of the LMDB map in bytes (it grows on demand)."""
        with _Read(self, False):
            return int(self._env.info()["map_size"])

    # -- lifetime --------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._env is None

    def close(self) -> None:
        """Close the environment (idempotent). Waits for writes in flight and for open views
        (up to ``resize_timeout``); later calls raise BlockstoreError."""
        with self._wlock:
            env = self._env
            if env is None:
                return
            with self._gate.exclusive("close the blockstore", self._resize_timeout):
                self._env = None
                env.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._env is None else "open"
        return f"<LMDBBlockstore {self.path!r} {state}>"


def _abort(txn: Any) -> None:
    # A commit that failed has already ended the txn inside LMDB; aborting it again is harmless
    # but py-lmdb may say so.
    try:
        txn.abort()
    except lmdb.Error:
        pass


def _make_dir(path: str, what: str) -> None:
    if os.path.exists(path) and not os.path.isdir(path):
        raise BlockstoreError(f"the {what} path {path!r} exists and is not a directory")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise BlockstoreError(
            f"cannot create the {what} directory {path!r}: {exc.strerror or exc}; "
            "choose a writable location (--repo or $FASTSWAP_HOME)"
        ) from exc
    if not os.access(path, os.R_OK | os.W_OK | os.X_OK):
        raise BlockstoreError(
            f"the {what} directory {path!r} is not readable and writable by this user; "
            "fix its permissions or choose another location (--repo or $FASTSWAP_HOME)"
        )


def _open_error_message(path: str, exc: Exception) -> str:
    text = str(exc)
    if "already open" in text:
        return (
            f"the blockstore at {path!r} is already open in this process; "
            "share that LMDBBlockstore instead of opening it twice"
        )
    return f"cannot open the blockstore at {path!r}: {text}"
