"""The drop-in on both hosts -- py-libp2p's (the trio driver) and fastswap's own (``new_host``:
``fastswap.Node``) -- in a mixed swarm with py-libp2p's own Bitswap on a py-libp2p host, and
each place where the drop-in does what the Bitswap spec says instead of what py-libp2p does
(the list in ``fastswap.compat.libp2p``'s docstring). Runs in the drop-in venv (see
../conftest.py)."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import pytest
import trio
from libp2p.bitswap import BitswapClient as PyBitswapClient
from libp2p.bitswap import MemoryBlockStore as PyMemoryBlockStore
from libp2p.bitswap.dag import MerkleDag as PyMerkleDag
from libp2p.peer.id import ID

from fastswap.compat.libp2p import (
    BitswapClient,
    BlockUnavailableError,
    MemoryBlockStore,
    MerkleDag,
    compute_cid_v0,
    compute_cid_v1,
)
from fastswap.message import (
    WANT_HAVE,
    Entry,
    Message,
    encode_message,
    frame_length_prefix,
)

from .conftest import HOSTS, connect, host_of, pylibp2p_host, recorder, wait_for

pytestmark = pytest.mark.trio


def pylibp2p_id(host: Any) -> ID:
    """*host*'s peer id as py-libp2p's code takes it (fastswap's host gives its own type)."""
    return ID.from_base58(str(host.get_id()))


#: the other side, always on a py-libp2p host: (its BitswapClient, its store, its MerkleDag)
OTHERS = {"libp2p.bitswap": (PyBitswapClient, PyMemoryBlockStore, PyMerkleDag),
          "dropin": (BitswapClient, MemoryBlockStore, MerkleDag)}


@pytest.mark.parametrize(("host", "dialer", "other"), [
    ("pylibp2p", "dropin", "libp2p.bitswap"), ("fastswap", "dropin", "libp2p.bitswap"),
    ("fastswap", "other", "libp2p.bitswap"), ("fastswap", "dropin", "dropin"),
    ("fastswap", "other", "dropin")])
async def test_mixed_swarm_trades_both_ways(host: str, dialer: str, other: str) -> None:
    """The drop-in on *host* and *other* on a py-libp2p host -- py-libp2p's own Bitswap, or the
    drop-in's trio driver beside fastswap's host in one program -- whichever dials: each
    fetches the other's file (several 256 KiB blocks: a balanced DAG) byte for byte."""
    theirs = os.urandom(3 * 256 * 1024 + 1000)
    ours = os.urandom(5 * 256 * 1024 + 7)
    client_cls, store_cls, dag_cls = OTHERS[other]
    async with pylibp2p_host() as ha, host_of(host) as hb, trio.open_nursery() as nursery:
        a = client_cls(ha, store_cls())
        a.set_nursery(nursery)
        await a.start()
        b = BitswapClient(hb, MemoryBlockStore())
        await b.start()
        try:
            cid_theirs = await dag_cls(a).add_bytes(theirs)
            cid_ours = await MerkleDag(b).add_bytes(ours)
            await (connect(hb, ha) if dialer == "dropin" else connect(ha, hb))
            with trio.fail_after(60):
                got, _ = await MerkleDag(b).fetch_file(cid_theirs, peer_id=ha.get_id())
                assert hashlib.sha256(got).digest() == hashlib.sha256(theirs).digest()
                got, _ = await dag_cls(a).fetch_file(cid_ours, peer_id=pylibp2p_id(hb))
                assert hashlib.sha256(got).digest() == hashlib.sha256(ours).digest()
            assert [str(p) for p in b.peers] == [str(ha.get_id())]
        finally:
            await b.stop()
            await a.stop()
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize("host", HOSTS)
async def test_want_block_fetches_into_the_store(host: str) -> None:
    """want_block (want-block, py-libp2p's default) keeps asking until the block is in the
    client's store, with nobody waiting on a call; a cancelled want is not fetched."""
    wanted, dropped = os.urandom(70_000), os.urandom(50_000)
    async with host_of(host) as hp, host_of(host) as hc:
        provider = BitswapClient(hp, MemoryBlockStore())
        store = MemoryBlockStore()
        client = BitswapClient(hc, store)
        await provider.start()
        await client.start()
        try:
            cid, cid_dropped = compute_cid_v1(wanted), compute_cid_v1(dropped)
            await client.want_block(cid)
            await client.want_block(cid_dropped)
            await client.cancel_want(cid_dropped)
            await connect(hc, hp)
            await provider.add_block(cid, wanted)
            await provider.add_block(cid_dropped, dropped)
            await wait_for(lambda: cid in store.get_all_cids(), 20)
            assert await store.get_block(cid) == wanted
            await trio.sleep(0.5)
            assert cid_dropped not in store.get_all_cids()
        finally:
            await client.stop()
            await provider.stop()


@pytest.mark.parametrize("host", HOSTS)
async def test_dont_have_is_an_answer(host: str) -> None:
    """Every connected peer said DONT_HAVE: get_block raises BlockUnavailableError at once,
    not a TimeoutError after its 30 s (py-libp2p waits them out)."""
    async with host_of(host) as hp, host_of(host) as hc:
        provider = BitswapClient(hp, MemoryBlockStore())
        client = BitswapClient(hc, MemoryBlockStore())
        await provider.start()
        await client.start()
        try:
            await connect(hc, hp)
            await wait_for(lambda: len(client.peers) == 1)
            missing = compute_cid_v1(b"nobody has this")
            with trio.fail_after(10), pytest.raises(BlockUnavailableError):
                await client.new_session().get_block(missing, peer_id=hp.get_id(), timeout=30)
        finally:
            await client.stop()
            await provider.stop()


@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize("provider_kind", ["dropin", "pylibp2p"])
async def test_have_block_is_true_only_for_blocks_the_peer_has(provider_kind: str,
                                                                host: str) -> None:
    """have_block on *host*: True for a block the peer holds, False for one it lacks (py-libp2p
    says True for both), against either implementation as the provider (the drop-in's on the
    same kind of host)."""
    data = os.urandom(300 * 1024)
    provider_host = host_of(host) if provider_kind == "dropin" else pylibp2p_host()
    async with provider_host as hp, host_of(host) as hc, trio.open_nursery() as nursery:
        if provider_kind == "dropin":
            provider: Any = BitswapClient(hp, MemoryBlockStore())
        else:
            provider = PyBitswapClient(hp, PyMemoryBlockStore())
            provider.set_nursery(nursery)
        await provider.start()
        client = BitswapClient(hc, MemoryBlockStore())
        await client.start()
        try:
            cid = compute_cid_v1(data)
            await provider.add_block(cid, data)
            await connect(hc, hp)
            await wait_for(lambda: len(client.peers) == 1)
            with trio.fail_after(20):
                assert await client.have_block(cid, hp.get_id()) is True
                assert await client.have_block(compute_cid_v1(b"absent"), hp.get_id()) is False
        finally:
            await client.stop()
            await provider.stop()
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize("host", HOSTS)
async def test_served_as_the_spec_says(host: str) -> None:
    """A raw 1.2.0 requester (a py-libp2p host) asks the drop-in on *host*: want-have for a
    256 KiB block is answered with HAVE, not the block; want-block for a CIDv0 block brings it
    with the prefix 00 70 12 20 (py-libp2p: empty); a 1 MiB block is served (py-libp2p refuses
    over 512 KiB); and every answer comes on a stream the server opened, not on the
    requester's."""
    big = os.urandom(256 * 1024)
    v0 = os.urandom(1000)
    huge = os.urandom(1024 * 1024)
    received: list[Message] = []
    async with host_of(host) as hp, pylibp2p_host() as hr:
        hr.set_stream_handler("/ipfs/bitswap/1.2.0", recorder(received))
        provider = BitswapClient(hp, MemoryBlockStore())
        await provider.start()
        try:
            cid_big, cid_v0, cid_huge = (compute_cid_v1(big), compute_cid_v0(v0),
                                         compute_cid_v1(huge))
            await provider.add_block(cid_big, big)
            await provider.add_block(cid_v0, v0)
            await provider.add_block(cid_huge, huge)
            await connect(hr, hp)
            stream = await hr.new_stream(pylibp2p_id(hp), ["/ipfs/bitswap/1.2.0"])
            wants = Message([Entry(cid_big, want_type=WANT_HAVE, send_dont_have=True),
                             Entry(cid_v0), Entry(cid_huge)])
            payload = encode_message(wants)
            await stream.write(frame_length_prefix(len(payload)) + payload)

            def answered() -> bool:
                blocks = {bytes(d) for m in received for _, d in m.blocks}
                haves = {bytes(p.cid) for m in received for p in m.presences}
                return cid_big in haves and v0 in blocks and huge in blocks

            await wait_for(answered, 20)
            # nothing came back on the requester's own stream
            with trio.move_on_after(0.5):
                assert await stream.read(1) in (b"",)
            for m in received:
                assert big not in {bytes(d) for _, d in m.blocks}, "want-have brought the block"
                for prefix, data in m.blocks:
                    if bytes(data) == v0:
                        assert bytes(prefix) == b"\x00\x70\x12\x20"
        finally:
            await provider.stop()
