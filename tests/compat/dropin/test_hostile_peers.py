"""The drop-in is as hard to abuse as fastswap.Node, on either host: a peer sending malformed
frames is dropped and refused, a want nobody can serve fails once the client gives up
(WantFailed) instead of waiting out the call's timeout, and an identity CID never goes to the
network. Runs in the drop-in venv (see ../conftest.py)."""

from __future__ import annotations

import contextlib
import math
import os
from typing import Any

import pytest
import trio
from libp2p.peer.id import ID

from fastswap import _defaults as D
from fastswap import varint
from fastswap.client.engine import ClientConfig
from fastswap.compat._trio import TrioDriver
from fastswap.compat.libp2p import BitswapClient, MemoryBlockStore, compute_cid_v1
from fastswap.message import Message

from .conftest import HOSTS, connect, host_of, pylibp2p_host, recorder, wait_for

pytestmark = pytest.mark.trio

#: an identity CID (CIDv1, raw, multihash 0x00): the CID is the block
IDENTITY_DATA = b"hello, identity"
IDENTITY_CID = bytes([0x01, 0x55, 0x00, len(IDENTITY_DATA)]) + IDENTITY_DATA


async def _bitswap_stream(h: Any, target: ID) -> Any:
    """A new Bitswap stream from *h* to *target*, or None if it cannot be opened (no
    connection left: py-libp2p still lists a peer whose connections are gone)."""
    try:
        with trio.fail_after(5):
            return await h.new_stream(target, ["/ipfs/bitswap/1.2.0"])
    except Exception:  # noqa: BLE001 - SwarmException, a reset, a timeout: not open
        return None


@pytest.mark.parametrize("host", HOSTS)
async def test_a_peer_sending_malformed_frames_is_dropped_and_refused(host: str) -> None:
    """A raw peer opens Bitswap streams to the drop-in on *host* and announces a frame longer
    than any message may be, again and again (reconnecting when hung up on): the peer's score
    falls with each, and the drop-in hangs up on it and forgets it as a Bitswap peer once the
    score crosses the threshold; coming back does not help (fastswap's host closes the
    connection of each bad frame and refuses the banned peer at the handshake; on py-libp2p's
    host the stream is reset, and once refused the driver's core hangs up again on each
    return)."""
    async with host_of(host) as hp, pylibp2p_host() as hr:
        hr.set_stream_handler("/ipfs/bitswap/1.2.0", recorder([]))
        provider = BitswapClient(hp, MemoryBlockStore())
        await provider.start()
        try:
            await connect(hr, hp)
            await wait_for(lambda: len(provider.peers) == 1)
            target = ID.from_base58(str(hp.get_id()))
            frames = 0
            for _ in range(12):
                stream = await _bitswap_stream(hr, target)
                if stream is None:
                    # hung up (fastswap's host closes the connection of a malformed frame):
                    # come back, unless refused
                    with contextlib.suppress(Exception):
                        await connect(hr, hp)
                    await trio.sleep(0.5)
                    stream = await _bitswap_stream(hr, target)
                    if stream is None:
                        break
                frames += 1
                with contextlib.suppress(Exception):  # the drop-in resets or hangs up
                    await stream.write(varint.encode(64 << 20) + b"\0" * 64)
                    with trio.move_on_after(2):
                        await stream.read(1)
            else:
                pytest.fail("12 bad frames and never refused")
            # fastswap's host: 50 points a malformed frame, refused at 100 (halving each
            # minute); the trio driver's core: 20 a frame, refused at 100 (a point a second back)
            least = {"fastswap": math.ceil(D.PEER_BAN_SCORE / D.PENALTY_MALFORMED),
                     "pylibp2p": math.ceil(D.PEER_SCORE_BAN_THRESHOLD / D.PEER_SCORE_BAD_MESSAGE)}
            assert least[host] <= frames <= least[host] + 1, f"refused after {frames} bad frames"
            assert provider.peers == []
            await trio.sleep(1.0)
            assert provider.peers == []
            assert await _bitswap_stream(hr, target) is None
        finally:
            await provider.stop()


async def test_a_want_nobody_answers_fails_when_the_client_gives_up() -> None:
    """The trio driver: a peer that takes our wants and never answers; the client times the
    want out at that peer, finds nobody else and gives up (WantFailed). The fetch learns it
    then -- the CID is unavailable -- not at the call's own timeout."""
    config = ClientConfig(want_timeout=0.3, search_interval=0.1, max_search_interval=0.2,
                          give_up_after=0.5)
    async with pylibp2p_host() as hc, pylibp2p_host() as silent, trio.open_nursery() as nursery:
        heard: list[Message] = []
        silent.set_stream_handler("/ipfs/bitswap/1.2.0", recorder(heard))
        driver = TrioDriver(hc, MemoryBlockStore(), client_config=config)
        await driver.start(nursery)
        try:
            await connect(hc, silent)
            await wait_for(lambda: len(driver.peers) == 1)
            cid = compute_cid_v1(os.urandom(64))
            start = trio.current_time()
            fetch = await driver.fetch([cid], silent.get_id(), timeout=30)
            waited = trio.current_time() - start
            assert fetch.unavailable == {cid} and not fetch.arrived
            assert waited < 15, f"the fetch waited {waited:.1f} s: the WantFailed was not heard"
            assert any(bytes(e.cid) == cid for m in heard for e in m.entries), "never asked"
        finally:
            await driver.stop()
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize("host", HOSTS)
async def test_identity_cids_are_answered_from_the_cid(host: str) -> None:
    """get_block and get_blocks_batch of an identity CID return the data the CID carries, at
    once and with no peer at all (Kubo's and Helia's stores do the same): it is never wanted
    from the network, where nobody stores it."""
    async with host_of(host) as hc:
        client = BitswapClient(hc, MemoryBlockStore())
        await client.start()
        try:
            with trio.fail_after(2):
                assert await client.new_session().get_block(IDENTITY_CID) == IDENTITY_DATA
                got = await client.new_session().get_blocks_batch([IDENTITY_CID, IDENTITY_CID])
                assert got == {IDENTITY_CID: IDENTITY_DATA}
        finally:
            await client.stop()
