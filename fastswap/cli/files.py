"""``fastswap add|cat|ls|get|import-car|export-car``: UnixFS files and trees in and out of the repo
(ipfs/specs UNIXFS.md; CAR v1/v2), fetching over Bitswap what the repo lacks when asked."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Sequence
from typing import Any

from .._defaults import CLIENT_GIVE_UP_SECONDS
from ..errors import FastswapError
from ._base import (
    EXIT_OK,
    Command,
    Context,
    UserError,
    positive_int,
    print_json,
    run_loop,
    with_timeout,
)
from ._node import node_from_config
from ._progress import CountingStore, Progress
from ._routing import ROUTING_NOTE, routing_flags, setup_routing, start_dhts, stop_all

# -- add ---------------------------------------------------------------------------------------

_ADD_DESCRIPTION = """\
Import files and directories (-r) as UnixFS DAGs into the repo; print what was added.

Defaults are Kubo's `ipfs add` (0.22): CIDv0, dag-pb leaves, 256 KiB chunks, 174 links per node,
balanced layout, directories sharded into a HAMT once their links' names and CIDs pass 256 KiB;
so the CIDs printed are the ones `ipfs add -r PATH` prints. --cid-version 1 switches leaves to
raw (as `ipfs add --cid-version=1` does) unless --no-raw-leaves is given; a --hash other than
sha2-256 implies CIDv1. --preset helia gives @helia/unixfs's addAll defaults (CIDv1, raw leaves,
1 MiB chunks, 1024 links, and Helia's sharding rule). Explicit options override the preset.

Prints `added CID PATH` for every file and directory, the root last; -q prints only the root;
--json prints them as JSON. The roots are pinned (kept by `fastswap repo gc`) and made durable
before the command returns. A progress bar shows on a terminal (none with -q).

Examples:
  fastswap add photo.jpg                     # the CID `ipfs add photo.jpg` prints
  fastswap add -r site/                      # a directory, as `ipfs add -r site/`
  fastswap add --preset helia -q big.iso     # Helia's CID, root only
  tar c dir | fastswap add -                 # standard input"""

_CAT_DESCRIPTION = """\
Write the bytes of UnixFS files (CID, or CID/path inside a directory) to standard output, in
order. Blocks the repo lacks are fetched from --peer peers or the providers content routing
finds, ahead of the writer by a bounded window (memory does not grow with the file).

Examples:
  fastswap cat bafy.../README.md
  fastswap cat QmXyz... --peer /ip4/10.0.0.5/tcp/4001/p2p/12D3KooW... | sha256sum"""

_LS_DESCRIPTION = """\
List a UnixFS directory (plain or HAMT-sharded): each entry's CID, size and name, as `ipfs ls`.

Examples:
  fastswap ls bafy...
  fastswap ls bafy.../docs --json"""

_IMPORT_CAR_DESCRIPTION = """\
Import every block of a CAR v1 or v2 file (each verified against its CID) and print its roots,
pinned and durable when the command returns.

Examples:
  fastswap import-car site.car
  curl -s https://example.com/x.car | fastswap import-car -"""

_EXPORT_CAR_DESCRIPTION = """\
Write the DAGs under the given roots (CID, or CID/path) as one CAR file, blocks in depth-first
order as `ipfs dag export` writes them; --version 2 adds the go-car index.

Examples:
  fastswap export-car bafy... -o site.car
  fastswap export-car --version 2 bafy... > site.car"""


def _setup_add(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", metavar="PATH", nargs="+",
                   help="file or directory to import ('-' reads standard input)")
    p.add_argument("-r", "--recursive", action="store_true", help="import directories")
    p.add_argument("-w", "--wrap-with-directory", dest="wrap", action="store_true",
                   help="wrap the PATHs (by base name) in one directory and print its CID")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="print only the root CID (and no progress)")
    p.add_argument("--json", action="store_true", help="print what was added as JSON")
    p.add_argument("-n", "--only-hash", action="store_true",
                   help="compute the CIDs only; write nothing to the repo")
    p.add_argument("-H", "--hidden", action="store_true",
                   help="include files whose names start with '.'")
    p.add_argument(
        "--preset",
        choices=("kubo", "helia"),
        default="kubo",
        help="importer defaults to start from (default: kubo)",
    )
    p.add_argument("--cid-version", type=int, choices=(0, 1), help="CID version (kubo: 0)")
    leaves = p.add_mutually_exclusive_group()
    leaves.add_argument(
        "--raw-leaves",
        dest="raw_leaves",
        action="store_true",
        default=None,
        help="store leaves as raw blocks (default: on with CIDv1, off with CIDv0)",
    )
    leaves.add_argument(
        "--no-raw-leaves",
        dest="raw_leaves",
        action="store_false",
        help="wrap leaves in UnixFS dag-pb nodes",
    )
    p.add_argument(
        "--chunk-size", type=positive_int, metavar="N", help="bytes per chunk (kubo: 262144)"
    )
    p.add_argument(
        "--max-children", type=positive_int, metavar="N", help="links per node (kubo: 174)"
    )
    p.add_argument("--hash", choices=("sha2-256", "sha2-512", "blake2b-256"),
                   help="multihash function (default: sha2-256)")
    p.add_argument("--trickle", action="store_true", default=None,
                   help="trickle layout instead of balanced")
    p.add_argument("--inline", action="store_true", default=None,
                   help="put small blocks into identity CIDs (`ipfs add --inline`)")
    p.add_argument("--inline-limit", type=positive_int, metavar="N",
                   help="largest block --inline inlines (default: 32)")


def _run_add(args: argparse.Namespace, ctx: Context) -> int:
    from ..cid import to_str
    from ..dag import Added, ImportSettings, import_file, import_paths

    settings = ImportSettings.preset(
        args.preset,
        cid_version=args.cid_version,
        raw_leaves=args.raw_leaves,
        chunk_size=args.chunk_size,
        max_children=args.max_children,
        hash=args.hash,
        trickle=args.trickle,
        inline=args.inline,
        inline_limit=args.inline_limit if args.inline else None,
    )
    if "-" in args.paths and (len(args.paths) > 1 or args.wrap):
        raise UserError("'-' (standard input) must be the only PATH, without -w")
    for path in args.paths:
        if path != "-" and os.path.isdir(path) and not args.recursive:
            raise UserError(f"{path} is a directory; use -r to add directories")
        if path != "-" and not os.path.exists(path):
            raise UserError(f"{path}: No such file or directory")
    progress = Progress("adding", total=_size_of(args.paths, args.hidden),
                        enabled=not (args.quiet or args.json or args.only_hash))
    store = None if args.only_hash else CountingStore(ctx.store, progress)
    added: list[Added] = []
    with progress:
        if args.paths == ["-"]:
            root = import_file(store, sys.stdin.buffer, settings)
            added.append(Added("-", root, 0, "file"))
            tops = [root]
        else:
            result = import_paths(store, args.paths, settings, wrap=args.wrap,
                                  hidden=args.hidden, on_added=added.append)
            root = result.root
            tops = [root] if args.wrap else [r.cid for r in result.roots]
        if not args.only_hash:
            for top in tops:
                ctx.pins.add(top, " ".join(args.paths))
            ctx.sync()  # the CIDs printed below are on disk
    # printed once durable (the blocks they name survive a crash from here on)
    if args.json:
        print_json({"root": to_str(root), "added": [
            {"cid": to_str(a.cid), "path": a.path, "size": a.size, "kind": a.kind}
            for a in added]})
    elif args.quiet:
        print(to_str(root))
    else:
        for a in added:
            print(f"added {to_str(a.cid)} {a.path}")
        if args.wrap:
            print(f"added {to_str(root)}")
    return EXIT_OK


def _size_of(paths: Sequence[str], hidden: bool) -> int | None:
    """Bytes of the files under *paths* (None for standard input): the progress bar's total."""
    if "-" in paths:
        return None
    total = 0
    for path in paths:
        if not os.path.isdir(path):
            total += os.path.getsize(path)
            continue
        for d, dirs, files in os.walk(path):
            if not hidden:
                dirs[:] = [x for x in dirs if not x.startswith(".")]
            for f in files:
                if hidden or not f.startswith("."):
                    with contextlib.suppress(OSError):
                        total += os.lstat(os.path.join(d, f)).st_size
    return total


# -- cat / ls ----------------------------------------------------------------------------------


def _setup_cat(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", metavar="PATH", nargs="+",
                   help="CID of a UnixFS file, or CID/path/inside a directory")
    p.add_argument(
        "--peer", metavar="MULTIADDR", action="append", default=[],
        help="fetch what the repo lacks from this peer (/ip4/../tcp/../p2p/<id>), repeatable",
    )
    p.add_argument("--timeout", type=float, default=600.0, metavar="S",
                   help="give up after S seconds")
    setup_routing(p)


def _run_cat(args: argparse.Namespace, ctx: Context) -> int:
    from ..dag import cat
    from ..dag.exporter import parse_path

    for path in args.paths:
        parse_path(path)  # every PATH is checked before any output
    out = sys.stdout.buffer
    if not _networked(args, ctx):
        for path in args.paths:
            for chunk in cat(ctx.store, path):
                out.write(chunk)
        out.flush()
        return EXIT_OK

    _keep_freed_heap()

    async def stream() -> None:
        async with _fetching_node(args, ctx) as node, asyncio.timeout(args.timeout):
            for path in args.paths:
                async for chunk in node.cat(path):
                    out.write(chunk)
        out.flush()

    try:
        run_loop(stream())
    except TimeoutError:
        raise UserError(f"the fetch did not finish within --timeout {args.timeout} s") from None
    return EXIT_OK


def _setup_ls(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", metavar="PATH", nargs="+", help="CID or CID/path of a directory")
    p.add_argument("--no-resolve", dest="resolve", action="store_false",
                   help="do not read each entry's root block (sizes and kinds unknown)")
    p.add_argument("--json", action="store_true", help="as JSON: {PATH: [entries]}")


def _run_ls(args: argparse.Namespace, ctx: Context) -> int:
    from ..cid import to_str
    from ..dag import ls

    if args.json:
        print_json({path: [{"name": e.name, "cid": to_str(e.cid), "kind": e.kind,
                            "size": e.size, "tsize": e.tsize}
                           for e in ls(ctx.store, path, resolve_types=args.resolve)]
                    for path in args.paths})
        return EXIT_OK
    for i, path in enumerate(args.paths):
        entries = ls(ctx.store, path, resolve_types=args.resolve)
        if len(args.paths) > 1:
            print(("\n" if i else "") + f"{path}:")
        for e in entries:
            size = "-" if e.size is None else str(e.size)
            print(f"{to_str(e.cid)} {size} {e.name}{'/' if e.kind == 'directory' else ''}")
    return EXIT_OK


# -- import-car / export-car -------------------------------------------------------------------


def _setup_import_car(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE", help="CAR v1 or v2 file ('-' reads standard input)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress")
    p.add_argument("--json", action="store_true", help="print the roots as JSON")


def _run_import_car(args: argparse.Namespace, ctx: Context) -> int:
    from ..cid import to_str
    from ..dag import import_car

    src: Any = sys.stdin.buffer if args.file == "-" else args.file
    total = None if args.file == "-" else os.path.getsize(args.file)
    with Progress("importing", total=total, enabled=not (args.quiet or args.json)) as progress:
        roots = import_car(CountingStore(ctx.store, progress), src)
        for root in roots:
            ctx.pins.add(root, args.file)
        ctx.sync()
    if args.json:
        print_json({"roots": [to_str(r) for r in roots], "blocks": progress.blocks,
                    "bytes": progress.bytes})
    else:
        for root in roots:
            print(to_str(root))
    return EXIT_OK


def _setup_export_car(p: argparse.ArgumentParser) -> None:
    p.add_argument("cid", metavar="PATH", nargs="+",
                   help="root CID(s) (or CID/path) of the DAG(s) to export")
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        default="-",
        help="CAR file to write (default: standard output)",
    )
    p.add_argument("--version", dest="car_version", type=int, choices=(1, 2), default=1,
                   help="CAR version (default: 1, as `ipfs dag export`; 2 adds an index)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress")


def _run_export_car(args: argparse.Namespace, ctx: Context) -> int:
    from ..dag import resolve, write_car
    from ..dag.exporter import parse_path

    for path in args.cid:
        parse_path(path)  # bad CIDs fail before anything is read or written
    roots = [resolve(ctx.store, path) for path in args.cid]
    if args.output == "-" and sys.stdout.isatty():
        raise UserError("refusing to write a CAR to a terminal; use -o FILE or redirect")
    with Progress("exporting", enabled=not args.quiet) as progress:
        store = _ReadCounter(ctx.store, progress)
        if args.output == "-":
            write_car(store, roots, sys.stdout.buffer, version=args.car_version)
        else:
            write_car(store, roots, args.output, version=args.car_version)
    return EXIT_OK


class _ReadCounter:
    """A blockstore proxy that reports the blocks read through it (what an export writes)."""

    def __init__(self, store: Any, progress: Progress) -> None:
        self._store = store
        self._progress = progress

    def get(self, cid: bytes) -> bytes:
        data = self._store.get(cid)
        self._progress.update(len(data), 1)
        return data  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


_GET_DESCRIPTION = f"""\
Write the file, directory tree or symlink each PATH names (CID or CID/path/inside).

With no --peer and no content routing (--bootstrap, --delegated-routing) every block must
already be in the repo (no network). Otherwise what the repo lacks is fetched from those peers
and the providers routing finds, every block verified, and written as it arrives. Output: -o OUT
(a file or a new directory; with several PATHs, a directory that receives each under its name),
'-' for standard output (files only). OUT is checked writable before anything is fetched,
written under a temporary .part name beside it and moved into place at the end: an interrupted
get leaves nothing behind. Names inside directories are checked: an entry that is not a plain
file name ('..', '/', NUL...) is refused before anything of it is written.

Every --peer is dialled at once; one that cannot be reached is a warning while another source
remains. A block no peer can provide -- every peer said DONT_HAVE, did not answer, went away, or
sent data that does not hash to what was asked (such a peer is disconnected and the fetch goes on
from the others) -- fails the get after {CLIENT_GIVE_UP_SECONDS:g} s with the peers named by
cause; --timeout bounds the whole fetch. Identity CIDs (inline blocks) are read from the CID,
never fetched. The CIDs a get writes are pinned.

Examples:
  fastswap get bafy... --peer /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW... -o out.bin
  fastswap get bafy.../docs -o docs --bootstrap /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW...
  fastswap get bafy... -o - | tar x          # a file, to standard output"""


def _setup_get(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", metavar="PATH", nargs="+",
                   help="CID or CID/path of a UnixFS file, directory or symlink")
    p.add_argument(
        "--peer",
        metavar="MULTIADDR",
        action="append",
        default=[],
        help="a peer to fetch from (/ip4/../tcp/../p2p/<id>), repeatable; providers are also "
        "found through content routing (--bootstrap, --delegated-routing); with none of these, "
        "every block must be in the repo",
    )
    p.add_argument(
        "-o", "--output", metavar="OUT", help="where to write (default: standard output for "
        "one PATH, the current directory for several)"
    )
    p.add_argument(
        "--timeout", type=float, default=600.0, metavar="S", help="give up after S seconds"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress and no summary")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    setup_routing(p)


def _get_targets(args: argparse.Namespace) -> list[tuple[str, str]]:
    """(PATH, output) pairs; output '-' is standard output. Bad CIDs fail here, first."""
    from ..cid import to_str
    from ..dag.exporter import parse_path

    names = []
    for path in args.paths:
        root, inside = parse_path(path)
        names.append(inside[-1] if inside else to_str(root))
    if len(args.paths) == 1:
        return [(args.paths[0], args.output or "-")]
    out = args.output or "."
    if out == "-":
        return [(path, "-") for path in args.paths]
    if len(set(names)) != len(names):
        raise UserError("two PATHs end in the same name; get them one at a time with -o")
    os.makedirs(out, exist_ok=True)
    return [(path, os.path.join(out, name)) for path, name in zip(args.paths, names)]


def _networked(args: argparse.Namespace, ctx: Context) -> bool:
    """Did the user (flags or settings) say where to look for blocks the repo lacks?"""
    cfg = ctx.config(flags=routing_flags(args))
    return bool(args.peer or cfg["routing.bootstrap"] or cfg["routing.bootstrap_public"]
                or cfg["routing.delegated"])


@contextlib.asynccontextmanager
async def _fetching_node(args: argparse.Namespace, ctx: Context) -> AsyncIterator[Any]:
    """A started Node on the repo, built from its settings, that fetches from --peer peers and
    what content routing (DHT bootstrap peers, delegated routing) finds. It listens nowhere:
    peers answer over the connections it dials. A --peer that cannot be reached is a warning
    while other sources remain."""
    from ..errors import RoutingError
    from ..net.multiaddr import parse_multiaddr
    from ..routing import DelegatedRouting, Router, StaticRouting

    cfg = ctx.config(flags=routing_flags(args))
    ctx.close()  # the node opens the repo itself
    delegated = [DelegatedRouting(url) for url in cfg["routing.delegated"]]
    router = Router([StaticRouting(parse_multiaddr(p) for p in args.peer), *delegated])
    async with node_from_config(ctx.repo, cfg, listen=[], routing=router) as node:
        dhts = await start_dhts(cfg, node, ctx.repo)
        router.routers.extend(dhts)
        try:
            if dhts and not any(len(d.table) for d in dhts) and not (args.peer or delegated):
                raise RoutingError(
                    "no bootstrap peer could be reached that serves the DHT "
                    f"({', '.join(d.protocol for d in dhts)}); check the addresses, or pick the "
                    "DHT they run with --dht")
            await _connect_all(node, args.peer, min(args.timeout, 30.0),
                               others=bool(dhts or delegated))
            yield node
        finally:
            await stop_all([*delegated, *dhts])


def _keep_freed_heap() -> None:
    """A get or cat is one short fetch: keep freed block buffers for reuse (see
    ``_defaults.GET_MALLOC_TRIM_THRESHOLD``)."""
    from .._defaults import GET_MALLOC_MMAP_THRESHOLD, GET_MALLOC_TRIM_THRESHOLD
    from ..net.resources import keep_freed_heap

    keep_freed_heap(GET_MALLOC_TRIM_THRESHOLD, GET_MALLOC_MMAP_THRESHOLD)


def _run_get(args: argparse.Namespace, ctx: Context) -> int:
    import time

    from ..dag import TreeWriter
    from ..dag import stream as dag_stream
    from ..errors import BlockNotFoundError

    targets = _get_targets(args)
    if any(out == "-" for _, out in targets):
        if sys.stdout.isatty():
            raise UserError("refusing to write binary data to a terminal; use -o FILE or "
                            "redirect")
        if args.json:
            raise UserError("--json prints to standard output, which -o - also writes to; give "
                            "-o FILE or DIR")
    t0 = time.monotonic()
    _keep_freed_heap()
    progress = Progress("getting", enabled=not (args.quiet or args.json))
    with contextlib.ExitStack() as stack:
        # every output is made (so known writable) before any block is fetched
        writers: list[Any] = [
            sys.stdout.buffer if out == "-" else stack.enter_context(TreeWriter(out))
            for _, out in targets
        ]
        stack.enter_context(progress)

        def on_block(nbytes: int, _from_network: bool) -> None:
            progress.update(nbytes, 1)

        async def fetch_and_write() -> list[Any]:
            async with _fetching_node(args, ctx) as node, asyncio.timeout(args.timeout):
                return [await node.get(path, w, on_block=on_block)
                        for (path, _), w in zip(targets, writers)]

        async def local() -> list[Any]:
            source = _CountingSource(dag_stream.StoreSource(ctx.store), on_block)
            return [await dag_stream.get(source, path, w) for (path, _), w in zip(targets, writers)]

        try:
            results = run_loop(fetch_and_write() if _networked(args, ctx) else local())
        except BlockNotFoundError as exc:
            raise UserError(
                f"{exc} in the repo, and nowhere to look for it was given: add --peer "
                "MULTIADDR, or --bootstrap MULTIADDR (or --bootstrap-public) to search the DHT, "
                "or --delegated-routing URL") from None
        except TimeoutError:
            raise UserError(f"the fetch did not finish within --timeout {args.timeout} s") from None
    elapsed = time.monotonic() - t0
    sources = [r.source for r in results if r.source is not None]
    summary = {
        "files": sum(r.files for r in results),
        "directories": sum(r.directories for r in results),
        "bytes": sum(r.bytes for r in results),
        "seconds": round(elapsed, 3),
        "local_blocks": sum(s.local_blocks for s in sources),
        "network_blocks": sum(s.network_blocks for s in sources),
        "network_bytes": sum(s.network_bytes for s in sources),
    }
    if args.json:
        print_json(summary)
    elif not args.quiet:
        print(f"wrote {summary['files']} files, {summary['directories']} directories, "
              f"{summary['bytes']} bytes in {elapsed:.2f} s", file=sys.stderr)
        if sources:
            net = summary["network_bytes"]
            print(f"fetched {summary['network_blocks']} blocks, {net} bytes from the network "
                  f"({net / max(elapsed, 1e-9) / 1e6:.1f} MB/s); {summary['local_blocks']} "
                  "blocks were already in the repo", file=sys.stderr)
        else:
            print("every block was in the repo", file=sys.stderr)
    return EXIT_OK


class _CountingSource:
    """A block source that reports every block it serves (progress)."""

    def __init__(self, source: Any, on_block: Any) -> None:
        self._source = source
        self._on_block = on_block

    async def get(self, cid: bytes) -> Any:
        data = await self._source.get(cid)
        self._on_block(len(data), False)
        return data


async def _connect_all(node: Any, peers: Sequence[str], timeout: float, *,
                       others: bool = False) -> None:
    """Dial every --peer at once. One that cannot be reached is a warning while another
    answers, or *others* (content routing) may find providers; if none answers and there is
    nothing else, an error naming each failure. A --peer that is this repo's own node (a get
    on the machine and repo of the seeder it names) is not dialled: what it serves is in the
    repo already."""
    from ..errors import DialError
    from ..net.multiaddr import parse_multiaddr

    own = [p for p in peers if parse_multiaddr(p).peer_id == node.peer_id]
    if own:
        print(f"fastswap: note: not dialling {', '.join(own)}: it is this repo's own node "
              f"({node.peer_id}); its blocks are read from the repo", file=sys.stderr)
        peers = [p for p in peers if p not in own]
        if not peers:
            return
    results = await asyncio.gather(
        *(with_timeout(node.connect(p), timeout, "connect") for p in peers),
        return_exceptions=True,
    )
    failed = [(p, r) for p, r in zip(peers, results) if isinstance(r, BaseException)]
    for p, r in failed:
        if not isinstance(r, FastswapError):
            raise r  # a bug or a cancellation, not an unreachable peer
    if failed and len(failed) == len(peers) and not others:
        raise DialError("cannot reach any --peer: " + "; ".join(f"{p}: {r}" for p, r in failed))
    for p, r in failed:
        print(f"fastswap: warning: skipping --peer {p}: {r}", file=sys.stderr)


COMMANDS: dict[str, Command] = {
    "add": Command("import files and directories, print their CIDs", _setup_add, _run_add,
                   _ADD_DESCRIPTION),
    "cat": Command("write a UnixFS file's bytes to standard output", _setup_cat, _run_cat,
                   _CAT_DESCRIPTION),
    "ls": Command("list a UnixFS directory: CID, size, name", _setup_ls, _run_ls,
                  _LS_DESCRIPTION),
    "get": Command("write UnixFS files and directories, fetching from peers if asked",
                   _setup_get, _run_get, _GET_DESCRIPTION + "\n\n" + ROUTING_NOTE),
    "import-car": Command("import the blocks of a CAR v1 or v2 file, print its roots",
                          _setup_import_car, _run_import_car, _IMPORT_CAR_DESCRIPTION),
    "export-car": Command("write the DAG under CID as a CAR file (v1, or v2)",
                          _setup_export_car, _run_export_car, _EXPORT_CAR_DESCRIPTION),
}
