"""``fastswap id|ping``: a libp2p peer's identify answer and ping round trips."""

from __future__ import annotations

import argparse
from typing import Any

from ._base import (
    EXIT_OK,
    Command,
    Context,
    positive_int,
    print_json,
    run_loop,
    with_timeout,
)

# -- id / ping (libp2p) ------------------------------------------------------------------------

_NET_NOTE = """\
The command uses a fresh, ephemeral Ed25519 identity for this one connection (nothing is stored
in the repo), dials MULTIADDR over TCP with Noise and yamux (or mplex), and checks the peer's
id against the address's /p2p/ part when it has one."""


_ID_DESCRIPTION = """\
With MULTIADDR: connect to that peer and print its identify answer (peer id, agent and
protocol version, protocols, listen addresses). Without: this repo's peer id, and the addresses
of the node serving it (asked through its control socket) or else the configured listen
addresses.

Examples:
  fastswap id
  fastswap id /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW... --json

""" + _NET_NOTE

_PING_DESCRIPTION = """\
Send N /ipfs/ping/1.0.0 pings to the peer at MULTIADDR on one stream and print each round-trip
time.

Example:
  fastswap ping -n 10 /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW...

""" + _NET_NOTE


def _setup_id(p: argparse.ArgumentParser) -> None:
    p.add_argument("multiaddr", metavar="MULTIADDR", nargs="?",
                   help="e.g. /ip4/127.0.0.1/tcp/4001/p2p/Qm... (none: this repo's node)")
    p.add_argument("--json", action="store_true", help="print the answer as one JSON object")
    p.add_argument(
        "--timeout", type=float, default=15.0, metavar="S", help="seconds for connect + identify"
    )


def _own_id(args: argparse.Namespace, ctx: Context) -> int:
    from ..control import request
    from ..errors import NodeError
    from ..net.keys import load_or_create_identity
    from ..repo import CONTROL_SOCKET

    peer = load_or_create_identity(ctx.repo).peer_id
    try:
        addrs = run_loop(request(ctx.repo_path / CONTROL_SOCKET, "stat"))["addrs"]
        running = True
    except NodeError:
        addrs = list(ctx.config()["node.listen"])
        running = False
    if args.json:
        print_json({"peer_id": str(peer), "addrs": addrs, "running": running})
        return EXIT_OK
    print(f"peer id: {peer}")
    print("addresses:" if running else "configured listen addresses (no node is running):")
    for a in addrs:
        print(f"  {a}")
    return EXIT_OK


def _run_id(args: argparse.Namespace, ctx: Context) -> int:
    from ..net.host import Host

    if args.multiaddr is None:
        return _own_id(args, ctx)

    async def identify(host: Host) -> Any:
        conn = await host.dial(args.multiaddr)
        return await host.identify(conn.remote_peer)

    async def go() -> Any:
        async with Host() as host:
            return await with_timeout(identify(host), args.timeout, "connect + identify")

    info = run_loop(go())
    if args.json:
        print_json(info.to_json())
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
    p.add_argument("-n", "--count", type=positive_int, default=4, metavar="N",
                   help="pings to send (default: 4)")
    p.add_argument("--json", action="store_true", help="print the round-trip times as JSON")
    p.add_argument(
        "--timeout", type=float, default=15.0, metavar="S", help="seconds for connect + pings"
    )


def _run_ping(args: argparse.Namespace, ctx: Context) -> int:
    from ..net.host import Host

    async def pings(host: Host) -> tuple[Any, list[float]]:
        conn = await host.dial(args.multiaddr)
        return conn.remote_peer, await host.ping(conn.remote_peer, args.count)

    async def go() -> tuple[Any, list[float]]:
        async with Host() as host:
            return await with_timeout(pings(host), args.timeout, "connect + ping")

    peer, rtts = run_loop(go())
    if args.json:
        print_json({"peer_id": str(peer), "rtts_ms": [round(r * 1000, 3) for r in rtts]})
        return EXIT_OK
    print(f"PING {peer}")
    for i, rtt in enumerate(rtts, 1):
        print(f"pong {i} from {peer}: time={rtt * 1000:.3f} ms")
    avg = sum(rtts) / len(rtts)
    print(f"{len(rtts)} pings: min/avg/max = {min(rtts) * 1000:.3f}/{avg * 1000:.3f}/"
          f"{max(rtts) * 1000:.3f} ms")
    return EXIT_OK




COMMANDS: dict[str, Command] = {
    "id": Command("this repo's peer id and addresses, or a peer's identify answer", _setup_id,
                  _run_id, _ID_DESCRIPTION),
    "ping": Command("libp2p ping a peer, print round-trip times", _setup_ping, _run_ping,
                    _PING_DESCRIPTION),
}
