"""dag-pb and UnixFS Data codecs (IPLD dag-pb spec; UNIXFS.md), with protobuf as the oracle."""

from __future__ import annotations

import random

import pytest
from google.protobuf.message import DecodeError
from google.protobuf.unknown_fields import UnknownFieldSet
from hypothesis import given, settings
from hypothesis import strategies as st

from fastswap._proto import dag_pb_pb2, unixfs_pb2
from fastswap.cid import compute_cid, decode_cid
from fastswap.dag import dagpb
from fastswap.dag.unixfs import _LeafEncoder
from fastswap.errors import CIDError, DagError

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


# -- fuzzing, with protobuf as the oracle both ways ------------------------------------------
#
# dag_pb_pb2 / unixfs_pb2 parse the same schemas with protobuf's own rules. We must accept
# nothing protobuf refuses, decode what we accept to what protobuf reads, and refuse what
# protobuf accepts only for what the dag-pb spec makes a decoder reject: a block that is not
# in canonical form (fields out of order, repeated, unknown, or of the wrong wire type: its
# canonical re-encoding differs), a link without a Hash, a Hash that is not a CID, a Name that is
# not UTF-8. For UnixFS Data (plain protobuf with forward compatibility), only a known field
# with the wrong wire type, or a Type we do not know.

#: our DagError reasons for dag-pb blocks that are not canonical
_NOT_CANONICAL = ("Links must come first", "only Links (2) and Data (1)",
                  "out of order, repeated or unknown", "Tsize must be a varint",
                  "must be length-delimited")


def _field(number: int, wire: int, body: bytes) -> bytes:
    tag = dagpb._put_varint(number << 3 | wire)
    return tag + (dagpb._put_varint(len(body)) + body if wire == 2 else body)


def _pb_node(block: bytes) -> dag_pb_pb2.PBNode | None:
    try:
        return _pb_parse(block)
    except DecodeError:
        return None


def _canonical(ref: dag_pb_pb2.PBNode) -> bytes:
    """The canonical dag-pb bytes of what protobuf read: known fields only, in spec order,
    minimal varints (a Name that is not UTF-8 kept as its bytes)."""
    links = []
    for link in ref.Links:
        body = b""
        if link.HasField("Hash"):
            body += _field(1, 2, link.Hash)
        if link.HasField("Name"):
            name = link.Name
            body += _field(2, 2, name if isinstance(name, bytes) else name.encode())
        if link.HasField("Tsize"):
            body += _field(3, 0, dagpb._put_varint(link.Tsize))
        links.append(body)
    return dagpb.encode_node(links, ref.Data if ref.HasField("Data") else None)


def _valid_cid(cid: bytes) -> bool:
    try:
        decode_cid(cid)
    except CIDError:
        return False
    return True


def _refusal_confirmed(ref: dag_pb_pb2.PBNode, block: bytes, reason: str) -> bool:
    if _canonical(ref) != block:
        # not canonical, so refused whatever the reason: we stop at the first fault we meet,
        # protobuf reads on and keeps the last of a repeated field (a bad Hash, then a good
        # one, in one link: we name the bad one, protobuf shows only the good one)
        return True
    if any(r in reason for r in _NOT_CANONICAL):
        return False
    if "has no Hash" in reason:
        return any(not link.HasField("Hash") for link in ref.Links)
    if "not a valid CID" in reason:
        return any(link.HasField("Hash") and not _valid_cid(link.Hash) for link in ref.Links)
    if "not valid UTF-8" in reason:
        # protobuf (upb) hands back a proto2 string field that is not UTF-8 as bytes
        return any(isinstance(link.Name, bytes) for link in ref.Links)
    return False


def _unixfs_refusal_confirmed(ref: unixfs_pb2.Data, reason: str) -> bool:
    """Our reasons to refuse UnixFS Data that protobuf parses (it does not enforce proto2's
    required fields on parse, and keeps enum values it does not know as unknown fields), each
    confirmed on its parse."""
    unknown = {u.field_number for u in UnknownFieldSet(ref)}
    if "wrong wire type" in reason:
        return any(n <= 8 for n in unknown)
    if "unknown UnixFS Type" in reason:
        return 1 in unknown and not ref.HasField("Type")
    if "no Type" in reason:
        return not ref.HasField("Type") and 1 not in unknown
    if "mtime has no Seconds" in reason:
        return ref.HasField("mtime") and not ref.mtime.HasField("Seconds")
    return False


def _check_unixfs(data: bytes) -> None:
    try:
        ref = unixfs_pb2.Data()
        ref.ParseFromString(data)
    except DecodeError:
        ref = None
    try:
        d = dagpb.decode_unixfs(data)
    except DagError as exc:
        assert ref is None or _unixfs_refusal_confirmed(ref, str(exc)), (data.hex(), str(exc))
        return
    assert ref is not None, f"UnixFS Data protobuf refuses: {data.hex()}"
    assert d.type == ref.Type
    assert (bytes(d.data) if d.data is not None else None) == (
        ref.Data if ref.HasField("Data") else None)
    assert d.filesize == (ref.filesize if ref.HasField("filesize") else None)
    assert d.blocksizes == list(ref.blocksizes)
    assert d.fanout == (ref.fanout if ref.HasField("fanout") else None)


def _check_node(block: bytes) -> None:
    ref = _pb_node(block)
    try:
        node = dagpb.decode_node(block)
    except DagError as exc:
        assert ref is None or _refusal_confirmed(ref, block, str(exc)), (
            f"protobuf parses {block.hex()} but we refuse it: {exc}")
        return
    assert ref is not None, f"we accept a dag-pb block protobuf refuses: {block.hex()}"
    # ...and only canonical ones: protobuf saw no field it does not know, and the block is the
    # canonical encoding of what it read (or longer: the same fields with padded varints,
    # which protobuf decoders accept too)
    assert not UnknownFieldSet(ref) and not any(UnknownFieldSet(lk) for lk in ref.Links)
    canon = _canonical(ref)
    assert canon == block or len(canon) < len(block), (
        f"we accept a non-canonical dag-pb block: {block.hex()}")
    assert [(lk.cid, lk.name, lk.tsize) for lk in node.links] == [
        (lk.Hash, lk.Name if lk.HasField("Name") else None,
         lk.Tsize if lk.HasField("Tsize") else None) for lk in ref.Links]
    assert (bytes(node.data) if node.data is not None else None) == (
        ref.Data if ref.HasField("Data") else None)
    if node.data is not None:
        _check_unixfs(bytes(node.data))


GOOD_NODES = [
    dagpb.encode_node(
        [dagpb.encode_link(CID_A, 5), dagpb.encode_link(CID_B, 7, "name")],
        dagpb.encode_unixfs(dagpb.FILE, filesize=12, blocksizes=[5, 7]),
    ),
    dagpb.encode_node([dagpb.encode_link(CID_B, 1 << 40, "ü")], None),
    dagpb.encode_node([], dagpb.encode_unixfs(dagpb.RAW, data=b"leaf bytes", filesize=10)),
]


@st.composite
def _mutated_node(draw) -> bytes:
    b = bytearray(draw(st.sampled_from(GOOD_NODES)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["set", "cut", "insert", "swap"]))
        i = draw(st.integers(0, max(0, len(b) - 1)))
        if op == "set" and b:
            b[i] = draw(st.integers(0, 255))
        elif op == "cut":
            del b[i:]
        elif op == "insert":
            b[i:i] = draw(st.binary(min_size=1, max_size=4))
        else:  # move a slice elsewhere: reorders fields when it lands on their boundaries
            j = draw(st.integers(i, len(b)))
            piece = b[i:j]
            del b[i:j]
            k = draw(st.integers(0, len(b)))
            b[k:k] = piece
    return bytes(b)


#: fields protobuf accepts in a PBNode or PBLink: known numbers (maybe with a wrong wire type)
#: and unknown ones, each well formed
_PB_FIELD = st.one_of(
    st.builds(_field, st.integers(1, 6), st.just(0), st.integers(0, 2**32).map(dagpb._put_varint)),
    st.builds(_field, st.integers(1, 6), st.just(2), st.binary(max_size=12)),
    st.builds(_field, st.integers(1, 6), st.just(5), st.binary(min_size=4, max_size=4)),
)


@st.composite
def _protobuf_valid_node(draw) -> bytes:
    """PBNode bytes protobuf accepts: the links and Data of a good node in any order, links with
    their fields shuffled or repeated, and extra well-formed fields here and there."""
    good = _pb_parse(draw(st.sampled_from(GOOD_NODES)))
    parts = []
    for link in good.Links:
        fields = []
        fields.append(_field(1, 2, link.Hash if draw(st.integers(0, 9)) else b"\x01\x02"))
        if link.HasField("Name"):
            name = link.Name.encode()
            fields.append(_field(2, 2, name if draw(st.integers(0, 9)) else b"\xff" + name))
        fields.append(_field(3, 0, dagpb._put_varint(link.Tsize)))
        fields += draw(st.lists(_PB_FIELD, max_size=1))
        if draw(st.integers(0, 3)) == 0:
            fields = draw(st.permutations(fields))
        if draw(st.integers(0, 5)) == 0:
            fields = fields[1:]  # no Hash
        parts.append(_field(2, 2, b"".join(fields)))
    if good.HasField("Data"):
        parts.append(_field(1, 2, good.Data))
    parts += draw(st.lists(_PB_FIELD, max_size=2))
    if draw(st.booleans()):
        parts = draw(st.permutations(parts))
    return b"".join(parts)


FUZZ = settings(max_examples=400)


@FUZZ
@given(block=st.one_of(st.binary(max_size=200), _mutated_node()))
def test_dagpb_fuzz_against_protobuf(block: bytes) -> None:
    _check_node(block)


@FUZZ
@given(block=_protobuf_valid_node())
def test_what_protobuf_accepts_as_dagpb_is_canonical_or_refused_for_the_spec(block: bytes) -> None:
    _check_node(block)
