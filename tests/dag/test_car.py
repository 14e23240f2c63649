"""CAR v1 and v2 writer, reader and importer (ipld/specs transport/car/carv1, carv2)."""

from __future__ import annotations

import io
from typing import Any

import cbor2
import pytest
from _dag_helpers import kat_content
from hypothesis import given, settings
from hypothesis import strategies as st
from multiformats import CID as MfCID
from multiformats import varint as mf_varint

from fastswap.blockstore import MemoryBlockstore
from fastswap.cid import compute_cid, parse
from fastswap.dag import cat, dagpb, import_car, import_file, read_car, write_car
from fastswap.dag.car import MAX_SECTION_SIZE, decode_header, encode_header
from fastswap.errors import (
    BadBlockError,
    BlockNotFoundError,
    CarError,
    CIDError,
    DagError,
    UnsupportedHashError,
)

V1 = parse("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku")
V0 = parse("QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH")


def _uv(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _car(header: bytes, *sections: bytes) -> bytes:
    return _uv(len(header)) + header + b"".join(_uv(len(s)) + s for s in sections)


def _tree(size: int = 7000, **kw: Any) -> tuple[MemoryBlockstore, bytes, bytes]:
    s = MemoryBlockstore()
    data = kat_content(size)
    opts = {"chunk_size": 1000, "max_children": 3}
    opts.update(kw)
    return s, import_file(s, data, **opts), data


def test_header_bytes() -> None:
    h = encode_header([V1])
    assert h == (
        b"\xa2\x65roots\x81\xd8\x2a\x58\x25\x00" + V1 + b"\x67version\x01"
    )  # dag-cbor: map(2), "roots" first (shorter key), tag 42 + bytes(37) = 0x00 || CID
    assert decode_header(h) == ([V1], 1)
    assert decode_header(encode_header([V0, V1])) == ([V0, V1], 1)
    assert decode_header(encode_header([])) == ([], 1)
    # key order is not canonical but accepted
    swapped = b"\xa2\x67version\x01\x65roots\x81\xd8\x2a\x58\x25\x00" + V1
    assert decode_header(swapped) == ([V1], 1)


@pytest.mark.parametrize(
    "header,what",
    [
        (b"\x82\x01\x02", "not a dag-cbor map"),
        (b"\xa1\x67version\x01", "no roots"),
        (b"\xa1\x65roots\x80", "no version"),
        (b"\xa3\x65roots\x80\x67version\x01\x61x\x01", "unexpected key"),
        (b"\xa2\x65roots\x80\x65roots\x80", "repeats"),
        (b"\xa2\x65roots\x81\x58\x25\x00" + V1 + b"\x67version\x01", "tag 42"),
        (b"\xa2\x65roots\x81\xd8\x2a\x58\x24" + V1 + b"\x67version\x01", "0x00"),
        (b"\xa2\x65roots\x81\xd8\x2a\x43\x00\x01\x02\x67version\x01", "not a valid CID"),
        (b"\xa2\x65roots\x80\x67version\x18\x01", "shortest form"),
        (b"\xa2\x65roots\x9f\xff\x67version\x01", "indefinite"),
        (b"\xa2\x65roots\x80\x67version\x01\x00", "trailing"),
        (b"\xa2\x65roots\x80\x67version\x61x", "not an unsigned"),
        (b"\xa2\x65roots\x80\x67versi", "truncated"),
        (b"\xa2\x65roots\x9a\xff\xff\xff\xff", "longer than the header"),
    ],
)
def test_bad_headers(header: bytes, what: str) -> None:
    with pytest.raises(CarError, match=what):
        decode_header(header)
    with pytest.raises(CarError):
        read_car(_car(header))


def test_round_trip_in_dfs_order_like_ipfs_dag_export(tmp_path: Any) -> None:
    s, root, data = _tree()
    buf = io.BytesIO()
    n = write_car(s, [root], buf)
    assert n == len(s)
    roots, sections = read_car(buf.getvalue())
    assert roots == [root]
    blocks = list(sections)
    # pre-order depth-first, links in order: recompute independently
    order: list[bytes] = []

    def walk(c: bytes) -> None:
        order.append(c)
        if c[:2] != b"\x01\x55":
            for link in dagpb.decode_node(s.get(c)).links:
                walk(link.cid)

    walk(root)
    assert [c for c, _ in blocks] == order
    assert all(d == s.get(c) for c, d in blocks)
    s2 = MemoryBlockstore()
    assert import_car(s2, buf.getvalue()) == [root]
    assert b"".join(bytes(x) for x in cat(s2, root)) == data
    # to and from a path; nothing left behind
    path = tmp_path / "x.car"
    write_car(s, [root], path)
    assert path.read_bytes() == buf.getvalue()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.car"]
    s3 = MemoryBlockstore()
    assert import_car(s3, path) == [root] and len(s3) == len(s)
    with open(path, "rb") as f:
        assert import_car(MemoryBlockstore(), f) == [root]


def test_v0_dag_pb_leaves_and_duplicate_blocks_once() -> None:
    s = MemoryBlockstore()
    data = bytes(1000) * 7  # identical chunks: one leaf block linked seven times
    root = import_file(s, data, cid_version=0, chunk_size=1000, max_children=3)
    buf = io.BytesIO()
    write_car(s, [root], buf)
    _, sections = read_car(buf.getvalue())
    cids = [c for c, _ in sections]
    assert len(cids) == len(set(cids)) == len(s)
    assert all(len(c) == 34 for c in cids)  # CIDv0 written as the bare multihash


def test_multiple_roots_and_explicit_cids() -> None:
    s, r1, _ = _tree(3000)
    r2 = import_file(s, b"other", cid_version=1)
    buf = io.BytesIO()
    write_car(s, [r1, r2], buf)
    roots, sections = read_car(buf.getvalue())
    assert roots == [r1, r2] and [c for c, _ in sections][-1] == r2
    buf = io.BytesIO()
    assert write_car(s, [r1], buf, cids=[r2, r1]) == 2
    assert [c for c, _ in read_car(buf.getvalue())[1]] == [r2, r1]


def test_write_missing_block_and_unwalkable_codec(tmp_path: Any) -> None:
    s, root, _ = _tree(3000)
    leaf = dagpb.decode_node(s.get(root)).links[1].cid
    s.delete(leaf)
    path = tmp_path / "partial.car"
    with pytest.raises(BlockNotFoundError):
        write_car(s, [root], path)
    assert list(tmp_path.iterdir()) == []  # no half-written file
    cbor = compute_cid(b"\xa0", codec=0x71)
    s.put(cbor, b"\xa0")
    with pytest.raises(DagError, match="cids="):
        write_car(s, [cbor], io.BytesIO())
    buf = io.BytesIO()
    write_car(s, [cbor], buf, cids=[cbor])
    assert list(read_car(buf.getvalue())[1]) == [(cbor, b"\xa0")]


def _good_car() -> tuple[bytes, bytes]:
    s, root, _ = _tree(3000)
    buf = io.BytesIO()
    write_car(s, [root], buf)
    return buf.getvalue(), root


def test_truncated_cars() -> None:
    car, _ = _good_car()
    header_len = car[0] + 1
    with pytest.raises(CarError, match="empty"):
        read_car(b"")
    for cut in (1, header_len - 3):
        with pytest.raises(CarError):
            read_car(car[:cut])
    for cut in (header_len + 1, header_len + 30, len(car) - 1):
        _roots, sections = read_car(car[:cut])
        with pytest.raises(CarError, match="truncated"):
            list(sections)
    # a CAR that ends at a section boundary is complete (even with no blocks)
    assert list(read_car(car[:header_len])[1]) == []


def test_bad_varints_and_sections() -> None:
    h = encode_header([V1])
    with pytest.raises(CarError, match="longer than 9 bytes"):
        read_car(b"\xff" * 12)
    with pytest.raises(CarError, match="minimally"):
        read_car(b"\x80\x00")
    with pytest.raises(CarError, match="header length"):
        read_car(b"\xff\xff\xff\x7f" + h)
    base = _uv(len(h)) + h
    with pytest.raises(CarError, match="longer than 9 bytes"):
        list(read_car(base + b"\xff" * 10)[1])
    with pytest.raises(CarError, match="over the"):
        list(read_car(base + _uv(MAX_SECTION_SIZE + 1) + b"x")[1])
    with pytest.raises(CarError, match="length 0"):
        list(read_car(base + b"\x00")[1])
    with pytest.raises(CarError, match="CID"):
        list(read_car(base + _uv(3) + b"\x02\x55\x12")[1])
    with pytest.raises(CarError, match="shorter than its CID"):
        list(read_car(base + _uv(5) + b"\x01\x55\x12\x20\x00")[1])
    v2 = b"\xa1\x67version\x02"
    with pytest.raises(CarError, match="CAR v2"):
        read_car(_car(v2))
    with pytest.raises(CarError, match="version 3"):
        read_car(_car(b"\xa2\x65roots\x80\x67version\x03"))


def test_import_rejects_a_block_that_does_not_match_its_cid() -> None:
    good = b"good block"
    bad_cid = compute_cid(b"something else")
    car = _car(encode_header([bad_cid]), compute_cid(good) + good, bad_cid + b"tampered")
    s = MemoryBlockstore()
    with pytest.raises(BadBlockError):
        import_car(s, car)
    assert not s.has(bad_cid)
    # reading alone does not verify (the caller decides)
    assert len(list(read_car(car)[1])) == 2


# -- fuzzing against an independent reader ----------------------------------------------------
#
# The oracle reads a CAR v1 with other libraries: multiformats' unsigned varints (minimal, at
# most 9 bytes) and CIDs, cbor2 for the dag-cbor header, multiformats' multihashes to verify
# each block. What we import, it must read the same (roots, blocks); what it reads and we
# refuse, we refuse for a documented reason that the bytes confirm: a header that is not in
# dag-cbor's canonical form (shortest integers, definite lengths, no repeated key), or a block
# hashed with a function we do not compute.


def _ref_varint(car: bytes, pos: int) -> tuple[int, int]:
    n, k, _ = mf_varint.decode_raw(car[pos : pos + 9])
    return n, pos + k


def _ref_cid_length(section: bytes) -> int:
    if section[:2] == b"\x12\x20":
        return 34
    pos = 0
    for _ in range(3):  # version, codec, multihash code
        _, pos = _ref_varint(section, pos)
    length, pos = _ref_varint(section, pos)
    return pos + length


def _ref_header(header: bytes) -> tuple[list[bytes], Any]:
    dec = cbor2.CBORDecoder(io.BytesIO(header))
    obj = dec.decode()
    if dec.fp.tell() != len(header):
        raise ValueError("trailing bytes after the header")
    if not isinstance(obj, dict) or set(obj) != {"roots", "version"} or obj["version"] != 1:
        raise ValueError("not a CAR v1 header")
    roots = []
    for tag in obj["roots"]:
        if not (isinstance(tag, cbor2.CBORTag) and tag.tag == 42 and tag.value[:1] == b"\0"):
            raise ValueError("a root is not a dag-cbor link")
        roots.append(bytes(MfCID.decode(bytes(tag.value[1:]))))
    return roots, obj


def _ref_read(car: bytes) -> tuple[list[bytes], list[tuple[bytes, bytes]], Any]:
    """(roots, verified sections, the header as cbor2 read it); raises if the other libraries
    refuse it or it is not a CAR v1."""
    n, pos = _ref_varint(car, 0)
    if not 0 < n <= len(car) - pos:
        raise ValueError("header length")
    roots, obj = _ref_header(car[pos : pos + n])
    pos += n
    sections = []
    while pos < len(car):
        n, pos = _ref_varint(car, pos)
        if not 0 < n <= len(car) - pos:
            raise ValueError("section length")
        section = car[pos : pos + n]
        pos += n
        k = _ref_cid_length(section)
        cid = MfCID.decode(section[:k])
        data = section[k:]
        if cid.hashfun.digest(data, size=len(cid.raw_digest)) != cid.digest:
            raise ValueError("a block does not hash to its CID")
        sections.append((bytes(cid), data))
    return roots, sections, obj


def _ref_or_none(car: bytes) -> tuple[list[bytes], list[tuple[bytes, bytes]], Any] | None:
    try:
        return _ref_read(car)
    except Exception:  # noqa: BLE001 - cbor2's and multiformats' many errors: "refused"
        return None


#: the multihash functions fastswap.cid computes
_OUR_HASHES = {0x00, 0x12, 0x13, 0xB220}


def _car_refusal_confirmed(car: bytes, ref: Any, exc: Exception) -> bool:
    _roots, sections, obj = ref
    n, pos = _ref_varint(car, 0)
    header = car[pos : pos + n]
    reason = str(exc)
    if isinstance(exc, CarError) and any(
        r in reason for r in ("shortest form", "indefinite", "repeats the key")
    ):
        # cbor2 read it, but its canonical (dag-cbor) encoding is other bytes
        return cbor2.dumps(obj, canonical=True) != header
    if isinstance(exc, UnsupportedHashError):
        return any(MfCID.decode(c).hashfun.code not in _OUR_HASHES for c, _ in sections)
    return False


def _check_car(car: bytes) -> None:
    ref = _ref_or_none(car)
    store = MemoryBlockstore()
    try:
        roots = import_car(store, car)
    except (CarError, BadBlockError, CIDError) as exc:
        assert ref is None or _car_refusal_confirmed(car, ref, exc), (
            f"the reference reads {car[:80].hex()}... but we refuse it: {exc!r}")
        return
    assert ref is not None, f"we import a CAR the reference refuses: {car[:80].hex()}..."
    ref_roots, sections, obj = ref
    # ...and only with a header in dag-cbor's form (its two keys in either order)
    n, pos = _ref_varint(car, 0)
    forms = {cbor2.dumps({k: obj[k] for k in order})
             for order in (("roots", "version"), ("version", "roots"))}
    assert car[pos : pos + n] in forms, f"we accept a header not in dag-cbor form: {car[:80].hex()}..."
    assert roots == ref_roots
    assert {c: store.get(c) for c in store.cids()} == dict(sections)


GOOD_CAR, _ = _good_car()
_HEADER_END = GOOD_CAR[0] + 1
#: headers cbor2 reads as the good one's, in non-canonical dag-cbor (and one canonical with
#: the keys swapped, which we accept): shortest-form ints, indefinite arrays, repeated keys
_HEADER_VARIANTS = [
    GOOD_CAR[1:_HEADER_END],
    GOOD_CAR[1:_HEADER_END].replace(b"\x67version\x01", b"\x67version\x18\x01"),
    GOOD_CAR[1:_HEADER_END].replace(b"\x65roots\x81", b"\x65roots\x98\x01"),
    GOOD_CAR[1:_HEADER_END].replace(b"\x65roots\x81", b"\x65roots\x9f").replace(
        b"\x67version", b"\xff\x67version"),
    b"\xa3" + GOOD_CAR[2:_HEADER_END] + b"\x67version\x01",
    b"\xa2\x67version\x01" + GOOD_CAR[2:_HEADER_END - 9],
]


@st.composite
def _cars(draw) -> bytes:
    """The good CAR under one of the header variants, with up to three byte changes in its
    header or in its sections."""
    header = draw(st.sampled_from(_HEADER_VARIANTS))
    car = bytearray(_uv(len(header)) + header + GOOD_CAR[_HEADER_END:])
    body = len(car) - (len(GOOD_CAR) - _HEADER_END)
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["set", "cut", "insert"]))
        lo = draw(st.sampled_from([0, body])) if body < len(car) else 0
        i = draw(st.integers(lo, len(car) - 1))
        if op == "set":
            car[i] = draw(st.integers(0, 255))
        elif op == "cut":
            del car[i:]
        else:
            car[i:i] = draw(st.binary(min_size=1, max_size=3))
        if len(car) <= body:
            break
    return bytes(car)


@pytest.mark.parametrize("header", _HEADER_VARIANTS, ids=range(len(_HEADER_VARIANTS)))
def test_header_variants_against_an_independent_reader(header: bytes) -> None:
    """The reference reads every variant; we import the canonical ones (keys in either order)
    and refuse the others for their dag-cbor form."""
    car = _uv(len(header)) + header + GOOD_CAR[_HEADER_END:]
    assert _ref_or_none(car) is not None
    _check_car(car)


@settings(max_examples=300)
@given(car=st.one_of(_cars(), st.binary(max_size=120)))
def test_car_fuzz_against_an_independent_reader(car: bytes) -> None:
    _check_car(car)


def test_the_oracle_reads_what_we_write() -> None:
    _check_car(GOOD_CAR)
    assert _ref_read(GOOD_CAR)[0] == [_good_car()[1]]


# -- CAR v2 (ipld/specs transport/car/carv2) -----------------------------------------------------


class _Pipe(io.RawIOBase):
    """A write-only, non-seekable stream (standard output)."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self.buf += bytes(b)
        return len(b)


def _parse_v2(car: bytes) -> tuple[int, int, int, dict[int, list[tuple[bytes, int]]]]:
    """(data offset, data size, index offset, {mh code: [(digest, offset)]}) by the spec."""
    import struct

    assert car[:11] == b"\x0a\xa1\x67version\x02"
    chars, data_offset, data_size, index_offset = struct.unpack("<16sQQQ", car[11:51])
    assert chars == bytes(16)
    idx = car[index_offset:]
    assert idx[:2] == b"\x81\x08"  # varint 0x0401, MultihashIndexSorted
    pos = 2
    (ncodes,) = struct.unpack_from("<i", idx, pos)
    pos += 4
    out: dict[int, list[tuple[bytes, int]]] = {}
    for _ in range(ncodes):
        code, nwidths = struct.unpack_from("<Qi", idx, pos)
        pos += 12
        for _ in range(nwidths):
            width, nbytes = struct.unpack_from("<IQ", idx, pos)
            pos += 12
            for off in range(pos, pos + nbytes, width):
                out.setdefault(code, []).append(
                    (idx[off : off + width - 8], struct.unpack_from("<Q", idx, off + width - 8)[0])
                )
            pos += nbytes
    assert pos == len(idx)
    return data_offset, data_size, index_offset, out


def test_v2_round_trip_with_an_index(tmp_path: Any) -> None:
    s, root, data = _tree()
    path = tmp_path / "x.car"
    n = write_car(s, [root], path, version=2)
    car = path.read_bytes()
    data_offset, data_size, index_offset, index = _parse_v2(car)
    assert (data_offset, index_offset) == (51, 51 + data_size)
    # the payload is exactly the CAR v1 of the same DAG
    v1 = io.BytesIO()
    write_car(s, [root], v1)
    assert car[51 : 51 + data_size] == v1.getvalue()
    # every block indexed once, by digest, at the offset of its section in the payload
    records = index[0x12]
    assert len(records) == n and [d for d, _ in records] == sorted(d for d, _ in records)
    _, sections = read_car(v1.getvalue())
    offsets = {}
    pos = len(_uv(len(encode_header([root])))) + len(encode_header([root]))
    for cid, block in sections:
        offsets[cid[-32:]] = pos
        pos += len(_uv(len(cid) + len(block))) + len(cid) + len(block)
    assert dict(records) == offsets
    # and it reads back, through a path, bytes or a pipe
    for src in (path, car, io.BytesIO(car)):
        t = MemoryBlockstore()
        assert import_car(t, src) == [root]
        assert b"".join(cat(t, root)) == data
    # a non-seekable output gets the same bytes
    pipe = _Pipe()
    write_car(s, [root], pipe, version=2)
    assert bytes(pipe.buf) == car
    with pytest.raises(CarError, match="1 or 2"):
        write_car(s, [root], io.BytesIO(), version=3)


def test_v2_reader_follows_the_header_and_checks_it() -> None:
    import struct

    s, root, data = _tree(3000)
    v1 = io.BytesIO()
    write_car(s, [root], v1)
    payload = v1.getvalue()
    pragma = b"\x0a\xa1\x67version\x02"
    # padding before the payload and no index: still a valid CAR v2
    padded = pragma + struct.pack("<16sQQQ", bytes(16), 51 + 7, len(payload), 0) + bytes(7)
    t = MemoryBlockstore()
    assert import_car(t, padded + payload + b"trailing index bytes") == [root]
    assert b"".join(cat(t, root)) == data
    bad = {
        "data offset": pragma + struct.pack("<16sQQQ", bytes(16), 10, len(payload), 0) + payload,
        "not be empty": pragma + struct.pack("<16sQQQ", bytes(16), 51, 0, 0) + payload,
        "truncated": pragma + struct.pack("<16sQQQ", bytes(16), 51, len(payload), 0)
        + payload[:-5],
        "before its data payload": pragma + struct.pack("<16sQQQ", bytes(16), 999, 5, 0),
        "CAR v2 header": pragma + b"\x00" * 10,
    }
    for what, car in bad.items():
        with pytest.raises(CarError, match=what):
            import_car(MemoryBlockstore(), car)
    # a v2 whose payload claims to be v2 again
    inner = pragma + struct.pack("<16sQQQ", bytes(16), 51, 11, 0) + pragma
    with pytest.raises(CarError, match="not 1"):
        import_car(MemoryBlockstore(), inner)


def test_a_directory_round_trips_through_car(tmp_path: Any) -> None:
    from _dag_helpers import make_tree, snapshot

    from fastswap.dag import TreeWriter, import_path, walk

    src = make_tree(tmp_path / "src")
    s = MemoryBlockstore()
    root = import_path(s, src, shard_threshold=100, inline=True)  # HAMT, identity CIDs too
    for version in (1, 2):
        car = tmp_path / f"d{version}.car"
        write_car(s, [root], car, version=version)
        t = MemoryBlockstore()
        assert import_car(t, car) == [root]
        assert set(t.cids()) == set(s.cids())  # identity CIDs need no section
        with TreeWriter(tmp_path / f"out{version}") as w:
            for ev in walk(t, root):
                w.handle(ev)
        assert snapshot(tmp_path / f"out{version}") == snapshot(src)
    # listed explicitly, an identity CID gets a section but no index entry (go-car's default)
    ident = next(c for c in _identity_cids(s, root))
    car = tmp_path / "explicit.car"
    write_car(s, [root], car, cids=[root, ident], version=2)
    assert [c for c, _ in read_car(car)[1]] == [root, ident]
    assert [len(v) for v in _parse_v2(car.read_bytes())[3].values()] == [1]


def _identity_cids(s: Any, root: bytes) -> list[bytes]:
    from fastswap.cid import decode_cid
    from fastswap.dag import iter_links

    out, todo = [], [root]
    while todo:
        c = todo.pop()
        if decode_cid(c)[2] == 0:
            out.append(c)
        elif decode_cid(c)[1] == 0x70:
            todo.extend(iter_links(c, s.get(c)))
    return out
