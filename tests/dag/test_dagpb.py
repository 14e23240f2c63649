"""dag-pb and UnixFS Data codecs (IPLD dag-pb spec; UNIXFS.md), with protobuf as the oracle."""

from __future__ import annotations

import random

import pytest

from fastswap._proto import dag_pb_pb2, unixfs_pb2
from fastswap.cid import compute_cid
from fastswap.dag import dagpb
from fastswap.dag.unixfs import _LeafEncoder
from fastswap.errors import DagError

CID_A = compute_cid(b"a")
CID_B = compute_cid(b"b", version=0, codec=0x70)


def _pb_parse(block: bytes) -> dag_pb_pb2.PBNode:
    m = dag_pb_pb2.PBNode()
    m.ParseFromString(block)
    return m


def test_node_is_links_then_data_and_protobuf_reads_it() -> None:
    links = [dagpb.encode_link(CID_A, 10), dagpb.encode_link(CID_B, 7, "x")]
    block = dagpb.encode_node(links, b"\x08\x02")
    assert block[0] == 0x12  # Links (field 2) first: canonical dag-pb
    assert block[-4:] == b"\x0a\x02\x08\x02"  # Data (field 1) last
    m = _pb_parse(block)
    assert [(ln.Hash, ln.Name, ln.Tsize) for ln in m.Links] == [(CID_A, "", 10), (CID_B, "x", 7)]
    assert m.HasField("Data") and m.Data == b"\x08\x02"
    node = dagpb.decode_node(block)
    assert node.links == (dagpb.PBLink(CID_A, "", 10), dagpb.PBLink(CID_B, "x", 7))
    assert bytes(node.data) == b"\x08\x02"


def test_empty_name_is_written_and_absent_fields_stay_absent() -> None:
    link = dagpb.encode_link(CID_A, 3)
    assert b"\x12\x00" in link  # Name "" present, as Kubo and Helia write it
    node = dagpb.decode_node(dagpb.encode_node([], None))
    assert node.links == () and node.data is None
    node = dagpb.decode_node(dagpb.encode_node([], b""))
    assert node.data is not None and len(node.data) == 0
    bare = b"\x12" + bytes([2 + len(CID_A)]) + b"\x0a" + bytes([len(CID_A)]) + CID_A
    assert dagpb.decode_node(bare).links == (dagpb.PBLink(CID_A, None, None),)


@pytest.mark.parametrize("n", [0, 1, 127, 128, 1000, 262143, 262144, 262145, 1048576])
def test_hand_framed_leaf_equals_protobuf_encoding(n: int) -> None:
    chunk = random.Random(n).randbytes(n)
    data = unixfs_pb2.Data(Type=unixfs_pb2.Data.File, filesize=n)
    if n:
        data.Data = chunk
    expected = dagpb.encode_node([], data.SerializeToString())
    assert _LeafEncoder(False, 262144).block(chunk) == expected


def test_unixfs_blocksizes_are_not_packed() -> None:
    raw = dagpb.encode_unixfs(dagpb.FILE, filesize=300, blocksizes=[100, 200])
    assert raw == b"\x08\x02\x18\xac\x02\x20\x64\x20\xc8\x01"
    d = dagpb.decode_unixfs(raw)
    assert (d.type, d.filesize, d.blocksizes, d.data) == (dagpb.FILE, 300, [100, 200], None)


def test_unixfs_decoder_agrees_with_protobuf() -> None:
    rng = random.Random(1)
    for _ in range(200):
        m = unixfs_pb2.Data(Type=rng.randrange(6))
        if rng.random() < 0.5:
            m.Data = rng.randbytes(rng.randrange(300))
        if rng.random() < 0.5:
            m.filesize = rng.randrange(1 << 40)
        m.blocksizes.extend(rng.randrange(1 << 30) for _ in range(rng.randrange(5)))
        if rng.random() < 0.3:
            m.fanout = 256
            m.hashType = 0x22
        if rng.random() < 0.3:
            m.mode = 0o644
            m.mtime.Seconds = rng.randrange(-(1 << 40), 1 << 40)
            m.mtime.FractionalNanoseconds = 5
        d = dagpb.decode_unixfs(m.SerializeToString())
        assert d.type == m.Type
        assert (bytes(d.data) if d.data is not None else None) == (
            m.Data if m.HasField("Data") else None
        )
        assert d.filesize == (m.filesize if m.HasField("filesize") else None)
        assert d.blocksizes == list(m.blocksizes)
        assert d.fanout == (m.fanout if m.HasField("fanout") else None)
        assert d.mode == (m.mode if m.HasField("mode") else None)
        if m.HasField("mtime"):
            assert d.mtime == (m.mtime.Seconds, 5)


def test_unixfs_packed_blocksizes_accepted() -> None:
    assert dagpb.decode_unixfs(b"\x08\x02\x22\x02\x05\x06").blocksizes == [5, 6]


@pytest.mark.parametrize(
    "raw,what",
    [
        (b"", "no Type"),
        (b"\x18\x05", "no Type"),
        (b"\x08\x09", "unknown UnixFS Type"),
        (b"\x08\x02\x12\x05ab", "runs past"),
        (b"\x08\x02\x12", "truncated"),
        (b"\x08" + b"\xff" * 10 + b"\x01", "varint"),
        (b"\x0a\x02\x08\x02", "wrong wire type"),
        (b"\x08\x02\x42\x00", "no Seconds"),
        (b"\x08\x02\x42\x01\x08", "truncated"),
    ],
)
def test_unixfs_garbage_is_rejected(raw: bytes, what: str) -> None:
    with pytest.raises(DagError, match=what):
        dagpb.decode_unixfs(raw)


def _link(body: bytes) -> bytes:
    return b"\x12" + bytes([len(body)]) + body


HASH_A = b"\x0a" + bytes([len(CID_A)]) + CID_A


@pytest.mark.parametrize(
    "block,what",
    [
        (b"\x0a\x00" + _link(HASH_A), "after Data"),  # Data before Links
        (b"\x0a\x00\x0a\x00", "after Data"),  # Data twice
        (b"\x1a\x00", "only Links"),  # unknown field 3
        (b"\x10\x01", "only Links"),  # field 2 as a varint
        (b"\x0a\x05ab", "runs past"),
        (b"\x0a", "truncated"),
        (b"\x0a" + b"\x80" * 11, "varint"),
        (_link(b"\x12\x00"), "no Hash"),
        (_link(b"\x12\x00" + HASH_A), "out of order"),  # Name before Hash
        (_link(HASH_A + HASH_A), "out of order"),  # Hash twice
        (_link(HASH_A + b"\x20\x01"), "out of order"),  # unknown link field 4
        (_link(HASH_A + b"\x1a\x00"), "Tsize must be a varint"),
        (_link(b"\x0a\x03abc"), "not a valid CID"),
        (_link(HASH_A + b"\x12\x02\xff\xfe"), "UTF-8"),
    ],
)
def test_dagpb_garbage_is_rejected(block: bytes, what: str) -> None:
    with pytest.raises(DagError, match=what):
        dagpb.decode_node(block)


def test_random_garbage_never_crashes() -> None:
    rng = random.Random(7)
    good = dagpb.encode_node(
        [dagpb.encode_link(CID_A, 5)], dagpb.encode_unixfs(dagpb.FILE, filesize=5, blocksizes=[5])
    )
    for _ in range(2000):
        b = bytearray(good)
        for _ in range(rng.randrange(1, 4)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        b = b[: rng.randrange(len(b) + 1)]
        try:
            node = dagpb.decode_node(bytes(b))
            if node.data is not None:
                dagpb.decode_unixfs(node.data)
        except DagError:
            pass
