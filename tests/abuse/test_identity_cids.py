"""Issue 8, item 11: identity CIDs never go on the wire.

An identity CID (multihash 0x00) carries its block. Before, a DAG with inline leaves made the
client want them from peers: Kubo treats such a want as a broken client and drops the
connection, and fastswap redialled ~14 times a second until its timeout. Now the identity
blockstore layer (``fastswap.blockstore.with_identity``, under every Node and the CLI) answers
them from the CID, so a fetch never wants one, the client engine refuses one, and our server
answers a peer that wants one from the CID. The DAGs here are built with fastswap's own dag-pb
code: inline leaves are raw and dag-pb blocks named with the identity multihash, plus an inline
inner node and a DAG whose root itself is inline.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest
import uvloop

from fastswap.blockstore import LMDBBlockstore, MemoryBlockstore, with_identity
from fastswap.cid import (
    DAG_PB,
    IDENTITY,
    RAW,
    SHA2_256,
    compute_cid,
    encode_cid,
    identity_data,
    is_identity,
    to_str,
)
from fastswap.client.engine import ClientEngine
from fastswap.dag import cat
from fastswap.dag.dagpb import FILE, encode_link, encode_node, encode_unixfs
from fastswap.errors import BlockNotFoundError, CIDError, WantlistError
from fastswap.message import WANT_BLOCK, WANT_HAVE, Entry, Message
from fastswap.net.bitswap import BitswapNetwork
from fastswap.net.host import Host
from fastswap.node import Node

pytestmark = pytest.mark.timeout(180)


def inline(data: bytes, codec: int = RAW) -> bytes:
    return encode_cid(1, codec, IDENTITY, data)


def file_node(children: list[tuple[bytes, int, int]]) -> bytes:
    """A UnixFS File node over (cid, file bytes, dag bytes) children."""
    links = [encode_link(c, tsize) for c, _, tsize in children]
    sizes = [n for _, n, _ in children]
    return encode_node(links, encode_unixfs(FILE, filesize=sum(sizes), blocksizes=sizes))


def dags() -> tuple[dict[bytes, bytes], list[tuple[bytes, bytes]]]:
    """Two UnixFS files: the blocks a store keeps (no identity ones), and (root, bytes) each.

    * one with a sha2-256 root over: 256 KiB raw leaves, an inline raw leaf, an inline dag-pb
      leaf, an inline inner node over two inline raw leaves, and a short raw leaf;
    * one whose root is inline itself, over a sha2-256 raw leaf and an inline raw leaf.
    """
    stored: dict[bytes, bytes] = {}

    def leaf(data: bytes) -> tuple[bytes, int, int]:
        cid = compute_cid(data)
        stored[cid] = data
        return cid, len(data), len(data)

    big = [os.urandom(256 * 1024) for _ in range(3)]
    small = b"an inline raw leaf"
    pb_text = b"an inline dag-pb leaf"
    pb_leaf = encode_node([], encode_unixfs(FILE, data=pb_text, filesize=len(pb_text)))
    a, b = b"inline a, ", b"inline b. "
    inner = file_node([(inline(a), len(a), len(a)), (inline(b), len(b), len(b))])
    kids = [
        leaf(big[0]),
        (inline(small), len(small), len(small)),
        leaf(big[1]),
        (inline(pb_leaf, DAG_PB), len(pb_text), len(pb_leaf)),
        (inline(inner, DAG_PB), len(a) + len(b), len(inner) + len(a) + len(b)),
        leaf(big[2][:5000]),
    ]
    root = file_node(kids)
    root_cid = compute_cid(root, codec=DAG_PB)
    stored[root_cid] = root
    first = big[0] + small + big[1] + pb_text + a + b + big[2][:5000]

    tail = os.urandom(3000)
    t = b"and an inline tail"
    tiny_root = file_node([leaf(tail), (inline(t), len(t), len(t))])
    tiny_root_cid = inline(tiny_root, DAG_PB)
    assert is_identity(tiny_root_cid)
    return stored, [(root_cid, first), (tiny_root_cid, tail + t)]


def content(store, root: bytes) -> bytes:
    return b"".join(bytes(c) for c in cat(store, root))


# -- the identity layer ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["memory", "lmdb"])
def test_the_identity_layer_answers_identity_cids_from_the_cid(kind, tmp_path):
    below = MemoryBlockstore() if kind == "memory" else LMDBBlockstore(tmp_path / "blocks")
    s = with_identity(below)
    assert with_identity(s) is s  # once
    data = b"inline data"
    c = inline(data)
    other = compute_cid(b"stored data")
    s.put(other, b"stored data")
    s.put(c, b"ignored: the data is the CID")
    assert s.has(c) and c in s and s.get(c) == data and s.get_size(c) == len(data)
    with s.view(c) as mv:
        assert bytes(mv) == data
    missing = compute_cid(b"missing")
    batch = [other, c, missing, c]
    assert s.has_many(batch) == [True, True, False, True]
    assert s.get_sizes(batch) == [11, len(data), None, len(data)]
    assert s.get_many(batch) == [b"stored data", data, None, data]
    with s.view_many(batch) as views:
        assert [None if v is None else bytes(v) for v in views] == s.get_many(batch)
    # nothing is stored for it: the store below holds one block
    assert len(s) == 1 and list(s.cids()) == [other] and s.size_bytes() == 11
    assert not below.has(c) and s.delete(c) is False
    assert s.put_many([(c, data), (compute_cid(b"x"), b"x")]) == 1
    with pytest.raises(BlockNotFoundError):
        s.get(missing)
    with pytest.raises(CIDError):  # an identity CID whose length does not match
        s.get(c[:-1])
    s.close()


def test_the_client_engine_refuses_identity_cids():
    e = ClientEngine()
    e.peer_connected("A", 0.0)
    sid = e.new_session(0.0)
    c = inline(b"inline")
    with pytest.raises(WantlistError, match="identity CID"):
        e.want(sid, [compute_cid(b"fine"), c], 0.0)
    assert e.wanted() == [] and e.outgoing(0.0) == []  # all or nothing


def test_our_server_answers_a_want_for_an_identity_cid_from_the_cid():
    c = inline(b"served from the CID itself")

    async def main() -> dict[bytes, bytes]:
        got: asyncio.Queue = asyncio.Queue()
        raw = Host(listen_addrs=["/ip4/127.0.0.1/tcp/0"])
        net = BitswapNetwork(raw, lambda p, m, v: got.put_nowait(m))
        net.start()
        async with raw, Node() as node:
            await raw.dial(node.addrs[0])
            await net.send(node.peer_id, Message(entries=[Entry(c, want_type=WANT_HAVE),
                                                          Entry(c, want_type=WANT_BLOCK)]))
            msg = await asyncio.wait_for(got.get(), 10)
            await net.stop()
            return {bytes(k): bytes(v) for k, v in msg.iter_blocks()}

    assert uvloop.run(main()) == {c: b"served from the CID itself"}


# -- fetching DAGs with inline blocks ------------------------------------------------------------


def record_sent(node: Node) -> list[Message]:
    """Every message *node* writes to a peer, as it goes on the wire."""
    sent: list[Message] = []
    send = node.net.send

    async def recording(peer, msg):
        sent.append(msg)
        return await send(peer, msg)

    node.net.send = recording  # type: ignore[method-assign]
    return sent


def wanted_on_the_wire(sent: list[Message]) -> set[bytes]:
    return {bytes(e.cid) for m in sent for e in m.entries}


def test_a_dag_with_inline_blocks_fetches_from_fastswap():
    stored, roots = dags()

    async def main() -> tuple[list[bytes], set[bytes], int]:
        seeder_store = MemoryBlockstore()
        seeder_store.put_many(stored.items())
        async with Node(store=seeder_store) as seeder, Node() as leecher:
            sent = record_sent(leecher)
            await leecher.connect(seeder.addrs[0])
            got = []
            for root, _ in roots:
                await leecher.fetch_dag(root, timeout=30)
                got.append(content(leecher.store, root))
            return got, wanted_on_the_wire(sent), len(leecher.store)

    got, on_wire, n = uvloop.run(main())
    assert got == [data for _, data in roots]
    assert on_wire and not any(is_identity(c) for c in on_wire)
    assert on_wire <= set(stored) and n == len(stored)  # the rest came from the CIDs


def test_a_dag_with_inline_blocks_fetches_from_kubo(kubo_factory, tmp_path: Path):
    """Kubo 0.22 first takes both DAGs from a fastswap seeder (its own client never wants an
    identity CID); then a fresh fastswap node, connected to Kubo alone, fetches them from it,
    on one connection that Kubo never drops."""
    kubo = kubo_factory()
    stored, roots = dags()

    async def main() -> tuple[list[bytes], set[bytes], bool]:
        seeder_store = MemoryBlockstore()
        seeder_store.put_many(stored.items())
        async with Node(store=seeder_store) as seeder:
            await asyncio.to_thread(kubo.connect, str(seeder.addrs[0]))
            for i, (root, data) in enumerate(roots):
                r = await kubo.adownload(to_str(root), tmp_path / f"k{i}", timeout=60)
                assert r["sha256"] == hashlib.sha256(data).hexdigest()
        async with Node() as leecher:
            sent = record_sent(leecher)
            peer = await leecher.connect(kubo.multiaddr)
            conn = leecher.host.connection(peer)
            got = []
            for root, _ in roots:
                await leecher.fetch_dag(root, timeout=60)
                got.append(content(leecher.store, root))
            return got, wanted_on_the_wire(sent), leecher.host.connection(peer) is conn

    got, on_wire, same_conn = uvloop.run(main())
    assert got == [data for _, data in roots]
    assert on_wire and not any(is_identity(c) for c in on_wire)
    assert same_conn  # Kubo never saw a want it treats as a broken client


def test_identity_data_is_the_digest():
    c = inline(b"abc")
    assert identity_data(c) == b"abc" and identity_data(compute_cid(b"abc")) is None
    assert not is_identity(encode_cid(1, RAW, SHA2_256, hashlib.sha256(b"abc").digest()))
