"""A py-libp2p program using the drop-in: fetch one file by CID from one peer and print
``{"sha256", "size", "seconds", "peerVersion", "driver"}`` as JSON. Runs on the drop-in venv's Python
(``tests/peers/pylibp2p_dropin.py``), under trio, with ``fastswap.compat.libp2p`` for Bitswap,
exactly as a py-libp2p program would after changing its import; ``--host fastswap`` also
changes its host construction (the drop-in's ``new_host``: fastswap's host).

    python dropin_fetch.py --peer /ip4/127.0.0.1/tcp/4001/p2p/12D... --cid bafy...
                           [--timeout S] [--host pylibp2p|fastswap]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time

import multiaddr
import trio
from libp2p import new_host as pylibp2p_new_host
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.peer.peerinfo import info_from_p2p_addr

from fastswap.compat._asyncio import as_peer_id
from fastswap.compat.libp2p import BitswapClient, MemoryBlockStore
from fastswap.compat.libp2p import new_host as fastswap_new_host
from fastswap.compat.libp2p.dag import MerkleDag

NEW_HOST = {"pylibp2p": pylibp2p_new_host, "fastswap": fastswap_new_host}


def peer_version(bitswap: BitswapClient, peer: object) -> str | None:
    """The Bitswap protocol the drop-in speaks with *peer* (read from its driver core)."""
    driver = bitswap._driver
    if hasattr(driver, "node"):  # fastswap's host: the core of its fastswap.Node
        version = driver.node.core.version(as_peer_id(peer))
    else:
        version = driver.core.version(peer)
    return None if version is None else version.protocol_id


async def main(peer: str, cid: str, timeout: float, host_kind: str) -> dict:
    host = NEW_HOST[host_kind](key_pair=create_new_key_pair(), enable_mDNS=False,
                               enable_upnp=False, bootstrap=None)
    async with host.run([multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]):
        bitswap = BitswapClient(host, MemoryBlockStore())
        await bitswap.start()
        try:
            info = info_from_p2p_addr(multiaddr.Multiaddr(peer))
            await host.connect(info)
            t0 = time.perf_counter()
            data, _ = await MerkleDag(bitswap).fetch_file(cid, peer_id=info.peer_id,
                                                          timeout=timeout)
            seconds = time.perf_counter() - t0
            return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
                    "seconds": seconds, "peerVersion": peer_version(bitswap, info.peer_id),
                    "driver": type(bitswap._driver).__name__}
        finally:
            await bitswap.stop()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--peer", required=True)
    p.add_argument("--cid", required=True)
    p.add_argument("--timeout", type=float, default=120.0)
    p.add_argument("--host", choices=sorted(NEW_HOST), default="pylibp2p")
    a = p.parse_args()
    if not a.peer.startswith("/ip4/127."):
        sys.exit("dropin_fetch dials loopback peers only")
    print(json.dumps(trio.run(main, a.peer, a.cid, a.timeout, a.host)), flush=True)
