"""A py-libp2p program using the drop-in: fetch one file by CID from one peer and print
``{"sha256", "size", "seconds", "peerVersion"}`` as JSON. Runs on the drop-in venv's Python
(``tests/peers/pylibp2p_dropin.py``): a py-libp2p host under trio, ``fastswap.compat.libp2p``
for Bitswap, exactly as a py-libp2p program would after changing its import.

    python dropin_fetch.py --peer /ip4/127.0.0.1/tcp/4001/p2p/12D... --cid bafy... [--timeout S]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time

import multiaddr
import trio
from libp2p import new_host
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.peer.peerinfo import info_from_p2p_addr

from fastswap.compat.libp2p import BitswapClient, MemoryBlockStore
from fastswap.compat.libp2p.dag import MerkleDag


async def main(peer: str, cid: str, timeout: float) -> dict:
    host = new_host(key_pair=create_new_key_pair(), enable_mDNS=False, enable_upnp=False,
                    bootstrap=None)
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
            version = bitswap._driver.core.version(info.peer_id)
            return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
                    "seconds": seconds,
                    "peerVersion": None if version is None else version.protocol_id}
        finally:
            await bitswap.stop()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--peer", required=True)
    p.add_argument("--cid", required=True)
    p.add_argument("--timeout", type=float, default=120.0)
    a = p.parse_args()
    if not a.peer.startswith("/ip4/127."):
        sys.exit("dropin_fetch dials loopback peers only")
    print(json.dumps(trio.run(main, a.peer, a.cid, a.timeout)), flush=True)
