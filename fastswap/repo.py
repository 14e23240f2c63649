"""A fastswap repo on disk, and the lock a running node holds on it.

Layout of ``<repo>/``:

* ``blocks/``: the LMDB blockstore (:mod:`fastswap.blockstore.lmdb`);
* ``pins/``: the pin set (:mod:`fastswap.blockstore.pins`);
* ``identity.key``: the node's libp2p identity (its peer id), created once, mode 0600;
* ``config.toml``: the configuration (:mod:`fastswap.config`), written by ``fastswap init``;
* ``repo.lock``: held (``flock``) by the node serving the repo; it names that process;
* ``control.sock``: the running node's control socket (``fastswap stat``), see
  :mod:`fastswap.control`.

Repo care (``fastswap repo gc|verify|stat``): :func:`collect_garbage` deletes every block no
pin reaches, :func:`verify_blocks` re-hashes every block, :func:`repo_stat` sums it up. They take
the repo lock, so they never run under a serving node.

The lock. Two seeders on one repo would run with the same peer id, which peers cannot tell
apart. A node takes an exclusive ``flock`` on ``repo.lock`` and writes its pid and command line
into it; a second one is refused with :class:`RepoLockedError` naming the first. The kernel
drops a flock when its process dies, however it dies, so a lock left by a killed node is never
honoured: the next node takes it, and says it cleared a stale lock. The file is removed on a
clean release (after checking that no other process locked it meanwhile).
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import shutil
import sys
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from .errors import BadBlockError, CIDError, DagError, RepoLockedError

__all__ = [
    "CONTROL_SOCKET",
    "LOCK_FILE",
    "GcResult",
    "RepoLock",
    "VerifyResult",
    "collect_garbage",
    "reachable",
    "repo_stat",
    "verify_blocks",
]

log = logging.getLogger("fastswap.repo")

LOCK_FILE = "repo.lock"
CONTROL_SOCKET = "control.sock"


def _describe(pid_text: str) -> str:
    """'process 123 (fastswap seed x.bin)' from the lock file's content."""
    lines = pid_text.splitlines()
    pid = lines[0].strip() if lines else "?"
    cmd = lines[1].strip() if len(lines) > 1 else ""
    return f"process {pid}" + (f" ({cmd})" if cmd else "")


class RepoLock:
    """``with RepoLock(repo):`` holds the repo for one running node (see the module docstring).

    ``acquire()`` raises RepoLockedError if another live process holds it."""

    def __init__(self, repo: str | os.PathLike[str]) -> None:
        self.repo = Path(repo)
        self.path = self.repo / LOCK_FILE
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        if self._fd is not None:
            return
        self.repo.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    os.close(fd)
                    raise
                holder = os.pread(fd, 4096, 0).decode("utf-8", "replace")
                os.close(fd)
                raise RepoLockedError(
                    f"the repo {self.repo} is in use by {_describe(holder)}; stop it first, "
                    "or give this command another --repo"
                ) from None
            # the holder we waited for may have removed the file before we locked it: then our
            # lock is on an unlinked inode and means nothing; lock the file that is there now
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        stale = os.pread(fd, 4096, 0).decode("utf-8", "replace")
        if stale.strip():
            log.warning("cleared a stale lock on %s left by %s (it did not stop cleanly)",
                        self.repo, _describe(stale))
        os.ftruncate(fd, 0)
        cmd = " ".join([os.path.basename(sys.argv[0]) or "python", *sys.argv[1:]])[:200]
        os.pwrite(fd, f"{os.getpid()}\n{cmd}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        fd = self._fd
        if fd is None:
            return
        self._fd = None
        try:
            if os.fstat(fd).st_ino == os.stat(self.path).st_ino:
                os.unlink(self.path)  # still ours: nobody else can hold it
        except FileNotFoundError:
            pass
        finally:
            os.close(fd)  # drops the flock

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


# -- repo care ----------------------------------------------------------------------------------


def reachable(store: Any, roots: Iterable[bytes]) -> tuple[set[bytes], list[bytes]]:
    """Every stored block the DAGs under *roots* reach (breadth-first over dag-pb links), and
    the CIDs they link to that are not stored (an incomplete DAG keeps what it has)."""
    from .dag import iter_links

    seen: set[bytes] = set()
    missing: list[bytes] = []
    todo = deque(dict.fromkeys(roots))
    while todo:
        cid = todo.popleft()
        if cid in seen:
            continue
        data = store.get_many([cid])[0]
        if data is None:
            missing.append(cid)
            continue
        seen.add(cid)
        try:
            links = list(iter_links(cid, data))
        except (DagError, CIDError) as exc:
            log.warning("not following the links of %s: %s", cid.hex(), exc)
            continue
        todo.extend(c for c in links if c not in seen)
    return seen, missing


@dataclass
class GcResult:
    removed_blocks: int = 0
    removed_bytes: int = 0
    kept_blocks: int = 0
    #: linked from a pinned DAG but not stored (the DAG is incomplete)
    missing: list[bytes] = field(default_factory=list)


def collect_garbage(store: Any, pins: Iterable[bytes], *, dry_run: bool = False,
                    batch: int = 1024) -> GcResult:
    """Delete every block of *store* that no pin reaches (with *dry_run*, only count them)."""
    keep, missing = reachable(store, pins)
    res = GcResult(kept_blocks=len(keep), missing=missing)
    doomed: list[bytes] = []

    def sweep() -> None:
        sizes = store.get_sizes(doomed)
        for cid, size in zip(doomed, sizes):
            if size is None:
                continue
            if dry_run or store.delete(cid):
                res.removed_blocks += 1
                res.removed_bytes += size
        doomed.clear()

    for cid in list(store.cids()):
        if cid not in keep:
            doomed.append(cid)
            if len(doomed) >= batch:
                sweep()
    sweep()
    if not dry_run and res.removed_blocks:
        store.flush()
    return res


@dataclass
class VerifyResult:
    checked: int = 0
    bytes: int = 0
    #: (CID, reason) of every block that does not hash to its CID
    bad: list[tuple[bytes, str]] = field(default_factory=list)


def verify_blocks(store: Any, progress: Callable[[int, int], None] | None = None,
                  batch: int = 256) -> VerifyResult:
    """Re-hash every block of *store* against its CID; *progress(blocks, bytes)* after each
    batch."""
    from .cid import verify_block

    res = VerifyResult()
    cids: list[bytes] = []

    def check() -> None:
        for cid, data in zip(cids, store.get_many(cids)):
            if data is None:
                continue  # deleted meanwhile
            res.checked += 1
            res.bytes += len(data)
            try:
                verify_block(cid, data)
            except (BadBlockError, CIDError) as exc:
                res.bad.append((cid, str(exc)))
        cids.clear()
        if progress is not None:
            progress(res.checked, res.bytes)

    for cid in store.cids():
        cids.append(cid)
        if len(cids) >= batch:
            check()
    check()
    return res


def repo_stat(repo: str | os.PathLike[str], store: Any, pins: Any) -> dict[str, Any]:
    """Blocks, bytes, pins and the disk's free space, as plain data."""
    usage = shutil.disk_usage(repo)
    return {
        "repo": os.path.abspath(os.fspath(repo)),
        "blocks": len(store),
        "bytes": store.size_bytes(),
        "pins": len(pins),
        "disk_free": usage.free,
        "disk_total": usage.total,
    }
