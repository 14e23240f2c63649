"""HAMT-sharded UnixFS directories: building them and reading them defensively.

Spec: ipfs/specs ``UNIXFS.md`` ("HAMTDirectory"), as boxo ``ipld/unixfs/hamt`` (Kubo 0.22) and
``ipfs-unixfs-importer``'s ``dir-sharded`` / ``hamt-sharding`` (Helia 7) write it:

* A name's hash is the first 64 bits of murmur3-x64-128 (seed 0) of its UTF-8 bytes, big-endian
  (Go's ``murmur3.New64().Sum``; multihash code 0x22, "murmur3-x64-64"). Each level of the trie
  consumes the next log2(fanout) bits, most significant first.
* A node's slot holds one entry (link name = slot index as upper-case hex, padded to the width of
  ``fanout - 1``, then the entry's name) or, when two or more names share the slot, a sub-shard
  (link name = the padded index alone). With inserts only this shape is canonical: any insertion
  order gives the same tree, which is what makes Kubo's and Helia's CIDs agree.
* Data: ``Type=HAMTShard``, ``Data`` = the occupancy bitfield as a big-endian integer with
  leading zero bytes dropped (go-bitfield ``Bytes()``; Helia reverses sparse-array's
  little-endian bytes to the same), ``hashType=0x22``, ``fanout``.

Reading trusts nothing: :func:`read_shard` checks the header, that slot indices are increasing,
inside the fanout and present in the bitfield, that the trie is no deeper than the hash allows,
and that every entry's name hashes to the slots that lead to it. The last check makes each name
reachable by exactly one path, so a shard cannot hide duplicates in another branch or be reused
at a second position to multiply the work of a walk.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import mmh3

from .._defaults import MAX_HAMT_FANOUT
from ..cid import DAG_PB, to_str
from ..errors import DagError
from .dagpb import HAMT_SHARD, PBLink, encode_link, encode_node, encode_unixfs
from .unixfs import BlockSink, CidMaker, Entry

__all__ = [
    "MURMUR3_X64_64",
    "ShardLink",
    "Where",
    "build_shard",
    "hamt_hash",
    "read_shard",
    "slot_path",
]

#: multihash code of the HAMT's hash function (murmur3-x64-64)
MURMUR3_X64_64 = 0x22


def hamt_hash(name: bytes) -> int:
    """The 64-bit HAMT hash of a UTF-8 name (h1 of murmur3-x64-128, seed 0)."""
    return mmh3.hash64(name, signed=False)[0]


class Where:
    """A node's description for error messages, formatted only if an error is raised (a CID's
    text form costs far more than the checks it describes)."""

    __slots__ = ("cid", "what")

    def __init__(self, what: str, cid: bytes) -> None:
        self.what = what
        self.cid = cid

    def __str__(self) -> str:
        return f"{self.what} {to_str(self.cid)}"


def _bits(fanout: int) -> int:
    return fanout.bit_length() - 1


def slot_path(name: bytes, fanout: int, levels: int) -> list[int]:
    """The slot indices *name* takes at levels 0 .. levels-1 of a trie of *fanout*."""
    bits = _bits(fanout)
    if levels * bits > 64:
        raise DagError(
            f"HAMT level {levels - 1} needs more than the 64 bits of the name's hash "
            f"(fanout {fanout}); the shard is malformed"
        )
    h = hamt_hash(name)
    mask = fanout - 1
    return [(h >> (64 - (k + 1) * bits)) & mask for k in range(levels)]


def _label(index: int, fanout: int) -> str:
    return format(index, "X").rjust(len(format(fanout - 1, "X")), "0")


def _bitfield(indices: Sequence[int]) -> bytes:
    n = 0
    for i in indices:
        n |= 1 << i
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


# -- building ----------------------------------------------------------------------------------


def build_shard(
    entries: Sequence[tuple[str, Entry]], fanout: int, cids: CidMaker, sink: BlockSink
) -> Entry:
    """The HAMT of *entries* (name, child) with *fanout* slots per node; its root Entry.

    Every node goes to *sink*. Names must be unique (a directory's).
    """
    items = [(hamt_hash(n.encode("utf-8")), n, e) for n, e in entries]
    return _build(items, 0, fanout, cids, sink)


def _build(
    items: list[tuple[int, str, Entry]], level: int, fanout: int, cids: CidMaker, sink: BlockSink
) -> Entry:
    bits = _bits(fanout)
    shift = 64 - (level + 1) * bits
    if shift < 0:
        names = ", ".join(repr(n) for _, n, _ in items[:3])
        raise DagError(f"names {names} collide in all 64 bits of the HAMT hash; cannot shard")
    buckets: dict[int, list[tuple[int, str, Entry]]] = {}
    mask = fanout - 1
    for item in items:
        buckets.setdefault((item[0] >> shift) & mask, []).append(item)
    links: list[bytes] = []
    tsize = 0
    for index in sorted(buckets):
        bucket = buckets[index]
        label = _label(index, fanout)
        if len(bucket) == 1:
            _, name, child = bucket[0]
            label += name
        else:
            child = _build(bucket, level + 1, fanout, cids, sink)
        links.append(encode_link(child.cid, child.tsize, label))
        tsize += child.tsize
    data = encode_unixfs(
        HAMT_SHARD, data=_bitfield(list(buckets)), hash_type=MURMUR3_X64_64, fanout=fanout
    )
    block = encode_node(links, data)
    cid = cids.cid(DAG_PB, block)
    sink.put(cid, block)
    return Entry(cid, len(block) + tsize, 0)


# -- reading -----------------------------------------------------------------------------------


class ShardLink(NamedTuple):
    """One link of a HAMT node: an entry (``name`` set) or a sub-shard (``name`` None)."""

    slot: int
    name: str | None
    link: PBLink


def read_shard(
    cid: bytes,
    links: Sequence[PBLink],
    bitfield: bytes | memoryview | None,
    hash_type: int | None,
    fanout: int | None,
    *,
    level: int,
    expect_fanout: int | None,
    path: Sequence[int],
) -> tuple[int, list[ShardLink]]:
    """Check a HAMT node at *level* (reached through slot indices *path*) and split its links.

    Returns (fanout, links). *expect_fanout* is the root's fanout for sub-shards (None at the
    root). Raises DagError for anything Kubo or Helia would not have written.
    """
    where = Where("HAMT shard", cid)
    if hash_type != MURMUR3_X64_64:
        raise DagError(f"{where} uses hash function {hash_type!r}; only murmur3-x64-64 (0x22)")
    if fanout is None or not 2 <= fanout <= MAX_HAMT_FANOUT or fanout & (fanout - 1):
        raise DagError(
            f"{where} has fanout {fanout!r}; a power of two from 2 to {MAX_HAMT_FANOUT} is needed"
        )
    if expect_fanout is not None and fanout != expect_fanout:
        raise DagError(f"{where} has fanout {fanout}, its parent {expect_fanout}")
    bits = _bits(fanout)
    if (level + 1) * bits > 64:
        raise DagError(f"{where} is deeper than the 64-bit hash allows (level {level})")
    occupied = int.from_bytes(bytes(bitfield or b""), "big")
    if occupied >> fanout:
        raise DagError(f"{where} has a bitfield wider than its fanout {fanout}")
    if occupied.bit_count() != len(links):
        raise DagError(
            f"{where} has {len(links)} links but its bitfield marks {occupied.bit_count()} slots"
        )
    width = len(format(fanout - 1, "X"))
    out: list[ShardLink] = []
    last = -1
    for link in links:
        label = link.name or ""
        head = label[:width]
        if len(head) != width or not all(c in "0123456789ABCDEFabcdef" for c in head):
            raise DagError(f"{where} has a link named {label!r} without its slot index")
        index = int(head, 16)
        if index <= last or index >= fanout or not occupied >> index & 1:
            raise DagError(f"{where}: slot {head} is out of order, repeated or not in its bitfield")
        last = index
        name = label[width:] or None
        if name is not None:
            expected = [*path, index]
            if slot_path(name.encode("utf-8"), fanout, level + 1) != expected:
                raise DagError(f"{where}: the name {name!r} does not hash to the slot it is in")
        out.append(ShardLink(index, name, link))
    # a sub-shard exists because two or more names share its slot: it holds two links or more,
    # or one deeper sub-shard (the names share the next slot too); anything else is not what an
    # importer writes, and empty sub-shards reused everywhere would multiply a walk's work
    if level > 0 and not (len(out) >= 2 or (out and out[0].name is None)):
        raise DagError(f"{where} is a sub-shard with fewer than two entries below it")
    return fanout, out
