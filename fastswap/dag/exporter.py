"""Reading UnixFS DAGs back: files, directories (plain and HAMT), symlinks, paths inside them.

Specs: ipfs/specs ``UNIXFS.md`` (Data types, HAMTShard, path resolution by link name) over
IPLD dag-pb and raw blocks.

Everything here is sans-IO: the logic never fetches a block itself, so one implementation serves
a local blockstore (the synchronous functions below) and the network (the asynchronous drivers in
:mod:`fastswap.dag.stream`, which fetch ahead through a bounded window):

* :class:`Walker` walks a DAG depth-first, in the order its bytes and entries must be written, and
  turns the blocks it is fed into events: :class:`Start` and :class:`End` for each entry and file
  bytes (``bytes``/``memoryview``) in between. ``needed`` is the next block it must have;
  ``upcoming()`` lists the blocks it knows it will need after that, in order, for prefetching.
* :func:`resolve_steps` and :func:`ls_steps` are generators that yield lists of CIDs they need
  and receive the blocks back: path resolution (``ROOT/a/b``) and directory listing.

Names from a DAG are untrusted. An entry's name must be one plain file name: not empty, not
``.`` or ``..``, no ``/`` or NUL inside, not repeated in its directory; anything else raises
:class:`UnsafePathError` before any byte of it is written. HAMT shards are checked by
:func:`fastswap.dag.hamt.read_shard`. Depth is bounded by MAX_DAG_DEPTH and the number of
entries one walk visits by ``max_entries`` (DAG_EXPORT_MAX_ENTRIES): a small DAG that names the
same subdirectory over and over cannot make a walk run forever.

File DAGs are checked as they stream: ``blocksizes`` against the bytes each child produced, and
``filesize`` against the total, so a truncated or padded file is an error, not a wrong file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections import deque
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any, Self

from .._defaults import DAG_EXPORT_MAX_ENTRIES, MAX_DAG_DEPTH
from ..cid import (
    CID,
    DAG_PB,
    RAW,
    SHA2_256,
    decode_cid,
    hash_digest,
    identity_data,
    is_identity,
    parse,
    to_str,
)
from ..errors import (
    BadBlockError,
    CIDError,
    DagError,
    OutputExistsError,
    PathNotFoundError,
    UnsafePathError,
)
from .dagpb import (
    DIRECTORY,
    FILE,
    HAMT_SHARD,
    SYMLINK,
    TYPE_NAMES,
    PBLink,
    PBNode,
    UnixFSData,
    decode_node,
    decode_unixfs,
)
from .dagpb import RAW as UNIXFS_RAW
from .hamt import Where, read_shard, slot_path

__all__ = [
    "End",
    "Event",
    "LsEntry",
    "Start",
    "TreeWriter",
    "Walker",
    "cat",
    "check_name",
    "load_block",
    "ls",
    "ls_steps",
    "parse_path",
    "resolve",
    "resolve_steps",
    "walk",
]


# -- events ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Start:
    """An entry begins. ``path`` is relative to the walk's root (``""`` for the root itself,
    else ``/``-separated checked names); ``size`` is a file's byte count (None otherwise)."""

    path: str
    kind: str  # "file", "directory" or "symlink"
    cid: bytes
    size: int | None = None
    target: str | None = None  # a symlink's target


@dataclass(frozen=True, slots=True)
class End:
    """An entry ends (a file after its last byte, a directory after its last entry)."""

    path: str
    kind: str


#: What a walk yields: Start, End, or a file's bytes (a memoryview is only valid until the next
#: event: consume or copy it).
Event = Start | End | bytes | memoryview


# -- names and paths ---------------------------------------------------------------------------

_SEPARATORS = frozenset(s for s in ("/", "\\" if os.sep == "\\" else None, os.altsep) if s)


def check_name(name: str | None, where: object) -> str:
    """*name* if it is one plain file name, else UnsafePathError (what an export writes)."""
    if name is None or name in ("", ".", ".."):
        raise UnsafePathError(
            f"{where} has an entry named {name!r}, which is not a file name; refusing to export "
            "it (the DAG is malformed or hostile)"
        )
    if "\x00" in name or any(sep in name for sep in _SEPARATORS):
        raise UnsafePathError(
            f"{where} has an entry named {name!r} with a path separator or NUL inside; refusing "
            "to export it (it could write outside the target)"
        )
    return name


def parse_path(path: str | bytes) -> tuple[bytes, list[str]]:
    """(root CID, names) of ``CID``, ``CID/a/b``, ``/ipfs/CID/a/b`` or ``ipfs://CID/a``."""
    if isinstance(path, (bytes, bytearray, memoryview)):
        return parse(path), []
    text = path.strip()
    for prefix in ("ipfs://", "/ipfs/"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    head, _, rest = text.partition("/")
    root = parse(head)
    names = [n for n in rest.split("/") if n]
    for n in names:
        if n in (".", ".."):
            raise PathNotFoundError(f"{path!r}: '.' and '..' are not allowed in a UnixFS path")
    return root, names


def _join(parent: str, name: str) -> str:
    return f"{parent}/{name}" if parent else name


# -- blocks ------------------------------------------------------------------------------------


def _identity(cid: bytes) -> bytes | None:
    """The data of an identity CID (None for any other CID). A DAG's links are untrusted: an
    invalid CID is a DagError here, before it reaches a store."""
    try:
        decode_cid(cid)
        return identity_data(cid)
    except CIDError as exc:
        raise DagError(f"DAG links to an invalid CID: {exc}") from None


def load_block(store: Any, cid: bytes) -> bytes:
    """The block *cid* from *store*, verified against its CID (identity CIDs need no store).

    BlockNotFoundError (from the store) names a missing block; BadBlockError a corrupt one.
    """
    inline = _identity(cid)
    if inline is not None:
        return inline
    data: bytes = store.get(cid)
    _v, _codec, mh_code, digest = decode_cid(cid)
    if mh_code == SHA2_256 and len(digest) == 32:
        ok = hashlib.sha256(data).digest() == digest
    else:
        ok = hash_digest(mh_code, data, len(digest)) == digest
    if not ok:
        raise BadBlockError(
            f"block {to_str(cid)} in the blockstore does not hash to its CID: the store is "
            "corrupt; delete the block and fetch or import it again"
        )
    return data


def _codec(cid: bytes) -> int:
    return decode_cid(cid)[1]


def _unixfs(cid: bytes, data: bytes | memoryview) -> tuple[PBNode, UnixFSData]:
    """The dag-pb node and its UnixFS Data; DagError for other codecs or plain dag-pb."""
    codec = _codec(cid)
    if codec != DAG_PB:
        raise DagError(
            f"{to_str(cid)} is not a UnixFS node (codec 0x{codec:x}); only dag-pb and raw "
            "blocks can be read as files and directories"
        )
    node = decode_node(memoryview(data))
    if node.data is None:
        raise DagError(f"{to_str(cid)} is a dag-pb node without UnixFS Data; not UnixFS")
    return node, decode_unixfs(node.data)


def _symlink_target(cid: bytes, fs: UnixFSData) -> str:
    try:
        return bytes(fs.data or b"").decode("utf-8")
    except UnicodeDecodeError:
        raise DagError(f"symlink {to_str(cid)} has a target that is not UTF-8") from None


# -- the walker --------------------------------------------------------------------------------

# work items, in the order the walk needs them
_ENTRY = 0  # a directory entry (or the root): file, directory or symlink
_PART = 1  # a block inside a file DAG
_SHARD = 2  # a HAMT sub-shard of a directory
_CHECK = 3  # after a file node's children: did they produce the sizes it claims?
_END = 4  # an entry ends


class _Item:
    __slots__ = ("cid", "depth", "expect", "extra", "kind", "op", "path", "tsize")

    def __init__(
        self,
        op: int,
        cid: bytes,
        path: str,
        depth: int,
        tsize: int | None = None,
        expect: Any = None,
        extra: Any = None,
        kind: str = "",
    ) -> None:
        self.op = op
        self.cid = cid
        self.path = path
        self.depth = depth
        self.tsize = tsize
        self.expect = expect  # _PART: bytes the parent says this child holds
        self.extra = extra  # _SHARD: (level, slot path, fanout); _CHECK: (start, total, parent)
        self.kind = kind  # _END: the entry's kind


class Walker:
    """A depth-first walk of the UnixFS DAG at *root*, fed one block at a time (sans-IO).

    ::

        w = Walker(root)
        events = w.start()
        while w.needed is not None:
            events += w.feed(block_for(w.needed))

    *name* is the path of the root in the events (default ``""``). Blocks must already be
    verified against their CIDs (the caller's source does that); identity CIDs are read from
    the CID. Raises DagError (UnsafePathError for names) as soon as a block says something no
    valid UnixFS DAG says.
    """

    def __init__(
        self,
        root: bytes,
        *,
        name: str = "",
        max_entries: int = DAG_EXPORT_MAX_ENTRIES,
        max_depth: int = MAX_DAG_DEPTH,
    ) -> None:
        self._todo: deque[_Item] = deque([_Item(_ENTRY, root, name, 0)])
        self._pos = 0  # bytes of the current file emitted so far
        self._entries = 0
        self._max_entries = max_entries
        self._max_depth = max_depth
        self._out: list[Event] = []
        self.needed: bytes | None = None

    def start(self) -> list[Event]:
        """Events before the first block is needed (an identity root gives them all)."""
        return self._settle()

    def upcoming(self) -> Iterator[tuple[bytes, int | None]]:
        """(CID, size hint) of every block known to be needed, in order, ``needed`` first; the
        hint is the link's Tsize (None if absent; for a leaf it is the block's size)."""
        for item in self._todo:
            if item.op <= _SHARD and not is_identity(item.cid):
                yield item.cid, item.tsize

    def feed(self, data: bytes | memoryview) -> list[Event]:
        """Give the block ``needed``; the events it produces (up to the next block needed)."""
        if self.needed is None:
            raise DagError("the walk is over; no block is needed")
        self._process(self._todo.popleft(), data)
        return self._settle()

    def _settle(self) -> list[Event]:
        todo = self._todo
        while todo:
            item = todo[0]
            if item.op <= _SHARD:
                inline = _identity(item.cid)
                if inline is None:
                    self.needed = item.cid
                    break
                self._process(todo.popleft(), inline)
            else:
                self._marker(todo.popleft())
        else:
            self.needed = None
        out, self._out = self._out, []
        return out

    # -- processing ----------------------------------------------------------------------------

    def _process(self, item: _Item, data: bytes | memoryview) -> None:
        if item.depth > self._max_depth:
            raise DagError(
                f"DAG deeper than {self._max_depth} levels at {to_str(item.cid)}; refusing to "
                "walk it"
            )
        if item.op == _PART:
            self._part(item, data)
        elif item.op == _ENTRY:
            self._entry(item, data)
        else:
            self._shard(item, data)

    def _begin(self, start: Start) -> None:
        self._entries += 1
        if self._entries > self._max_entries:
            raise DagError(
                f"the DAG has more than {self._max_entries} entries; refusing to walk further "
                "(raise max_entries if it is really that big)"
            )
        self._out.append(start)

    def _entry(self, item: _Item, data: bytes | memoryview) -> None:
        cid, path = item.cid, item.path
        if _codec(cid) == RAW:
            self._begin(Start(path, "file", cid, len(data)))
            if len(data):
                self._out.append(data)
            self._out.append(End(path, "file"))
            return
        node, fs = _unixfs(cid, data)
        t = fs.type
        if t in (FILE, UNIXFS_RAW):
            self._begin(Start(path, "file", cid, _file_size(fs)))
            self._pos = 0
            self._todo.appendleft(_Item(_END, cid, path, item.depth, kind="file"))
            self._file_node(item, node, fs)
        elif t == DIRECTORY:
            self._begin(Start(path, "directory", cid))
            where = Where("directory", cid)
            seen: set[str] = set()
            children: list[_Item] = []
            for link in node.links:
                name = check_name(link.name, where)
                if name in seen:
                    raise UnsafePathError(f"{where} names {name!r} twice; refusing to export it")
                seen.add(name)
                children.append(_Item(_ENTRY, link.cid, _join(path, name), item.depth + 1,
                                      link.tsize))
            children.append(_Item(_END, cid, path, item.depth, kind="directory"))
            self._todo.extendleft(reversed(children))
        elif t == HAMT_SHARD:
            self._begin(Start(path, "directory", cid))
            self._todo.appendleft(_Item(_END, cid, path, item.depth, kind="directory"))
            self._shard_links(cid, node, fs, path, item.depth, 0, (), None)
        elif t == SYMLINK:
            self._begin(Start(path, "symlink", cid, target=_symlink_target(cid, fs)))
            self._out.append(End(path, "symlink"))
        else:
            raise DagError(f"{to_str(cid)} is a UnixFS {TYPE_NAMES[t]} node; it cannot be exported")

    def _shard(self, item: _Item, data: bytes | memoryview) -> None:
        node, fs = _unixfs(item.cid, data)
        if fs.type != HAMT_SHARD:
            raise DagError(f"{to_str(item.cid)} is linked as a HAMT sub-shard but is not one")
        level, prefix, fanout = item.extra
        self._shard_links(item.cid, node, fs, item.path, item.depth, level, prefix, fanout)

    def _shard_links(
        self,
        cid: bytes,
        node: PBNode,
        fs: UnixFSData,
        path: str,
        depth: int,
        level: int,
        prefix: tuple[int, ...],
        fanout: int | None,
    ) -> None:
        fanout, links = read_shard(
            cid, node.links, fs.data, fs.hash_type, fs.fanout,
            level=level, expect_fanout=fanout, path=prefix,
        )
        where = Where("HAMT directory", cid)
        children: list[_Item] = []
        for sl in links:
            if sl.name is None:
                children.append(_Item(_SHARD, sl.link.cid, path, depth + 1, sl.link.tsize,
                                      extra=(level + 1, (*prefix, sl.slot), fanout)))
            else:
                name = check_name(sl.name, where)
                children.append(_Item(_ENTRY, sl.link.cid, _join(path, name), depth + 1,
                                      sl.link.tsize))
        self._todo.extendleft(reversed(children))

    def _file_node(self, item: _Item, node: PBNode, fs: UnixFSData) -> None:
        """Emit a file node's own bytes; queue its children and the check of their sizes."""
        cid = item.cid
        start = self._pos
        if fs.data is not None and len(fs.data):
            self._out.append(fs.data)
            self._pos += len(fs.data)
        links = node.links
        sizes = fs.blocksizes
        if sizes and len(sizes) != len(links):
            raise DagError(
                f"{to_str(cid)} has {len(links)} links but {len(sizes)} blocksizes; the DAG is "
                "invalid"
            )
        if not links and item.expect is None and fs.filesize is None:
            return
        later: list[_Item] = [
            _Item(_PART, link.cid, item.path, item.depth + 1, link.tsize,
                  expect=sizes[i] if sizes else None)
            for i, link in enumerate(links)
        ]
        later.append(_Item(_CHECK, cid, item.path, item.depth,
                           extra=(start, fs.filesize, item.expect)))
        self._todo.extendleft(reversed(later))

    def _part(self, item: _Item, data: bytes | memoryview) -> None:
        cid = item.cid
        if _codec(cid) == RAW:
            if item.expect is not None and len(data) != item.expect:
                raise DagError(
                    f"leaf {to_str(cid)} holds {len(data)} bytes but its parent says "
                    f"{item.expect}; the DAG is invalid"
                )
            if len(data):
                self._out.append(data)
                self._pos += len(data)
            return
        node, fs = _unixfs(cid, data)
        if fs.type not in (FILE, UNIXFS_RAW):
            raise DagError(
                f"{to_str(cid)} is a UnixFS {TYPE_NAMES[fs.type]} inside a file's DAG; the DAG "
                "is invalid"
            )
        self._file_node(item, node, fs)

    def _marker(self, item: _Item) -> None:
        if item.op == _END:
            self._out.append(End(item.path, item.kind))
            return
        start, total, parent = item.extra
        n = self._pos - start
        if total is not None and n != total:
            raise DagError(
                f"{to_str(item.cid)} says its file has {total} bytes but its DAG holds {n}"
            )
        if parent is not None and n != parent:
            raise DagError(
                f"{to_str(item.cid)} holds {n} bytes but its parent says {parent}; the DAG is "
                "invalid"
            )


def _file_size(fs: UnixFSData) -> int:
    if fs.filesize is not None:
        return fs.filesize
    return len(fs.data or b"") + sum(fs.blocksizes)


# -- path resolution and listing (request-batch generators) ------------------------------------

#: A step generator yields the CIDs it needs (any order) and is sent their blocks, same order.
Steps = Generator[list[bytes], list[Any], Any]


def _get(cid: bytes) -> Generator[list[bytes], list[Any], bytes | memoryview]:
    inline = _identity(cid)
    if inline is not None:
        return inline
    (data,) = yield [cid]
    return data  # type: ignore[no-any-return]


def _find_in_shard(
    cid: bytes, node: PBNode, fs: UnixFSData, name: str
) -> Generator[list[bytes], list[Any], PBLink | None]:
    """The link of *name* in the HAMT at *cid*, following sub-shards by the name's hash."""
    level, fanout = 0, None
    prefix: tuple[int, ...] = ()
    while True:
        fanout, links = read_shard(
            cid, node.links, fs.data, fs.hash_type, fs.fanout,
            level=level, expect_fanout=fanout, path=prefix,
        )
        slot = slot_path(name.encode("utf-8"), fanout, level + 1)[-1]
        hit = next((sl for sl in links if sl.slot == slot), None)
        if hit is None:
            return None
        if hit.name is not None:
            return hit.link if hit.name == name else None
        cid = hit.link.cid
        node, fs = _unixfs(cid, (yield from _get(cid)))
        if fs.type != HAMT_SHARD:
            raise DagError(f"{to_str(cid)} is linked as a HAMT sub-shard but is not one")
        level, prefix = level + 1, (*prefix, slot)


def resolve_steps(path: str | bytes) -> Steps:
    """Resolve a UnixFS path to (CID, name of its last component or the root's CID text)."""
    root, names = parse_path(path)
    cid, shown = root, to_str(root)
    for name in names:
        node, fs = _unixfs(cid, (yield from _get(cid)))
        link: PBLink | None
        if fs.type == DIRECTORY:
            matches = [ln for ln in node.links if ln.name == name]
            if len(matches) > 1:
                raise UnsafePathError(f"directory {to_str(cid)} names {name!r} twice")
            link = matches[0] if matches else None
        elif fs.type == HAMT_SHARD:
            link = yield from _find_in_shard(cid, node, fs, name)
        else:
            raise PathNotFoundError(
                f"{shown} is a {TYPE_NAMES[fs.type]}, not a directory: no {name!r} inside it"
            )
        if link is None:
            raise PathNotFoundError(f"no entry {name!r} in directory {shown} ({to_str(cid)})")
        cid, shown = link.cid, _join(shown, name)
    return cid, (names[-1] if names else to_str(root))


@dataclass(frozen=True, slots=True)
class LsEntry:
    """A directory entry as ``ipfs ls`` shows it: ``size`` is a file's bytes (None for
    directories), ``tsize`` the link's DAG size."""

    name: str
    cid: CID
    kind: str
    size: int | None
    tsize: int | None


def ls_steps(path: str | bytes, *, resolve_types: bool = True) -> Steps:
    """List the directory at *path*: [LsEntry], in DAG order (by name, or by hash in a HAMT).

    With *resolve_types* each child's root block is read (one batch) for its kind and size, as
    ``ipfs ls`` does; without, kinds are guessed from the codec ("file" for raw, else "unknown").
    """
    cid, _ = yield from resolve_steps(path)
    node, fs = _unixfs(cid, (yield from _get(cid)))
    where = Where("directory", cid)
    found: list[tuple[str, PBLink]] = []
    if fs.type == DIRECTORY:
        found = [(check_name(ln.name, where), ln) for ln in node.links]
    elif fs.type == HAMT_SHARD:
        # breadth-first, one batch of sub-shards per level; sorted back to DAG order at the end
        ordered: list[tuple[tuple[int, ...], str, PBLink]] = []
        level_items: list[tuple[bytes, PBNode, UnixFSData, tuple[int, ...]]] = [
            (cid, node, fs, ())
        ]
        fanout: int | None = None
        for level in range(64):
            deeper: list[tuple[bytes, tuple[int, ...]]] = []
            for scid, snode, sfs, prefix in level_items:
                fanout, links = read_shard(
                    scid, snode.links, sfs.data, sfs.hash_type, sfs.fanout,
                    level=level, expect_fanout=fanout if level else None, path=prefix,
                )
                for sl in links:
                    if sl.name is None:
                        deeper.append((sl.link.cid, (*prefix, sl.slot)))
                    else:
                        ordered.append(((*prefix, sl.slot), check_name(sl.name, where), sl.link))
            if not deeper:
                break
            blocks = yield [c for c, _ in deeper]
            level_items = []
            for (scid, prefix), data in zip(deeper, blocks):
                snode, sfs = _unixfs(scid, data)
                if sfs.type != HAMT_SHARD:
                    raise DagError(f"{to_str(scid)} is linked as a HAMT sub-shard but is not one")
                level_items.append((scid, snode, sfs, prefix))
        ordered.sort(key=lambda t: t[0])
        found = [(n, ln) for _, n, ln in ordered]
    else:
        raise DagError(f"{to_str(cid)} is a {TYPE_NAMES[fs.type]}, not a directory; use cat")
    if len({n for n, _ in found}) != len(found):
        raise UnsafePathError(f"{where} names an entry twice")
    kinds: dict[bytes, tuple[str, int | None]] = {}
    if resolve_types:
        todo = [ln.cid for _, ln in found if _codec(ln.cid) == DAG_PB]
        inline = {c: d for c in todo if (d := _identity(c)) is not None}
        fetch = list(dict.fromkeys(c for c in todo if c not in inline))
        blocks = (yield fetch) if fetch else []
        for c, data in [*zip(fetch, blocks), *inline.items()]:
            _n, cfs = _unixfs(c, data)
            kinds[c] = _kind_and_size(c, cfs)
    out = []
    for name, ln in found:
        if _codec(ln.cid) == RAW:
            kind, size = "file", ln.tsize
        else:
            kind, size = kinds.get(ln.cid, ("unknown", None))
        out.append(LsEntry(name, CID(ln.cid), kind, size, ln.tsize))
    return out


def _kind_and_size(cid: bytes, fs: UnixFSData) -> tuple[str, int | None]:
    if fs.type in (FILE, UNIXFS_RAW):
        return "file", _file_size(fs)
    if fs.type in (DIRECTORY, HAMT_SHARD):
        return "directory", None
    if fs.type == SYMLINK:
        return "symlink", len(_symlink_target(cid, fs).encode("utf-8"))
    return TYPE_NAMES[fs.type], None


# -- synchronous drivers over a blockstore -----------------------------------------------------


def run_steps(store: Any, steps: Steps) -> Any:
    """Drive a step generator with blocks from *store* (each verified); its return value."""
    try:
        want = next(steps)
        while True:
            want = steps.send([load_block(store, c) for c in want])
    except StopIteration as stop:
        return stop.value


def resolve(store: Any, path: str | bytes) -> bytes:
    """The CID that the UnixFS path ``CID/a/b`` names (PathNotFoundError if none)."""
    return run_steps(store, resolve_steps(path))[0]  # type: ignore[no-any-return]


def ls(store: Any, path: str | bytes, *, resolve_types: bool = True) -> list[LsEntry]:
    """The entries of the directory at *path* (see :func:`ls_steps`)."""
    return run_steps(store, ls_steps(path, resolve_types=resolve_types))  # type: ignore[no-any-return]


def walk(store: Any, path: str | bytes, *, name: str = "", **limits: Any) -> Iterator[Event]:
    """Walk what *path* names, yielding :data:`Event` s (blocks verified as they are read)."""
    cid, _ = run_steps(store, resolve_steps(path))
    w = Walker(cid, name=name, **limits)
    yield from w.start()
    while w.needed is not None:
        yield from w.feed(load_block(store, w.needed))


def cat(store: Any, path: str | bytes) -> Iterator[bytes | memoryview]:
    """Stream the bytes of the UnixFS file at *path* (``CID`` or ``CID/a/b``), depth-first.

    Every block is verified against its CID (BadBlockError); a missing block raises
    BlockNotFoundError when the walk reaches it; a directory raises DagError. Yielded
    memoryviews are slices of blocks this generator owns: consume them before the next
    iteration or copy them.
    """
    parse_path(path)  # a bad CID or path fails here, not at the first iteration
    return _file_bytes(walk(store, path), path)


def _file_bytes(events: Iterator[Event], path: str | bytes) -> Iterator[bytes | memoryview]:
    for ev in events:
        if isinstance(ev, Start):
            if ev.kind != "file":
                raise DagError(f"{_shown(path)} is a {ev.kind}, not a file: use ls or get")
        elif not isinstance(ev, End):
            yield ev


def _shown(path: str | bytes) -> str:
    return path if isinstance(path, str) else to_str(path)


# -- writing a walk to the file system ---------------------------------------------------------


class TreeWriter:
    """Writes one walk's events to *dest*: a file, a directory tree or a symlink.

    Everything is written under a fresh hidden ``.NAME.*.part`` directory beside *dest*, made by
    :meth:`open` before anything is fetched (so an unwritable target fails first), and moved to
    *dest* by :meth:`close` once the walk ended; :meth:`abort` (called for any exception,
    interrupts and cancellation included, by the context manager) removes it, so an interrupted
    export leaves nothing behind. Names were checked by the walker and are checked again here;
    files are created with O_EXCL|O_NOFOLLOW inside directories this writer made, so nothing
    can be written outside the temporary directory. A *dest* that exists is refused unless it
    is a regular file and the root is a file (which replaces it, as ``cp`` would).
    """

    def __init__(self, dest: str | os.PathLike[str]) -> None:
        self.dest = os.path.abspath(os.fspath(dest))
        self._tmp: str | None = None
        #: the file being written: a raw descriptor, each chunk one write(2) (a buffered file
        #: object per file cost ~25 us to make, which a tree of small files pays per file)
        self._fd: int | None = None
        self._root_kind: str | None = None
        self.files = 0
        self.directories = 0
        self.bytes = 0

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def open(self) -> None:
        if os.path.lexists(self.dest) and not os.path.isfile(self.dest):
            raise OutputExistsError(
                f"{self.dest} already exists; remove it or choose another output path"
            )
        parent, base = os.path.split(self.dest)
        try:
            self._tmp = tempfile.mkdtemp(prefix=f".{base}.", suffix=".part", dir=parent)
        except FileNotFoundError:
            raise FileNotFoundError(2, "the output's directory does not exist", parent) from None

    def _fs_path(self, path: str) -> str:
        assert self._tmp is not None
        if not path:
            return os.path.join(self._tmp, "root") if self._root_kind != "directory" else self._tmp
        parts = [check_name(p, "the export path") for p in path.split("/")]
        return os.path.join(self._tmp, *parts)

    def handle(self, event: Event) -> None:
        if isinstance(event, Start):
            if not event.path:
                self._root_kind = event.kind
                if event.kind == "directory" and os.path.lexists(self.dest):
                    raise OutputExistsError(f"{self.dest} exists; a directory cannot replace it")
            target = self._fs_path(event.path)
            if event.kind == "file":
                self._fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                                   0o644)
                self.files += 1
            elif event.kind == "directory":
                if event.path:
                    os.mkdir(target, 0o755)
                self.directories += 1
            else:
                os.symlink(event.target or "", target)
        elif isinstance(event, End):
            if event.kind == "file" and self._fd is not None:
                fd, self._fd = self._fd, None
                os.close(fd)
        else:
            assert self._fd is not None
            n = len(event)
            written = os.write(self._fd, event)
            while written < n:  # a short write (a signal, a full disk: the next one raises)
                written += os.write(self._fd, memoryview(event)[written:])
            self.bytes += n

    def close(self) -> None:
        """Move the finished export to *dest*."""
        tmp = self._tmp
        if tmp is None:
            return
        if self._root_kind is None:
            self.abort()
            raise DagError("the walk ended before its root entry; nothing was written")
        if self._root_kind == "directory":
            os.rename(tmp, self.dest)
        else:
            os.replace(os.path.join(tmp, "root"), self.dest)
            os.rmdir(tmp)
        self._tmp = None

    def abort(self) -> None:
        """Remove everything written so far (idempotent)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
