"""The ``fastswap`` command line: add, cat, import-car, export-car, id, ping.

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
import os
import sys
from collections.abc import Callable, Sequence
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
Import FILE as a UnixFS file DAG into the repo and print its root CID.

Defaults are Kubo's `ipfs add` (0.22): CIDv0, dag-pb leaves, 256 KiB chunks, 174 links per node,
so the CID printed is the one `ipfs add FILE` prints. --cid-version 1 switches leaves to raw (as
`ipfs add --cid-version=1` does) unless --no-raw-leaves is given. --preset helia gives
@helia/unixfs's addFile defaults (CIDv1, raw leaves, 1 MiB chunks, 1024 links). Explicit options
override the preset."""


def _setup_add(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE", help="file to import ('-' reads standard input)")
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


def _run_add(args: argparse.Namespace, ctx: Context) -> int:
    from .cid import to_str
    from .dag import HELIA_DEFAULTS, KUBO_DEFAULTS, import_file

    settings = dict(HELIA_DEFAULTS if args.preset == "helia" else KUBO_DEFAULTS)
    if args.cid_version is not None:
        settings["cid_version"] = args.cid_version
        # as in Kubo: choosing CIDv1 implies raw leaves unless told otherwise
        settings["raw_leaves"] = args.cid_version == 1
    if args.raw_leaves is not None:
        settings["raw_leaves"] = args.raw_leaves
    if args.chunk_size is not None:
        settings["chunk_size"] = args.chunk_size
    if args.max_children is not None:
        settings["max_children"] = args.max_children
    if args.file == "-":
        root = import_file(ctx.store, sys.stdin.buffer, **settings)
    else:
        if os.path.isdir(args.file):
            raise _UserError(f"{args.file} is a directory; only files can be added for now")
        root = import_file(ctx.store, args.file, **settings)
    print(to_str(root))
    return EXIT_OK


# -- cat ---------------------------------------------------------------------------------------


def _setup_cat(p: argparse.ArgumentParser) -> None:
    p.add_argument("cid", metavar="CID", help="root CID of a UnixFS file")


def _run_cat(args: argparse.Namespace, ctx: Context) -> int:
    from .dag import cat

    out = sys.stdout.buffer
    for chunk in cat(ctx.store, args.cid):
        out.write(chunk)
    out.flush()
    return EXIT_OK


# -- import-car / export-car -------------------------------------------------------------------


def _setup_import_car(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE", help="CAR v1 file ('-' reads standard input)")


def _run_import_car(args: argparse.Namespace, ctx: Context) -> int:
    from .cid import to_str
    from .dag import import_car

    src: Any = sys.stdin.buffer if args.file == "-" else args.file
    for root in import_car(ctx.store, src):
        print(to_str(root))
    return EXIT_OK


def _setup_export_car(p: argparse.ArgumentParser) -> None:
    p.add_argument("cid", metavar="CID", nargs="+", help="root CID(s) of the DAG(s) to export")
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        default="-",
        help="CAR file to write (default: standard output)",
    )


def _run_export_car(args: argparse.Namespace, ctx: Context) -> int:
    from .cid import parse
    from .dag import write_car

    roots = [parse(c) for c in args.cid]  # bad CIDs fail before anything is written
    if args.output == "-":
        if sys.stdout.isatty():
            raise _UserError("refusing to write a CAR to a terminal; use -o FILE or redirect")
        write_car(ctx.store, roots, sys.stdout.buffer)
    else:
        write_car(ctx.store, roots, args.output)
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


# -- seed / get (Bitswap) ----------------------------------------------------------------------

_SEED_DESCRIPTION = """\
Import each PATH into the repo and serve it over Bitswap (1.2.0, 1.1.0, 1.0.0) until
interrupted (Ctrl-C or SIGTERM). A PATH ending in .car is imported as a CAR v1 file (every
block verified, its roots served); any other file is imported as a UnixFS file (--preset picks
Kubo's `ipfs add` or Helia's defaults, so the root CID matches theirs). Directories are not
supported yet (import their files one by one, or a CAR of the directory).

Prints the peer id, the full multiaddrs to give a fetcher (each ends in /p2p/<peer id>) and
one root CID per PATH, then serves. The default listen address is loopback only; serve other
machines with --listen /ip4/0.0.0.0/tcp/4001. The peer id is kept in the repo (identity.key)."""


def _setup_seed(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", metavar="PATH", nargs="+", help="file or CAR v1 file to serve")
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


def _run_seed(args: argparse.Namespace, ctx: Context) -> int:
    import asyncio
    import signal

    from .blockstore import default_repo_path
    from .cid import to_str
    from .dag import HELIA_DEFAULTS, KUBO_DEFAULTS
    from .node import Node

    for path in args.paths:
        if os.path.isdir(path):
            raise _UserError(f"{path} is a directory; directories are not supported yet "
                             "(seed its files, or a CAR of it)")
        if not os.path.isfile(path):
            raise _UserError(f"{path}: no such file")
    settings = dict(HELIA_DEFAULTS if args.preset == "helia" else KUBO_DEFAULTS)
    listen = args.listen or ["/ip4/127.0.0.1/tcp/0"]

    async def go() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with Node(ctx.repo or default_repo_path(), listen=listen) as node:
            roots: list[tuple[str, str]] = []
            for path in args.paths:
                if path.lower().endswith(".car"):
                    for r in await node.add_car(path):
                        roots.append((to_str(r), path))
                else:
                    roots.append((to_str(await node.add_file(path, **settings)), path))
            addrs = [str(a) for a in node.addrs]
            if args.json:
                import json

                print(json.dumps({"peer_id": str(node.peer_id), "addrs": addrs,
                                  "roots": [{"cid": c, "path": p} for c, p in roots]}))
            else:
                print(f"peer id: {node.peer_id}")
                for a in addrs:
                    print(f"listening on: {a}")
                for c, p in roots:
                    print(f"root: {c} {p}")
                print("serving; Ctrl-C to stop")
            sys.stdout.flush()
            await stop.wait()

    _run_loop(go())
    return EXIT_OK


_GET_DESCRIPTION = f"""\
Fetch the UnixFS file under CID from the --peer peers (Bitswap), verifying every block, into
the repo, and write it to -o FILE (or standard output).

Every --peer is dialled at once; one that cannot be reached is a warning while another answers.
A block no peer can provide -- every peer said DONT_HAVE, did not answer, went away, or sent
data that does not hash to what was asked (such a peer is disconnected and the fetch goes on
from the others) -- fails the get after {CLIENT_GIVE_UP_SECONDS:g} s with the peers named by
cause; --timeout bounds the whole fetch. Identity CIDs (inline blocks) are read from the CID,
never fetched."""


def _setup_get(p: argparse.ArgumentParser) -> None:
    p.add_argument("cid", metavar="CID", help="root CID of a UnixFS file")
    p.add_argument(
        "--peer",
        metavar="MULTIADDR",
        action="append",
        required=True,
        help="a peer to fetch from (/ip4/../tcp/../p2p/<id>), repeatable",
    )
    p.add_argument(
        "-o", "--output", metavar="FILE", default="-", help="where to write the file (default: "
        "standard output)"
    )
    p.add_argument(
        "--timeout", type=float, default=600.0, metavar="S", help="give up after S seconds"
    )


def _run_get(args: argparse.Namespace, ctx: Context) -> int:
    import time

    from .blockstore import default_repo_path
    from .cid import parse
    from .dag import cat
    from .node import Node

    root = parse(args.cid)  # a bad CID fails before any connection
    if args.output == "-" and sys.stdout.isatty():
        raise _UserError("refusing to write binary data to a terminal; use -o FILE or redirect")

    async def go() -> tuple[int, Any]:
        async with Node(ctx.repo or default_repo_path(), listen=[]) as node:
            await _connect_all(node, args.peer, min(args.timeout, 30.0))
            n = await node.fetch_dag(root, timeout=args.timeout)
            return n, node.stat()

    t0 = time.monotonic()
    nblocks, _ = _run_loop(go())
    elapsed = time.monotonic() - t0
    # the node is closed: read the (verified) blocks back from the repo
    size = 0
    if args.output == "-":
        out = sys.stdout.buffer
        for chunk in cat(ctx.store, root):
            out.write(chunk)
            size += len(chunk)
        out.flush()
    else:
        tmp = args.output + ".part"
        with open(tmp, "wb") as fh:
            for chunk in cat(ctx.store, root):
                fh.write(chunk)
                size += len(chunk)
        os.replace(tmp, args.output)
    print(f"fetched {nblocks} blocks, {size} bytes in {elapsed:.2f} s "
          f"({size / max(elapsed, 1e-9) / 1e6:.1f} MB/s)", file=sys.stderr)
    return EXIT_OK


async def _connect_all(node: Any, peers: Sequence[str], timeout: float) -> None:
    """Dial every --peer at once. One that cannot be reached is a warning while another
    answers (the fetch may not need it); if none answers, an error naming each failure."""
    import asyncio

    from .errors import DialError

    results = await asyncio.gather(
        *(_with_timeout(node.connect(p), timeout, "connect") for p in peers),
        return_exceptions=True,
    )
    failed = [(p, r) for p, r in zip(peers, results) if isinstance(r, BaseException)]
    for p, r in failed:
        if not isinstance(r, FastswapError):
            raise r  # a bug or a cancellation, not an unreachable peer
    if len(failed) == len(peers):
        raise DialError("cannot reach any --peer: " + "; ".join(f"{p}: {r}" for p, r in failed))
    for p, r in failed:
        print(f"fastswap: warning: skipping --peer {p}: {r}", file=sys.stderr)


#: Every subcommand, in the order --help lists them.
COMMANDS: dict[str, Command] = {
    "add": Command("import a file, print its root CID", _setup_add, _run_add, _ADD_DESCRIPTION),
    "cat": Command("write a UnixFS file's bytes to standard output", _setup_cat, _run_cat),
    "import-car": Command(
        "import the blocks of a CAR v1 file, print its roots", _setup_import_car, _run_import_car
    ),
    "export-car": Command(
        "write the DAG under CID as a CAR v1 file", _setup_export_car, _run_export_car
    ),
    "seed": Command("import files and serve them over Bitswap", _setup_seed, _run_seed,
                    _SEED_DESCRIPTION),
    "get": Command("fetch a UnixFS file from Bitswap peers and write it", _setup_get, _run_get,
                   _GET_DESCRIPTION),
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
