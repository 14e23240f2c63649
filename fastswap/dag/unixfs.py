"""UnixFS v1 files: a streaming importer (fixed-size chunker, balanced layout) and an exporter.

Specs: ipfs/specs ``UNIXFS.md`` (the Data message, File nodes, ``filesize``/``blocksizes``) over
IPLD dag-pb (links carry ``Tsize``, the serialized size of the whole child DAG).

The importer's goal is byte-identical root CIDs to Kubo's ``ipfs add`` (go-unixfs/boxo balanced
builder) and to Helia (``@helia/unixfs`` over ``ipfs-unixfs-importer``) for the same settings.
What decides the bytes, as both implementations do it:

* Fixed-size chunks; an empty file is one empty chunk.
* A file of exactly one chunk is that leaf itself: a raw block with raw leaves, else a dag-pb
  leaf (Kubo's balanced ``Layout`` returns the first leaf when no more data follows; Helia's
  ``reduceSingleLeafToSelf``).
* Leaves: raw leaves are CIDv1 ``raw`` blocks whatever the CID version (a CIDv0 cannot name a raw
  block). dag-pb leaves are UnixFS ``Type=File`` (not ``Raw``: go-unixfs kept File for
  compatibility with its old balanced builder, and Helia's ``leafType`` default is ``file``) with
  ``Data`` and ``filesize``; an empty leaf has ``filesize=0`` and no ``Data`` field.
* Internal nodes: ``Type=File``, no ``Data``, ``filesize`` = sum of children's file bytes,
  one unpacked ``blocksizes`` entry per child; links with ``Name=""`` present and ``Tsize`` = the
  child's block size plus its children's Tsizes (raw leaf: its length).
* Balanced layout: leaves are grouped ``max_children`` at a time into parents, parents likewise,
  until one node remains; a trailing group of one is still wrapped (only the single-chunk file is
  reduced to itself). Kubo's depth-first fill and Helia's level-by-level batching give this same
  tree, and so does the incremental builder here, which holds at most ``max_children`` entries per
  level: memory stays bounded whatever the file size.

The exporter walks a file DAG depth-first, verifying every block against its CID, and yields the
file's bytes (zero-copy slices of dag-pb leaves). Directories (``Type=Directory``/``HAMTShard``)
are recognised and refused with a clear DagError: their import/export will be added alongside
(the walker dispatches on the UnixFS type, so a directory walker slots in next to the file one).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, Any, Union

from .. import varint
from .._defaults import (
    DAG_IMPORT_BATCH_BYTES,
    DEFAULT_CHUNK_SIZE,
    HELIA_CHUNK_SIZE,
    HELIA_MAX_CHILDREN,
    KUBO_MAX_CHILDREN,
    MAX_CHUNK_SIZE,
    MAX_DAG_DEPTH,
    MAX_LINKS_PER_NODE,
)
from ..cid import (
    DAG_PB,
    IDENTITY,
    RAW,
    SHA2_256,
    decode_cid,
    hash_digest,
    parse,
    to_str,
)
from ..errors import BadBlockError, CIDError, DagError
from .dagpb import (
    DIRECTORY,
    FILE,
    HAMT_SHARD,
    SYMLINK,
    TYPE_NAMES,
    decode_node,
    decode_unixfs,
    encode_link,
    encode_node,
    encode_unixfs,
)
from .dagpb import (
    RAW as UNIXFS_RAW,
)

__all__ = [
    "HELIA_DEFAULTS",
    "KUBO_DEFAULTS",
    "cat",
    "import_file",
    "iter_links",
]

#: ``ipfs add`` in Kubo 0.22 with no flags: CIDv0, dag-pb leaves, 256 KiB chunks, 174 links.
KUBO_DEFAULTS: dict[str, Any] = {
    "cid_version": 0,
    "raw_leaves": False,
    "chunk_size": DEFAULT_CHUNK_SIZE,
    "max_children": KUBO_MAX_CHILDREN,
}
#: ``@helia/unixfs`` 8 ``addBytes``/``addFile``/``addByteStream`` with no options: CIDv1, raw
#: leaves, 1 MiB chunks, 1024 links (its ``defaultImporterSettings``, "match Filecoin").
HELIA_DEFAULTS: dict[str, Any] = {
    "cid_version": 1,
    "raw_leaves": True,
    "chunk_size": HELIA_CHUNK_SIZE,
    "max_children": HELIA_MAX_CHILDREN,
}

Source = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, IO[bytes]]
# (cid, tsize, filesize): what a parent needs to know about each child
_Entry = tuple[bytes, int, int]

_sha256 = hashlib.sha256
_EMPTY_PB_LEAF = b"\x0a\x04\x08\x02\x18\x00"  # PBNode{Data: Data{Type: File, filesize: 0}}


_uvarint = varint.encode


# -- chunking ----------------------------------------------------------------------------------


def _read_full(read: Callable[[int], Any], n: int) -> bytes:
    """Read up to *n* bytes, looping over short reads (pipes, sockets); b"" only at EOF."""
    b = read(n)
    if b is None:
        raise DagError(
            "the source is a non-blocking stream with no data ready; pass a blocking one"
        )
    if not isinstance(b, (bytes, bytearray)):
        raise DagError("the source returned text; open the file in binary mode ('rb')")
    if len(b) == n or not b:
        return bytes(b)
    parts = [b]
    got = len(b)
    while got < n:
        more = read(n - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def _chunks(src: Source, chunk_size: int) -> Iterator[bytes]:
    """Fixed-size chunks of *src*; the last may be short; an empty source is one empty chunk."""
    if isinstance(src, (bytes, bytearray, memoryview)):
        mv = memoryview(src).cast("B")
        n = len(mv)
        if n == 0:
            yield b""
        for off in range(0, n, chunk_size):
            yield bytes(mv[off : off + chunk_size])  # blocks must be independent of *src*
        return
    if isinstance(src, (str, os.PathLike)):
        # unbuffered: each read() of a whole chunk goes straight into a new bytes object
        with open(src, "rb", buffering=0) as f:
            yield from _chunks_from(f.read, chunk_size)
        return
    read = getattr(src, "read", None)
    if read is None:
        raise DagError(
            f"cannot import from {type(src).__name__}: pass a path, bytes or a binary file object"
        )
    yield from _chunks_from(read, chunk_size)


def _chunks_from(read: Callable[[int], Any], chunk_size: int) -> Iterator[bytes]:
    first = True
    while True:
        chunk = _read_full(read, chunk_size)
        if not chunk:
            if first:
                yield b""
            return
        first = False
        yield chunk
        if len(chunk) < chunk_size:
            return


# -- leaves and internal nodes -----------------------------------------------------------------


class _LeafEncoder:
    """Turns a chunk into (block, tsize, filesize, cid builder) for the chosen leaf kind."""

    __slots__ = ("_full", "_head", "_tail", "cid_version", "raw")

    def __init__(self, raw: bool, cid_version: int, chunk_size: int) -> None:
        self.raw = raw
        self.cid_version = cid_version
        self._full = chunk_size
        self._head, self._tail = self._frame(chunk_size)

    @staticmethod
    def _frame(n: int) -> tuple[bytes, bytes]:
        # PBNode{Data(1): Data{Type(1)=File, Data(2)=chunk, filesize(3)=n}}, framed by hand to
        # avoid two copies of each chunk through protobuf; tests check it against the schema.
        vn = _uvarint(n)
        inner = 2 + 1 + len(vn) + n + 1 + len(vn)
        return b"\x0a" + _uvarint(inner) + b"\x08\x02\x12" + vn, b"\x18" + vn

    def block(self, chunk: bytes) -> bytes:
        if self.raw:
            return chunk
        n = len(chunk)
        if n == 0:
            return _EMPTY_PB_LEAF
        head, tail = (self._head, self._tail) if n == self._full else self._frame(n)
        return b"".join((head, chunk, tail))

    def cid(self, digest: bytes) -> bytes:
        if self.raw:  # raw blocks are always CIDv1: a CIDv0 is dag-pb by definition
            return b"\x01\x55\x12\x20" + digest
        if self.cid_version == 0:
            return b"\x12\x20" + digest
        return b"\x01\x70\x12\x20" + digest


class _BalancedBuilder:
    """Incremental balanced layout: ``levels[k]`` holds the finished nodes of height k not yet
    given a parent; a level that reaches ``max_children`` is reduced into one parent at once."""

    def __init__(self, max_children: int, cid_version: int, emit: Callable[[bytes, bytes], None]):
        self.max_children = max_children
        self.cid_version = cid_version
        self.emit = emit
        self.levels: list[list[_Entry]] = [[]]

    def add(self, entry: _Entry, level: int = 0) -> None:
        while True:
            lv = self.levels[level]
            lv.append(entry)
            if len(lv) < self.max_children:
                return
            entry = self._reduce(lv)
            self.levels[level] = []
            level += 1
            if level == len(self.levels):
                self.levels.append([])

    def _reduce(self, children: list[_Entry]) -> _Entry:
        links = [encode_link(cid, tsize) for cid, tsize, _ in children]
        sizes = [fs for _, _, fs in children]
        filesize = sum(sizes)
        block = encode_node(links, encode_unixfs(FILE, filesize=filesize, blocksizes=sizes))
        digest = _sha256(block).digest()
        cid = (b"\x12\x20" if self.cid_version == 0 else b"\x01\x70\x12\x20") + digest
        self.emit(cid, block)
        return cid, len(block) + sum(t for _, t, _ in children), filesize

    def finish(self) -> _Entry:
        """Reduce the partial groups bottom-up; the last node standing is the root."""
        levels = self.levels
        k = -1
        while k + 1 < len(levels):  # levels may grow by one as partial groups are reduced
            k += 1
            lv = levels[k]
            if not lv:
                continue
            if len(lv) == 1 and not any(levels[k + 1 :]):
                return lv[0]  # a single-chunk file is its own leaf; otherwise the full root
            entry = self._reduce(lv)
            levels[k] = []
            if k + 1 == len(levels):
                levels.append([])
            levels[k + 1].append(entry)  # never fills a level: it held < max_children
        raise DagError("internal error: balanced builder finished with no nodes")


# -- the importer ------------------------------------------------------------------------------


def _check_settings(cid_version: int, chunk_size: int, max_children: int) -> None:
    if cid_version not in (0, 1):
        raise DagError(f"cid_version must be 0 or 1, not {cid_version!r}")
    if not isinstance(chunk_size, int) or not 1 <= chunk_size <= MAX_CHUNK_SIZE:
        raise DagError(
            f"chunk_size must be between 1 and {MAX_CHUNK_SIZE} bytes (Kubo's limit), "
            f"not {chunk_size!r}"
        )
    if not isinstance(max_children, int) or not 2 <= max_children <= MAX_LINKS_PER_NODE:
        raise DagError(
            f"max_children must be between 2 and {MAX_LINKS_PER_NODE}, not {max_children!r}"
        )


def _hash_all(blocks: list[bytes]) -> list[bytes]:
    # hashlib releases the GIL for buffers over 2 KiB: this runs beside the reader
    return [_sha256(b).digest() for b in blocks]


def import_file(
    store: Any,
    src: Source,
    *,
    cid_version: int = 1,
    raw_leaves: bool | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    max_children: int | None = None,
) -> bytes:
    """Import one file as a UnixFS DAG into *store*; return the root CID (binary).

    *src* is a path, a bytes-like object or a binary file object (read to EOF, not closed).
    ``raw_leaves`` defaults to ``cid_version == 1`` and ``max_children`` to 174, as in Kubo;
    ``import_file(store, src, **KUBO_DEFAULTS)`` is ``ipfs add`` and ``**HELIA_DEFAULTS`` is
    Helia's ``addBytes``. The file is streamed: memory stays bounded (a few batches of
    ``DAG_IMPORT_BATCH_BYTES``) whatever its size. Reading, hashing and storing overlap: chunks of
    the next batch are read while the previous batch is hashed on a worker thread and written by
    another (one writer thread, so stores see one writer, as LMDB wants).
    """
    if raw_leaves is None:
        raw_leaves = cid_version == 1
    if max_children is None:
        max_children = KUBO_MAX_CHILDREN
    _check_settings(cid_version, chunk_size, max_children)

    leaves = _LeafEncoder(bool(raw_leaves), cid_version, chunk_size)
    pending: list[tuple[bytes, bytes]] = []  # blocks to store, in DAG-bottom-up order
    builder = _BalancedBuilder(max_children, cid_version, lambda c, b: pending.append((c, b)))
    per_batch = max(1, DAG_IMPORT_BATCH_BYTES // chunk_size)

    def batches() -> Iterator[tuple[list[bytes], list[int]]]:
        blocks: list[bytes] = []
        sizes: list[int] = []  # file bytes per leaf (a dag-pb leaf's block is larger)
        for chunk in _chunks(src, chunk_size):
            blocks.append(leaves.block(chunk))
            sizes.append(len(chunk))
            if len(blocks) == per_batch:
                yield blocks, sizes
                blocks, sizes = [], []
        if blocks:
            yield blocks, sizes

    def take(batch: tuple[list[bytes], list[int]], digests: list[bytes]) -> None:
        for block, size, digest in zip(*batch, digests):
            cid = leaves.cid(digest)
            pending.append((cid, block))
            # Tsize of a leaf is its block's length (nothing below it)
            builder.add((cid, len(block), size))

    it = batches()
    first = next(it)
    second = next(it, None)
    if second is None:
        # one batch: no threads (small files, the CLI's common case)
        take(first, _hash_all(first[0]))
        root = builder.finish()[0]
        store.put_many(pending)
        return root

    hasher = ThreadPoolExecutor(1, thread_name_prefix="fastswap-hash")
    writer = ThreadPoolExecutor(1, thread_name_prefix="fastswap-put")
    puts: list[Future[int]] = []
    try:
        inflight = (first, hasher.submit(_hash_all, first[0]))
        nxt = second
        while inflight is not None:
            batch = nxt
            if batch is not None:
                fut = hasher.submit(_hash_all, batch[0])  # hash batch k+1 while k is consumed
                nxt = next(it, None)  # ... and read batch k+2
            done, hfut = inflight
            take(done, hfut.result())
            inflight = (batch, fut) if batch is not None else None
            if pending:
                puts.append(writer.submit(store.put_many, pending))
                pending = []  # the builder's emit closes over this name, not the old list
            # bound memory: at most two batches queued for the store
            while len(puts) > 2:
                puts.pop(0).result()
        root = builder.finish()[0]
        if pending:
            puts.append(writer.submit(store.put_many, pending))
        for p in puts:
            p.result()
        return root
    finally:
        hasher.shutdown(wait=True, cancel_futures=True)
        writer.shutdown(wait=True, cancel_futures=True)


# -- the exporter ------------------------------------------------------------------------------


def _load(store: Any, cid: bytes) -> tuple[int, bytes]:
    """(codec, verified block data) of *cid*; identity CIDs carry their data inline."""
    try:
        _version, codec, mh_code, digest = decode_cid(cid)
    except CIDError as exc:
        raise DagError(f"DAG links to an invalid CID: {exc}") from None
    if mh_code == IDENTITY:
        return codec, digest
    data = store.get(cid)  # BlockNotFoundError names the CID
    if mh_code == SHA2_256 and len(digest) == 32:
        ok = _sha256(data).digest() == digest
    else:
        ok = hash_digest(mh_code, data, len(digest)) == digest
    if not ok:
        raise BadBlockError(
            f"block {to_str(cid)} in the blockstore does not hash to its CID: the store is "
            "corrupt; delete the block and fetch or import it again"
        )
    return codec, data


def _walk_file(store: Any, cid: bytes, depth: int) -> Iterator[bytes | memoryview]:
    """Yield the bytes of the file DAG at *cid*; the generator's return value is their count."""
    if depth > MAX_DAG_DEPTH:
        raise DagError(f"file DAG deeper than {MAX_DAG_DEPTH} levels; refusing to walk it")
    codec, block = _load(store, cid)
    if codec == RAW:
        if block:
            yield block
        return len(block)
    if codec != DAG_PB:
        raise DagError(
            f"{to_str(cid)} is not a UnixFS file (codec 0x{codec:x}); only dag-pb and raw "
            "blocks can be read as files"
        )
    node = decode_node(memoryview(block))
    if node.data is None:
        raise DagError(f"{to_str(cid)} is a dag-pb node without UnixFS Data; not a file")
    fs = decode_unixfs(node.data)
    if fs.type not in (FILE, UNIXFS_RAW):
        if fs.type in (DIRECTORY, HAMT_SHARD):
            hint = "directory export is not supported yet; cat a file CID inside it"
        elif fs.type == SYMLINK:
            hint = "symlinks have no file content"
        else:
            hint = "only file nodes can be read"
        raise DagError(f"{to_str(cid)} is a UnixFS {TYPE_NAMES[fs.type]}: {hint}")
    total = 0
    if fs.data is not None and len(fs.data):
        yield fs.data
        total = len(fs.data)
    links = node.links
    sizes = fs.blocksizes
    if sizes and len(sizes) != len(links):
        raise DagError(
            f"{to_str(cid)} has {len(links)} links but {len(sizes)} blocksizes; the DAG is invalid"
        )
    for i, link in enumerate(links):
        n = yield from _walk_file(store, link.cid, depth + 1)
        if sizes and n != sizes[i]:
            raise DagError(
                f"child {i} of {to_str(cid)} holds {n} bytes but its parent says {sizes[i]}; "
                "the DAG is invalid"
            )
        total += n
    if fs.filesize is not None and fs.filesize != total:
        raise DagError(
            f"{to_str(cid)} says its file has {fs.filesize} bytes but its DAG holds {total}"
        )
    return total


def cat(store: Any, cid: bytes | str) -> Iterator[bytes | memoryview]:
    """Stream the bytes of the UnixFS file at *cid* (binary or text CID), depth-first.

    Every block is verified against its CID (BadBlockError); a missing block raises
    BlockNotFoundError when the walk reaches it; a directory or a non-UnixFS node raises
    DagError. Yielded memoryviews are slices of blocks this generator owns: consume them before
    the next iteration or copy them.
    """
    root = parse(cid)
    return _walk_file(store, root, 0)


def iter_links(cid: bytes, data: bytes | memoryview) -> Iterator[bytes]:
    """The CIDs a block links to, in order: nothing for raw blocks, the links of a dag-pb node.

    The Bitswap fetcher walks DAGs breadth-first with this; *data* must already be verified.
    """
    try:
        codec = decode_cid(cid)[1]
    except CIDError as exc:
        raise DagError(f"invalid CID: {exc}") from None
    if codec == RAW:
        return iter(())
    if codec == DAG_PB:
        return iter([link.cid for link in decode_node(data).links])
    raise DagError(
        f"cannot read the links of {to_str(cid)}: codec 0x{codec:x} is not supported "
        "(dag-pb and raw only)"
    )
