"""The receive fast path of the Node (fastswap/node.py, fastswap/net/bitswap.py): messages with
large blocks are hashed in the verifier thread (ipfs/specs bitswap-protocol: a block is named by
hashing it, which is its verification) and still nothing unverified is stored or delivered;
messages are handled in arrival order; the stream reader's frame collector splits the
length-prefixed stream at any chunk boundary and refuses bad frames; the client engine's
``names`` hand-off gives the same events as hashing inside the engine."""

from __future__ import annotations

import asyncio
import os

import pytest

from fastswap import _defaults
from fastswap.cid import cid_prefix, compute_cid
from fastswap.client.engine import ClientEngine, name_blocks
from fastswap.errors import (
    FetchTimeoutError,
    MalformedMessageError,
    MessageTooLargeError,
    TruncatedMessageError,
)
from fastswap.events import BadBlock, BlockReceived
from fastswap.message import FrameDecoder, Message, frame_length_prefix
from fastswap.net.bitswap import BitswapNetwork
from fastswap.net.host import Host
from fastswap.node import Node

pytestmark = pytest.mark.timeout(120)

LISTEN = ["/ip4/127.0.0.1/tcp/0"]
BIG = 2 * _defaults.NODE_VERIFY_OFFLOAD_BYTES  # over the threshold: hashed off the loop


def test_lying_peer_large_blocks_hashed_off_loop(run):
    """Forged large blocks (the verifier-thread path) are neither stored nor delivered; a
    message mixing a real and a forged block stores only the real one."""

    async def main():
        real = [os.urandom(BIG) for _ in range(2)]
        cids = [compute_cid(d) for d in real]
        liar = Host(listen_addrs=LISTEN)
        forged = 0

        def on_msg(peer, msg: Message, proto):
            nonlocal forged
            blocks = []
            for e in msg.entries:
                if e.cancel:
                    continue
                c = bytes(e.cid)
                if c == cids[0]:
                    forged += 1
                    blocks.append((cid_prefix(c), os.urandom(BIG)))  # a lie
                elif c == cids[1]:
                    blocks.append((cid_prefix(c), real[1]))  # the truth, in the same message
            if blocks:
                asyncio.ensure_future(net.send(peer, Message(blocks=blocks)))

        net = BitswapNetwork(liar, on_msg)
        net.start()
        async with liar, Node() as b:
            await b.connect(liar.addrs[0])
            got = asyncio.ensure_future(b.get_block(cids[1], timeout=30))
            with pytest.raises(FetchTimeoutError):
                await b.get_block(cids[0], timeout=1.5)
            blk = await got
            assert bytes(blk.data) == real[1]
            assert forged >= 1
            assert b._rx.verifier_started  # the large blocks went through the verifier
            assert not b.store.has(cids[0]) and b.store.get(cids[1]) == real[1]
            assert len(b.store) == 1
            await net.stop()

    run(main())


def test_large_and_small_messages_keep_order(run):
    """A presence-only message behind a large-block message still being hashed is handled
    after it: the block arrives first and the wants are all met."""

    async def main():
        data = [os.urandom(BIG) for _ in range(6)] + [b"tiny block %d" % i for i in range(6)]
        async with Node() as a, Node() as b:
            cids = [await a.put_block(d) for d in data]
            await b.connect(a.addrs[0])
            got = {}

            async def fetch():
                async for blk in b.get_blocks(cids):
                    got[blk.cid] = bytes(blk.data)

            await asyncio.wait_for(fetch(), 30)
            assert got == dict(zip(cids, data))
            assert all(b.store.get(c) == d for c, d in zip(cids, data))
            assert b._rx.pending() == 0  # nothing left waiting in the pipeline

    run(main())


def _stream_of(frames: list[bytes]) -> bytes:
    return b"".join(frame_length_prefix(len(f)) + f for f in frames)


@pytest.mark.parametrize("step", [1, 2, 3, 7, 100, 4096, 65536, 1 << 20])
def test_frame_decoder_any_boundary_for_stream_chunks(step):
    frames = [b"", b"x", os.urandom(127), os.urandom(128), os.urandom(70_000),
              os.urandom(300_000), b"", os.urandom(5)]
    wire = _stream_of(frames)
    col = FrameDecoder(max_message_size=1 << 20)
    out = []
    for pos in range(0, len(wire), step):
        out += [bytes(p) for p in col.feed(wire[pos:pos + step])]
    col.eof()
    assert out == frames


def test_frame_decoder_refuses_bad_frames():
    with pytest.raises(MessageTooLargeError):
        FrameDecoder(max_message_size=1000).feed(frame_length_prefix(5000))  # refused from the prefix alone
    with pytest.raises(MalformedMessageError):
        FrameDecoder().feed(b"\x80" * 11)  # an 11-byte length prefix
    col = FrameDecoder(max_message_size=1000)
    assert col.feed(frame_length_prefix(10) + b"abc") == []
    with pytest.raises(TruncatedMessageError):
        col.eof()
    col = FrameDecoder(max_message_size=1000)
    col.feed(b"\x85")  # half a prefix
    with pytest.raises(TruncatedMessageError):
        col.eof()


def test_engine_names_handoff_matches_hashing_in_engine():
    good = os.urandom(BIG)
    cid = compute_cid(good)
    bad_cid = compute_cid(b"other")
    blocks = [(cid_prefix(cid), good), (b"\x01", b"bad prefix"),
              (cid_prefix(bad_cid), b"unwanted")]
    msg = Message(blocks=blocks)
    results = []
    for names in (None, name_blocks(msg.blocks)):
        eng = ClientEngine()
        eng.peer_connected("p", 0.0)
        eng.want(0, [cid], 0.0)
        evs = eng.receive_message("p", msg, 1.0, names=names)
        results.append([(type(e).__name__, getattr(e, "cid", None)) for e in evs])
        assert any(isinstance(e, BlockReceived) and e.cid == cid for e in evs)
        assert any(isinstance(e, BadBlock) for e in evs)
    assert results[0] == results[1]
    with pytest.raises(ValueError):
        ClientEngine().receive_message("p", msg, 0.0, names=[])
