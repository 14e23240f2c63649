"""UnixFS export (UNIXFS.md; path resolution by link name, HAMT lookup by hash): walking trees,
``ls``, resolving ``CID/a/b``, writing to disk -- and refusing hostile DAGs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from _dag_helpers import make_tree, snapshot

from fastswap.blockstore import MemoryBlockstore
from fastswap.cid import DAG_PB, compute_cid, to_str
from fastswap.dag import TreeWriter, cat, dagpb, import_file, import_path, ls, resolve, walk
from fastswap.dag.exporter import End, Start, Walker
from fastswap.dag.hamt import slot_path
from fastswap.errors import DagError, OutputExistsError, PathNotFoundError, UnsafePathError


def write(store: Any, path: str | bytes, dest: Path, **limits: Any) -> TreeWriter:
    with TreeWriter(dest) as w:
        for ev in walk(store, path, **limits):
            w.handle(ev)
    return w


@pytest.mark.parametrize("threshold", [None, 100], ids=["plain", "hamt"])
def test_tree_round_trip(tmp_path: Path, threshold: int | None) -> None:
    src = make_tree(tmp_path / "src")
    s = MemoryBlockstore()
    opts = {} if threshold is None else {"shard_threshold": threshold}
    root = import_path(s, src, **opts)
    if threshold:
        assert dagpb.decode_unixfs(dagpb.decode_node(s.get(root)).data or b"").type == 5
    w = write(s, root, tmp_path / "out")
    assert snapshot(tmp_path / "out") == snapshot(src)
    assert (w.files, w.directories) == (3, 5)
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".part")]
    # a path inside resolves through plain and sharded directories alike
    inner = f"{to_str(root)}/sub dir/ünïcødé/big.bin"
    assert b"".join(cat(s, inner)) == (src / "sub dir" / "ünïcødé" / "big.bin").read_bytes()
    assert b"".join(cat(s, "/ipfs/" + to_str(root) + "/a.txt")) == b"hello\n"
    # a subdirectory, and a single file, as targets
    write(s, f"{to_str(root)}/sub dir", tmp_path / "only-sub")
    assert snapshot(tmp_path / "only-sub") == snapshot(src / "sub dir")
    write(s, f"{to_str(root)}/a.txt", tmp_path / "one.txt")
    assert (tmp_path / "one.txt").read_bytes() == b"hello\n"


def test_ls_and_resolve(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    s = MemoryBlockstore()
    root = import_path(s, src)
    entries = {e.name: e for e in ls(s, root)}
    assert set(entries) == {"sub dir", "empty dir", "empty file", "a.txt", "link"}
    assert (entries["a.txt"].kind, entries["a.txt"].size) == ("file", 6)
    assert (entries["sub dir"].kind, entries["sub dir"].size) == ("directory", None)
    assert (entries["link"].kind, entries["link"].size) == ("symlink", 5)
    assert entries["a.txt"].tsize == 14  # the dag-pb leaf's block size
    assert [e.kind for e in ls(s, root, resolve_types=False)].count("unknown") == 5
    inner = {e.name: e.cid for e in ls(s, entries["sub dir"].cid)}
    assert resolve(s, f"{to_str(root)}/sub dir/ünïcødé") == inner["ünïcødé"]
    assert resolve(s, to_str(root) + "/a.txt/") == entries["a.txt"].cid
    with pytest.raises(PathNotFoundError, match="no entry 'nope'"):
        resolve(s, to_str(root) + "/nope")
    with pytest.raises(PathNotFoundError, match="not a directory"):
        resolve(s, to_str(root) + "/a.txt/x")
    with pytest.raises(PathNotFoundError, match="not allowed"):
        resolve(s, to_str(root) + "/sub dir/../a.txt")
    with pytest.raises(DagError, match="not a directory"):
        ls(s, to_str(root) + "/a.txt")
    with pytest.raises(DagError, match="is a directory, not a file"):
        list(cat(s, root))


def test_hamt_lookup_misses_and_listing_order(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    for i in range(300):
        (d / f"n{i}").write_bytes(b"%d" % i)
    s = MemoryBlockstore()
    root = import_path(s, d, shard_threshold=1)
    listed = [e.name for e in ls(s, root)]
    assert sorted(listed) == sorted(f"n{i}" for i in range(300))
    # DAG order is hash order: slot paths ascending
    paths = [slot_path(n.encode(), 256, 3) for n in listed]
    assert paths == sorted(paths)
    assert b"".join(cat(s, f"{to_str(root)}/n123")) == b"123"
    with pytest.raises(PathNotFoundError):
        resolve(s, f"{to_str(root)}/n300")


def test_output_rules(tmp_path: Path) -> None:
    s = MemoryBlockstore()
    root = import_path(s, make_tree(tmp_path / "src"))
    (tmp_path / "taken").mkdir()
    with pytest.raises(OutputExistsError):
        write(s, root, tmp_path / "taken")
    with pytest.raises(FileNotFoundError):
        write(s, root, tmp_path / "no" / "such" / "dir")
    # a file replaces a file, like cp; a directory does not
    f = tmp_path / "f"
    f.write_bytes(b"old")
    write(s, f"{to_str(root)}/a.txt", f)
    assert f.read_bytes() == b"hello\n"
    with pytest.raises(OutputExistsError):
        write(s, root, f)
    assert f.read_bytes() == b"hello\n"
    assert sorted(os.listdir(tmp_path)) == ["f", "src", "taken"]  # no .part left anywhere


# -- hostile DAGs ------------------------------------------------------------------------------


def _put(s: Any, links: list[tuple[bytes, str | None, int]], data: bytes | None) -> bytes:
    block = dagpb.encode_node(
        [dagpb.encode_link(c, t) if n is None else dagpb.encode_link(c, t, n)
         for c, n, t in links], data)
    cid = compute_cid(block, codec=DAG_PB)
    s.put(cid, block)
    return cid


DIR = dagpb.encode_unixfs(dagpb.DIRECTORY)


@pytest.mark.parametrize("name", ["..", ".", "", "a/b", "/etc", "../../escape", "x\x00y"])
def test_hostile_names_are_refused_and_nothing_escapes(tmp_path: Path, name: str) -> None:
    s = MemoryBlockstore()
    payload = import_file(s, b"owned", cid_version=1)
    good = import_file(s, b"fine", cid_version=1)
    inner = _put(s, [(good, "ok", 4), (payload, name, 5)], DIR)
    # the hostile name sits one level down, after a good entry was written
    root = _put(s, [(good, "first", 4), (inner, "sub", 60)], DIR)
    target = tmp_path / "jail" / "out"
    target.parent.mkdir()
    before = snapshot(tmp_path)
    with pytest.raises(UnsafePathError):
        write(s, root, target)
    assert snapshot(tmp_path) == before  # nothing written anywhere, no .part left behind
    with pytest.raises(UnsafePathError):
        ls(s, inner)


def test_duplicate_names_are_refused(tmp_path: Path) -> None:
    s = MemoryBlockstore()
    a = import_file(s, b"a", cid_version=1)
    b = import_file(s, b"b", cid_version=1)
    root = _put(s, [(a, "same", 1), (b, "same", 1)], DIR)
    with pytest.raises(UnsafePathError, match="twice"):
        write(s, root, tmp_path / "out")
    with pytest.raises(UnsafePathError, match="twice"):
        resolve(s, f"{to_str(root)}/same")
    assert os.listdir(tmp_path) == []


def test_a_directory_bomb_and_deep_dags_are_bounded(tmp_path: Path) -> None:
    s = MemoryBlockstore()
    leaf = import_file(s, b"x", cid_version=1)
    level = _put(s, [(leaf, f"f{i}", 1) for i in range(10)], DIR)
    for _ in range(6):  # 10**7 paths from 7 small blocks
        level = _put(s, [(level, f"d{i}", 1) for i in range(10)], DIR)
    with pytest.raises(DagError, match="more than 1000 entries"):
        write(s, level, tmp_path / "bomb", max_entries=1000)
    assert os.listdir(tmp_path) == []
    chain = leaf
    for _ in range(200):
        chain = _put(s, [(chain, "d", 1)], DIR)
    with pytest.raises(DagError, match="deeper than"):
        list(walk(s, chain))


def _shard(s: Any, links: list[tuple[bytes, str, int]], bitfield: bytes, fanout: int = 256,
           hash_type: int = 0x22) -> bytes:
    data = dagpb.encode_unixfs(dagpb.HAMT_SHARD, data=bitfield, hash_type=hash_type,
                               fanout=fanout)
    return _put(s, links, data)


def _bits(*slots: int) -> bytes:
    n = sum(1 << i for i in slots)
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


def test_hostile_hamts_are_refused(tmp_path: Path) -> None:
    s = MemoryBlockstore()
    leaf = import_file(s, b"x", cid_version=1)
    slot = slot_path(b"name", 256, 1)[0]
    label = f"{slot:02X}"
    ok = _shard(s, [(leaf, label + "name", 1)], _bits(slot))
    assert [e.name for e in ls(s, ok)] == ["name"]
    wrong_slot = (slot + 1) % 256
    dots = slot_path(b"..", 256, 1)[0]
    cases = {
        "does not hash to the slot": _shard(
            s, [(leaf, f"{wrong_slot:02X}name", 1)], _bits(wrong_slot)),
        "bitfield marks": _shard(s, [(leaf, label + "name", 1)], _bits(slot, wrong_slot)),
        "only murmur3": _shard(s, [(leaf, label + "name", 1)], _bits(slot), hash_type=0x12),
        "fanout": _shard(s, [(leaf, label + "name", 1)], _bits(slot), fanout=100),
        "without its slot index": _shard(s, [(leaf, "zz", 1)], _bits(slot)),
        # a hostile name in the slot it hashes to: caught by the name check
        "not a file name": _shard(s, [(leaf, f"{dots:02X}..", 1)], _bits(dots)),
    }
    # an empty sub-shard, reused under every slot, would multiply work: refused
    empty = _shard(s, [], b"")
    cases["fewer than two entries"] = _shard(
        s, [(empty, f"{i:02X}", 1) for i in range(256)], b"\xff" * 32)
    for what, cid in cases.items():
        with pytest.raises(DagError, match=what):
            write(s, cid, tmp_path / "out")
        assert os.listdir(tmp_path) == [], what
    # a sub-shard nested deeper than the 64-bit hash allows
    deep = _shard(s, [(leaf, label + "name", 1)], _bits(slot))
    for _ in range(9):
        deep = _shard(s, [(deep, "00", 1), (leaf, "01x", 1)], _bits(0, 1))
    with pytest.raises(DagError):
        list(walk(s, deep))


def test_walker_events_and_identity_root() -> None:
    s = MemoryBlockstore()
    cid = import_file(s, b"tiny", cid_version=1, inline_limit=32)
    w = Walker(cid, name="t")
    assert w.start() == [Start("t", "file", cid, 4), b"tiny", End("t", "file")]
    assert w.needed is None
    with pytest.raises(DagError, match="walk is over"):
        w.feed(b"")
