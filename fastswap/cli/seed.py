"""``fastswap seed``: import PATHs (or nothing) and serve the repo over Bitswap until stopped,
as a daemon an operator can run for weeks.

Lifecycle: the node takes the repo's lock (a second seeder on the repo is refused, naming the
first), opens the control socket (``fastswap stat``) and, if configured, the metrics endpoint;
imports the PATHs (a file or directory whose import source is unchanged since its last import
is not re-hashed: size and mtime of every file are compared, unless ``--reimport``); makes the
blocks durable; announces the roots on the DHT if one runs; prints a summary and serves.
SIGHUP re-reads the configuration and applies what can change live (bandwidth limits, allow and
deny lists, connection-manager water marks) without dropping healthy peers. SIGINT/SIGTERM stop
accepting, let the responses being written go out (up to ``seed.drain_timeout``) and exit 0; a
second signal exits at once. The lock and the socket are gone afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass
from typing import Any

from ._base import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    Command,
    Context,
    UserError,
    positive_float,
    run_loop,
)
from ._node import LIVE_KEYS, apply_live, node_from_config
from ._routing import ROUTING_NOTE, routing_flags, setup_routing, start_dhts, stop_all

log = logging.getLogger("fastswap.seed")

_SEED_DESCRIPTION = """\
Serve the repo over Bitswap (1.2.0, 1.1.0, 1.0.0, bare /ipfs/bitswap) until stopped, after
importing each PATH: a .car file as CAR v1 or v2 (every block verified, its roots served), any
other file or directory as UnixFS (--preset picks Kubo's `ipfs add -r` or Helia's defaults, so
the root CIDs match theirs). With no PATH it serves what the repo holds (every pinned root).
A PATH imported before and unchanged since (same sizes and mtimes) is not re-hashed.

Prints the peer id, the full multiaddrs to give a fetcher (each ends in /p2p/<peer id>), each
root CID and how to fetch it with fastswap, Kubo and Helia; then serves, logging connections,
refusals and errors (-v for more, -q for less). `fastswap stat` asks it what it is doing;
--metrics HOST:PORT (or a port, on 127.0.0.1) serves Prometheus metrics. SIGHUP reloads
config.toml; SIGINT/SIGTERM drain and exit 0 (a second one exits at once). The default listen
address is loopback only: serve other machines with --listen /ip4/0.0.0.0/tcp/4001 (or
`fastswap init --profile server`).

With a DHT (see below) the roots are announced (--provide-strategy all: every block) before the
addresses are printed, and announced again every --reprovide-interval seconds (default 22 h;
records live 48 h). Provider records other peers announce to us live in <repo>/providers.

Examples:
  fastswap seed big.iso                      # serve one file on loopback
  fastswap seed --listen /ip4/0.0.0.0/tcp/4001 --metrics 9100 site/
  fastswap seed                              # serve what the repo already holds

""" + ROUTING_NOTE


def _setup_seed(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", metavar="PATH", nargs="*",
                   help="file, directory, or CAR file to serve (none: serve the repo's pins)")
    p.add_argument("--listen", metavar="MULTIADDR", action="append",
                   help="TCP multiaddr to listen on, repeatable (setting node.listen; default: "
                   "/ip4/127.0.0.1/tcp/0)")
    p.add_argument("--announce", metavar="MULTIADDR", action="append",
                   help="address to announce instead of the listen addresses, repeatable")
    p.add_argument("--metrics", metavar="HOST:PORT",
                   help="serve Prometheus metrics at http://HOST:PORT/metrics (a bare port: "
                   "127.0.0.1)")
    p.add_argument("--json", action="store_true",
                   help="print the summary (and, on exit, what was served) as JSON lines")
    p.add_argument("--preset", choices=("kubo", "helia"), default=None,
                   help="UnixFS importer defaults (setting seed.preset; default: kubo)")
    p.add_argument("--reimport", action="store_true",
                   help="re-hash every PATH even if it is unchanged since its last import")
    setup_routing(p)
    p.add_argument("--provide-strategy", choices=("roots", "all"), default=None,
                   help="what to announce on the DHT: each root (default) or every block")
    p.add_argument("--reprovide-interval", type=positive_float, metavar="S", default=None,
                   help="seconds between re-announcements (default: 79200, 22 h)")


def log_connections(host: Any, clock: Any = time.monotonic) -> Any:
    """Log each connect and disconnect of *host* (peer, address, connections now), rate-limited per
    kind (``CONNECTION_LOG_INTERVAL_SECONDS``); returns the function that stops it."""
    from .._defaults import CONNECTION_LOG_INTERVAL_SECONDS
    from ..net.resources import RateLimitedLog

    lines = RateLimitedLog(log, CONNECTION_LOG_INTERVAL_SECONDS, clock)

    def connected(conn: Any) -> None:
        lines.info("connect", "connected: %s from %s (%d connections)", conn.remote_peer,
                   conn.remote_addr, host.connection_count())

    def disconnected(conn: Any) -> None:
        lines.info("disconnect", "disconnected: %s (%d connections)", conn.remote_peer,
                   host.connection_count())

    return host.subscribe(connected, disconnected)


def _flags(args: argparse.Namespace) -> dict[str, Any]:
    return {**routing_flags(args), "node.listen": args.listen, "node.announce": args.announce,
            "metrics.listen": args.metrics, "seed.preset": args.preset,
            "routing.provide_strategy": args.provide_strategy,
            "routing.reprovide_interval": args.reprovide_interval}


def _fingerprint(path: str) -> tuple[int, int, str]:
    """(total size, newest mtime_ns, digest of every file's path, size and mtime): what tells an
    import source unchanged without reading its bytes."""
    h = hashlib.sha256()
    total = newest = 0
    entries = [path] if not os.path.isdir(path) else sorted(
        os.path.join(d, f) for d, _, files in os.walk(path) for f in files)
    for p in entries:
        st = os.stat(p)
        total += st.st_size
        newest = max(newest, st.st_mtime_ns)
        h.update(f"{os.path.relpath(p, path)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return total, newest, h.hexdigest()


def _run_seed(args: argparse.Namespace, ctx: Context) -> int:
    from ..net.resources import reexec_with_system_allocator
    from ..repo import CONTROL_SOCKET, RepoLock

    if ctx.own_process:
        # before the lock and the store are opened: after a burst of hostile peers, pymalloc
        # keeps arenas that one surviving object pins; malloc_trim gives back the free pages
        reexec_with_system_allocator()
    for path in args.paths:
        if not os.path.exists(path):
            raise UserError(f"{path}: no such file or directory")
    cfg = ctx.config(flags=_flags(args))
    lock = RepoLock(ctx.repo)
    lock.acquire()  # RepoLockedError names the running seeder
    ctx.close()  # the node opens the store and pins itself
    try:
        return run_loop(_serve(args, ctx, cfg, ctx.repo_path / CONTROL_SOCKET, lock))
    finally:
        lock.release()


async def _serve(args: argparse.Namespace, ctx: Context, cfg: Any, sock: Any,
                 lock: Any) -> int:
    from ..config import load_config
    from ..control import ControlServer
    from ..routing import Provider, Router, StaticRouting

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = {"count": 0}

    def on_stop() -> None:
        signals["count"] += 1
        if signals["count"] > 1:
            # the operator does not want to wait for the drain: go now, but leave no socket
            # file or lock behind (both are only files; the kernel closes the rest)
            log.warning("second signal: exiting at once, without draining")
            sock.unlink(missing_ok=True)
            lock.release()
            os._exit(EXIT_INTERRUPTED)
        stop.set()

    reload_requested = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_stop)
    loop.add_signal_handler(signal.SIGHUP, reload_requested.set)

    router = Router([StaticRouting()])
    node = node_from_config(ctx.repo, cfg, routing=router)
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(node)

        async def stat(_req: dict[str, Any]) -> Any:
            return node.stat()

        control = ControlServer(sock, {"stat": stat})
        await control.start()
        stack.push_async_callback(control.stop)
        metrics_url = None
        if cfg["metrics.listen"]:
            from ..metrics import MetricsServer, parse_listen

            try:
                host, port = parse_listen(cfg["metrics.listen"])
            except ValueError as exc:
                raise UserError(f"metrics.listen: {exc}") from None
            metrics = MetricsServer(node, host, port)
            await metrics.start()
            stack.push_async_callback(metrics.stop)
            metrics_url = metrics.url
        dhts = await start_dhts(cfg, node, ctx.repo)
        router.routers.extend(dhts)
        stack.push_async_callback(stop_all, dhts)
        provider = None
        if dhts:
            provider = Provider(dhts, blockstore=node.store,
                                strategy=cfg["routing.provide_strategy"],
                                interval=cfg["routing.reprovide_interval"])
            stack.push_async_callback(provider.stop)
        roots = await _import(args, node, cfg)
        if node.repo is not None and cfg["repo.durable"]:
            await asyncio.to_thread(node.store.flush)  # the printed CIDs are on disk
        provided_to: set[str] = set()
        if provider is not None:
            for report in await provider.add([r.cid for r in roots]):
                provided_to.update(str(p) for p in report.peers)
            provider.start()
        _summary(args, node, roots, provided_to, metrics_url, provider is not None)
        stack.callback(log_connections(node.host))

        async def reloads() -> None:
            current = cfg
            while True:
                await reload_requested.wait()
                reload_requested.clear()
                try:
                    new = load_config(ctx.repo, flags=_flags(args))
                    apply_live(node, new)
                except Exception as exc:  # noqa: BLE001 - a bad edit must not stop the seeder
                    log.error("not reloading the configuration (the running one is kept): %s",
                              exc)
                    continue
                changed = [k for k, v, _ in new.items() if v != current[k]]
                live = [f"{k} = {new[k]!r}" for k in changed if k in LIVE_KEYS]
                later = [k for k in changed if k not in LIVE_KEYS]
                log.info("reloaded %s: %s", new.path, "; ".join(live) or "no live setting changed")
                if later:
                    log.warning("changed, but applied only at the next start: %s",
                                ", ".join(later))
                current = new

        reloader = asyncio.ensure_future(reloads())
        try:
            await stop.wait()
        finally:
            reloader.cancel()
        log.info("stopping: no new connections; letting the responses in flight go out")
        if not await node.drain(cfg["seed.drain_timeout"]):
            log.warning("responses still in flight after %g s (seed.drain_timeout); stopping",
                        cfg["seed.drain_timeout"])
        st = node.server.stats()
        served = {"blocks_sent": st["blocks_sent"], "bytes_sent": st["bytes_sent"]}
    # what was served, for the operator (and for tests: proof the blocks came from us)
    if args.json:
        print(json.dumps({"served": served}))
    else:
        print(f"served {served['blocks_sent']} blocks, {served['bytes_sent']} bytes")
    sys.stdout.flush()
    return EXIT_OK


@dataclass(frozen=True)
class _Root:
    """A root the seeder serves: its CID, the PATH (or pin name) it came from, and whether
    this start read and hashed that PATH (False: an unchanged PATH, or a pin)."""

    cid: bytes
    path: str
    hashed: bool


async def _import(args: argparse.Namespace, node: Any, cfg: Any) -> list[_Root]:
    """Import the PATHs (skipping unchanged ones), or announce the repo's pins when there are
    none; the roots served."""
    if not args.paths:
        assert node.pins is not None
        pins = await asyncio.to_thread(node.pins.items)
        for root, _ in pins:
            await node.announce(root)
        return [_Root(r, rec.get("name", ""), False) for r, rec in pins]
    preset = cfg["seed.preset"]
    roots: list[_Root] = []
    for path in args.paths:
        if path.lower().endswith(".car"):
            roots += [_Root(r, path, True) for r in await node.add_car(path)]
            continue
        size, mtime, digest = await asyncio.to_thread(_fingerprint, path)
        settings = {"preset": preset, "fingerprint": digest}
        known = node.pins.source(path) if node.pins is not None else None
        if (not args.reimport and known is not None and known["settings"] == settings
                and known["size"] == size and known["mtime_ns"] == mtime):
            from ..cid import parse

            root = parse(known["cid"])
            if root in node.pins:
                log.info("%s is unchanged since its import: serving %s", path, known["cid"])
                await node.announce(root)
                roots.append(_Root(root, path, False))
                continue
        root = await node.add_path(path, preset=preset)
        if node.pins is not None:
            await asyncio.to_thread(node.pins.record_source, path, root, size, mtime, settings)
        roots.append(_Root(root, path, True))
    return roots


def _summary(args: argparse.Namespace, node: Any, roots: list[_Root],
             provided_to: set[str], metrics_url: str | None, dht: bool) -> None:
    from ..cid import to_str

    addrs = [str(a) for a in node.addrs]
    if args.json:
        print(json.dumps({"peer_id": str(node.peer_id), "addrs": addrs,
                          "roots": [{"cid": to_str(r.cid), "path": r.path, "hashed": r.hashed}
                                    for r in roots],
                          "provided_to": sorted(provided_to), "metrics": metrics_url}))
        sys.stdout.flush()
        return
    print(f"peer id: {node.peer_id}")
    for a in addrs:
        print(f"listening on: {a}")
    for r in roots:
        unchanged = " (unchanged since its last import: not re-hashed)" if (
            args.paths and not r.hashed) else ""
        print(f"root: {to_str(r.cid)} {r.path}{unchanged}")
    if dht:
        print(f"announced on the DHT to {len(provided_to)} peers")
    if metrics_url:
        print(f"metrics: {metrics_url}")
    if roots and addrs:
        c, a = to_str(roots[0].cid), addrs[0]
        print("fetch it with:")
        print(f"  fastswap:  fastswap get {c} --peer {a} -o OUT")
        print(f"  Kubo:      ipfs swarm connect {a} && ipfs get {c}")
        print(f"  Helia:     await helia.libp2p.dial(multiaddr('{a}')); "
              f"for await (const b of unixfs(helia).cat(CID.parse('{c}'))) ...")
    print("serving; Ctrl-C to stop")
    sys.stdout.flush()


COMMANDS = {
    "seed": Command("serve the repo (and PATHs imported first) over Bitswap", _setup_seed,
                    _run_seed, _SEED_DESCRIPTION),
}
