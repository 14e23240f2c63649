"""UnixFS file importer and exporter (UNIXFS.md over dag-pb; Kubo and Helia importer settings)."""

from __future__ import annotations

import io
import random
from typing import Any

import pytest
from _dag_helpers import kat_content

from fastswap.blockstore import MemoryBlockstore
from fastswap.cid import DAG_PB, RAW, compute_cid, decode_cid, parse, to_str
from fastswap.dag import HELIA_DEFAULTS, KUBO_DEFAULTS, cat, dagpb, import_file, iter_links
from fastswap.errors import BadBlockError, BlockNotFoundError, CIDError, DagError

KIB = 1024
C = 256 * KIB


def _read(store: Any, cid: bytes) -> bytes:
    return b"".join(bytes(x) for x in cat(store, cid))


# -- known answers -----------------------------------------------------------------------------


def test_well_known_cids() -> None:
    s = MemoryBlockstore()
    # the empty UnixFS file of `ipfs add` and the empty raw block of `ipfs add --cid-version=1`
    assert to_str(import_file(s, b"", **KUBO_DEFAULTS)) == (
        "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"
    )
    assert to_str(import_file(s, b"")) == (
        "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
    )
    assert to_str(import_file(s, b"", **HELIA_DEFAULTS)) == (
        "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
    )
    # `echo "hello world" | ipfs add` (the IPFS docs' example) and its raw CIDv1
    assert to_str(import_file(s, b"hello world\n", **KUBO_DEFAULTS)) == (
        "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
    )
    assert import_file(s, b"hello world\n", cid_version=1) == compute_cid(b"hello world\n")


KUBO_V0 = dict(KUBO_DEFAULTS)
KUBO_V1 = {"cid_version": 1, "chunk_size": C, "max_children": 174}  # ipfs add --cid-version=1
V1_PB = {"cid_version": 1, "raw_leaves": False, "chunk_size": C, "max_children": 174}
HELIA = dict(HELIA_DEFAULTS)
SETTINGS = {"kubo-v0": KUBO_V0, "kubo-v1": KUBO_V1, "v1-pb-leaves": V1_PB, "helia": HELIA}

# Root CIDs computed by ipfs-unixfs-importer 17.1.1 (Helia's importer) for kat_content(size);
# for these settings it agrees with Kubo 0.22 (tests/interop checks against the real peers).
# fmt: off
KAT = {
    ("kubo-v0", 1): "QmSNLQtBaTa1XT6QJUUbUxQvVXjU1Pzw9pndLdQf4RKxgo",
    ("kubo-v1", 1): "bafkreignbkuykykhw3c3j7zlpx7olwravi4ckmez54nuuzfm5urtzgx6fe",
    ("v1-pb-leaves", 1): "bafybeib33u4iyt6kqiiquqaeptjh5veonelhcg5ze4ibou2wp4esuzyf6a",
    ("v1-pb-leaves", 0): "bafybeif7ztnhq65lumvvtr4ekcwd2ifwgm3awq4zfr3srh462rwyinlb4y",
    ("kubo-v0", C - 1): "QmUhrisubaxwFAL5Pd6Da2ejUbyuj2YgRQWVkMhXEPjGhR",
    ("kubo-v1", C - 1): "bafkreiac64edympmmd3kqssctblbi3gyribkwg2s3dmlopqq2pmwt3i63a",
    ("v1-pb-leaves", C - 1): "bafybeic6sttoyeslpf2kk4bz2xgpsmzjmf7nyzzl3n6g3pwsl44fqx6k2q",
    ("kubo-v0", C): "QmcdVpwYW7WtQkU8pjRf7z2t5sSUqEM59yRqJPp4jm9EgP",
    ("kubo-v1", C): "bafkreibhogk4r2p2p5csjgswx6qhng64i5ycriib6noui6vj3oxt5hja3a",
    ("v1-pb-leaves", C): "bafybeigukrzjpyquax65aoz57kcdvnb4zfmgqpcpolkar3oyq2fqnv6aia",
    ("kubo-v0", C + 1): "QmTcuJVeqi6eNGcjUMgi2dRaKEYsCaL8GBohW8Tq32ueij",
    ("kubo-v1", C + 1): "bafybeieimpq67pyrtikco4rhsgzmeyy67t5iepv3kt74yugnfpugttsxz4",
    ("v1-pb-leaves", C + 1): "bafybeibgzs5w6bnutreyk7fbzl3b4gawjx3tlc4daj4cne2k45ge3olw3e",
    ("helia", C + 1): "bafkreieqmlco5xmdlyxincgvbouyqtagd7oxens5wz6ptzz3vbvkc6tnmq",
    ("kubo-v0", 3 * 1048576 + 1): "QmeUpakPqWwML8BSsB7VfaLP4Y9uX6NB6sFUMYEhdatp9C",
    ("kubo-v1", 3 * 1048576 + 1): "bafybeieiudfr3d2jcphbyr4nrj5zp5m7ixw2ldrxovue6c7nsbj2h5gqni",
    ("helia", 3 * 1048576 + 1): "bafybeibywwqdxunuol2ujf73vgdwi4clg6oiyloynispx3fhbygeglfwse",
    # exactly 174 chunks (one full node) and one more (Kubo's first two-level tree)
    ("kubo-v0", 174 * C): "QmYcvqTu87V4fgsqho38Eu3AA9uNxBkFfuVrzF9nBuCaeR",
    ("kubo-v0", 174 * C + 1): "QmWAWg5gxKQKQcbD33QCNeTXD3USNneVpiMs4cdqXUQ5AD",
    ("kubo-v1", 174 * C + 1): "bafybeiby65vytdsbbvmcp6hkmgx26tn6s6zt2ex3l6opomujoess7awrba",
    ("helia", 174 * C + 1): "bafybeidwy2yllyh7o7sj6s364524s3tzjib7xoqsntwd4lz64h3br42bde",
}
SMALL_KAT = {
    (5000, 0, False, 1024, 174): "QmZBfK8jCfaTRF1LrKT3cYZw7nTyGEDhBnHvMPNb9zj8JZ",
    (5000, 1, True, 1024, 174): "bafybeigczmbaqqw6dcia46t7bljxssut2f4ma5wvlekuhfkdriww3r75ui",
    (5000, 1, True, 256, 1024): "bafybeif4qj7syp5dbcqb3cfzwsykyzj6aoiob2vtwwfe5h5kd766pucjhe",
    (5000, 0, False, 100, 11): "QmVT8Tt4GUtpNqBt81QedzMfcAWw4hbGKFrRFCmKYtBTe3",
    (100000, 0, False, 1024, 174): "QmarKdf91tW9wbkrfyZp8zHfboxLyk53sjHhZZWBYyFC6z",
    (100000, 1, True, 1024, 174): "bafybeierifesziomzaezdoxvn5bsw3j74qevuew7tenyrjbnspzb7xb3ti",
    (100000, 1, True, 256, 1024): "bafybeifpw7p633gbjqwpzwsbjpe7ju4wn4ia7hazq3qhl3x2azvaquibku",
    (100000, 0, False, 100, 11): "QmTQ4JD3g5DxBHocYxNstax4Z814K2wnd5NMv4kyQDkyxe",
}
# fmt: on


@pytest.mark.parametrize("key", list(KAT), ids=[f"{k}-{n}" for k, n in KAT])
def test_known_answer_cids(key: tuple[str, int]) -> None:
    setting, size = key
    s = MemoryBlockstore()
    data = kat_content(size)
    root = import_file(s, data, **SETTINGS[setting])
    assert to_str(root) == KAT[key]
    assert _read(s, root) == data


@pytest.mark.parametrize("key", list(SMALL_KAT), ids=[str(k) for k in SMALL_KAT])
def test_known_answer_cids_small_chunks_deep_trees(key: tuple) -> None:
    size, v, raw, chunk, kids = key
    s = MemoryBlockstore()
    data = kat_content(size)
    root = import_file(s, data, cid_version=v, raw_leaves=raw, chunk_size=chunk, max_children=kids)
    assert to_str(root) == SMALL_KAT[key]
    assert _read(s, root) == data


def test_presets_and_defaults() -> None:
    assert KUBO_DEFAULTS == {
        "cid_version": 0,
        "raw_leaves": False,
        "chunk_size": 262144,
        "max_children": 174,
    }
    assert HELIA_DEFAULTS == {
        "cid_version": 1,
        "raw_leaves": True,
        "chunk_size": 1048576,
        "max_children": 1024,
    }
    data = kat_content(C + 1)
    # import_file's own defaults are `ipfs add --cid-version=1`
    assert import_file(MemoryBlockstore(), data) == import_file(MemoryBlockstore(), data, **KUBO_V1)
    # raw_leaves follows the CID version unless given
    r0 = import_file(MemoryBlockstore(), data, cid_version=0)
    assert r0 == import_file(MemoryBlockstore(), data, **KUBO_V0)


# -- structure ---------------------------------------------------------------------------------


def _node(s: Any, cid: bytes) -> tuple[dagpb.PBNode, dagpb.UnixFSData]:
    node = dagpb.decode_node(s.get(cid))
    assert node.data is not None
    return node, dagpb.decode_unixfs(node.data)


def _tsize(s: Any, cid: bytes) -> int:
    block = s.get(cid)
    if decode_cid(cid)[1] == RAW:
        return len(block)
    return len(block) + sum(_tsize(s, link.cid) for link in dagpb.decode_node(block).links)


@pytest.mark.parametrize("raw", [True, False])
def test_two_level_tree_structure(raw: bool) -> None:
    chunk, kids = 100, 4
    data = kat_content(chunk * 4 * 4 + 150)  # 16 full chunks + 2: three levels under 4 links
    s = MemoryBlockstore()
    root = import_file(s, data, cid_version=1, raw_leaves=raw, chunk_size=chunk, max_children=kids)
    node, fs = _node(s, root)
    assert decode_cid(root)[:2] == (1, DAG_PB)
    assert fs.type == dagpb.FILE and fs.data is None and fs.filesize == len(data)
    assert len(node.links) == 2  # a full 16-leaf subtree and the 2-leaf rest
    assert fs.blocksizes == [1600, 150]
    full, fs_full = _node(s, node.links[0].cid)
    assert len(full.links) == 4 and fs_full.blocksizes == [400] * 4
    rest, fs_rest = _node(s, node.links[1].cid)
    assert len(rest.links) == 1 and fs_rest.blocksizes == [150]  # a group of one is still wrapped
    low, fs_low = _node(s, rest.links[0].cid)
    assert fs_low.blocksizes == [100, 50] and len(low.links) == 2
    for link in node.links + full.links + rest.links + low.links:
        assert link.name == "" and link.tsize == _tsize(s, link.cid)
    leaf = low.links[1].cid
    if raw:
        assert decode_cid(leaf)[:2] == (1, RAW) and s.get(leaf) == data[-50:]
    else:
        assert decode_cid(leaf)[:2] == (1, DAG_PB)
        lnode, lfs = _node(s, leaf)
        assert lnode.links == () and lfs.type == dagpb.FILE  # File, not Raw, as go-unixfs writes
        assert bytes(lfs.data) == data[-50:] and lfs.filesize == 50 and lfs.blocksizes == []
    # 18 leaves; internal: four 4-leaf nodes, low (2 leaves), the full 16-leaf node, rest, root
    assert len(s) - 18 == 4 + 1 + 1 + 1 + 1
    assert _read(s, root) == data


def test_single_chunk_file_is_its_own_leaf() -> None:
    s = MemoryBlockstore()
    data = kat_content(C)
    raw_root = import_file(s, data, cid_version=1)
    assert raw_root == compute_cid(data) and len(s) == 1
    s2 = MemoryBlockstore()
    pb_root = import_file(s2, data, **KUBO_V0)
    _, fs = _node(s2, pb_root)
    assert fs.type == dagpb.FILE and bytes(fs.data) == data and fs.filesize == C
    assert len(s2) == 1


def test_empty_file_blocks() -> None:
    s = MemoryBlockstore()
    root = import_file(s, b"", **KUBO_V0)
    assert s.get(root) == b"\x0a\x04\x08\x02\x18\x00"  # filesize 0 present, no Data field
    assert _read(s, root) == b""


def test_determinism_and_identical_chunks_dedupe() -> None:
    data = bytes(1000) * 10  # ten identical chunks
    s1, s2 = MemoryBlockstore(), MemoryBlockstore()
    r1 = import_file(s1, data, chunk_size=1000, max_children=4)
    r2 = import_file(s2, io.BytesIO(data), chunk_size=1000, max_children=4)
    assert r1 == r2 and sorted(s1.cids()) == sorted(s2.cids())
    assert _read(s1, r1) == data


# -- sources -----------------------------------------------------------------------------------


class Trickle(io.RawIOBase):
    """A stream that returns at most 333 bytes a read and records what it was asked for."""

    def __init__(self, data: bytes) -> None:
        self.buf = io.BytesIO(data)
        self.asked: list[int] = []

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        self.asked.append(n)
        return self.buf.read(min(n, 333) if n >= 0 else 333)


@pytest.mark.parametrize("size", [0, 1, 999, 1000, 1001, 4 * 1000 + 1, 25_000])
@pytest.mark.parametrize("settings", ["v0-pb", "v1-raw", "v1-pb"])
def test_round_trip_from_every_source(tmp_path: Any, size: int, settings: str) -> None:
    v, raw = {"v0-pb": (0, False), "v1-raw": (1, True), "v1-pb": (1, False)}[settings]
    opts = {"cid_version": v, "raw_leaves": raw, "chunk_size": 1000, "max_children": 3}
    data = random.Random(size).randbytes(size)
    path = tmp_path / "f"
    path.write_bytes(data)
    s = MemoryBlockstore()
    root = import_file(s, data, **opts)
    assert import_file(s, bytearray(data), **opts) == root
    assert import_file(s, memoryview(data), **opts) == root
    assert import_file(s, path, **opts) == root
    assert import_file(s, str(path), **opts) == root
    with open(path, "rb") as f:
        assert import_file(s, f, **opts) == root
    trickle = Trickle(data)
    assert import_file(s, trickle, **opts) == root
    assert max(trickle.asked) <= 1000  # reads a chunk at a time, never the whole file
    assert _read(s, root) == data
    assert decode_cid(root)[0] == v


def test_many_batches_use_the_threaded_pipeline() -> None:
    # more than one DAG_IMPORT_BATCH_BYTES batch: exercises the hash/put worker threads
    data = kat_content(9 * 1024 * 1024 + 3)
    s = MemoryBlockstore()
    root = import_file(s, data, chunk_size=64 * KIB, max_children=8)
    assert (
        import_file(MemoryBlockstore(), io.BytesIO(data), chunk_size=64 * KIB, max_children=8)
        == root
    )
    assert _read(s, root) == data
    assert len(s) == 145 + 19 + 3 + 1  # leaves, then nodes of 8, 8^2, and the root


def test_bad_settings_and_sources() -> None:
    s = MemoryBlockstore()
    for kw in (
        {"cid_version": 2},
        {"chunk_size": 0},
        {"chunk_size": 2 * 1024 * 1024},
        {"max_children": 1},
        {"max_children": 100_000},
    ):
        with pytest.raises(DagError):
            import_file(s, b"x", **kw)
    with pytest.raises(DagError, match="binary mode"):
        import_file(s, io.StringIO("text"))
    with pytest.raises(DagError, match="cannot import"):
        import_file(s, 12345)  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        import_file(s, "/nonexistent/file")
    assert len(s) == 0


def test_store_failure_propagates() -> None:
    class Broken(MemoryBlockstore):
        def put_many(self, blocks: Any) -> int:
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        import_file(Broken(), kat_content(9 * 1024 * 1024), chunk_size=64 * KIB)
    with pytest.raises(OSError, match="disk full"):
        import_file(Broken(), b"small")


# -- exporter ----------------------------------------------------------------------------------


def test_cat_accepts_text_cids_and_streams() -> None:
    s = MemoryBlockstore()
    data = kat_content(10_000)
    root = import_file(s, data, chunk_size=1000, max_children=4, raw_leaves=False)
    parts = list(cat(s, to_str(root)))
    assert len(parts) == 10 and all(len(p) == 1000 for p in parts)
    assert b"".join(bytes(p) for p in parts) == data


@pytest.mark.parametrize("raw", [True, False])
def test_cat_detects_a_corrupted_block(raw: bool) -> None:
    s = MemoryBlockstore()
    data = kat_content(5000)
    root = import_file(s, data, cid_version=1, raw_leaves=raw, chunk_size=1000, max_children=4)
    leaf = next(c for c in s.cids() if c != root and (raw == (decode_cid(c)[1] == RAW)))
    block = bytearray(s.get(leaf))
    block[-2] ^= 1
    s._blocks[leaf] = bytes(block)  # the store is corrupt (stores do not hash)
    with pytest.raises(BadBlockError, match="does not hash"):
        _read(s, root)


def test_cat_reports_a_missing_block_after_streaming_what_it_has() -> None:
    s = MemoryBlockstore()
    data = kat_content(5000)
    root = import_file(s, data, chunk_size=1000, max_children=10)
    last = dagpb.decode_node(s.get(root)).links[-1].cid
    s.delete(last)
    got = []
    with pytest.raises(BlockNotFoundError, match=to_str(last)):
        for part in cat(s, root):
            got.append(bytes(part))
    assert b"".join(got) == data[:4000]
    with pytest.raises(BlockNotFoundError):
        list(cat(MemoryBlockstore(), root))


def _put_node(s: Any, links: list[tuple[bytes, int]], unixfs: bytes | None, v: int = 1) -> bytes:
    block = dagpb.encode_node([dagpb.encode_link(c, t) for c, t in links], unixfs)
    cid = compute_cid(block, version=v, codec=DAG_PB)
    s.put(cid, block)
    return cid


def test_cat_refuses_directories_and_other_codecs() -> None:
    s = MemoryBlockstore()
    d = _put_node(s, [], dagpb.encode_unixfs(dagpb.DIRECTORY))
    with pytest.raises(DagError, match="is a directory, not a file"):
        list(cat(s, d))
    h = _put_node(s, [], dagpb.encode_unixfs(dagpb.HAMT_SHARD, hash_type=0x22, fanout=256))
    with pytest.raises(DagError, match="is a directory, not a file"):
        list(cat(s, h))
    sym = _put_node(s, [], dagpb.encode_unixfs(dagpb.SYMLINK, data=b"/x"))
    with pytest.raises(DagError, match="symlink"):
        list(cat(s, sym))
    bare = _put_node(s, [], None)
    with pytest.raises(DagError, match="without UnixFS Data"):
        list(cat(s, bare))
    cbor = compute_cid(b"\xa0", codec=0x71)
    s.put(cbor, b"\xa0")
    with pytest.raises(DagError, match="codec 0x71"):
        list(cat(s, cbor))
    with pytest.raises(CIDError, match="not a CID"):
        cat(s, "not-a-cid")


def test_cat_checks_sizes_against_blocksizes_and_filesize() -> None:
    s = MemoryBlockstore()
    leaf = compute_cid(b"abc")
    s.put(leaf, b"abc")
    ok = _put_node(s, [(leaf, 3)], dagpb.encode_unixfs(dagpb.FILE, filesize=3, blocksizes=[3]))
    assert _read(s, ok) == b"abc"
    liar = _put_node(s, [(leaf, 3)], dagpb.encode_unixfs(dagpb.FILE, filesize=4, blocksizes=[4]))
    with pytest.raises(DagError, match="parent says 4"):
        _read(s, liar)
    short = _put_node(s, [(leaf, 3)], dagpb.encode_unixfs(dagpb.FILE, filesize=9, blocksizes=[3]))
    with pytest.raises(DagError, match="says its file has 9 bytes"):
        _read(s, short)
    count = _put_node(s, [(leaf, 3)], dagpb.encode_unixfs(dagpb.FILE, blocksizes=[3, 3]))
    with pytest.raises(DagError, match="1 links but 2 blocksizes"):
        _read(s, count)
    # old-style Type=Raw dag-pb leaves with inline data (trickle DAGs) are files too
    rawtype = _put_node(s, [], dagpb.encode_unixfs(dagpb.RAW, data=b"xyz", filesize=3), v=0)
    assert _read(s, rawtype) == b"xyz"


def test_cat_refuses_absurdly_deep_dags() -> None:
    s = MemoryBlockstore()
    cid = compute_cid(b"z")
    s.put(cid, b"z")
    for _ in range(200):
        cid = _put_node(s, [(cid, 1)], dagpb.encode_unixfs(dagpb.FILE, filesize=1, blocksizes=[1]))
    with pytest.raises(DagError, match="deeper than"):
        _read(s, cid)


def test_iter_links() -> None:
    s = MemoryBlockstore()
    root = import_file(s, kat_content(3000), chunk_size=1000, raw_leaves=False, cid_version=0)
    links = list(iter_links(root, s.get(root)))
    assert len(links) == 3 and all(len(c) == 34 for c in links)  # CIDv0 children
    assert list(iter_links(links[0], s.get(links[0]))) == []  # a dag-pb leaf
    raw = compute_cid(b"x")
    assert list(iter_links(raw, b"x")) == []
    with pytest.raises(DagError, match="codec 0x71"):
        list(iter_links(compute_cid(b"\xa0", codec=0x71), b"\xa0"))
    with pytest.raises(DagError):
        list(iter_links(root, b"\x0a\x05ab"))
    assert parse(to_str(root)) == root


class _Zeros(io.RawIOBase):
    """An endless-looking stream of *n* bytes that never exists in memory at once."""

    def __init__(self, n: int) -> None:
        self.left = n

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = min(size, self.left)
        self.left -= size
        return bytes([self.left & 0xFF]) * size


class _CountingStore(MemoryBlockstore):
    """Counts blocks but keeps none: only the importer's own memory is measured."""

    def put_many(self, blocks: Any) -> int:
        n = 0
        for _cid, _data in blocks:
            n += 1
        self.count = getattr(self, "count", 0) + n
        return n


def test_import_memory_is_bounded() -> None:
    import tracemalloc

    size = 96 * 1024 * 1024
    tracemalloc.start()
    try:
        root = import_file(_CountingStore(), _Zeros(size), **KUBO_DEFAULTS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert root[:2] == b"\x12\x20"
    assert peak < 48 * 1024 * 1024, f"importer peaked at {peak / 1e6:.0f} MB for a 96 MiB file"
