"""Our Noise XX initiator against a real go-libp2p node (Kubo 0.22), through the host's dial:
multistream /noise, the handshake (RSA and Ed25519 identities, verified against the /p2p/ id),
then multistream /yamux/1.0.0 negotiated inside the encrypted channel, which proves both cipher
directions."""

from __future__ import annotations

import asyncio

import pytest

from fastswap.net.host import Host
from fastswap.net.keys import Ed25519KeyPair, KeyType
from tests.peers.kubo import start_kubo

pytestmark = [pytest.mark.interop, pytest.mark.timeout(180)]


async def _dial(multiaddr: str):
    async with Host(identity=Ed25519KeyPair.generate(), muxers=["/yamux/1.0.0"],
                    connect_timeout=20) as host:
        conn = await host.dial(multiaddr)
        return conn.remote_peer, conn.remote_public_key, conn.muxer_protocol


@pytest.mark.parametrize("key_type, expected", [("rsa", KeyType.RSA),
                                                ("ed25519", KeyType.Ed25519)])
def test_noise_handshake_with_kubo(key_type: str, expected: KeyType) -> None:
    peer = start_kubo(key_type=key_type)
    try:
        remote, key, muxer = asyncio.run(_dial(peer.multiaddr))
    finally:
        peer.close()
    assert str(remote) == peer.peer_id
    assert key.key_type is expected
    assert muxer == "/yamux/1.0.0"
