"""Content-routing options shared by ``seed``, ``get`` and ``cat``: DHT bootstrap peers and
delegated routing (fastswap.routing)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import Any

# -- content routing options (seed and get) --------------------------------------------------

ROUTING_NOTE = """\
Content routing: with --bootstrap MULTIADDR (repeatable) the node joins the Kademlia DHT through
those peers: the LAN DHT (/ipfs/lan/kad/1.0.0, which Kubo runs beside the public one and which
accepts loopback and private addresses) unless --dht says otherwise. --bootstrap-public adds the
public Amino DHT's bootstrap peers and the public DHT (/ipfs/kad/1.0.0); nothing public is dialled
without it. --delegated-routing URL asks an IPFS HTTP routing v1 endpoint too."""


def setup_routing(p: argparse.ArgumentParser) -> None:
    """The routing flags; each overrides its ``routing.*`` setting (see ``fastswap config``)."""
    g = p.add_argument_group("content routing (flags override the routing.* settings)")
    g.add_argument(
        "--bootstrap", metavar="MULTIADDR", action="append", default=None,
        help="a DHT peer to join through (/ip4/../tcp/../p2p/<id>), repeatable",
    )
    g.add_argument(
        "--bootstrap-public", action="store_true", default=None,
        help="also join the public IPFS DHT through its well-known bootstrap peers (opt-in: "
        "dials the internet)",
    )
    g.add_argument(
        "--dht", choices=("auto", "off", "lan", "wan", "dual"), default=None,
        help="which DHT to run: lan (/ipfs/lan/kad/1.0.0), wan (/ipfs/kad/1.0.0) or both; auto: "
        "dual with --bootstrap-public, lan with --bootstrap, else off",
    )
    g.add_argument(
        "--delegated-routing", metavar="URL", action="append", default=None,
        help="an IPFS HTTP routing v1 endpoint to ask for providers, repeatable",
    )


def routing_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The routing flags as configuration keys (None: not given)."""
    return {"routing.bootstrap": args.bootstrap, "routing.bootstrap_public": args.bootstrap_public,
            "routing.dht": args.dht, "routing.delegated": args.delegated_routing}


def dht_protocols(cfg: Any) -> list[str]:
    """The DHT protocols the configuration asks for (``routing.dht``; auto: dual with public
    bootstrap peers, lan with bootstrap peers, else none)."""
    mode = cfg["routing.dht"]
    if mode == "auto":
        mode = ("dual" if cfg["routing.bootstrap_public"]
                else "lan" if cfg["routing.bootstrap"] else "off")
    if mode == "off":
        return []  # without importing the DHT (~5 ms of a get's start)
    from ..routing import PROTOCOL_KAD, PROTOCOL_LAN_KAD

    return {"lan": [PROTOCOL_LAN_KAD], "wan": [PROTOCOL_KAD],
            "dual": [PROTOCOL_LAN_KAD, PROTOCOL_KAD]}[mode]


async def start_dhts(cfg: Any, node: Any, repo: str) -> list[Any]:
    """The DHTs the configuration asks for, on the started node's host (server mode when it
    listens), joined through the bootstrap peers. The caller stops them before the node."""
    protocols = dht_protocols(cfg)
    if not protocols:
        return []
    from ..routing import PROTOCOL_KAD, PUBLIC_BOOTSTRAP, KadDHT

    bootstrap = list(cfg["routing.bootstrap"])
    if cfg["routing.bootstrap_public"]:
        bootstrap += list(PUBLIC_BOOTSTRAP)
    dhts = []
    try:
        for proto in protocols:
            name = "wan" if proto == PROTOCOL_KAD else "lan"
            dht = KadDHT(node.host, datastore=os.path.join(repo, "providers", name),
                         protocol=proto, server=bool(node.addrs), bootstrap=bootstrap)
            dhts.append(dht)
            await dht.start()
    except BaseException:
        await stop_all(dhts)
        raise
    return dhts


async def stop_all(things: Sequence[Any]) -> None:
    for t in reversed(things):
        await t.stop() if hasattr(t, "stop") else await t.aclose()
