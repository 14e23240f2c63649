"""fastswap as a peer of the benchmark matrix: a process that speaks the real peers' JSON-line
protocol (``tests/peers/_process.py``), so the harness starts, drives, times and measures it
exactly as it does Kubo, Helia and py-libp2p (ipfs/specs bitswap-protocol: the node serves
what it holds and fetches what it is asked for).

Run by ``benchmarks/matrix/systems.py`` as ``python _fastswap_peer.py node --repo DIR``, from
a working directory outside the checkout and with the checkout off ``PYTHONPATH``: ``import
fastswap`` must load the *installed* package (``benchmarks/_installed.py``), never the
source tree beside this file. The checkout is appended to ``sys.path`` only after fastswap
is imported, for the harness's own helpers.

Commands (``{"id", "op", ...}`` -> ``{"id", "ok": true, ...}``):

    info                         peerId, multiaddrs, features
    connect    multiaddr         dial, open our Bitswap stream
    put_blocks dir cids          store the blocks ``dir/<cid>`` (verified), announce them
    add_tree   path              import a directory (``ipfs add -r`` defaults), its root CID
    fetch      cid [timeout]     ``Node.fetch_dag``: every block of the DAG into the store;
                                 blocks, seconds (this process's own clock)
    check_file cid               the UnixFS file's sha256 and size, read back from the store
    check_tree cid               a directory's files as [path, sha256] pairs, and bytes
    stat                         Bitswap counters: messages and blocks sent and received,
                                 duplicates
    stop                         answer, stop the node, exit

``python _fastswap_peer.py build SRC DEST CHUNK`` imports the file SRC with fastswap's
importer (CIDv1, raw leaves, CHUNK-byte chunks, 174 links per node) into the block directory
DEST (``benchmarks/matrix/content.py`` ``BlockDir``) and prints its manifest's root.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import fastswap  # first: the installed package (see the module docstring)

ROOT = Path(__file__).resolve().parents[2]
if not fastswap.HAS_EXTENSIONS:
    # measuring this would publish the pure-Python twins' numbers as fastswap's
    raise SystemExit(f"fastswap at {fastswap.__file__} has no compiled twins "
                     f"({fastswap._compat.loaded_twins}); reinstall it with a C compiler "
                     "(python -m pip install .) and run the benchmarks again")
sys.path.append(str(ROOT))  # after fastswap: the checkout must not shadow it

from benchmarks.matrix.content import BlockDir, BlockEntry
from fastswap.block import Block
from fastswap.cid import RAW, decode_cid, parse, to_str
from fastswap.dag import cat, import_file
from fastswap.node import Node

#: blocks per put_many while loading a block directory (bounded memory: 64 x 256 KiB)
_LOAD_BATCH = 64
_MAX_CHILDREN = 174


# ---- directories: the one switch ---------------------------------------------------------
#
# fastswap imports and exports UnixFS directories once the directory issue lands
# (``fastswap.dag.import_path``, ``fastswap.dag.walk`` with ``Start``/``End`` events, as on the
# wip/dag branch). Until then the directory scenario runs for the peers that can (Kubo,
# Helia) and reports fastswap's rows as "not run" with the reason below. When the API lands
# under other names, this function is the one place to change.


def directory_support() -> tuple[Any, Any, str | None]:
    """(import a directory -> root CID, walk a DAG -> events, None), or (None, None, why not)."""
    try:
        from fastswap.dag import import_path, walk
        from fastswap.dag.exporter import End, Start
    except ImportError:
        return None, None, ("this fastswap cannot import or export directories yet (the "
                            "directory issue adds fastswap.dag.import_path and walk)")

    def add_tree(store: Any, path: str) -> bytes:
        # ipfs add -r defaults, as Kubo's AddFile uses (CIDv0, 256 KiB chunks, dag-pb leaves)
        return bytes(import_path(store, path, preset="kubo"))

    def tree_files(store: Any, root: bytes) -> tuple[list[list[str]], int]:
        files: list[list[str]] = []
        nbytes = 0
        h: Any = None
        for ev in walk(store, root):
            if isinstance(ev, Start):
                if ev.kind == "file":
                    h = hashlib.sha256()
            elif isinstance(ev, End):
                if ev.kind == "file" and h is not None:
                    files.append([ev.path, h.hexdigest()])
                    h = None
            elif h is not None:
                h.update(ev)
                nbytes += len(ev)
        return files, nbytes

    return add_tree, tree_files, None


# ---- the block directory builder ---------------------------------------------------------


class _BlockDirStore:
    """The one store method ``import_file`` uses (``put_many``), writing ``dest/<cid>`` and
    remembering the order."""

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        self.blocks: list[BlockEntry] = []

    def put_many(self, blocks: Iterable[tuple[bytes, Any]]) -> int:
        n = 0
        for cid, data in blocks:
            name = to_str(cid)
            (self.dest / name).write_bytes(data)
            self.blocks.append(BlockEntry(name, len(data), decode_cid(cid)[1] == RAW))
            n += 1
        return n


def build(src: str, dest: str, chunk: int) -> BlockDir:
    out = Path(dest)
    out.mkdir(parents=True)
    store = _BlockDirStore(out)
    h = hashlib.sha256()
    with open(src, "rb") as fh:
        while piece := fh.read(1 << 22):
            h.update(piece)
    root = import_file(store, src, cid_version=1, raw_leaves=True, chunk_size=chunk,
                       max_children=_MAX_CHILDREN)
    bd = BlockDir(out, to_str(root), os.path.getsize(src), h.hexdigest(), tuple(store.blocks))
    bd.write_manifest()
    return bd


# ---- the peer ----------------------------------------------------------------------------


class Peer:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.add_tree, self.tree_files, self.no_dirs = directory_support()
        self.stop = asyncio.Event()

    def info(self) -> dict[str, Any]:
        return {
            "peerId": str(self.node.peer_id),
            "multiaddrs": [str(a) for a in self.node.addrs],
            "features": {"directories": self.no_dirs is None},
            "noDirectories": self.no_dirs,
            "fastswap": fastswap.__version__,
            "fastswapFile": fastswap.__file__,
            "hasExtensions": bool(fastswap.HAS_EXTENSIONS),
        }

    async def op_info(self, cmd: dict[str, Any]) -> dict[str, Any]:
        return self.info()

    async def op_connect(self, cmd: dict[str, Any]) -> dict[str, Any]:
        peer = await self.node.connect(cmd["multiaddr"])
        return {"peerId": str(peer)}

    async def op_put_blocks(self, cmd: dict[str, Any]) -> dict[str, Any]:
        folder = Path(cmd["dir"])
        cids = list(cmd["cids"])
        for start in range(0, len(cids), _LOAD_BATCH):
            names = cids[start:start + _LOAD_BATCH]
            datas = await asyncio.to_thread(lambda ns=names: [(folder / n).read_bytes()
                                                              for n in ns])
            # Block(...) is verified by put_blocks: a corrupt block directory fails here
            await self.node.put_blocks([Block(parse(n), d) for n, d in zip(names, datas)])
        return {"count": len(cids)}

    async def op_add_tree(self, cmd: dict[str, Any]) -> dict[str, Any]:
        if self.add_tree is None:
            raise RuntimeError(self.no_dirs)
        root = await asyncio.to_thread(self.add_tree, self.node.store, cmd["path"])
        await self.node.announce(root)
        return {"cid": to_str(root)}

    async def op_fetch(self, cmd: dict[str, Any]) -> dict[str, Any]:
        t0 = time.perf_counter()
        blocks = await self.node.fetch_dag(cmd["cid"], timeout=float(cmd.get("timeout", 600)))
        return {"blocks": blocks, "seconds": time.perf_counter() - t0}

    async def op_check_file(self, cmd: dict[str, Any]) -> dict[str, Any]:
        def read() -> tuple[str, int]:
            h = hashlib.sha256()
            n = 0
            for piece in cat(self.node.store, cmd["cid"]):
                h.update(piece)
                n += len(piece)
            return h.hexdigest(), n

        digest, size = await asyncio.to_thread(read)
        return {"sha256": digest, "size": size}

    async def op_check_tree(self, cmd: dict[str, Any]) -> dict[str, Any]:
        if self.tree_files is None:
            raise RuntimeError(self.no_dirs)
        files, nbytes = await asyncio.to_thread(self.tree_files, self.node.store,
                                                parse(cmd["cid"]))
        return {"files": files, "bytes": nbytes}

    async def op_stat(self, cmd: dict[str, Any]) -> dict[str, Any]:
        st = self.node.stat()
        client = st["client"]
        return {
            "messagesSent": st["messages_sent"],
            "messagesReceived": st["messages_received"],
            "bytesSent": st["bytes_sent"],
            "blocksReceived": client.get("blocks", 0),
            "duplicateBlocks": client.get("duplicates", 0),
            "responsesSent": st["responses_sent"],
        }

    async def run(self, cmd: dict[str, Any], send: Callable[[dict[str, Any]], None]) -> None:
        op = cmd.get("op")
        if op == "stop":
            send({"id": cmd.get("id"), "ok": True})
            self.stop.set()
            return
        handler: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]] | None = (
            getattr(self, f"op_{op}", None) if isinstance(op, str) and op.isidentifier()
            else None)
        if handler is None:
            send({"id": cmd.get("id"), "ok": False, "error": f"unknown op {op!r}"})
            return
        try:
            send({"id": cmd.get("id"), "ok": True, **await handler(cmd)})
        except Exception as exc:  # noqa: BLE001 - every failure is an answer, not a dead peer
            send({"id": cmd.get("id"), "ok": False, "error": f"{type(exc).__name__}: {exc}"})


async def serve(repo: str) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=16 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    def send(obj: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    tasks: set[asyncio.Task[None]] = set()
    async with Node(repo) as node:
        peer = Peer(node)
        send({"event": "ready", **peer.info()})

        async def read_commands() -> None:
            while line := await reader.readline():
                if not line.strip():
                    continue
                try:
                    cmd = json.loads(line)
                except ValueError as exc:
                    send({"id": None, "ok": False, "error": f"bad JSON command: {exc}"})
                    continue
                task = asyncio.ensure_future(peer.run(cmd, send))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            peer.stop.set()  # the parent went away: do not linger

        reading = asyncio.ensure_future(read_commands())
        await peer.stop.wait()
        reading.cancel()
        for t in list(tasks):
            t.cancel()


def main(argv: list[str]) -> None:
    if argv[:1] == ["build"] and len(argv) == 4:
        print(build(argv[1], argv[2], int(argv[3])).root, flush=True)
        return
    if argv[:2] == ["node", "--repo"] and len(argv) == 3:
        import uvloop

        uvloop.run(serve(argv[2]))
        return
    raise SystemExit("usage: _fastswap_peer.py node --repo DIR | build SRC DEST CHUNK")


if __name__ == "__main__":
    main(sys.argv[1:])
