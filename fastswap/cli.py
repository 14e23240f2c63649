"""The ``fastswap`` command line: add, cat, ls, get, seed, import-car, export-car, id, ping.

Each subcommand is one entry in :data:`COMMANDS` (name -> help, argument setup, runner), so later
commands (seed, get, id, ping, stat) are added as entries, not as branches of one big function.
Runners take the parsed arguments and a :class:`Context` that opens the blockstore on demand and
return an exit status. User errors (missing file, bad CID, block not found, bad CAR) print one
line, ``fastswap: error: ...``, on stderr and exit non-zero; no traceback.

The repo (the LMDB blockstore) is ``--repo DIR`` if given, else ``$FASTSWAP_HOME``, else the
per-user data directory (``fastswap.blockstore.default_repo_path``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from ._defaults import CLIENT_GIVE_UP_SECONDS
from ._version import __version__
from .errors import FastswapError

__all__ = ["COMMANDS", "Command", "Context", "build_parser", "main"]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class Context:
    """What a runner may need: the repo's blockstore (opened on first use, closed by main; with
    identity CIDs answered from the CID, as a Node's is)."""

    def __init__(self, repo: str | None) -> None:
        self.repo = repo
        self._store: Any = None

    @property
    def store(self) -> Any:
        if self._store is None:
            from .blockstore import open_blockstore, with_identity

            self._store = with_identity(open_blockstore(self.repo))
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


@dataclass(frozen=True)
class Command:
    help: str
    setup: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, Context], int]
    description: str | None = None


# -- add ---------------------------------------------------------------------------------------

_ADD_DESCRIPTION = """\
Import files and directories (-r) as UnixFS DAGs into the repo; print what was added.

Defaults are Kubo's `ipfs add` (0.22): CIDv0, dag-pb leaves, 256 KiB chunks, 174 links per node,
balanced layout, directories sharded into a HAMT once their links' names and CIDs pass 256 KiB;
so the CIDs printed are the ones `ipfs add -r PATH` prints. --cid-version 1 switches leaves to
raw (as `ipfs add --cid-version=1` does) unless --no-raw-leaves is given; a --hash other than
sha2-256 implies CIDv1. --preset helia gives @helia/unixfs's addAll defaults (CIDv1, raw leaves,
1 MiB chunks, 1024 links, and Helia's sharding rule). Explicit options override the preset.

Prints `added CID PATH` for every file and directory, the root last; -q prints only the root."""


def _setup_add(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", metavar="PATH", nargs="+",
                   help="file or directory to import ('-' reads standard input)")
    p.add_argument("-r", "--recursive", action="store_true", help="import directories")
    p.add_argument("-w", "--wrap-with-directory", dest="wrap", action="store_true",
                   help="wrap the PATHs (by base name) in one directory and print its CID")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the root CID")
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
        "--chunk-size", type=_positive_int, metavar="N", help="bytes per chunk (kubo: 262144)"
    )
    p.add_argument(
        "--max-children", type=_positive_int, metavar="N", help="links per node (kubo: 174)"
    )
    p.add_argument("--hash", choices=("sha2-256", "sha2-512", "blake2b-256"),
                   help="multihash function (default: sha2-256)")
    p.add_argument("--trickle", action="store_true", default=None,
                   help="trickle layout instead of balanced")
    p.add_argument("--inline", action="store_true", default=None,
                   help="put small blocks into identity CIDs (`ipfs add --inline`)")
    p.add_argument("--inline-limit", type=_positive_int, metavar="N",
                   help="largest block --inline inlines (default: 32)")


def _run_add(args: argparse.Namespace, ctx: Context) -> int:
    from .cid import to_str
    from .dag import Added, ImportSettings, import_file, import_paths

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
        raise _UserError("'-' (standard input) must be the only PATH, without -w")
    for path in args.paths:
        if path != "-" and os.path.isdir(path) and not args.recursive:
            raise _UserError(f"{path} is a directory; use -r to add directories")
        if path != "-" and not os.path.exists(path):
            raise _UserError(f"{path}: No such file or directory")
    store = None if args.only_hash else ctx.store

    def show(added: Added) -> None:
        if not args.quiet:
            print(f"added {to_str(added.cid)} {added.path}")

    if args.paths == ["-"]:
        root = import_file(store, sys.stdin.buffer, settings)
        print(to_str(root) if args.quiet else f"added {to_str(root)} -")
        return EXIT_OK
    result = import_paths(store, args.paths, settings, wrap=args.wrap, hidden=args.hidden,
                          on_added=show)
    if args.quiet:
        print(to_str(result.root))
    elif args.wrap:
        print(f"added {to_str(result.root)}")
    return EXIT_OK


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
    _setup_routing(p)


def _run_cat(args: argparse.Namespace, ctx: Context) -> int:
    from .dag import cat
    from .dag.exporter import parse_path

    for path in args.paths:
        parse_path(path)  # every PATH is checked before any output
    out = sys.stdout.buffer
    if not _networked(args):
        for path in args.paths:
            for chunk in cat(ctx.store, path):
                out.write(chunk)
        out.flush()
        return EXIT_OK

    async def stream() -> None:
        async with _fetching_node(args, ctx) as node, asyncio.timeout(args.timeout):
            for path in args.paths:
                async for chunk in node.cat(path):
                    out.write(chunk)
        out.flush()

    try:
        _run_loop(stream())
    except TimeoutError:
        raise _UserError(f"the fetch did not finish within --timeout {args.timeout} s") from None
    return EXIT_OK


def _setup_ls(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", metavar="PATH", nargs="+", help="CID or CID/path of a directory")
    p.add_argument("--no-resolve", dest="resolve", action="store_false",
                   help="do not read each entry's root block (sizes and kinds unknown)")


def _run_ls(args: argparse.Namespace, ctx: Context) -> int:
    from .cid import to_str
    from .dag import ls

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


def _run_import_car(args: argparse.Namespace, ctx: Context) -> int:
    from .cid import to_str
    from .dag import import_car

    src: Any = sys.stdin.buffer if args.file == "-" else args.file
    for root in import_car(ctx.store, src):
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


def _run_export_car(args: argparse.Namespace, ctx: Context) -> int:
    from .dag import resolve, write_car
    from .dag.exporter import parse_path

    for path in args.cid:
        parse_path(path)  # bad CIDs fail before anything is read or written
    roots = [resolve(ctx.store, path) for path in args.cid]
    if args.output == "-":
        if sys.stdout.isatty():
            raise _UserError("refusing to write a CAR to a terminal; use -o FILE or redirect")
        write_car(ctx.store, roots, sys.stdout.buffer, version=args.car_version)
    else:
        write_car(ctx.store, roots, args.output, version=args.car_version)
    return EXIT_OK


# -- id / ping (libp2p) ------------------------------------------------------------------------

_NET_NOTE = """\
The command uses a fresh, ephemeral Ed25519 identity for this one connection (nothing is stored
in the repo), dials MULTIADDR over TCP with Noise and yamux (or mplex), and checks the peer's
id against the address's /p2p/ part when it has one."""


def _run_loop(coro: Any) -> Any:
    """Run *coro* on uvloop when it is installed, else on the stock asyncio loop."""
    import asyncio

    try:
        import uvloop
    except ImportError:  # uvloop is a dependency, but asyncio works too (only slower)
        return asyncio.run(coro)
    return uvloop.run(coro)


def _setup_id(p: argparse.ArgumentParser) -> None:
    p.add_argument("multiaddr", metavar="MULTIADDR", help="e.g. /ip4/127.0.0.1/tcp/4001/p2p/Qm...")
    p.add_argument("--json", action="store_true", help="print the answer as one JSON object")
    p.add_argument(
        "--timeout", type=float, default=15.0, metavar="S", help="seconds for connect + identify"
    )


def _run_id(args: argparse.Namespace, ctx: Context) -> int:
    from .net.host import Host

    async def identify(host: Host) -> Any:
        conn = await host.dial(args.multiaddr)
        return await host.identify(conn.remote_peer)

    async def go() -> Any:
        async with Host() as host:
            return await _with_timeout(identify(host), args.timeout, "connect + identify")

    info = _run_loop(go())
    if args.json:
        import json

        print(json.dumps(info.to_json(), indent=2))
        return EXIT_OK
    print(f"peer id:          {info.peer_id}")
    print(f"agent version:    {info.agent_version or '-'}")
    print(f"protocol version: {info.protocol_version or '-'}")
    print("protocols:")
    for proto in info.protocols:
        print(f"  {proto}")
    print("addrs:")
    for addr in info.addrs:
        print(f"  {addr}")
    if info.observed_addr is not None:
        print(f"observed us at:   {info.observed_addr}")
    return EXIT_OK


def _setup_ping(p: argparse.ArgumentParser) -> None:
    p.add_argument("multiaddr", metavar="MULTIADDR", help="e.g. /ip4/127.0.0.1/tcp/4001/p2p/Qm...")
    p.add_argument("-n", "--count", type=_positive_int, default=4, metavar="N",
                   help="pings to send (default: 4)")
    p.add_argument(
        "--timeout", type=float, default=15.0, metavar="S", help="seconds for connect + pings"
    )


def _run_ping(args: argparse.Namespace, ctx: Context) -> int:
    from .net.host import Host

    async def pings(host: Host) -> tuple[Any, list[float]]:
        conn = await host.dial(args.multiaddr)
        return conn.remote_peer, await host.ping(conn.remote_peer, args.count)

    async def go() -> tuple[Any, list[float]]:
        async with Host() as host:
            return await _with_timeout(pings(host), args.timeout, "connect + ping")

    peer, rtts = _run_loop(go())
    print(f"PING {peer}")
    for i, rtt in enumerate(rtts, 1):
        print(f"pong {i} from {peer}: time={rtt * 1000:.3f} ms")
    avg = sum(rtts) / len(rtts)
    print(f"{len(rtts)} pings: min/avg/max = {min(rtts) * 1000:.3f}/{avg * 1000:.3f}/"
          f"{max(rtts) * 1000:.3f} ms")
    return EXIT_OK


async def _with_timeout(coro: Any, seconds: float, what: str) -> Any:
    import asyncio

    from .errors import DialTimeoutError

    try:
        async with asyncio.timeout(seconds):
            return await coro
    except TimeoutError:
        raise DialTimeoutError(f"{what} took longer than {seconds} s; try --timeout") from None


# -- content routing options (seed and get) --------------------------------------------------

_ROUTING_NOTE = """\
Content routing: with --bootstrap MULTIADDR (repeatable) the node joins the Kademlia DHT through
those peers: the LAN DHT (/ipfs/lan/kad/1.0.0, which Kubo runs beside the public one and which
accepts loopback and private addresses) unless --dht says otherwise. --bootstrap-public adds the
public Amino DHT's bootstrap peers and the public DHT (/ipfs/kad/1.0.0); nothing public is dialled
without it. --delegated-routing URL asks an IPFS HTTP routing v1 endpoint too."""


def _setup_routing(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("content routing")
    g.add_argument(
        "--bootstrap", metavar="MULTIADDR", action="append", default=[],
        help="a DHT peer to join through (/ip4/../tcp/../p2p/<id>), repeatable",
    )
    g.add_argument(
        "--bootstrap-public", action="store_true",
        help="also join the public IPFS DHT through its well-known bootstrap peers (opt-in: "
        "dials the internet)",
    )
    g.add_argument(
        "--dht", choices=("auto", "off", "lan", "wan", "dual"), default="auto",
        help="which DHT to run: lan (/ipfs/lan/kad/1.0.0), wan (/ipfs/kad/1.0.0) or both; auto: "
        "dual with --bootstrap-public, lan with --bootstrap, else off",
    )
    g.add_argument(
        "--delegated-routing", metavar="URL", action="append", default=[],
        help="an IPFS HTTP routing v1 endpoint to ask for providers, repeatable",
    )


def _dht_protocols(args: argparse.Namespace) -> list[str]:
    from .routing import PROTOCOL_KAD, PROTOCOL_LAN_KAD

    mode = args.dht
    if mode == "auto":
        mode = "dual" if args.bootstrap_public else ("lan" if args.bootstrap else "off")
    return {"off": [], "lan": [PROTOCOL_LAN_KAD], "wan": [PROTOCOL_KAD],
            "dual": [PROTOCOL_LAN_KAD, PROTOCOL_KAD]}[mode]


async def _start_dhts(args: argparse.Namespace, node: Any, repo: str) -> list[Any]:
    """The DHTs the flags ask for, on the started node's host (server mode when it listens),
    joined through the bootstrap peers. The caller stops them before the node."""
    from .routing import PROTOCOL_KAD, PUBLIC_BOOTSTRAP, KadDHT

    bootstrap = list(args.bootstrap) + (list(PUBLIC_BOOTSTRAP) if args.bootstrap_public else [])
    dhts = []
    try:
        for proto in _dht_protocols(args):
            name = "wan" if proto == PROTOCOL_KAD else "lan"
            dht = KadDHT(node.host, datastore=os.path.join(repo, "providers", name),
                         protocol=proto, server=bool(node.addrs), bootstrap=bootstrap)
            dhts.append(dht)
            await dht.start()
    except BaseException:
        await _stop_all(dhts)
        raise
    return dhts


async def _stop_all(things: Sequence[Any]) -> None:
    for t in reversed(things):
        await t.stop() if hasattr(t, "stop") else await t.aclose()


# -- seed / get (Bitswap) ----------------------------------------------------------------------

_SEED_DESCRIPTION = """\
Import each PATH into the repo and serve it over Bitswap (1.2.0, 1.1.0, 1.0.0) until
interrupted (Ctrl-C or SIGTERM). A PATH ending in .car is imported as a CAR v1 or v2 file
(every block verified, its roots served); any other file or directory is imported as UnixFS
(--preset picks Kubo's `ipfs add -r` or Helia's defaults, so the root CID matches theirs).

Prints the peer id, the full multiaddrs to give a fetcher (each ends in /p2p/<peer id>) and
one root CID per PATH, then serves; on the way out, the blocks and bytes it served. The default
listen address is loopback only; serve other machines with --listen /ip4/0.0.0.0/tcp/4001. The
peer id is kept in the repo (identity.key).

With a DHT (see below) the roots are announced (--provide-strategy all: every block) before the
addresses are printed, and announced again every --reprovide-interval seconds (default 22 h;
records live 48 h). Provider records other peers announce to us live in <repo>/providers.

""" + _ROUTING_NOTE


def _setup_seed(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", metavar="PATH", nargs="+",
                   help="file, directory, or CAR file to serve")
    p.add_argument(
        "--listen",
        metavar="MULTIADDR",
        action="append",
        help="TCP multiaddr to listen on, repeatable (default: /ip4/127.0.0.1/tcp/0)",
    )
    p.add_argument("--json", action="store_true", help="print peer, addrs and roots as JSON")
    p.add_argument(
        "--preset",
        choices=("kubo", "helia"),
        default="kubo",
        help="UnixFS importer defaults (default: kubo)",
    )
    _setup_routing(p)
    p.add_argument(
        "--provide-strategy", choices=("roots", "all"), default="roots",
        help="what to announce on the DHT: each PATH's root (default) or every block",
    )
    p.add_argument(
        "--reprovide-interval", type=_positive_float, metavar="S", default=None,
        help="seconds between re-announcements (default: 79200, 22 h)",
    )


def _run_seed(args: argparse.Namespace, ctx: Context) -> int:
    import json
    import signal

    from .blockstore import default_repo_path
    from .cid import to_str
    from .node import Node

    for path in args.paths:
        if not os.path.exists(path):
            raise _UserError(f"{path}: no such file or directory")
    listen = args.listen or ["/ip4/127.0.0.1/tcp/0"]
    repo = ctx.repo or default_repo_path()

    async def go() -> None:
        from .routing import Provider, Router, StaticRouting

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        router = Router([StaticRouting()])
        async with Node(repo, listen=listen, routing=router) as node:
            dhts = await _start_dhts(args, node, repo)
            router.routers.extend(dhts)
            provider = None
            if dhts:
                opts = {} if args.reprovide_interval is None else {
                    "interval": args.reprovide_interval}
                provider = Provider(dhts, blockstore=node.store,
                                    strategy=args.provide_strategy, **opts)
            try:
                await _seed(node, provider, stop)
            finally:
                if provider is not None:
                    await provider.stop()
                await _stop_all(dhts)

    async def _seed(node: Node, provider: Any, stop: asyncio.Event) -> None:
        roots: list[tuple[str, str]] = []
        raw_roots: list[bytes] = []
        for path in args.paths:
            if path.lower().endswith(".car"):
                for r in await node.add_car(path):
                    roots.append((to_str(r), path))
                    raw_roots.append(r)
            else:
                r = await node.add_path(path, preset=args.preset)
                roots.append((to_str(r), path))
                raw_roots.append(r)
        provided_to: set[str] = set()
        if provider is not None:
            for report in await provider.add(raw_roots):
                provided_to.update(str(p) for p in report.peers)
            provider.start()
        addrs = [str(a) for a in node.addrs]
        if args.json:
            print(json.dumps({"peer_id": str(node.peer_id), "addrs": addrs,
                              "roots": [{"cid": c, "path": p} for c, p in roots],
                              "provided_to": sorted(provided_to)}))
        else:
            print(f"peer id: {node.peer_id}")
            for a in addrs:
                print(f"listening on: {a}")
            for c, p in roots:
                print(f"root: {c} {p}")
            if provider is not None:
                print(f"announced on the DHT to {len(provided_to)} peers")
            print("serving; Ctrl-C to stop")
        sys.stdout.flush()
        await stop.wait()
        # what was served, for the operator (and for tests: proof the blocks came from us)
        st = node.server.stats()
        served = {"blocks_sent": st["blocks_sent"], "bytes_sent": st["bytes_sent"]}
        if args.json:
            print(json.dumps({"served": served}))
        else:
            print(f"served {served['blocks_sent']} blocks, {served['bytes_sent']} bytes")
        sys.stdout.flush()

    _run_loop(go())
    return EXIT_OK


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
never fetched."""


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
    _setup_routing(p)


def _get_targets(args: argparse.Namespace) -> list[tuple[str, str]]:
    """(PATH, output) pairs; output '-' is standard output. Bad CIDs fail here, first."""
    from .cid import to_str
    from .dag.exporter import parse_path

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
        raise _UserError("two PATHs end in the same name; get them one at a time with -o")
    os.makedirs(out, exist_ok=True)
    return [(path, os.path.join(out, name)) for path, name in zip(args.paths, names)]


def _networked(args: argparse.Namespace) -> bool:
    """Did the user say where to look for blocks the repo lacks?"""
    return bool(args.peer or args.bootstrap or args.bootstrap_public or args.delegated_routing)


@contextlib.asynccontextmanager
async def _fetching_node(args: argparse.Namespace, ctx: Context) -> AsyncIterator[Any]:
    """A started Node on the repo that fetches from --peer peers and what content routing
    (--bootstrap DHT peers, --delegated-routing) finds. It listens nowhere: peers answer over
    the connections it dials. A --peer that cannot be reached is a warning while other sources
    remain."""
    from .blockstore import default_repo_path
    from .errors import RoutingError
    from .net.multiaddr import parse_multiaddr
    from .node import Node
    from .routing import DelegatedRouting, Router, StaticRouting

    ctx.close()  # the node opens the repo itself
    repo = ctx.repo or default_repo_path()
    delegated = [DelegatedRouting(url) for url in args.delegated_routing]
    router = Router([StaticRouting(parse_multiaddr(p) for p in args.peer), *delegated])
    async with Node(repo, listen=[], routing=router) as node:
        dhts = await _start_dhts(args, node, repo)
        router.routers.extend(dhts)
        try:
            if dhts and not any(len(d.table) for d in dhts) and not (args.peer or delegated):
                raise RoutingError(
                    "no --bootstrap peer could be reached that serves the DHT "
                    f"({', '.join(d.protocol for d in dhts)}); check the addresses, or pick the "
                    "DHT they run with --dht")
            await _connect_all(node, args.peer, min(args.timeout, 30.0),
                               others=bool(dhts or delegated))
            yield node
        finally:
            await _stop_all([*delegated, *dhts])


def _run_get(args: argparse.Namespace, ctx: Context) -> int:
    import time

    from .dag import TreeWriter
    from .dag import stream as dag_stream
    from .errors import BlockNotFoundError

    targets = _get_targets(args)
    if any(out == "-" for _, out in targets) and sys.stdout.isatty():
        raise _UserError("refusing to write binary data to a terminal; use -o FILE or redirect")
    t0 = time.monotonic()
    with contextlib.ExitStack() as stack:
        # every output is made (so known writable) before any block is fetched
        writers: list[Any] = [
            sys.stdout.buffer if out == "-" else stack.enter_context(TreeWriter(out))
            for _, out in targets
        ]

        async def fetch_and_write() -> list[Any]:
            async with _fetching_node(args, ctx) as node, asyncio.timeout(args.timeout):
                return [await node.get(path, w) for (path, _), w in zip(targets, writers)]

        async def local() -> list[Any]:
            source = dag_stream.StoreSource(ctx.store)
            return [await dag_stream.get(source, path, w) for (path, _), w in zip(targets, writers)]

        try:
            results = _run_loop(fetch_and_write() if _networked(args) else local())
        except BlockNotFoundError as exc:
            raise _UserError(
                f"{exc} in the repo, and nowhere to look for it was given: add --peer "
                "MULTIADDR, or --bootstrap MULTIADDR (or --bootstrap-public) to search the DHT, "
                "or --delegated-routing URL") from None
        except TimeoutError:
            raise _UserError(f"the fetch did not finish within --timeout {args.timeout} s") from None
    elapsed = time.monotonic() - t0
    size = sum(r.bytes for r in results)
    files = sum(r.files for r in results)
    dirs = sum(r.directories for r in results)
    print(f"wrote {files} files, {dirs} directories, {size} bytes in {elapsed:.2f} s",
          file=sys.stderr)
    sources = [r.source for r in results if r.source is not None]
    if sources:
        local_blocks = sum(s.local_blocks for s in sources)
        net_blocks = sum(s.network_blocks for s in sources)
        net_bytes = sum(s.network_bytes for s in sources)
        print(f"fetched {net_blocks} blocks, {net_bytes} bytes from the network "
              f"({net_bytes / max(elapsed, 1e-9) / 1e6:.1f} MB/s); {local_blocks} blocks were "
              "already in the repo", file=sys.stderr)
    else:
        print("every block was in the repo", file=sys.stderr)
    return EXIT_OK


async def _connect_all(node: Any, peers: Sequence[str], timeout: float, *,
                       others: bool = False) -> None:
    """Dial every --peer at once. One that cannot be reached is a warning while another
    answers, or *others* (content routing) may find providers; if none answers and there is
    nothing else, an error naming each failure."""
    from .errors import DialError

    results = await asyncio.gather(
        *(_with_timeout(node.connect(p), timeout, "connect") for p in peers),
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


#: Every subcommand, in the order --help lists them.
COMMANDS: dict[str, Command] = {
    "add": Command("import files and directories, print their CIDs", _setup_add, _run_add,
                   _ADD_DESCRIPTION),
    "cat": Command("write a UnixFS file's bytes to standard output", _setup_cat, _run_cat),
    "ls": Command("list a UnixFS directory: CID, size, name", _setup_ls, _run_ls),
    "import-car": Command(
        "import the blocks of a CAR v1 or v2 file, print its roots", _setup_import_car,
        _run_import_car
    ),
    "export-car": Command(
        "write the DAG under CID as a CAR file (v1, or v2)", _setup_export_car, _run_export_car
    ),
    "seed": Command("import files and serve them over Bitswap", _setup_seed, _run_seed,
                    _SEED_DESCRIPTION),
    "get": Command("write UnixFS files and directories, fetching from peers if asked",
                   _setup_get, _run_get, _GET_DESCRIPTION + "\n\n" + _ROUTING_NOTE),
    "id": Command(
        "connect to a libp2p peer and print what identify says about it",
        _setup_id,
        _run_id,
        "Connect to the peer at MULTIADDR and print its identify answer: peer id, agent and\n"
        "protocol version, protocols, listen addresses.\n\n" + _NET_NOTE,
    ),
    "ping": Command(
        "libp2p ping a peer, print round-trip times",
        _setup_ping,
        _run_ping,
        "Send N /ipfs/ping/1.0.0 pings to the peer at MULTIADDR on one stream and print each\n"
        "round-trip time.\n\n" + _NET_NOTE,
    ),
}


# -- plumbing ----------------------------------------------------------------------------------


class _UserError(Exception):
    """A mistake in how the command was used, reported in one line."""


def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if n <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return n


def _positive_float(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not x > 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return x


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastswap",
        description="fastswap: a fast Bitswap engine for Python.",
    )
    parser.add_argument("--version", action="version", version=f"fastswap {__version__}")
    parser.add_argument(
        "--repo",
        metavar="DIR",
        help="repo directory holding the blockstore (default: $FASTSWAP_HOME, else the user "
        "data directory)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, cmd in COMMANDS.items():
        p = sub.add_parser(
            name,
            help=cmd.help,
            description=cmd.description or cmd.help,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        cmd.setup(p)
    return parser


def _fail(message: str, status: int = EXIT_ERROR) -> NoReturn:
    # one line: newlines in messages (from nested errors) would read as several errors
    print(f"fastswap: error: {' '.join(message.split())}", file=sys.stderr)
    raise SystemExit(status)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    ctx = Context(args.repo)
    try:
        return COMMANDS[args.command].run(args, ctx)
    except _UserError as exc:
        _fail(str(exc))
    except FastswapError as exc:
        _fail(str(exc))
    except BrokenPipeError:
        # the reader went away (`fastswap cat CID | head`): not an error; silence the final flush
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except OSError:
            pass
        return EXIT_OK
    except OSError as exc:
        where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
        _fail(f"{exc.strerror or exc}{where}")
    except KeyboardInterrupt:
        print("fastswap: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        ctx.close()


if __name__ == "__main__":  # python -m fastswap.cli
    sys.exit(main())
