"""Directory trees over Bitswap with real peers (ipfs/specs UNIXFS.md directories and HAMT
shards; issue 10's Done-when): ``fastswap get`` of trees that Kubo 0.22 and Helia 7 added writes
trees equal to the source (names, sizes, bytes, empty files and directories), and Kubo and Helia
fetch a tree that ``fastswap seed DIR`` serves. Each peer sees content it never held: a fresh
peer per test, trees made per test. The trees: nested with spaces and non-ASCII names, empty
files and directories, multi-chunk files, and a 2,000-entry directory (a HAMT shard in both)."""

from __future__ import annotations

import hashlib
import random
import signal
from pathlib import Path

import pytest

from tests.peers.fastswap_cli import Seeder, get

pytestmark = [pytest.mark.interop, pytest.mark.timeout(600)]


def _tree(root: Path) -> dict[str, tuple[str, int | None, str | None]]:
    """relative path -> (type, size, sha256) of every entry of a tree on disk."""
    out: dict[str, tuple[str, int | None, str | None]] = {}
    for path in root.rglob("*"):
        rel = str(path.relative_to(root))
        if path.is_dir():
            out[rel] = ("directory", None, None)
        else:
            data = path.read_bytes()
            out[rel] = ("file", len(data), hashlib.sha256(data).hexdigest())
    return out


def _make_tree(base: Path, seed: str) -> Path:
    """A tree no peer has seen (contents depend on *seed*)."""
    rng = random.Random(seed)
    t = base / f"tree {seed}"
    (t / "docs" / "ünïcødé dïr" / "deeper").mkdir(parents=True)
    (t / "empty dir").mkdir()
    (t / "empty file").write_bytes(b"")
    (t / "a small file.txt").write_bytes(rng.randbytes(100))
    (t / "docs" / "700k with spaces.bin").write_bytes(rng.randbytes(700_000))
    (t / "docs" / "ünïcødé dïr" / "deeper" / "3m.bin").write_bytes(rng.randbytes(3_000_000))
    (t / "日本語の名前.txt").write_bytes(rng.randbytes(5000))
    big = t / "two thousand"
    big.mkdir()
    for i in range(2000):
        # 99-byte names: 2000 links estimate past the 256 KiB threshold, so both shard
        (big / f"n{i:04d} {seed} spaced".ljust(99, "x")).write_bytes(rng.randbytes(i % 97))
    return t


def test_fastswap_gets_trees_kubo_and_helia_added(kubo_factory, helia_factory, tmp_path) -> None:
    kubo, helia = kubo_factory(), helia_factory()
    for peer, add in ((kubo, kubo.add), (helia, helia.add_all)):
        src = _make_tree(tmp_path, peer.name)
        cid = add(src)
        out = tmp_path / f"from {peer.name}"
        p = get(tmp_path / f"repo-{peer.name}", cid, peer.multiaddr, out, timeout=300)
        assert p.returncode == 0, p.stderr.decode()
        assert _tree(out) == _tree(src), peer.name
        assert b"0 blocks were already in the repo" in p.stderr


def test_kubo_and_helia_fetch_a_tree_fastswap_seeds(kubo_factory, helia_factory,
                                                    tmp_path) -> None:
    src = _make_tree(tmp_path, "seeded")
    seeder = Seeder(tmp_path / "seed-repo", str(src))
    try:
        (root,) = seeder.info["roots"]
        addr = seeder.info["addrs"][0]
        kubo = kubo_factory()
        kubo.connect(addr)
        kubo.download(root["cid"], tmp_path / "kubo out", timeout=300)
        assert _tree(tmp_path / "kubo out") == _tree(src)
        helia = helia_factory()
        helia.dial(addr)
        entries = helia.tree(root["cid"], timeout=300)
        got = {e["path"]: (e["type"], e.get("size"), e.get("sha256")) for e in entries}
        assert got.pop("") == ("directory", None, None)
        assert got == _tree(src)
    finally:
        assert seeder.stop(signal.SIGINT) == 0
