"""fastswap's Bitswap (fastswap.Node) trading UnixFS files with real peers from tests/peers, at
the issue's 64 MiB: fastswap fetches from a Helia seeder and from a Kubo seeder; Kubo, Helia and
py-libp2p fetch from a fastswap seeder, Kubo and Helia also both at once (and fastswap from
py-libp2p, 4 MiB); Kubo both ways with
fastswap speaking only /ipfs/bitswap/1.1.0 or only 1.0.0; ``fastswap get`` from Helia and Kubo
fetching from ``fastswap seed``. Every transfer is checked by sha256 of the whole file against
the source (CIDs are compared only where the importer settings match).

The Node runs on a uvloop loop; the harness's blocking calls run in a worker thread
(``asyncio.to_thread``) or through its async variants, so the node keeps serving while a peer
fetches from it."""

from __future__ import annotations

import asyncio
import hashlib
import random
from pathlib import Path

import pytest
import uvloop

from fastswap.cid import to_str
from fastswap.dag import HELIA_DEFAULTS, KUBO_DEFAULTS, cat
from fastswap.net.bitswap import BITSWAP_1_0_0, BITSWAP_1_1_0, BITSWAP_1_2_0
from fastswap.node import Node
from tests.peers.pylibp2p import PyLibp2pPeer

pytestmark = [pytest.mark.interop, pytest.mark.timeout(300)]

#: the issue asks for 64 MiB
SIZE = 64 * 1024 * 1024


def run(coro, timeout: float = 240.0):
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as r:
        return r.run(asyncio.wait_for(coro, timeout))


@pytest.fixture(scope="module")
def big_file(tmp_path_factory) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("bitswap") / "big.bin"
    rng = random.Random("fastswap-bitswap-interop")
    h = hashlib.sha256()
    with open(path, "wb") as fh:
        for _ in range(SIZE // (1 << 20)):
            chunk = rng.randbytes(1 << 20)
            h.update(chunk)
            fh.write(chunk)
    return path, h.hexdigest()


def sha256_of_dag(store, root: bytes) -> tuple[str, int]:
    h = hashlib.sha256()
    n = 0
    for chunk in cat(store, root):
        h.update(chunk)
        n += len(chunk)
    return h.hexdigest(), n


# -- fastswap fetches ------------------------------------------------------------------------


def test_fastswap_fetches_from_helia(helia, big_file) -> None:
    path, digest = big_file
    cid = helia.add(path)  # Helia's defaults: CIDv1, raw leaves, 1 MiB chunks

    async def main():
        async with Node() as node:
            peer = await node.connect(helia.multiaddr)
            assert node.version(peer) == BITSWAP_1_2_0
            n = await node.fetch_dag(cid, timeout=180)
            assert n == len(node.store)
            return sha256_of_dag(node.store, cid_bytes(cid))

    assert run(main()) == (digest, SIZE)


def test_fastswap_fetches_from_kubo(kubo, big_file) -> None:
    path, digest = big_file
    cid = kubo.add(path)  # `ipfs add`: CIDv0, dag-pb leaves, 256 KiB chunks

    async def main():
        async with Node() as node:
            peer = await node.connect(kubo.multiaddr)
            assert node.version(peer) == BITSWAP_1_2_0
            await node.fetch_dag(cid, timeout=180)
            return sha256_of_dag(node.store, cid_bytes(cid))

    assert run(main()) == (digest, SIZE)


# -- peers fetch from fastswap ---------------------------------------------------------------


def test_kubo_fetches_from_fastswap(kubo, big_file, tmp_path) -> None:
    path, digest = big_file

    async def main():
        async with Node() as node:
            root = await node.add_file(path, **KUBO_DEFAULTS)
            assert to_str(root) == await asyncio.to_thread(kubo.add, path, only_hash=True)
            await asyncio.to_thread(kubo.connect, str(node.addrs[0]))
            got = await kubo.adownload(to_str(root), tmp_path / "k.out", timeout=180)
            assert node.stat()["server"]  # the server engine did the work
            return got

    got = run(main())
    assert (got["sha256"], got["size"]) == (digest, SIZE)


def test_helia_fetches_from_fastswap(helia, big_file) -> None:
    path, digest = big_file

    async def main():
        async with Node() as node:
            root = await node.add_file(path, **HELIA_DEFAULTS)
            await helia.adial(str(node.addrs[0]))
            got = await helia.acat(to_str(root), timeout=180)
            # Helia opened its own Bitswap streams to us and got its blocks on ours
            assert node.version(PeerIdOf(helia)) == BITSWAP_1_2_0
            return got

    got = run(main())
    assert (got["sha256"], got["size"]) == (digest, SIZE)


def test_kubo_and_helia_fetch_from_fastswap_at_once(kubo_factory, helia_factory, big_file,
                                                     tmp_path) -> None:
    """Two leechers of different kinds on one seeder at the same time, each gets the whole file."""
    path, digest = big_file
    kubo = kubo_factory()
    helia = helia_factory()

    async def main():
        async with Node() as node:
            root = to_str(await node.add_file(path, **KUBO_DEFAULTS))
            await asyncio.to_thread(kubo.connect, str(node.addrs[0]))
            await helia.adial(str(node.addrs[0]))
            k, h = await asyncio.gather(
                kubo.adownload(root, tmp_path / "k.out", timeout=180),
                helia.acat(root, timeout=180),
            )
            # both were served by us, concurrently: each ledger carries at least the file
            sent = [node.server.ledger(PeerIdOf(p))["bytes_sent"] for p in (kubo, helia)]
            return k, h, sent

    k, h, sent = run(main())
    assert (k["sha256"], k["size"]) == (digest, SIZE)
    assert (h["sha256"], h["size"]) == (digest, SIZE)
    assert all(n >= SIZE for n in sent), sent


def test_pylibp2p_both_ways(big_file, tmp_path) -> None:
    """py-libp2p fetches from fastswap, and fastswap from py-libp2p (which answers on the
    stream we opened: BitswapNetwork reads those too). py-libp2p refuses blocks over 512 KiB,
    so the DAG has 256 KiB raw leaves (its own add_file's layout)."""
    path, digest = big_file
    peer = PyLibp2pPeer(tmp_path / "pylibp2p")
    try:
        peer.start()
        small = tmp_path / "small.bin"
        sdata = path.read_bytes()[: 4 * 1024 * 1024][::-1]
        small.write_bytes(sdata)
        their_root = peer.add_file(small)

        async def main():
            async with Node() as node:
                root = await node.add_file(path, cid_version=1, raw_leaves=True,
                                           chunk_size=256 * 1024, max_children=174)
                got = await peer.afetch(to_str(root), str(node.addrs[0]), timeout=180)
                await node.connect(peer.multiaddr)
                await node.fetch_dag(their_root, timeout=120)
                return got, sha256_of_dag(node.store, cid_bytes(their_root))

        got, mine = run(main())
    finally:
        peer.close()
    assert (got["sha256"], got["size"]) == (digest, SIZE)
    assert mine == (hashlib.sha256(sdata).hexdigest(), len(sdata))


# -- Kubo with fastswap speaking only an older version ---------------------------------------


@pytest.mark.parametrize("version", [BITSWAP_1_1_0, BITSWAP_1_0_0])
def test_kubo_old_versions_both_ways(kubo_factory, big_file, tmp_path, version) -> None:
    path, _ = big_file
    kubo = kubo_factory()
    data = path.read_bytes()
    kubo_cid = kubo.add(path)  # CIDv0: the only kind 1.0.0 can carry

    async def main():
        async with Node(protocols=(version,)) as node:
            peer = await node.connect(kubo.multiaddr)
            assert node.version(peer) == version
            # fastswap fetches from Kubo...
            await node.fetch_dag(kubo_cid, timeout=180)
            mine = sha256_of_dag(node.store, cid_bytes(kubo_cid))
            # ...and Kubo fetches a different file from fastswap
            other = tmp_path / "o.bin"
            odata = data[::-1]
            other.write_bytes(odata)
            root = await node.add_file(other, **KUBO_DEFAULTS)
            got = await kubo.adownload(to_str(root), tmp_path / "o.out", timeout=180)
            return mine, got, hashlib.sha256(odata).hexdigest()

    mine, got, odigest = run(main())
    assert mine == (hashlib.sha256(data).hexdigest(), len(data))
    assert (got["sha256"], got["size"]) == (odigest, len(data))


def cid_bytes(text: str) -> bytes:
    from fastswap.cid import parse

    return parse(text)


def PeerIdOf(peer):
    from fastswap.net.keys import PeerId

    return PeerId.from_string(peer.peer_id)


# -- the command line against real peers -----------------------------------------------------


def test_cli_get_from_helia_and_kubo_fetches_from_cli_seed(helia, kubo_factory, big_file,
                                                           tmp_path) -> None:
    """`fastswap get` (it listens nowhere: Helia answers over the connection we dialled) and
    `fastswap seed` (Kubo dials it and fetches), as a user runs them."""
    from tests.node.test_cli_seed_get import Seeder, get

    path, digest = big_file
    cid = helia.add(path)
    out = tmp_path / "from-helia.bin"
    p = get(tmp_path / "get-repo", cid, helia.multiaddr, out)
    assert p.returncode == 0, p.stderr.decode()
    assert hashlib.sha256(out.read_bytes()).hexdigest() == digest

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
