"""Directory import (UNIXFS.md Directory/HAMTShard/Symlink; ``ipfs add -r`` and Helia's addAll
rules) and the importer settings (--hash, --inline, --trickle, presets).

Known answers come from Kubo's own test suite (test/sharness t0040-add-and-cat.sh and
t0046-id-hash.sh at v0.22.0): the CIDs ``ipfs add`` printed there for the same inputs.
tests/interop checks against running Kubo and Helia peers.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from fastswap.blockstore import MemoryBlockstore
from fastswap.cid import decode_cid, to_str
from fastswap.dag import ImportSettings, cat, dagpb, import_file, import_path, import_paths, ls
from fastswap.dag.hamt import hamt_hash, slot_path
from fastswap.errors import DagError


def _planets(tmp_path: Path) -> Path:
    d = tmp_path / "planets"
    d.mkdir()
    (d / "mars.txt").write_bytes(b"Hello Mars!\n")
    (d / "venus.txt").write_bytes(b"Hello Venus!\n")
    return d


# (ipfs add flags as overrides, planets, mars.txt, venus.txt) from t0040's add_directory
PLANETS = [
    ({}, "QmWSgS32xQEcXMeqd3YPJLrNBLSdsfYCep2U7CFkyrjXwY",
     "QmPrrHqJzto9m7SyiRzarwkqPcCSsKR2EB1AyqJfe8L8tN",
     "QmU5kp3BH3B8tnWUU2Pikdb2maksBNkb92FHRr56hyghh4"),
    ({"raw_leaves": True}, "QmfWfQfKCY5Ukv9peBbxM5vqWM9BzmqUSXvdCgjT2wsiBT",
     "bafkreibmlvvgdyihetgocpof6xk64kjjzdeq2e4c7hqs3krdheosk4tgj4",
     "bafkreihfsphazrk2ilejpekyltjeh5k4yvwgjuwg26ueafohqioeo3sdca"),
    ({"cid_version": 1}, "bafybeih7e5dmkyk25up5vxug4q3hrg2fxbzf23dfrac2fns5h7z4aa7ioi",
     "bafkreibmlvvgdyihetgocpof6xk64kjjzdeq2e4c7hqs3krdheosk4tgj4",
     "bafkreihfsphazrk2ilejpekyltjeh5k4yvwgjuwg26ueafohqioeo3sdca"),
    ({"cid_version": 1, "raw_leaves": False},
     "bafybeif5tuep5ap2d7zyhbktucey75aoacxufgt6i3v4gebmixyipnyp7y",
     "bafybeiawta2ntdmsy24aro35w3homzl4ak7svr3si7l7gesvq4erglyye4",
     "bafybeicvkvhs2fr75ynebtdjqpgm4g2fc63abqbmysupwpmcjl4gx7mzrm"),
    ({"hash": "blake2b-256"}, "bafykbzaceaptbcs7ik5mdfpot3b4ackvxlwh7loc5jcrtkayf64ukl7zyk46e",
     "bafk2bzaceaqcxw46uzkyd2jmczoogof6pnkqt4dpiv3pwkunsv4g5rkkmecie",
     "bafk2bzacebxnke2fb5mgzxyjuuavvcfht4fd3gvn4klkujz6k72wboynhuvfw"),
]


@pytest.mark.parametrize("flags, planets, mars, venus", PLANETS,
                         ids=["default", "raw-leaves", "v1", "v1-pb", "blake2b-256"])
def test_kubo_known_answers_planets(tmp_path: Path, flags: dict[str, Any], planets: str,
                                    mars: str, venus: str) -> None:
    added: list[tuple[str, str]] = []
    root = import_path(MemoryBlockstore(), _planets(tmp_path), preset="kubo",
                       on_added=lambda a: added.append((a.path, to_str(a.cid))), **flags)
    assert to_str(root) == planets
    # what `ipfs add -r` prints, files first (same order as Kubo here: no subdirectories)
    assert added == [("planets/mars.txt", mars), ("planets/venus.txt", venus),
                     ("planets", planets)]


def test_kubo_known_answers_nested_moons(tmp_path: Path) -> None:
    # t0040 "'ipfs add -rn' output looks good"
    m = tmp_path / "moons"
    (m / "jupiter").mkdir(parents=True)
    (m / "saturn").mkdir()
    (m / "jupiter" / "europa.txt").write_bytes(b"Hello Europa!\n")
    (m / "saturn" / "titan.txt").write_bytes(b"Hello Titan!\n")
    (m / "mercury.txt").write_bytes(b"hey youre no moon!\n")
    added: dict[str, str] = {}
    res = import_paths(None, [m], on_added=lambda a: added.__setitem__(a.path, to_str(a.cid)))
    assert added == {
        "moons": "QmVKvomp91nMih5j6hYBA8KjbiaYvEetU2Q7KvtZkLe9nQ",
        "moons/jupiter/europa.txt": "Qmbjg7zWdqdMaK2BucPncJQDxiALExph5k3NkQv5RHpccu",
        "moons/jupiter": "QmS5mZddhFPLWFX3w6FzAy9QxyYkaxvUpsWCtZ3r7jub9J",
        "moons/saturn": "QmaMagZT4rTE7Nonw8KGSK4oe1bh533yhZrCo1HihSG8FK",
        "moons/saturn/titan.txt": "QmZzppb9WHn552rmRqpPfgU5FEiHH6gDwi3MrB9cTdPwdb",
        "moons/mercury.txt": "QmUJjVtnN8YEeYcS8VmUeWffTWhnMQAkk5DzZdKnPhqUdK",
    }
    assert to_str(res.root) == added["moons"]
    assert res.blocks == 6  # -n: nothing stored, but every block counted


def test_kubo_known_answers_inline_and_empty_directory(tmp_path: Path) -> None:
    s = MemoryBlockstore()
    # t0046: `ipfs add --inline --raw-leaves` of "jkD98jkD975hkD8\n"
    inline = ImportSettings.preset("kubo", inline=True, raw_leaves=True)
    cid = import_file(s, b"jkD98jkD975hkD8\n", inline)
    assert to_str(cid) == "bafkqaedknncdsodknncdsnzvnbvuioak"
    assert len(s) == 0  # identity blocks are never stored: the CID is the data
    assert b"".join(cat(s, cid)) == b"jkD98jkD975hkD8\n"
    # ... and a file over the limit is hashed as usual (t0046 "on large file")
    big = os.urandom(1000)
    assert import_file(s, big, inline) == import_file(s, big, raw_leaves=True, cid_version=0)
    empty = tmp_path / "empty"
    empty.mkdir()
    # the empty directory everyone knows, and its inlined form (`ipfs add -r --inline`)
    assert to_str(import_path(s, empty)) == "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"
    assert to_str(import_path(s, empty, inline=True)) == "bafyaabakaieac"


def test_presets_apply_kubo_implications() -> None:
    assert ImportSettings.preset("kubo") == ImportSettings()
    h = ImportSettings.preset("helia")
    assert (h.cid_version, h.raw_leaves, h.chunk_size, h.max_children, h.flavor) == (
        1, True, 1048576, 1024, "helia")
    # a hash other than sha2-256 implies CIDv1, which implies raw leaves (as in Kubo)
    s = ImportSettings.preset("kubo", hash="sha2-512")
    assert (s.cid_version, s.raw_leaves) == (1, True)
    assert ImportSettings.preset("kubo", hash="sha2-512", raw_leaves=False).raw_leaves is False
    with pytest.raises(DagError, match="CIDv0 only supports sha2-256"):
        ImportSettings.preset("kubo", hash="blake2b-256", cid_version=0)
    assert ImportSettings.preset("kubo", inline=True).inline_limit == 32
    assert ImportSettings.preset("kubo", inline=True, inline_limit=8).inline_limit == 8
    assert ImportSettings.preset("kubo", chunk_size=None).chunk_size == 262144  # None: not given
    for bad in ({"hash": "md5"}, {"inline_limit": 500}, {"shard_fanout": 100}, {"nope": 1}):
        with pytest.raises(DagError):
            ImportSettings.preset("kubo", **bad)


@pytest.mark.parametrize("hash_name, code", [("sha2-512", 0x13), ("blake2b-256", 0xB220)])
def test_other_hashes_name_every_block_and_read_back(tmp_path: Path, hash_name: str,
                                                      code: int) -> None:
    s = MemoryBlockstore()
    data = os.urandom(3000)
    root = import_file(s, data, ImportSettings.preset("kubo", hash=hash_name, chunk_size=1000))
    assert all(decode_cid(c)[2] == code for c in s.cids()) and len(s) == 4
    assert b"".join(cat(s, root)) == data  # the exporter verifies every block under its hash


# -- the trickle layout (structure; CIDs against Helia in tests/interop) ---------------------


def _node(s: Any, cid: bytes) -> tuple[dagpb.PBNode, dagpb.UnixFSData]:
    node = dagpb.decode_node(s.get(cid))
    assert node.data is not None
    return node, dagpb.decode_unixfs(node.data)


def test_trickle_shape_and_kubo_single_chunk() -> None:
    s = MemoryBlockstore()
    st = ImportSettings.preset("kubo", trickle=True, chunk_size=10, max_children=3)
    data = os.urandom(10 * 3 + 10 * 3 * 4 + 10 * 3 * 1)  # root layer, 4 depth-1 subtrees, 1 more
    root = import_file(s, data, st)
    node, fs = _node(s, root)
    # 3 leaves, then 4 subtrees of depth 1 (3 leaves each), then one of depth 2 (3 leaves)
    assert len(node.links) == 3 + 4 + 1 and fs.blocksizes == [10] * 3 + [30] * 4 + [30]
    assert b"".join(cat(s, root)) == data
    # Kubo's trickle builder wraps a single chunk in a File node; Helia reduces it to the leaf
    one = import_file(s, b"x", st)
    assert len(_node(s, one)[0].links) == 1
    helia = ImportSettings.preset("helia", trickle=True, chunk_size=10, max_children=3)
    assert import_file(s, b"x", helia) == import_file(s, b"x", cid_version=1)
    # an empty file under Kubo's trickle is an empty File node: the empty dag-pb leaf's bytes
    assert to_str(import_file(s, b"", st)) == "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"


# -- directories -------------------------------------------------------------------------------


def _kind(s: Any, cid: bytes) -> int:
    return _node(s, cid)[1].type


def _names_of_length(n: int, count: int, prefix: str = "") -> list[str]:
    return [f"{prefix}{i:05d}".ljust(n, "x") for i in range(count)]


def test_sharding_threshold_kubo_reaches_helia_exceeds(tmp_path: Path) -> None:
    # 4 files with 16-byte names: each link estimates 16 + 34 (CIDv0) = 50 bytes: 200 in all
    d = tmp_path / "d"
    d.mkdir()
    for name in _names_of_length(16, 4):
        (d / name).write_bytes(name.encode())
    s = MemoryBlockstore()
    kubo_at = import_path(s, d, preset="kubo", shard_threshold=200)
    assert _kind(s, kubo_at) == dagpb.HAMT_SHARD  # Kubo: estimate >= threshold
    assert _kind(s, import_path(s, d, preset="kubo", shard_threshold=201)) == dagpb.DIRECTORY
    # Helia (CIDv0 here, so the same 50 bytes a link): estimate > threshold
    h = {"preset": "helia", "cid_version": 0}
    assert _kind(s, import_path(s, d, shard_threshold=200, **h)) == dagpb.DIRECTORY
    assert _kind(s, import_path(s, d, shard_threshold=199, **h)) == dagpb.HAMT_SHARD


def test_subdirectories_count_like_files(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    for name in _names_of_length(16, 4):
        (d / name).mkdir()
        (d / name / "f").write_bytes(b"f")
    (d / ("e" * 16)).mkdir()  # empty or not, a subdirectory is a 16 + 34 byte link
    s = MemoryBlockstore()
    assert _kind(s, import_path(s, d, preset="kubo", shard_threshold=250)) == dagpb.HAMT_SHARD
    h = {"preset": "helia", "cid_version": 0}
    assert _kind(s, import_path(s, d, shard_threshold=249, **h)) == dagpb.HAMT_SHARD
    assert _kind(s, import_path(s, d, shard_threshold=250, **h)) == dagpb.DIRECTORY


def test_a_hamt_of_2000_names_is_canonical_and_listable(tmp_path: Path) -> None:
    d = tmp_path / "big"
    d.mkdir()
    names = [f"entry {i:04d} ünïcødé " + "y" * 90 for i in range(2000)]
    for n in names:
        (d / n).write_bytes(n.encode()[:7])
    s = MemoryBlockstore()
    root = import_path(s, d)
    node, fs = _node(s, root)
    assert fs.type == dagpb.HAMT_SHARD and fs.fanout == 256 and fs.hash_type == 0x22
    # every slot of the root is taken by 2000 names; the bitfield says so, minimal big-endian
    assert bytes(fs.data or b"") == b"\xff" * 32 and len(node.links) == 256
    listed = ls(s, root)
    assert sorted(e.name for e in listed) == sorted(names)
    assert {e.size for e in listed} == {7} and {e.kind for e in listed} == {"file"}
    # a value link sits in the slot its name hashes to (upper-case hex label, then the name)
    first = next(ln for ln in node.links if len(ln.name or "") > 2)
    name = (first.name or "")[2:]
    assert int((first.name or "")[:2], 16) == slot_path(name.encode(), 256, 1)[0]
    # insertion order does not matter: the trie is canonical
    assert import_path(MemoryBlockstore(), d) == root
    assert hamt_hash(b"") == 0  # murmur3-x64-128 of nothing, seed 0: h1 = 0


def test_files_dirs_symlinks_hidden_and_empty_things(tmp_path: Path) -> None:
    d = tmp_path / "tree"
    (d / "sub dir" / "ünï").mkdir(parents=True)
    (d / "empty dir").mkdir()
    (d / "empty file").write_bytes(b"")
    (d / ".hidden").write_bytes(b"h")
    (d / "sub dir" / "ünï" / "x").write_bytes(b"x" * 1000)
    os.symlink("sub dir/ünï/x", d / "link")
    s = MemoryBlockstore()
    root = import_path(s, d)
    names = {e.name: e for e in ls(s, root)}
    assert set(names) == {"sub dir", "empty dir", "empty file", "link"}  # hidden left out
    assert names["link"].kind == "symlink" and names["empty file"].size == 0
    assert to_str(names["empty dir"].cid) == "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"
    with_hidden = import_path(s, d, hidden=True)
    assert ".hidden" in {e.name for e in ls(s, with_hidden)}
    # --only-hash: the same CID, nothing stored
    assert import_path(None, d) == root
    # wrap: one more directory holding the paths by base name
    f = tmp_path / "f.txt"
    f.write_bytes(b"f")
    res = import_paths(s, [d, f], wrap=True)
    assert {e.name for e in ls(s, res.root)} == {"tree", "f.txt"}
    assert [a.path for a in res.roots] == ["tree", "f.txt"]
    assert import_paths(s, [d, f]).root != res.root  # without wrap: the last path's root
    with pytest.raises(DagError, match="same base name"):
        import_paths(s, [d, tmp_path / "." / "tree"], wrap=True)


def test_what_cannot_be_imported(tmp_path: Path) -> None:
    fifo = tmp_path / "p" / "fifo"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    with pytest.raises(DagError, match="sockets, pipes and devices"):
        import_path(None, tmp_path / "p")
    bad = tmp_path / "b"
    bad.mkdir()
    (bad / os.fsdecode(b"caf\xe9")).write_bytes(b"")  # Latin-1, not UTF-8
    with pytest.raises(DagError, match="not valid UTF-8"):
        import_path(None, bad)
    deep = tmp_path / "deep"
    p = deep
    for _ in range(130):
        p = p / "d"
    p.mkdir(parents=True)
    with pytest.raises(DagError, match="directories deep"):
        import_path(None, deep)
    with pytest.raises(DagError, match="at least one path"):
        import_paths(None, [])
    with pytest.raises(DagError, match="either settings or keyword"):
        import_path(None, tmp_path, ImportSettings(), cid_version=1)
