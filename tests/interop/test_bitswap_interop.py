"""fastswap's Bitswap (fastswap.Node) trading UnixFS files with real peers from tests/peers, at
the issue's 64 MiB: fastswap fetches from a Helia seeder and from a Kubo seeder; Kubo, Helia and
py-libp2p fetch from a fastswap seeder, Kubo and Helia also both at once (and fastswap from
py-libp2p, 4 MiB); Kubo both ways with fastswap speaking only /ipfs/bitswap/1.1.0, only 1.0.0
or only the bare /ipfs/bitswap; ``fastswap get`` from Helia and Kubo fetching from
``fastswap seed``. Every transfer is checked by sha256 of the whole file against the source
(CIDs are compared only where the importer settings match).

Every transfer moves content its receiver has never seen: each test generates its own file
(``fresh_file``), because a session peer that added or fetched a file in an earlier test
already holds its blocks and would "fetch" it with fastswap's server switched off (issue 14).
Where fastswap serves, its server's ledger for that peer must show every block of the DAG
sent (``assert_served``), and the negotiated Bitswap protocol is asserted on both streams.

The Node runs on a uvloop loop; the harness's blocking calls run in a worker thread
(``asyncio.to_thread``) or through its async variants, so the node keeps serving while a peer
fetches from it."""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import Callable
from pathlib import Path

import pytest
import uvloop

from fastswap.cid import parse, to_str
from fastswap.dag import HELIA_DEFAULTS, KUBO_DEFAULTS, cat, iter_links
from fastswap.net.bitswap import BITSWAP_1_0_0, BITSWAP_1_1_0, BITSWAP_1_2_0, BITSWAP_BARE
from fastswap.net.keys import PeerId
from fastswap.node import Node
from tests.peers.pylibp2p import PyLibp2pPeer

pytestmark = [pytest.mark.interop, pytest.mark.timeout(300)]

#: the issue asks for 64 MiB
SIZE = 64 * 1024 * 1024


def run(coro, timeout: float = 240.0):
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as r:
        return r.run(asyncio.wait_for(coro, timeout))


def write_random(path: Path, seed: str, size: int = SIZE) -> str:
    """Write *size* random bytes from *seed* to *path*; their sha256."""
    rng = random.Random(seed)
    h = hashlib.sha256()
    with open(path, "wb") as fh:
        for _ in range(size // (1 << 20)):
            chunk = rng.randbytes(1 << 20)
            h.update(chunk)
            fh.write(chunk)
    return h.hexdigest()


@pytest.fixture
def fresh_file(request, tmp_path) -> Callable[..., tuple[Path, str]]:
    """``fresh_file(tag="", size=SIZE)``: a new random file for this test (its seed is the
    test's node id and *tag*), which no peer of the session has seen: (path, sha256)."""

    def make(tag: str = "", size: int = SIZE) -> tuple[Path, str]:
        path = tmp_path / f"fresh-{tag or 'file'}.bin"
        return path, write_random(path, f"{request.node.nodeid}/{tag}", size)

    return make


def peer_id(peer) -> PeerId:
    return PeerId.from_string(peer.peer_id)


def dag_blocks(store, root: bytes) -> tuple[int, int]:
    """(blocks, bytes) of the DAG under *root* in *store* (every block counted once)."""
    seen: set[bytes] = set()
    todo = [root]
    total = 0
    while todo:
        cid = todo.pop()
        if cid in seen:
            continue
        seen.add(cid)
        data = store.get(cid)
        total += len(data)
        todo.extend(iter_links(cid, data))
    return len(seen), total


def assert_served(node: Node, peer, root: bytes) -> dict:
    """fastswap's server sent *peer* every block of the DAG under *root*: the peer got the
    file from fastswap, not from a store of its own. Returns the ledger."""
    n, size = dag_blocks(node.store, root)
    led = node.server.ledger(peer_id(peer))
    assert led["blocks_sent"] >= n and led["bytes_sent"] >= size, (
        f"fastswap sent {peer.name} {led['blocks_sent']} blocks / {led['bytes_sent']} bytes of"
        f" a {n}-block, {size}-byte DAG"
    )
    return led


def record_inbound_protocols(node: Node) -> dict[PeerId, set[str]]:
    """The Bitswap protocols of the streams each peer opens to *node* (the version the peer
    chose for its wants), recorded from the node's network layer as messages arrive."""
    seen: dict[PeerId, set[str]] = {}
    deliver = node.net._on_message

    def on_message(peer: PeerId, msg, protocol: str):
        seen.setdefault(peer, set()).add(protocol)
        return deliver(peer, msg, protocol)

    node.net._on_message = on_message
    return seen


def sha256_of_dag(store, root: bytes) -> tuple[str, int]:
    h = hashlib.sha256()
    n = 0
    for chunk in cat(store, root):
        h.update(chunk)
        n += len(chunk)
    return h.hexdigest(), n


# -- fastswap fetches ------------------------------------------------------------------------


def test_fastswap_fetches_from_helia(helia, fresh_file) -> None:
    path, digest = fresh_file()
    cid = helia.add(path)  # Helia's defaults: CIDv1, raw leaves, 1 MiB chunks

    async def main():
        async with Node() as node:
            peer = await node.connect(helia.multiaddr)
            assert node.version(peer) == BITSWAP_1_2_0
            n = await node.fetch_dag(cid, timeout=180)
            assert n == len(node.store)
            return sha256_of_dag(node.store, parse(cid))

    assert run(main()) == (digest, SIZE)


def test_fastswap_fetches_from_kubo(kubo, fresh_file) -> None:
    path, digest = fresh_file()
    cid = kubo.add(path)  # `ipfs add`: CIDv0, dag-pb leaves, 256 KiB chunks

    async def main():
        async with Node() as node:
            peer = await node.connect(kubo.multiaddr)
            assert node.version(peer) == BITSWAP_1_2_0
            await node.fetch_dag(cid, timeout=180)
            return sha256_of_dag(node.store, parse(cid))

    assert run(main()) == (digest, SIZE)


# -- peers fetch from fastswap ---------------------------------------------------------------


def test_kubo_fetches_from_fastswap(kubo, fresh_file, tmp_path) -> None:
    path, digest = fresh_file()

    async def main():
        async with Node() as node:
            inbound = record_inbound_protocols(node)
            root = await node.add_file(path, **KUBO_DEFAULTS)
            assert to_str(root) == await asyncio.to_thread(kubo.add, path, only_hash=True)
            await asyncio.to_thread(kubo.connect, str(node.addrs[0]))
            got = await kubo.adownload(to_str(root), tmp_path / "k.out", timeout=180)
            assert_served(node, kubo, root)
            # Kubo sent its wants on a stream it opened with 1.2.0; we answer on ours, 1.2.0
            assert inbound[peer_id(kubo)] == {BITSWAP_1_2_0}
            assert node.version(peer_id(kubo)) == BITSWAP_1_2_0
            return got

    got = run(main())
    assert (got["sha256"], got["size"]) == (digest, SIZE)


def test_helia_fetches_from_fastswap(helia, fresh_file) -> None:
    """Helia fetches a CIDv1 raw-leaf DAG (its own importer's layout) that only fastswap has."""
    path, digest = fresh_file()

    async def main():
        async with Node() as node:
            inbound = record_inbound_protocols(node)
            root = await node.add_file(path, **HELIA_DEFAULTS)
            assert root[:2] == b"\x01\x70"  # CIDv1 dag-pb root over raw leaves
            assert not await asyncio.to_thread(helia.has, to_str(root))
            await helia.adial(str(node.addrs[0]))
            got = await helia.acat(to_str(root), timeout=180)
            assert_served(node, helia, root)
            # Helia opened its own Bitswap streams to us and got its blocks on ours
            assert inbound[peer_id(helia)] == {BITSWAP_1_2_0}
            assert node.version(peer_id(helia)) == BITSWAP_1_2_0
            return got

    got = run(main())
    assert (got["sha256"], got["size"]) == (digest, SIZE)


def test_kubo_and_helia_fetch_from_fastswap_at_once(kubo_factory, helia_factory, fresh_file,
                                                     tmp_path) -> None:
    """Two leechers of different kinds on one seeder at the same time, each gets the whole file."""
    path, digest = fresh_file()
    kubo = kubo_factory()
    helia = helia_factory()

    async def main():
        async with Node() as node:
            root = await node.add_file(path, **KUBO_DEFAULTS)
            await asyncio.to_thread(kubo.connect, str(node.addrs[0]))
            await helia.adial(str(node.addrs[0]))
            k, h = await asyncio.gather(
                kubo.adownload(to_str(root), tmp_path / "k.out", timeout=180),
                helia.acat(to_str(root), timeout=180),
            )
            # both were served by us, concurrently: each ledger carries the whole DAG
            for p in (kubo, helia):
                assert_served(node, p, root)
            return k, h

    k, h = run(main())
    assert (k["sha256"], k["size"]) == (digest, SIZE)
    assert (h["sha256"], h["size"]) == (digest, SIZE)


def test_pylibp2p_both_ways(fresh_file, tmp_path) -> None:
    """py-libp2p fetches from fastswap, and fastswap from py-libp2p (which answers on the
    stream we opened: BitswapNetwork reads those too). py-libp2p refuses blocks over 512 KiB,
    so the DAG has 256 KiB raw leaves (its own add_file's layout)."""
    path, digest = fresh_file()
    small, sdigest = fresh_file("theirs", 4 * 1024 * 1024)
    peer = PyLibp2pPeer(tmp_path / "pylibp2p")
    try:
        peer.start()
        their_root = peer.add_file(small)

        async def main():
            async with Node() as node:
                inbound = record_inbound_protocols(node)
                root = await node.add_file(path, cid_version=1, raw_leaves=True,
                                           chunk_size=256 * 1024, max_children=174)
                got = await peer.afetch(to_str(root), str(node.addrs[0]), timeout=180)
                assert_served(node, peer, root)
                # py-libp2p dialled us and wanted over 1.2.0; our stream to it agreed 1.2.0
                assert inbound[peer_id(peer)] == {BITSWAP_1_2_0}
                assert node.version(peer_id(peer)) == BITSWAP_1_2_0
                await node.connect(peer.multiaddr)
                await node.fetch_dag(their_root, timeout=120)
                return got, sha256_of_dag(node.store, parse(their_root))

        got, mine = run(main())
    finally:
        peer.close()
    assert (got["sha256"], got["size"]) == (digest, SIZE)
    assert mine == (sdigest, 4 * 1024 * 1024)


# -- Kubo with fastswap speaking only an older version ---------------------------------------


@pytest.mark.parametrize(
    ("version", "size"),
    # the bare id carries 1.0.0's format, which 1.0.0 moves at 64 MiB: 16 MiB saves suite time
    [pytest.param(v, n, id=v) for v, n in
     ((BITSWAP_1_1_0, SIZE), (BITSWAP_1_0_0, SIZE), (BITSWAP_BARE, 16 * 1024 * 1024))],
)
def test_kubo_old_versions_both_ways(kubo_factory, fresh_file, tmp_path, version, size) -> None:
    """Kubo speaks every version; fastswap restricted to one makes both directions use it
    (the bare ``/ipfs/bitswap`` is 1.0.0's message format under the pre-versioning id)."""
    path, digest = fresh_file("kubo's", size)
    other, odigest = fresh_file("ours", size)
    kubo = kubo_factory()
    kubo_cid = kubo.add(path)  # CIDv0: the only kind 1.0.0 can carry

    async def main():
        async with Node(protocols=(version,)) as node:
            inbound = record_inbound_protocols(node)
            peer = await node.connect(kubo.multiaddr)
            assert node.version(peer) == version
            # fastswap fetches from Kubo...
            await node.fetch_dag(kubo_cid, timeout=180)
            mine = sha256_of_dag(node.store, parse(kubo_cid))
            # ...and Kubo fetches a different file from fastswap
            root = await node.add_file(other, **KUBO_DEFAULTS)
            got = await kubo.adownload(to_str(root), tmp_path / "o.out", timeout=180)
            assert_served(node, kubo, root)
            assert inbound[peer] == {version}  # Kubo's wants came over it too
            return mine, got

    mine, got = run(main())
    assert mine == (digest, size)
    assert (got["sha256"], got["size"]) == (odigest, size)


# -- the command line against real peers -----------------------------------------------------


def test_cli_get_from_helia_and_kubo_fetches_from_cli_seed(helia, kubo_factory, fresh_file,
                                                           tmp_path) -> None:
    """`fastswap get` (it listens nowhere: Helia answers over the connection we dialled) and
    `fastswap seed` (Kubo dials it and fetches), as a user runs them."""
    from tests.peers.fastswap_cli import Seeder, get

    path, digest = fresh_file("helia's")
    cid = helia.add(path)
    out = tmp_path / "from-helia.bin"
    p = get(tmp_path / "get-repo", cid, helia.multiaddr, out)
    assert p.returncode == 0, p.stderr.decode()
    assert hashlib.sha256(out.read_bytes()).hexdigest() == digest

    path, digest = fresh_file("seeded")
    kubo = kubo_factory()
    seeder = Seeder(tmp_path / "seed-repo", str(path))
    try:
        (root,) = seeder.info["roots"]
        # the kubo preset: the same root CID `ipfs add` computes
        assert root["cid"] == kubo.add(path, only_hash=True)
        kubo.connect(seeder.info["addrs"][0])
        got = kubo.download(root["cid"], tmp_path / "k.out", timeout=180)
        assert (got["sha256"], got["size"]) == (digest, SIZE)
    finally:
        assert seeder.stop() == 0
    # what the seeder says it served, on its way out: the whole file, to its one peer
    served = seeder.served()
    assert served["blocks_sent"] >= SIZE // (256 * 1024) and served["bytes_sent"] >= SIZE, served
