"""Files and directories into UnixFS DAGs: ``ipfs add -r`` (Kubo 0.22) and Helia's ``addAll``.

Spec: ipfs/specs ``UNIXFS.md`` (Directory, HAMTShard and Symlink nodes) over IPLD dag-pb.

What decides the bytes of a directory, as both implementations do it:

* A plain directory is a dag-pb node with ``Data = {Type: Directory}`` and one link per entry,
  ``Name`` = the entry's name, ``Tsize`` = the entry's DAG size, links sorted by name bytes
  (dag-pb's canonical order: go-merkledag sorts on encoding, ``@ipld/dag-pb``'s ``prepare()``
  too). An empty directory is ``0a 02 08 01``.
* Entries come from the file system sorted by name (Go's ``os.ReadDir``); names must be UTF-8.
  Hidden entries (names starting with ".") are left out unless asked for, as ``ipfs add -r``
  and Helia's ``globSource`` do. Symlinks become UnixFS Symlink nodes (Kubo's ``addSymlink``),
  never followed; sockets, pipes and devices are refused.
* When a directory becomes a HAMT (:mod:`fastswap.dag.hamt`): both decide by an estimate of the
  directory node's size, the sum over its links of the name's UTF-8 length plus the CID's
  length (subdirectories included), against ``shard_threshold`` (256 KiB by default) -- and
  differ only at the boundary:

  - Kubo (boxo ``io/directory.go`` ``DynamicDirectory``) shards when the estimate reaches the
    threshold (``>=``). It re-evaluates on each ``AddChild`` while building in MFS; with inserts
    only the estimate never shrinks (a subdirectory's CID keeps its length, or grows from an
    identity CID to a hashed one), so the final estimate decides.
  - Helia (ipfs-unixfs-importer ``dir-flat``/``flat-to-shard``, strategy ``links-bytes``)
    shards when the estimate exceeds it (``>``). Its estimate counts only children that already
    have a CID when a child is added. Helia's ``globSource`` (fast-glob) yields all of a
    directory's entries, its subdirectories as empty-directory entries, before anything inside
    them; so when the last of them is added every child counts, a subdirectory by the
    empty-directory CID, whose length is the length of its final CID. (``addAll`` given files
    only, without their directories, counts subdirectories as zero: a different tree shape near
    the threshold; tests/interop checks the globSource way.)

* ``wrap`` (``ipfs add -w``, Helia's ``wrapWithDirectory``) puts the given paths, by base name,
  into one more directory, built with the same rules.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._defaults import MAX_DAG_DEPTH
from ..cid import DAG_PB
from ..errors import DagError
from .dagpb import SYMLINK, encode_link, encode_node, encode_unixfs
from .hamt import build_shard
from .settings import ImportSettings
from .unixfs import BlockSink, CidMaker, Entry, build_file

__all__ = ["Added", "ImportResult", "import_path", "import_paths"]

_DIRECTORY_DATA = b"\x08\x01"  # UnixFS Data{Type: Directory}

#: Called for each entry as it is imported: (path relative to the import, Added).
OnAdded = Callable[["Added"], None]


@dataclass(frozen=True, slots=True)
class Added:
    """One imported entry: its path (``/``-separated, from the given path's base name), CID,
    DAG size (Tsize) and kind ("file", "directory" or "symlink")."""

    path: str
    cid: bytes
    size: int
    kind: str


@dataclass(slots=True)
class ImportResult:
    """What an import made: ``root`` is the wrapping directory with ``wrap``, else the last
    path's CID; ``roots`` has one :class:`Added` per path given; ``blocks`` counts the blocks
    written (identity blocks and repeats included once per occurrence)."""

    root: bytes
    roots: list[Added] = field(default_factory=list)
    blocks: int = 0


class _Importer:
    def __init__(
        self, sink: BlockSink, settings: ImportSettings, hidden: bool, on_added: OnAdded | None
    ) -> None:
        self.sink = sink
        self.settings = settings
        self.cids = CidMaker(settings)
        self.hidden = hidden
        self.on_added = on_added

    def report(self, path: str, entry: Entry, kind: str) -> Added:
        added = Added(path, entry.cid, entry.tsize, kind)
        if self.on_added is not None:
            self.on_added(added)
        return added

    def path(self, fs_path: str, rel: str, st: os.stat_result, depth: int) -> tuple[Entry, str]:
        """Import what is at *fs_path* (already stat-ed); (entry, kind)."""
        if stat.S_ISDIR(st.st_mode):
            return self.directory(fs_path, rel, depth), "directory"
        if stat.S_ISREG(st.st_mode):
            return build_file(self.sink, fs_path, self.settings, self.cids), "file"
        if stat.S_ISLNK(st.st_mode):
            return self.symlink(os.readlink(fs_path)), "symlink"
        raise DagError(
            f"{fs_path}: not a file, directory or symlink (sockets, pipes and devices cannot be "
            "imported); leave it out"
        )

    def symlink(self, target: str) -> Entry:
        try:
            data = target.encode("utf-8")
        except UnicodeEncodeError:
            raise DagError(f"symlink target {target!r} is not valid UTF-8") from None
        block = encode_node([], encode_unixfs(SYMLINK, data=data))
        cid = self.cids.cid(DAG_PB, block)
        self.sink.put(cid, block)
        return Entry(cid, len(block), 0)

    def directory(self, fs_path: str, rel: str, depth: int) -> Entry:
        if depth >= MAX_DAG_DEPTH:
            raise DagError(
                f"{fs_path} is more than {MAX_DAG_DEPTH} directories deep; fastswap and its "
                "peers refuse DAGs that deep"
            )
        with os.scandir(fs_path) as it:
            found = [e for e in it if self.hidden or not e.name.startswith(".")]
        found.sort(key=lambda e: os.fsencode(e.name))  # Go's os.ReadDir order: name bytes
        children: list[tuple[str, Entry]] = []
        for e in found:
            name = _utf8_name(e.name, e.path)
            child_rel = f"{rel}/{name}"
            entry, kind = self.path(e.path, child_rel, e.stat(follow_symlinks=False), depth + 1)
            children.append((name, entry))
            self.report(child_rel, entry, kind)
        return self.make_directory(children)

    def make_directory(self, children: Sequence[tuple[str, Entry]]) -> Entry:
        s = self.settings
        estimate = sum(len(n.encode("utf-8")) + len(e.cid) for n, e in children)
        if s.flavor == "helia":
            shard = estimate > s.shard_threshold
        else:
            shard = estimate >= s.shard_threshold
        if shard:
            return build_shard(children, s.shard_fanout, self.cids, self.sink)
        ordered = sorted(children, key=lambda c: c[0].encode("utf-8"))
        links = [encode_link(e.cid, e.tsize, n) for n, e in ordered]
        block = encode_node(links, _DIRECTORY_DATA)
        cid = self.cids.cid(DAG_PB, block)
        self.sink.put(cid, block)
        return Entry(cid, len(block) + sum(e.tsize for _, e in children), 0)


def _utf8_name(name: str, where: str) -> str:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise DagError(
            f"{where}: the name is not valid UTF-8, which UnixFS names must be; rename it"
        ) from None
    return name


def import_paths(
    store: Any,
    paths: Sequence[str | os.PathLike[str]],
    settings: ImportSettings | None = None,
    *,
    wrap: bool = False,
    hidden: bool = False,
    on_added: OnAdded | None = None,
) -> ImportResult:
    """Import files and directories (recursively) into *store*, as ``ipfs add -r [-w] PATH...``.

    *settings* defaults to ``ipfs add``'s (``ImportSettings.preset("kubo")``). *store* None
    computes CIDs and keeps nothing (``--only-hash``). *on_added* sees every entry as it is
    done (files, then their directory: the order ``ipfs add`` prints), the given paths included.
    Symlinks given as *paths* are followed; inside directories they are imported as symlinks.
    """
    if not paths:
        raise DagError("nothing to import: give at least one path")
    s = settings or ImportSettings()
    sink = BlockSink(store)
    try:
        imp = _Importer(sink, s, hidden, on_added)
        result = ImportResult(root=b"")
        top: list[tuple[str, Entry]] = []
        for p in paths:
            fs_path = os.fspath(p)
            name = _utf8_name(os.path.basename(os.path.normpath(fs_path)), fs_path)
            entry, kind = imp.path(fs_path, name, os.stat(fs_path), 0)
            result.roots.append(imp.report(name, entry, kind))
            top.append((name, entry))
        if wrap:
            names = [n for n, _ in top]
            if len(set(names)) != len(names):
                raise DagError(
                    "two paths have the same base name; they cannot share one wrapping directory"
                )
            result.root = imp.make_directory(top).cid
        else:
            result.root = result.roots[-1].cid
        sink.close()
        result.blocks = sink.blocks
        return result
    finally:
        sink.abort()


def import_path(
    store: Any,
    path: str | os.PathLike[str],
    settings: ImportSettings | None = None,
    *,
    wrap: bool = False,
    hidden: bool = False,
    on_added: OnAdded | None = None,
    **overrides: Any,
) -> bytes:
    """Import one file or directory; return its root CID (the wrapper's with *wrap*).

    Options are *settings* or preset-and-overrides, e.g. ``import_path(store, "dir",
    preset="helia", cid_version=0)`` (see :meth:`ImportSettings.preset`). What ``fastswap seed``
    and ``Node.add_path`` call.
    """
    if settings is None:
        settings = ImportSettings.preset(overrides.pop("preset", "kubo"), **overrides)
    elif overrides:
        raise DagError("give either settings or keyword options, not both")
    return import_paths(
        store, [path], settings, wrap=wrap, hidden=hidden, on_added=on_added
    ).root
