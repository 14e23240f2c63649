"""One py-libp2p Bitswap program, three ways (ipfs/specs bitswap-protocol): ``--impl libp2p``
imports py-libp2p 0.8.1's ``libp2p.bitswap``, ``--impl dropin`` imports
``fastswap.compat.libp2p`` instead (nothing else changes), and ``--host fastswap`` also changes
the host construction to the drop-in's ``new_host`` (fastswap's host). It runs on the drop-in
venv's Python (``tests/peers/pylibp2p_dropin.py``: libp2p 0.8.1 beside fastswap).

``--mode seed --blocks N --size S --cids-file F``: a host on 127.0.0.1, a ``BitswapClient``
over a ``MemoryBlockStore``, N distinct S-byte blocks (raw CIDv1, made from ``--seed``) added
with ``add_block``; writes their CIDs (text, one a line) to F and prints ``{"addr", "sha256"}``
(sha256 of every block in order) as one JSON line, then serves until stdin closes.

``--mode leech --cids-file F --peer ADDR``: for each line on stdin (``round``), a fresh host,
``MemoryBlockStore`` and ``BitswapClient``, connected to ADDR; then, timed, one session's
``get_blocks_batch`` of every CID (py-libp2p's call shape, its default batch size); prints
``{"seconds", "blocks", "bytes", "sha256"}`` (the sha256 is checked after the clock stops).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from typing import Any

import multiaddr
import trio
from libp2p.peer.peerinfo import info_from_p2p_addr

LOOPBACK = "/ip4/127.0.0.1/tcp/0"


def imports(impl: str, host: str) -> tuple[Any, Any, Any, Any]:
    """(BitswapClient, MemoryBlockStore, compute_cid_v1, new_host) for the variant."""
    if impl == "libp2p":
        from libp2p.bitswap import BitswapClient, MemoryBlockStore
        from libp2p.bitswap.cid import compute_cid_v1
    else:
        from fastswap.compat.libp2p import BitswapClient, MemoryBlockStore
        from fastswap.compat.libp2p.cid import compute_cid_v1
    if host == "fastswap":
        from fastswap.compat.libp2p import new_host
    else:
        from libp2p import new_host
    return BitswapClient, MemoryBlockStore, compute_cid_v1, new_host


def make_host(new_host: Any) -> Any:
    return new_host(enable_mDNS=False, enable_upnp=False, bootstrap=None)


async def stdin_lines() -> Any:
    """Lines of stdin (a worker thread reads them: trio has no async stdin)."""
    while True:
        line = await trio.to_thread.run_sync(sys.stdin.readline)
        if not line:
            return
        yield line.strip()


def emit(obj: dict[str, Any]) -> None:
    print(json.dumps(obj), flush=True)


async def seed(a: argparse.Namespace) -> None:
    BitswapClient, MemoryBlockStore, compute_cid_v1, new_host = imports(a.impl, a.host)
    host = make_host(new_host)
    async with host.run([multiaddr.Multiaddr(LOOPBACK)]), trio.open_nursery() as nursery:
        bitswap = BitswapClient(host, MemoryBlockStore())
        bitswap.set_nursery(nursery)
        await bitswap.start()
        rng = random.Random(a.seed)
        digest = hashlib.sha256()
        cids = []
        for _ in range(a.blocks):
            data = rng.randbytes(a.size)
            digest.update(data)
            cid = compute_cid_v1(data)
            await bitswap.add_block(cid, data)
            cids.append(cid)
        from fastswap.compat.libp2p.cid import cid_to_text

        await trio.Path(a.cids_file).write_text("".join(cid_to_text(c) + "\n" for c in cids))
        addr = str(host.get_addrs()[0])
        if "/p2p/" not in addr:
            addr += f"/p2p/{host.get_id()}"
        emit({"addr": addr, "sha256": digest.hexdigest()})
        async for _ in stdin_lines():
            pass
        await bitswap.stop()
        nursery.cancel_scope.cancel()


async def leech(a: argparse.Namespace) -> None:
    BitswapClient, MemoryBlockStore, _, new_host = imports(a.impl, a.host)
    texts = (await trio.Path(a.cids_file).read_text()).split()
    info = info_from_p2p_addr(multiaddr.Multiaddr(a.peer))
    async for _ in stdin_lines():
        host = make_host(new_host)
        async with host.run([multiaddr.Multiaddr(LOOPBACK)]), trio.open_nursery() as nursery:
            bitswap = BitswapClient(host, MemoryBlockStore())
            bitswap.set_nursery(nursery)
            await bitswap.start()
            await host.connect(info)
            peer_id = info.peer_id
            t0 = time.perf_counter()
            got = await bitswap.new_session().get_blocks_batch(texts, peer_id=peer_id)
            seconds = time.perf_counter() - t0
            from fastswap.compat.libp2p.cid import cid_to_bytes

            digest = hashlib.sha256()
            nbytes = 0
            for text in texts:
                data = got.get(cid_to_bytes(text))
                if data is None:
                    continue
                digest.update(data)
                nbytes += len(data)
            emit({"seconds": seconds, "blocks": len(got), "bytes": nbytes,
                  "sha256": digest.hexdigest()})
            await bitswap.stop()
            nursery.cancel_scope.cancel()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--impl", choices=["libp2p", "dropin"], required=True)
    p.add_argument("--host", choices=["pylibp2p", "fastswap"], default="pylibp2p")
    p.add_argument("--mode", choices=["seed", "leech"], required=True)
    p.add_argument("--cids-file", required=True)
    p.add_argument("--blocks", type=int, default=2000)
    p.add_argument("--size", type=int, default=256 * 1024)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--peer")
    a = p.parse_args()
    if a.impl == "libp2p" and a.host == "fastswap":
        p.error("libp2p.bitswap runs on a py-libp2p host only")
    if a.mode == "leech" and not (a.peer or "").startswith("/ip4/127."):
        p.error("--peer: a loopback multiaddr is required")
    trio.run(seed if a.mode == "seed" else leech, a)


if __name__ == "__main__":
    main()
