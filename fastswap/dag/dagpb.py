"""dag-pb nodes and the UnixFS Data message, on plain bytes.

Specs: IPLD dag-pb (ipld/specs ``block-layer/codecs/dag-pb.md``: the PBNode/PBLink schema, the
canonical form "Links before Data", and the strictness rules a decoder must enforce) and UnixFS v1
(ipfs/specs ``UNIXFS.md``, "Data Format").

Encoding uses the protobuf schemas in ``proto/`` for each PBLink and UnixFS Data message; the
PBNode framing is written here because dag-pb puts field 2 (Links) before field 1 (Data), which a
protobuf serializer never does. Decoding is a strict hand-written scanner: it must reject what the
spec says is not dag-pb (fields out of order, duplicates, unknown fields, wrong wire types, a link
without a Hash) rather than accept whatever protobuf would, and it returns slices of the block
instead of copies so the exporter streams file bytes without copying them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import varint
from ..cid import CIDError, decode_cid
from ..errors import DagError

__all__ = [
    "DIRECTORY",
    "FILE",
    "HAMT_SHARD",
    "METADATA",
    "RAW",
    "SYMLINK",
    "TYPE_NAMES",
    "PBLink",
    "PBNode",
    "UnixFSData",
    "decode_node",
    "decode_unixfs",
    "encode_link",
    "encode_node",
    "encode_unixfs",
]

# UnixFS Data.DataType values (UNIXFS.md)
RAW = 0
DIRECTORY = 1
FILE = 2
METADATA = 3
SYMLINK = 4
HAMT_SHARD = 5
TYPE_NAMES = {
    RAW: "raw",
    DIRECTORY: "directory",
    FILE: "file",
    METADATA: "metadata",
    SYMLINK: "symlink",
    HAMT_SHARD: "HAMT-sharded directory",
}

_UINT64_MAX = (1 << 64) - 1


@dataclass(frozen=True, slots=True)
class PBLink:
    """A dag-pb link. ``name``/``tsize`` are None when the field is absent from the bytes."""

    cid: bytes
    name: str | None = None
    tsize: int | None = None


@dataclass(frozen=True, slots=True)
class PBNode:
    """A decoded dag-pb node. ``data`` is None when absent (not the same as empty)."""

    links: tuple[PBLink, ...]
    data: bytes | memoryview | None


@dataclass(slots=True)
class UnixFSData:
    """A decoded UnixFS Data message (fields absent from the bytes are None / empty)."""

    type: int
    data: bytes | memoryview | None = None
    filesize: int | None = None
    blocksizes: list[int] = field(default_factory=list)
    hash_type: int | None = None
    fanout: int | None = None
    mode: int | None = None
    mtime: tuple[int, int | None] | None = None


# -- protobuf wire primitives (strict) ---------------------------------------------------------


def _varint(buf: bytes | memoryview, pos: int, end: int, what: str) -> tuple[int, int]:
    """A protobuf varint (at most 10 bytes, at most 64 bits) at *pos*; DagError if malformed."""
    value = 0
    shift = 0
    while True:
        if pos >= end:
            raise DagError(f"truncated varint in {what}")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            if value > _UINT64_MAX:
                raise DagError(f"varint over 64 bits in {what}")
            return value, pos
        shift += 7
        if shift >= 70:
            raise DagError(f"varint longer than 10 bytes in {what}")


_put_varint = varint.encode


def _len_delimited(buf: bytes | memoryview, pos: int, end: int, what: str) -> tuple[int, int]:
    """(start, stop) of a length-delimited field's payload whose length varint is at *pos*."""
    n, pos = _varint(buf, pos, end, what)
    if n > end - pos:
        raise DagError(f"{what}: field of {n} bytes runs past the end of its message")
    return pos, pos + n


def _skip(buf: bytes | memoryview, pos: int, end: int, wire: int, what: str) -> int:
    if wire == 0:
        return _varint(buf, pos, end, what)[1]
    if wire == 1:
        pos += 8
    elif wire == 2:
        return _len_delimited(buf, pos, end, what)[1]
    elif wire == 5:
        pos += 4
    else:  # 3/4 (groups) and 6/7 do not exist in these schemas
        raise DagError(f"{what}: unsupported protobuf wire type {wire}")
    if pos > end:
        raise DagError(f"{what}: truncated fixed-size field")
    return pos


# -- dag-pb ------------------------------------------------------------------------------------


def _pb() -> Any:
    # imported when first encoding: reading (what get and cat do) never needs protobuf, whose
    # descriptor pool cost a get 14 ms of its start-up
    from .._proto import dag_pb_pb2, unixfs_pb2

    return dag_pb_pb2, unixfs_pb2


def encode_link(cid: bytes, tsize: int, name: str = "") -> bytes:
    """One serialized PBLink (Hash, Name, Tsize), via the protobuf schema."""
    return _pb()[0].PBLink(Hash=cid, Name=name, Tsize=tsize).SerializeToString()


def encode_node(links: Sequence[bytes], data: bytes | None) -> bytes:
    """Canonical dag-pb bytes: each serialized PBLink as field 2, then Data as field 1.

    *links* are already-serialized PBLink messages (:func:`encode_link`); *data* None leaves the
    Data field out (an empty ``b""`` writes it with length 0: the two are different blocks).
    """
    parts: list[bytes] = []
    for link in links:
        parts.append(b"\x12" + _put_varint(len(link)))
        parts.append(link)
    if data is not None:
        parts.append(b"\x0a" + _put_varint(len(data)))
        parts.append(data)
    return b"".join(parts)


def _decode_link(buf: bytes | memoryview, pos: int, end: int) -> PBLink:
    cid: bytes | None = None
    name: str | None = None
    tsize: int | None = None
    last = 0
    while pos < end:
        key, pos = _varint(buf, pos, end, "dag-pb link")
        fno, wire = key >> 3, key & 7
        # The spec requires Hash, Name, Tsize in that order, each at most once.
        if fno <= last or fno > 3:
            raise DagError(f"dag-pb link has field {fno} out of order, repeated or unknown")
        last = fno
        if fno == 3:
            if wire != 0:
                raise DagError("dag-pb link Tsize must be a varint")
            tsize, pos = _varint(buf, pos, end, "dag-pb link Tsize")
            continue
        if wire != 2:
            raise DagError(f"dag-pb link field {fno} must be length-delimited")
        start, pos = _len_delimited(buf, pos, end, "dag-pb link")
        if fno == 1:
            cid = bytes(buf[start:pos])
            try:
                decode_cid(cid)
            except CIDError as exc:
                raise DagError(f"dag-pb link Hash is not a valid CID: {exc}") from None
        else:
            try:
                name = bytes(buf[start:pos]).decode("utf-8")
            except UnicodeDecodeError:
                raise DagError("dag-pb link Name is not valid UTF-8") from None
    if cid is None:
        raise DagError("dag-pb link has no Hash")
    return PBLink(cid, name, tsize)


def decode_node(block: bytes | memoryview) -> PBNode:
    """Decode canonical dag-pb strictly. ``data`` is a slice (memoryview if *block* is one).

    Raises DagError for anything the dag-pb spec says a decoder must reject.
    """
    end = len(block)
    pos = 0
    links: list[PBLink] = []
    data: bytes | memoryview | None = None
    while pos < end:
        if data is not None:
            raise DagError("dag-pb node has fields after Data (Links must come first)")
        key, pos = _varint(block, pos, end, "dag-pb node")
        fno, wire = key >> 3, key & 7
        if wire != 2 or fno not in (1, 2):
            raise DagError(
                f"dag-pb node has field {fno} with wire type {wire}; only Links (2) and Data (1)"
                " are allowed"
            )
        start, pos = _len_delimited(block, pos, end, "dag-pb node")
        if fno == 2:
            links.append(_decode_link(block, start, pos))
        else:
            data = block[start:pos]
    return PBNode(tuple(links), data)


def iter_link_cids(block: bytes | memoryview) -> Iterator[bytes]:
    """Just the link CIDs of a dag-pb node, in order (strict, like :func:`decode_node`)."""
    for link in decode_node(block).links:
        yield link.cid


# -- UnixFS Data -------------------------------------------------------------------------------


def encode_unixfs(
    type: int,
    *,
    data: bytes | None = None,
    filesize: int | None = None,
    blocksizes: Sequence[int] = (),
    hash_type: int | None = None,
    fanout: int | None = None,
) -> bytes:
    """A serialized UnixFS Data message (field order 1..8, blocksizes unpacked), via protobuf."""
    msg = _pb()[1].Data(Type=type)
    if data is not None:
        msg.Data = data
    if filesize is not None:
        msg.filesize = filesize
    if blocksizes:
        msg.blocksizes.extend(blocksizes)
    if hash_type is not None:
        msg.hashType = hash_type
    if fanout is not None:
        msg.fanout = fanout
    return msg.SerializeToString()


def decode_unixfs(buf: bytes | memoryview) -> UnixFSData:
    """Decode a UnixFS Data message; ``data`` is a slice of *buf* (no copy of file bytes).

    Unknown fields are skipped (protobuf forward compatibility), but the framing must be sound and
    ``Type`` must be present and known.
    """
    end = len(buf)
    pos = 0
    out = UnixFSData(type=-1)
    seen_type = False
    while pos < end:
        key, pos = _varint(buf, pos, end, "UnixFS Data")
        fno, wire = key >> 3, key & 7
        if fno == 0:
            raise DagError("UnixFS Data has a field numbered 0")
        if fno in (1, 3, 5, 6, 7) and wire == 0:
            v, pos = _varint(buf, pos, end, "UnixFS Data")
            if fno == 1:
                out.type, seen_type = v, True
            elif fno == 3:
                out.filesize = v
            elif fno == 5:
                out.hash_type = v
            elif fno == 6:
                out.fanout = v
            else:
                out.mode = v & 0xFFFFFFFF
        elif fno == 4 and wire == 0:
            v, pos = _varint(buf, pos, end, "UnixFS blocksizes")
            out.blocksizes.append(v)
        elif fno == 4 and wire == 2:  # packed: not what the spec writes, but valid protobuf
            start, pos = _len_delimited(buf, pos, end, "UnixFS blocksizes")
            while start < pos:
                v, start = _varint(buf, start, pos, "UnixFS blocksizes")
                out.blocksizes.append(v)
        elif fno == 2 and wire == 2:
            start, pos = _len_delimited(buf, pos, end, "UnixFS Data")
            out.data = buf[start:pos]
        elif fno == 8 and wire == 2:
            start, pos = _len_delimited(buf, pos, end, "UnixFS mtime")
            out.mtime = _decode_mtime(buf, start, pos)
        elif fno <= 8:
            raise DagError(f"UnixFS Data field {fno} has the wrong wire type {wire}")
        else:
            pos = _skip(buf, pos, end, wire, "UnixFS Data")
    if not seen_type:
        raise DagError("UnixFS Data has no Type (a required field)")
    if out.type not in TYPE_NAMES:
        raise DagError(f"unknown UnixFS Type {out.type}")
    return out


def _decode_mtime(buf: bytes | memoryview, pos: int, end: int) -> tuple[int, int | None]:
    secs: int | None = None
    nsecs: int | None = None
    while pos < end:
        key, pos = _varint(buf, pos, end, "UnixFS mtime")
        fno, wire = key >> 3, key & 7
        if fno == 1 and wire == 0:
            v, pos = _varint(buf, pos, end, "UnixFS mtime")
            secs = v - (1 << 64) if v >= 1 << 63 else v  # int64, two's complement
        elif fno == 2 and wire == 5:
            if pos + 4 > end:
                raise DagError("truncated UnixFS mtime nanoseconds")
            nsecs = int.from_bytes(buf[pos : pos + 4], "little")
            pos += 4
        else:
            pos = _skip(buf, pos, end, wire, "UnixFS mtime")
    if secs is None:
        raise DagError("UnixFS mtime has no Seconds (a required field)")
    return secs, nsecs
