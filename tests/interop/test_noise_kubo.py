"""Our Noise XX initiator against a real go-libp2p node (Kubo 0.22): multistream /noise, the
handshake (RSA and Ed25519 identities, verified against the /p2p/ id), then multistream
/yamux/1.0.0 negotiated inside the encrypted channel, which proves both cipher directions."""

from __future__ import annotations

import asyncio

import pytest

from fastswap.net.conn import secure_outbound
from fastswap.net.keys import Ed25519KeyPair, KeyType
from fastswap.net.multiaddr import Multiaddr
from fastswap.net.multistream import MultistreamDialer
from tests.peers.kubo import start_kubo

pytestmark = [pytest.mark.interop, pytest.mark.timeout(180)]


async def _secure_and_negotiate(multiaddr: str):
    ma = Multiaddr.parse(multiaddr)
    host, port = ma.tcp_address()
    reader, writer = await asyncio.open_connection(host, port)
    try:
        conn = await secure_outbound(reader, writer, Ed25519KeyPair.generate(), ma.peer_id,
                                     timeout=20)
        dialer = MultistreamDialer(["/yamux/1.0.0"])
        conn.write(dialer.initiate())
        while not dialer.done:
            chunk = await asyncio.wait_for(conn.read(), 20)
            assert chunk, "Kubo closed the secured connection"
            out = dialer.receive_data(chunk)
            if out:
                conn.write(out)
        return conn.remote_peer, conn.remote_public_key, dialer.selected
    finally:
        writer.close()


@pytest.mark.parametrize("key_type, expected", [("rsa", KeyType.RSA),
                                                ("ed25519", KeyType.Ed25519)])
def test_noise_handshake_with_kubo(key_type: str, expected: KeyType) -> None:
    peer = start_kubo(key_type=key_type)
    try:
        remote, key, muxer = asyncio.run(_secure_and_negotiate(peer.multiaddr))
    finally:
        peer.close()
    assert str(remote) == peer.peer_id
    assert key.key_type is expected
    assert muxer == "/yamux/1.0.0"
