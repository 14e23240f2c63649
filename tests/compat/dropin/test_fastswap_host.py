"""The drop-in's own host, ``fastswap.compat.libp2p.new_host``: what a py-libp2p program sees
of it beyond Bitswap (identity, addresses, lifecycle, refused options), and a cancelled call
(trading on it: test_mixed_swarm.py). Runs in the drop-in venv (see ../conftest.py)."""

from __future__ import annotations

import threading
from typing import Any

import multiaddr
import pytest
import trio
from libp2p.bitswap import MemoryBlockStore as PyMemoryBlockStore
from libp2p.crypto import ed25519, secp256k1
from libp2p.peer.id import ID

from fastswap.compat.libp2p import (
    BitswapClient,
    MemoryBlockStore,
    compute_cid_v1,
    new_host,
)
from fastswap.errors import HostNotRunningError, UnsupportedOptionError
from fastswap.message import Message

from .conftest import LOOPBACK, connect, fastswap_host, pylibp2p_host, recorder, wait_for

pytestmark = pytest.mark.trio


@pytest.mark.parametrize("make_key", [ed25519.create_new_key_pair,
                                      secp256k1.create_new_key_pair])
async def test_key_pair_keeps_its_peer_id(make_key: Any) -> None:
    """A py-libp2p key pair gives the peer id py-libp2p derives from it, and the host proves it
    in the handshake: a py-libp2p host dialling it by that id gets through (Noise checks the
    signed key against the id)."""
    key = make_key()
    host = new_host(key_pair=key)
    assert str(host.get_id()) == ID.from_pubkey(key.public_key).to_base58()
    async with host.run([multiaddr.Multiaddr(LOOPBACK)]), pylibp2p_host() as other:
        await connect(other, host)
        assert str(host.get_id()) in {str(p) for p in other.get_connected_peers()}
        await wait_for(lambda: [str(p) for p in host.get_connected_peers()]
                       == [str(other.get_id())])


async def test_addresses_in_py_libp2p_shapes() -> None:
    """get_addrs carries /p2p/<id>, get_transport_addrs does not; both are py-multiaddr
    objects (a program calls .encapsulate on them), listening where run() was told."""
    async with fastswap_host() as host:
        (addr,) = host.get_addrs()
        (transport,) = host.get_transport_addrs()
        assert isinstance(addr, multiaddr.Multiaddr)
        assert str(addr) == f"{transport}/p2p/{host.get_id()}"
        assert str(transport).startswith("/ip4/127.0.0.1/tcp/")
        assert str(transport.encapsulate(multiaddr.Multiaddr(f"/p2p/{host.get_id()}"))) == \
            str(addr)


async def test_refused_options_say_what_to_use() -> None:
    """Options py-libp2p offers and this host does not are refused by name, switched off they
    are accepted; a block store the host's thread cannot call is refused with the stores that
    work; a host that is not running says how to run it."""
    with pytest.raises(UnsupportedOptionError, match="enable_quic"):
        new_host(enable_quic=True)
    with pytest.raises(UnsupportedOptionError, match="muxer_preference"):
        new_host(muxer_preference="SPDY")
    host = new_host(enable_quic=False, bootstrap=None, enable_tcp=True, muxer_preference="MPLEX")
    with pytest.raises(UnsupportedOptionError, match="MemoryBlockStore"):
        BitswapClient(host, PyMemoryBlockStore())
    client = BitswapClient(host, MemoryBlockStore())
    with pytest.raises(HostNotRunningError, match="host.run"):
        await client.start()
    with pytest.raises(HostNotRunningError, match="host.run"):
        await host.connect(object())


async def test_run_ends_everything() -> None:
    """Leaving run() stops a Bitswap client still running on the host and ends the host's
    thread; close() inside run() (as py-libp2p's tests do) is harmless."""
    before = {t.ident for t in threading.enumerate()}
    host = new_host()
    async with host.run([multiaddr.Multiaddr(LOOPBACK)]):
        client = BitswapClient(host, MemoryBlockStore())
        await client.start()
        assert {t.name for t in threading.enumerate()} >= {"fastswap-host"}
        await host.close()
    assert client._driver.stopped
    with trio.fail_after(10):
        while {t.ident for t in threading.enumerate() if t.name == "fastswap-host"} - before:
            await trio.sleep(0.02)


async def test_a_cancelled_call_cancels_its_wants() -> None:
    """A get_block the trio program cancels ends at once, its want is cancelled at the peer
    and its session closed on the host's loop (nothing wanted any more). The peer is a raw Bitswap 1.1.0 listener on a py-libp2p host that records what it is
    sent and never answers (1.1.0 has no DONT_HAVE), so only the cancel can end the want."""
    missing = compute_cid_v1(b"nobody has this block")
    seen: list[Message] = []
    async with fastswap_host() as hc, pylibp2p_host() as hp:
        hp.set_stream_handler("/ipfs/bitswap/1.1.0", recorder(seen))
        client = BitswapClient(hc, MemoryBlockStore())
        await client.start()
        try:
            await connect(hc, hp)
            await wait_for(lambda: len(client.peers) == 1)
            with trio.move_on_after(1.0) as scope:
                await client.new_session().get_block(missing, peer_id=hp.get_id(), timeout=60)
            assert scope.cancelled_caught

            def entries(cancel: bool) -> list[bytes]:
                return [bytes(e.cid) for m in seen for e in m.entries if e.cancel is cancel]

            assert missing in entries(False)
            await wait_for(lambda: missing in entries(True))

            async def wanted() -> list[bytes]:  # read on the host's loop, the core's thread
                return client._driver.node.core.client.wanted()

            with trio.fail_after(10):  # the session is closed: nothing is wanted any more
                while await client._driver._loop.call(wanted):
                    await trio.sleep(0.05)
        finally:
            await client.stop()
