"""Small helpers for the DHT tests: deterministic peer ids and KadPeers."""

from __future__ import annotations

import random

from fastswap.net.keys import Ed25519KeyPair, PeerId
from fastswap.net.multiaddr import Multiaddr
from fastswap.routing.kad.messages import KadPeer


def peer_ids(n: int, seed: int = 0) -> list[PeerId]:
    rng = random.Random(seed)
    return [Ed25519KeyPair.from_seed(rng.randbytes(32)).peer_id for _ in range(n)]


def kad_peer(peer: PeerId, port: int = 4001) -> KadPeer:
    return KadPeer(peer, (Multiaddr.parse(f"/ip4/127.0.0.1/tcp/{port}"),))
