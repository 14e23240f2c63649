"""The processes of the transfer, swarm, RSS and abuse measurements (ipfs/specs
bitswap-protocol, "Bitswap 1.2.0 Interaction Pattern"), each its own process so each side has a
core and its own resident-set figures.

``seed SIZE [--pattern] [--small N] [--leaves] [--max-connections N] [--server-config JSON]
[--metrics]``: restart with the C allocator as ``fastswap seed`` does (unless ``PYTHONMALLOC`` is
set), then import SIZE bytes (256 KiB raw leaves, CIDv1) into a fresh repo -- random bytes, or with ``--pattern`` a deterministic pattern made distinct
per block (``PatternReader``: fast to make, nothing written to disk) -- plus, with ``--small N``,
the N distinct 256-byte raw blocks ``small_block(i)``; print ``{"addr", "root", "size", "sha256"}`` (and
``"leaves"``: the file's leaf CIDs, with ``--leaves``) as one JSON line, then answer commands on
stdin until it closes: ``rss`` -> ``{"vmhwm_kib", "vmrss_kib"}``; ``reset`` -> reset the
peak-RSS mark (``/proc/self/clear_refs``), then as ``rss``; ``peers`` -> ``{"server": the server
engine's stats, "ledgers": {peer id: ledger}}``; ``stat`` -> ``Node.stat()`` less the client's; ``ledger PEER`` ->
the server's ledger of that peer id (connected or not); ``cpu`` -> ``{"cpu"}``: this process's
user + system CPU seconds so far. ``--server-config`` takes
``ServerConfig`` fields as a JSON object (smaller budgets for the abuse tests). ``--metrics``:
the Prometheus endpoint on 127.0.0.1 (its URL in the JSON line as ``"metrics"``), and two more
commands: ``observe`` -> logging as ``fastswap seed`` at its defaults (``info`` to stderr,
``setup_logging``), ``quiet`` -> logging disabled (``logging.disable``), each answered ``{}``.

``leech``: for each line ``ADDR ROOT [sha256] [ready]`` on stdin, fetch the DAG into a fresh
repo with a fresh Node, and print ``{"seconds", "started", "finished", "blocks", "bytes",
"maxrss_kib", "vmhwm_kib", "peer"}`` (plus the file's ``"sha256"`` read back from the store
after the clock stopped, if asked; with ``ready``, a second line ``{"ready": true}`` once the
repo is deleted). The clock (``time.monotonic``, one for all processes) covers connect + fetch,
every block verified and committed to LMDB; not the Node's start-up, the read-back or the
cleanup. maxrss/vmhwm: this process's peak resident set so far; peer: the leecher's peer id.

``abuse MODE ADDR [ARG]``: a hostile peer on a bare libp2p Host with hand-built Bitswap
messages. It serves the Bitswap protocols but never reads what arrives on them, so the seeder's
responses pile up against flow control. ``wantlist N``: want-block (with sendDontHave) for the
N small blocks ``small_block(i)`` in as many messages as the 4 MiB limit needs; ``noread
CID,CID,...``: want-block for those real blocks. Prints ``{"peer", "entries", "messages"}`` once
sent, then ``status`` lines on stdin answer ``{"connected", "unread_bytes"}``; EOF ends it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import resource
import shutil
import sys
import tempfile
import time
from typing import Any

BLOCK = 256 * 1024
SMALL_BLOCK = 256


def small_block(i: int) -> bytes:
    """The i-th small block: distinct for every i, 256 bytes."""
    return i.to_bytes(8, "big") * (SMALL_BLOCK // 8)


class PatternReader:
    """SIZE bytes of one random 256 KiB pattern whose first 8 bytes of each block carry the
    block number: every leaf is distinct (no dedup) yet making 1 GiB costs only copies."""

    def __init__(self, size: int, seed: bytes | None = None, hasher: Any = None) -> None:
        self.size = size
        self.pos = 0
        self.pattern = bytearray(seed or os.urandom(BLOCK))
        self.hasher = hasher

    def read(self, n: int = -1) -> bytes:
        left = self.size - self.pos
        if n < 0 or n > left:
            n = left
        out = bytearray()
        while len(out) < n:
            block, off = divmod(self.pos, BLOCK)
            self.pattern[:8] = block.to_bytes(8, "big")
            take = min(n - len(out), BLOCK - off)
            out += self.pattern[off : off + take]
            self.pos += take
        if self.hasher is not None:
            self.hasher.update(out)
        return bytes(out)


def _proc_status() -> dict[str, int]:
    """VmHWM, VmRSS, RssAnon and RssFile of this process in KiB (Linux /proc): file-backed
    pages (the LMDB map read zero-copy) count in the resident set too."""
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(("VmHWM:", "VmRSS:", "RssAnon:", "RssFile:")):
                key, val = line.split(":", 1)
                out[key.lower() + "_kib"] = int(val.split()[0])
    return out


def _reset_peak_rss() -> None:
    # "5" resets the peak-RSS mark to the current RSS (proc(5), /proc/pid/clear_refs)
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


async def seed(size: int, pattern: bool, small: int, leaves: bool,
               host_options: dict[str, Any] | None = None,
               server_config: dict[str, Any] | None = None, metrics: bool = False) -> None:
    from benchmarks._peerproc import write_random_file
    from fastswap.cid import RAW, decode_cid, to_str
    from fastswap.dag import import_file, iter_links
    from fastswap.net.keys import PeerId
    from fastswap.node import Node
    from fastswap.server import ServerConfig

    config = ServerConfig(**server_config) if server_config else None
    work = tempfile.mkdtemp(prefix="fastswap-bench-seed-")
    try:
        async with Node(os.path.join(work, "repo"), host_options=host_options,
                        server_config=config) as node:
            opts: dict[str, Any] = {"cid_version": 1, "raw_leaves": True,
                                    "chunk_size": BLOCK, "max_children": 174}
            if pattern:
                reader = PatternReader(size, hasher=hashlib.sha256())
                root = await asyncio.to_thread(import_file, node.store, reader, **opts)
                digest = reader.hasher.hexdigest()
            else:
                path = os.path.join(work, "data.bin")

                # before serving: blocking the loop here is harmless
                digest = write_random_file(path, size)
                root = await node.add_file(path, **opts)
                os.unlink(path)
            if small:
                batch = 10_000
                for start in range(0, small, batch):
                    await node.put_blocks(small_block(i)
                                          for i in range(start, min(small, start + batch)))
            info: dict[str, Any] = {"addr": str(node.addrs[0]), "root": to_str(root),
                                    "size": size, "sha256": digest}
            endpoint = None
            if metrics:
                from fastswap.cli._logging import setup_logging
                from fastswap.metrics import MetricsServer

                setup_logging(logging.INFO)
                endpoint = MetricsServer(node, "127.0.0.1", 0)
                await endpoint.start()
                info["metrics"] = endpoint.url
            if leaves:
                out, todo = [], [root]
                while todo:
                    c = todo.pop(0)
                    if decode_cid(c)[1] == RAW:
                        out.append(to_str(c))
                    else:
                        todo.extend(iter_links(c, node.store.get(c)))
                info["leaves"] = out
            print(json.dumps(info), flush=True)
            loop = asyncio.get_running_loop()
            while True:
                line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
                if not line:
                    if endpoint is not None:
                        await endpoint.stop()
                    return
                if line == "reset":
                    _reset_peak_rss()
                    line = "rss"
                if line == "rss":
                    print(json.dumps(_proc_status()), flush=True)
                elif line == "peers":
                    ledgers = {}
                    for p in node.peers:
                        try:
                            ledgers[str(p)] = node.server.ledger(p)
                        except Exception as exc:  # noqa: BLE001 - reported, not fatal
                            ledgers[str(p)] = {"error": repr(exc)}
                    print(json.dumps({"server": node.server.stats(), "ledgers": ledgers},
                                     default=str), flush=True)
                elif line == "stat":
                    stat = node.stat()
                    del stat["client"]  # keyed by peer ids: not JSON, not needed here
                    print(json.dumps(stat, default=str), flush=True)
                elif line == "cpu":
                    ru = resource.getrusage(resource.RUSAGE_SELF)
                    print(json.dumps({"cpu": ru.ru_utime + ru.ru_stime}), flush=True)
                elif line in ("observe", "quiet") and endpoint is not None:
                    logging.disable(logging.NOTSET if line == "observe" else logging.CRITICAL)
                    print("{}", flush=True)
                elif line.startswith("ledger "):
                    peer = PeerId.from_string(line.split()[1])
                    print(json.dumps(node.server.ledger(peer), default=str), flush=True)
                else:
                    print(json.dumps({"error": f"unknown command {line!r}"}), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _file_sha256(store: Any, root: str) -> str:
    from fastswap.dag import cat

    h = hashlib.sha256()
    for piece in cat(store, root):
        h.update(piece)
    return h.hexdigest()


async def leech() -> None:
    from fastswap.node import Node

    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line.strip():
            return
        addr, root, *flags = line.split()
        repo = tempfile.mkdtemp(prefix="fastswap-bench-leech-")
        extra: dict[str, Any] = {}
        try:
            async with Node(repo, listen=[]) as node:
                # timed: connect + fetch, every block verified and committed to LMDB; not the
                # Node's start-up (the other sides' leechers are started before their clocks
                # too). CLOCK_MONOTONIC is one clock for every process: a swarm's rounds are
                # timed from the first leecher's start to the last one's finish.
                t0 = time.monotonic()
                await node.connect(addr)
                blocks = await node.fetch_dag(root, timeout=120)
                t1 = time.monotonic()
                nbytes = node.store.size_bytes()
                # before the read-back below maps the whole file into this process
                extra["fetch_status"] = _proc_status()
                if "sha256" in flags:  # after the clock stopped: reads the file back
                    extra["sha256"] = await asyncio.to_thread(_file_sha256, node.store, root)
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            # answer before deleting the repo: removing a temporary directory is not part of
            # the transfer the caller times (as Kubo's and Helia's rounds do not time theirs)
            print(json.dumps({"seconds": t1 - t0, "started": t0, "finished": t1,
                              "blocks": blocks, "bytes": nbytes, "maxrss_kib": rss,
                              "peer": str(node.peer_id), **_proc_status(), **extra}),
                  flush=True)
        finally:
            shutil.rmtree(repo, ignore_errors=True)
        if "ready" in flags:
            # the repo is gone: a caller that times rounds waits for this line untimed, so the
            # cleanup counts in no round (Kubo's and Helia's teardown happen in setup too)
            print(json.dumps({"ready": True}), flush=True)


async def abuse(mode: str, addr: str, arg: str) -> None:
    from fastswap._defaults import MAX_MESSAGE_SIZE
    from fastswap.cid import compute_cid, parse
    from fastswap.message import WANT_BLOCK, Entry, Message, encode_message, frame_length_prefix
    from fastswap.net.bitswap import BITSWAP_1_2_0, BITSWAP_PROTOCOLS
    from fastswap.net.host import Host

    if mode == "wantlist":
        cids = [compute_cid(small_block(i)) for i in range(int(arg))]
    elif mode == "noread":
        cids = [parse(c) for c in arg.split(",")]
    else:
        raise SystemExit(f"unknown abuse mode {mode!r}: use wantlist or noread")
    held: list[Any] = []  # streams the seeder opened to us: kept open, never read

    async def never_read(stream: Any) -> None:
        held.append(stream)
        await asyncio.Event().wait()

    async with Host() as host:
        for proto in BITSWAP_PROTOCOLS:
            host.set_stream_handler(proto, never_read)
        conn = await host.dial(addr)
        stream = await host.new_stream_on(conn, [BITSWAP_1_2_0])
        # as many entries per message as fit well under the 4 MiB limit
        per_msg = max(1, (MAX_MESSAGE_SIZE // 2) // 64)
        messages = 0
        for start in range(0, len(cids), per_msg):
            entries = [Entry(c, priority=1, want_type=WANT_BLOCK, send_dont_have=True)
                       for c in cids[start : start + per_msg]]
            body = encode_message(Message(entries=entries, full=(start == 0)))
            stream.write(frame_length_prefix(len(body)) + body)
            await stream.drain()
            messages += 1
        print(json.dumps({"peer": str(host.peer_id), "entries": len(cids),
                          "messages": messages}), flush=True)
        loop = asyncio.get_running_loop()
        while True:
            line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
            if not line:
                return
            print(json.dumps({
                "connected": any(not c.is_closed for c in host.connections),
                "unread_bytes": sum(s.buffered for s in held),
                "streams_from_seeder": len(held),
            }), flush=True)


if __name__ == "__main__":
    import uvloop

    if sys.argv[1] == "seed":
        from fastswap.net.resources import reexec_with_system_allocator

        reexec_with_system_allocator()  # as ``fastswap seed`` does: its memory is what is measured
        argv = sys.argv[2:]
        n_small = int(argv[argv.index("--small") + 1]) if "--small" in argv else 0
        opts = ({"max_connections": int(argv[argv.index("--max-connections") + 1])}
                if "--max-connections" in argv else None)
        cfg = (json.loads(argv[argv.index("--server-config") + 1])
               if "--server-config" in argv else None)
        uvloop.run(seed(int(argv[0]), "--pattern" in argv, n_small, "--leaves" in argv, opts,
                        cfg, "--metrics" in argv))
    elif sys.argv[1] == "abuse":
        uvloop.run(abuse(sys.argv[2], sys.argv[3], sys.argv[4]))
    else:
        uvloop.run(leech())
