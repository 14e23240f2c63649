"""dag-pb and UnixFS helpers with the names of py-libp2p 0.8.1's ``libp2p.bitswap.dag_pb`` (IPLD
dag-pb spec; ipfs/specs UNIXFS.md; Kubo's balanced layout, 174 links per node).

Encoding matches py-libp2p (and Kubo) byte for byte, so a file added through the drop-in gets
the CID it gets from py-libp2p: canonical dag-pb (Links before Data; every link with its Name and
Tsize, as Kubo writes file links), UnixFS fields only when set. Links and nodes are framed by
:mod:`fastswap.dag.dagpb`, which also decodes (strictly).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ...dag import dagpb as _dagpb
from ...errors import DagError
from ...varint import encode as _uvarint
from .cid import CODEC_DAG_PB, CIDInput, cid_to_bytes, compute_cid_v1

__all__ = [
    "MAX_LINKS_PER_NODE",
    "Link",
    "UnixFSData",
    "balanced_layout",
    "create_directory_node",
    "create_file_node",
    "create_leaf_node",
    "decode_dag_pb",
    "encode_dag_pb",
    "get_file_size",
    "is_directory_node",
    "is_file_node",
]

#: links per internal node of the balanced layout (go-unixfs DefaultLinksPerBlock, Kubo)
MAX_LINKS_PER_NODE = 174


@dataclass(init=False)
class Link:
    """A dag-pb link: target CID (binary), name, and Tsize (the target's cumulative size)."""

    cid: bytes
    name: str = ""
    size: int = 0

    def __init__(self, cid: CIDInput, name: str = "", size: int = 0) -> None:
        self.cid = cid_to_bytes(cid)
        if not isinstance(name, str):
            raise TypeError(f"name must be str, got {type(name).__name__}")
        if not isinstance(size, int) or size < 0:
            raise TypeError(f"size must be a non-negative int, got {size!r}")
        self.name = name
        self.size = size


@dataclass
class UnixFSData:
    """A UnixFS Data message, its type by name (``file``, ``directory``, ``raw``, ...)."""

    type: str
    data: bytes = b""
    filesize: int = 0
    blocksizes: list[int] = field(default_factory=list)
    hash_type: int = 0
    fanout: int = 0

    TYPE_MAP: ClassVar[dict[str, int]] = {
        name: code for code, name in _dagpb.TYPE_NAMES.items()
    }
    ENUM_TO_TYPE: ClassVar[dict[int, str]] = dict(_dagpb.TYPE_NAMES)

    def __post_init__(self) -> None:
        if self.type not in self.TYPE_MAP:
            raise ValueError(f"Invalid type: {self.type!r}; one of {sorted(self.TYPE_MAP)}")


def _encode_unixfs(d: UnixFSData) -> bytes:
    # Type always, every other field only when set (what py-libp2p and Kubo write)
    out = bytearray(b"\x08" + _uvarint(UnixFSData.TYPE_MAP[d.type]))
    if d.data:
        out += b"\x12" + _uvarint(len(d.data)) + bytes(d.data)
    if d.filesize:
        out += b"\x18" + _uvarint(d.filesize)
    for size in d.blocksizes:
        out += b"\x20" + _uvarint(size)
    if d.hash_type:
        out += b"\x28" + _uvarint(d.hash_type)
    if d.fanout:
        out += b"\x30" + _uvarint(d.fanout)
    return bytes(out)


def encode_dag_pb(links: list[Link], unixfs_data: UnixFSData | None = None) -> bytes:
    """Canonical dag-pb bytes: every link (field 2), then the UnixFS Data (field 1) if any."""
    return _dagpb.encode_node(
        [_dagpb.encode_link(ln.cid, ln.size, ln.name) for ln in links],
        None if unixfs_data is None else _encode_unixfs(unixfs_data),
    )


def decode_dag_pb(data: bytes) -> tuple[list[Link], UnixFSData | None]:
    """Links and UnixFS Data of a dag-pb node (strict: DagError for bytes that are not dag-pb;
    Data that is not UnixFS reads as None)."""
    node = _dagpb.decode_node(data)
    links = [Link(ln.cid, ln.name or "", ln.tsize or 0) for ln in node.links]
    if not node.data:
        return links, None
    try:
        u = _dagpb.decode_unixfs(node.data)
    except DagError:
        return links, None
    return links, UnixFSData(
        type=UnixFSData.ENUM_TO_TYPE[u.type],
        data=bytes(u.data or b""),
        filesize=u.filesize or 0,
        blocksizes=list(u.blocksizes),
        hash_type=u.hash_type or 0,
        fanout=u.fanout or 0,
    )


def create_file_node(chunks: Sequence[tuple[CIDInput, int]]) -> bytes:
    """A UnixFS file node over (cid, size) chunks."""
    sizes = [size for _, size in chunks]
    return encode_dag_pb([Link(c, "", s) for c, s in chunks],
                         UnixFSData("file", filesize=sum(sizes), blocksizes=sizes))


def create_directory_node(entries: Sequence[tuple[str, CIDInput, int]]) -> bytes:
    """A UnixFS directory node over (name, cid, size) entries."""
    return encode_dag_pb([Link(c, n, s) for n, c, s in entries], UnixFSData("directory"))


def create_leaf_node(data: bytes) -> bytes:
    """A dag-pb leaf holding *data* inline (Kubo's ``--raw-leaves=false`` leaves)."""
    return encode_dag_pb([], UnixFSData("file", data=data, filesize=len(data)))


def _unixfs_of(data: bytes) -> UnixFSData | None:
    try:
        return decode_dag_pb(data)[1]
    except DagError:
        return None


def is_file_node(data: bytes) -> bool:
    u = _unixfs_of(data)
    return u is not None and u.type == "file"


def is_directory_node(data: bytes) -> bool:
    u = _unixfs_of(data)
    return u is not None and u.type == "directory"


def get_file_size(data: bytes) -> int:
    """The filesize of a UnixFS file node (0 for anything else)."""
    u = _unixfs_of(data)
    return u.filesize if u is not None and u.type == "file" else 0


def balanced_layout(
    leaves: list[tuple[bytes, bytes | None, int]],
    max_links: int = MAX_LINKS_PER_NODE,
    put_block_callback: Callable[[bytes, bytes], Any] | None = None,
) -> tuple[bytes, bytes | None, int]:
    """Kubo's balanced layout over ``(cid, block or None, file bytes)`` leaves: groups of
    *max_links* under internal file nodes (CIDv1 dag-pb), level by level, until one root.
    Returns ``(root cid, root block, cumulative size)``; *put_block_callback(cid, block)* gets
    each internal node. A single leaf is its own root."""
    if not leaves:
        raise ValueError("Cannot build balanced layout from empty leaf list")
    if len(leaves) == 1:
        cid, block, _ = leaves[0]
        return cid, block, len(block) if block is not None else 0
    # (cid, block, file bytes below, cumulative block bytes below and including)
    level: list[tuple[bytes, bytes | None, int, int]] = [
        (c, b, n, len(b) if b is not None else 0) for c, b, n in leaves
    ]
    while len(level) > 1:
        upper: list[tuple[bytes, bytes | None, int, int]] = []
        for i in range(0, len(level), max_links):
            group = level[i:i + max_links]
            if len(group) == 1:
                upper.append(group[0])
                continue
            sizes = [n for _, _, n, _ in group]
            block = encode_dag_pb([Link(c, "", cum) for c, _, _, cum in group],
                                  UnixFSData("file", filesize=sum(sizes), blocksizes=sizes))
            cid = compute_cid_v1(block, codec=CODEC_DAG_PB)
            if put_block_callback is not None:
                put_block_callback(cid, block)
            upper.append((cid, block, sum(sizes), len(block) + sum(g[3] for g in group)))
        level = upper
    return level[0][0], level[0][1], level[0][3]
