"""UnixFS v1 files: a streaming importer (fixed-size chunker, balanced or trickle layout).

Specs: ipfs/specs ``UNIXFS.md`` (the Data message, File nodes, ``filesize``/``blocksizes``) over
IPLD dag-pb (links carry ``Tsize``, the serialized size of the whole child DAG).

The importer's goal is byte-identical root CIDs to Kubo's ``ipfs add`` (go-unixfs/boxo balanced
and trickle builders) and to Helia (``@helia/unixfs`` over ``ipfs-unixfs-importer``) for the same
settings (:class:`fastswap.dag.settings.ImportSettings`). What decides the bytes, as both
implementations do it:

* Fixed-size chunks; an empty file is one empty chunk.
* A file of exactly one chunk is that leaf itself under the balanced layout: a raw block with raw
  leaves, else a dag-pb leaf (Kubo's balanced ``Layout`` returns the first leaf when no more data
  follows; Helia's ``reduceSingleLeafToSelf``). Under the trickle layout Kubo always builds a File
  node over its leaves (an empty file is an empty File node), Helia still reduces.
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
* Trickle layout (boxo ``importer/trickle``; Helia's ``trickle()`` builds the same shape): a node
  takes up to ``max_children`` leaves, then, for depth 1, 2, ... (below its own maximum), four
  subtrees of that depth each.
* ``--hash`` changes every block's multihash; ``--inline`` gives blocks of at most
  ``inline_limit`` bytes a CIDv1 identity CID (go-cidutil ``InlineBuilder``, which Kubo wraps
  around its CID builder for every node). Identity blocks are never stored: the CID is the data.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, Any, NamedTuple, Union

from .. import varint
from .._defaults import (
    DAG_IMPORT_BATCH_BYTES,
    DEFAULT_CHUNK_SIZE,
    HELIA_CHUNK_SIZE,
    HELIA_MAX_CHILDREN,
    KUBO_MAX_CHILDREN,
    TRICKLE_LAYER_REPEAT,
)
from ..cid import (
    DAG_PB,
    IDENTITY,
    RAW,
    SHA2_256,
    decode_cid,
    hash_digest,
    to_str,
)
from ..errors import CIDError, DagError
from .dagpb import FILE, decode_node, encode_link, encode_node, encode_unixfs
from .settings import ImportSettings

__all__ = [
    "HELIA_DEFAULTS",
    "KUBO_DEFAULTS",
    "BlockSink",
    "CidMaker",
    "Entry",
    "build_file",
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


class Entry(NamedTuple):
    """What a parent needs to know about a child DAG."""

    cid: bytes
    #: the child's Tsize: its block's size plus its children's Tsizes
    tsize: int
    #: file bytes under it (0 for directories)
    filesize: int


_EMPTY_PB_LEAF = b"\x0a\x04\x08\x02\x18\x00"  # PBNode{Data: Data{Type: File, filesize: 0}}


_uvarint = varint.encode


# -- CIDs and where blocks go ------------------------------------------------------------------


class CidMaker:
    """Names blocks as the settings say: CID version, multihash, identity CIDs for small blocks."""

    __slots__ = ("_hash", "_inline", "_pb", "_raw", "mh_code")

    def __init__(self, settings: ImportSettings) -> None:
        mh = settings.mh_code
        self.mh_code = mh
        self._inline = settings.inline_limit or -1
        if mh == SHA2_256:
            self._hash: Callable[[Any], bytes] = lambda b: hashlib.sha256(b).digest()
        else:
            self._hash = lambda b: hash_digest(mh, b)
        mh_prefix = _uvarint(mh) + _uvarint(len(self._hash(b"")))
        self._pb = b"\x12\x20" if settings.cid_version == 0 else b"\x01\x70" + mh_prefix
        self._raw = b"\x01\x55" + mh_prefix  # raw blocks are CIDv1: a CIDv0 is dag-pb

    def digest(self, block: bytes | memoryview) -> bytes:
        return self._hash(block)

    def digests(self, blocks: list[bytes]) -> list[bytes]:
        # hashlib releases the GIL for buffers over 2 KiB: this runs beside the reader
        h = self._hash
        return [h(b) for b in blocks]

    def cid(self, codec: int, block: bytes, digest: bytes | None = None) -> bytes:
        n = len(block)
        if n <= self._inline:
            return b"\x01" + _uvarint(codec) + b"\x00" + _uvarint(n) + block
        if digest is None:
            digest = self._hash(block)
        return (self._raw if codec == RAW else self._pb) + digest


class BlockSink:
    """Where imported blocks go: ``put_many`` batches of about DAG_IMPORT_BATCH_BYTES on one
    writer thread (stores see one writer, as LMDB wants), at most two batches queued (memory
    stays bounded). Identity blocks are dropped (the CID is the data); ``store=None`` keeps
    nothing at all (``--only-hash``). Call :meth:`close` when done, :meth:`abort` on failure."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.blocks = 0
        self._batch: list[tuple[bytes, bytes]] = []
        self._size = 0
        self._puts: list[Future[int]] = []
        self._writer: ThreadPoolExecutor | None = None

    def put(self, cid: bytes, block: bytes) -> None:
        if cid[0] == 1 and len(cid) > 2 and cid[1] < 0x80 and cid[2] == IDENTITY:
            return  # version 1, one-byte codec (dag-pb or raw), identity multihash
        self.blocks += 1
        if self.store is None:
            return
        self._batch.append((cid, block))
        self._size += len(block)
        if self._size >= DAG_IMPORT_BATCH_BYTES:
            self._submit()

    def _submit(self) -> None:
        if self._writer is None:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="fastswap-put")
        self._puts.append(self._writer.submit(self.store.put_many, self._batch))
        self._batch, self._size = [], 0
        while len(self._puts) > 2:
            self._puts.pop(0).result()

    def close(self) -> None:
        """Store what is left and wait for the writer; errors from the store surface here."""
        try:
            if self._batch:
                if self._writer is None:  # small imports: no thread at all
                    self.store.put_many(self._batch)
                    self._batch, self._size = [], 0
                else:
                    self._submit()
            for p in self._puts:
                p.result()
            self._puts = []
        finally:
            self.abort()

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.shutdown(wait=True, cancel_futures=True)
            self._writer = None


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
    """Turns a chunk into its leaf block: the chunk itself, or a UnixFS File dag-pb leaf."""

    __slots__ = ("_full", "_head", "_tail", "raw")

    def __init__(self, raw: bool, chunk_size: int) -> None:
        self.raw = raw
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


class _FileNodes:
    """Builds internal File nodes over children (both layouts share it)."""

    __slots__ = ("cids", "sink")

    def __init__(self, cids: CidMaker, sink: BlockSink) -> None:
        self.cids = cids
        self.sink = sink

    def node(self, children: list[Entry]) -> Entry:
        links = [encode_link(e.cid, e.tsize) for e in children]
        sizes = [e.filesize for e in children]
        filesize = sum(sizes)
        block = encode_node(links, encode_unixfs(FILE, filesize=filesize, blocksizes=sizes))
        cid = self.cids.cid(DAG_PB, block)
        self.sink.put(cid, block)
        return Entry(cid, len(block) + sum(e.tsize for e in children), filesize)


class _BalancedBuilder:
    """Incremental balanced layout: ``levels[k]`` holds the finished nodes of height k not yet
    given a parent; a level that reaches ``max_children`` is reduced into one parent at once."""

    def __init__(self, max_children: int, nodes: _FileNodes) -> None:
        self.max_children = max_children
        self.nodes = nodes
        self.levels: list[list[Entry]] = [[]]

    def add(self, entry: Entry, level: int = 0) -> None:
        while True:
            lv = self.levels[level]
            lv.append(entry)
            if len(lv) < self.max_children:
                return
            entry = self.nodes.node(lv)
            self.levels[level] = []
            level += 1
            if level == len(self.levels):
                self.levels.append([])

    def finish(self) -> Entry:
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
            entry = self.nodes.node(lv)
            levels[k] = []
            if k + 1 == len(levels):
                levels.append([])
            levels[k + 1].append(entry)  # never fills a level: it held < max_children
        raise DagError("internal error: balanced builder finished with no nodes")


def _balanced(leaves: Iterator[Entry], nodes: _FileNodes, s: ImportSettings) -> Entry:
    builder = _BalancedBuilder(s.max_children, nodes)
    for leaf in leaves:
        builder.add(leaf)
    return builder.finish()


def _trickle(leaves: Iterator[Entry], nodes: _FileNodes, s: ImportSettings) -> Entry:
    """boxo trickle ``fillTrickleRec``: recursion depth grows with log4 of the chunk count."""
    first = next(leaves)
    second = next(leaves, None)
    if second is None:
        if s.flavor == "helia":
            return first  # Helia's reduceSingleLeafToSelf applies to every layout
        # Kubo: the builder never saw a chunk of an empty file; a single chunk is still wrapped
        return nodes.node([] if first.filesize == 0 else [first])
    pending: list[Entry] = [second, first]  # a stack: pop() takes the next leaf

    def more() -> bool:
        if pending:
            return True
        nxt = next(leaves, None)
        if nxt is None:
            return False
        pending.append(nxt)
        return True

    def fill(max_depth: int) -> Entry:
        children: list[Entry] = []
        while len(children) < s.max_children and more():
            children.append(pending.pop())
        depth = 1
        while (max_depth < 0 or depth < max_depth) and more():
            for _ in range(TRICKLE_LAYER_REPEAT):
                if not more():
                    break
                children.append(fill(depth))
            depth += 1
        return nodes.node(children)

    return fill(-1)


# -- the importer ------------------------------------------------------------------------------


def _leaf_entries(
    src: Source, s: ImportSettings, cids: CidMaker, sink: BlockSink
) -> Iterator[Entry]:
    """Every leaf of *src* in order, stored in *sink*. Reading, hashing and storing overlap:
    chunks of the next batch are read while the previous batch is hashed on a worker thread
    (and the sink writes on another)."""
    leaves = _LeafEncoder(s.raw_leaves, s.chunk_size)
    codec = RAW if s.raw_leaves else DAG_PB
    per_batch = max(1, DAG_IMPORT_BATCH_BYTES // s.chunk_size)

    def batches() -> Iterator[tuple[list[bytes], list[int]]]:
        blocks: list[bytes] = []
        sizes: list[int] = []  # file bytes per leaf (a dag-pb leaf's block is larger)
        for chunk in _chunks(src, s.chunk_size):
            blocks.append(leaves.block(chunk))
            sizes.append(len(chunk))
            if len(blocks) == per_batch:
                yield blocks, sizes
                blocks, sizes = [], []
        if blocks:
            yield blocks, sizes

    def take(batch: tuple[list[bytes], list[int]], digests: list[bytes]) -> Iterator[Entry]:
        for block, size, digest in zip(*batch, digests):
            cid = cids.cid(codec, block, digest)
            sink.put(cid, block)
            # Tsize of a leaf is its block's length (nothing below it)
            yield Entry(cid, len(block), size)

    it = batches()
    first = next(it)
    second = next(it, None)
    if second is None:
        # one batch: no threads (small files, most files of a directory)
        yield from take(first, cids.digests(first[0]))
        return
    hasher = ThreadPoolExecutor(1, thread_name_prefix="fastswap-hash")
    try:
        inflight: tuple[Any, Future[list[bytes]]] | None = (
            first,
            hasher.submit(cids.digests, first[0]),
        )
        nxt: Any = second
        while inflight is not None:
            batch = nxt
            if batch is not None:
                fut = hasher.submit(cids.digests, batch[0])  # hash batch k+1 while k is consumed
                nxt = next(it, None)  # ... and read batch k+2
            done, hfut = inflight
            yield from take(done, hfut.result())
            inflight = (batch, fut) if batch is not None else None
    finally:
        hasher.shutdown(wait=True, cancel_futures=True)


def build_file(sink: BlockSink, src: Source, settings: ImportSettings, cids: CidMaker) -> Entry:
    """Import one file into *sink*; its root :class:`Entry`. The directory importer's unit."""
    nodes = _FileNodes(cids, sink)
    leaves = _leaf_entries(src, settings, cids, sink)
    layout = _trickle if settings.trickle else _balanced
    return layout(leaves, nodes, settings)


def import_file(
    store: Any,
    src: Source,
    settings: ImportSettings | None = None,
    *,
    cid_version: int = 1,
    raw_leaves: bool | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    max_children: int | None = None,
    hash: str = "sha2-256",
    inline_limit: int | None = None,
    trickle: bool = False,
    flavor: str = "kubo",
) -> bytes:
    """Import one file as a UnixFS DAG into *store*; return the root CID (binary).

    *src* is a path, a bytes-like object or a binary file object (read to EOF, not closed).
    ``raw_leaves`` defaults to ``cid_version == 1`` and ``max_children`` to 174, as in Kubo;
    ``import_file(store, src, **KUBO_DEFAULTS)`` is ``ipfs add`` and ``**HELIA_DEFAULTS`` is
    Helia's ``addBytes``. *store* None computes the CID and keeps nothing (``--only-hash``).
    The file is streamed: memory stays bounded (a few batches of DAG_IMPORT_BATCH_BYTES)
    whatever its size. *settings* (an :class:`ImportSettings`, e.g. from
    ``ImportSettings.preset("helia")``) replaces every keyword. Directories:
    :func:`fastswap.dag.import_path`.
    """
    if settings is None:
        settings = ImportSettings(
            cid_version=cid_version,
            raw_leaves=cid_version == 1 if raw_leaves is None else bool(raw_leaves),
            chunk_size=chunk_size,
            max_children=KUBO_MAX_CHILDREN if max_children is None else max_children,
            hash=hash,
            inline_limit=inline_limit,
            trickle=trickle,
            flavor=flavor,  # type: ignore[arg-type]  # checked by ImportSettings
        )
    sink = BlockSink(store)
    try:
        root = build_file(sink, src, settings, CidMaker(settings)).cid
        sink.close()
    finally:
        sink.abort()
    return root


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
