"""Content routing: who has a CID, and telling others that we do.

* :class:`StaticRouting`: a fixed list of peers (``--peer``); the node's default.
* :class:`KadDHT`: the libp2p Kademlia DHT (libp2p/specs ``kad-dht``) on the node's host, on
  ``/ipfs/kad/1.0.0`` (the public Amino DHT) or ``/ipfs/lan/kad/1.0.0`` (the LAN DHT Kubo runs
  beside it); its protocol logic is sans-IO (``routing/kad/``: table, lookup, records, core).
* :class:`DelegatedRouting`: the IPFS HTTP routing v1 client (``/routing/v1/providers/{cid}``).
* :class:`Router`: asks several of those in parallel, merges and caps their answers, and shares
  one search among concurrent queries for a CID.
* :class:`Provider`: announces what a node serves (roots or every block) and re-announces
  before the records expire.

Every router has ``async find_providers(cid: bytes)`` returning PeerIds or multiaddrs, which is
what ``fastswap.Node(routing=...)`` takes. Wiring a node to the DHT:

    async with Node(repo) as node:
        dht = KadDHT(node.host, datastore=os.path.join(repo, "providers"),
                     bootstrap=["/ip4/127.0.0.1/tcp/4001/p2p/12D3Koo..."])
        await dht.start()
        node.routing = Router([StaticRouting(), dht])
        await Provider([dht]).add([root])

Nothing here dials a public address unless told to: :data:`PUBLIC_BOOTSTRAP` is opt-in
(``fastswap seed|get --bootstrap-public``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_getattr

if TYPE_CHECKING:
    # what __getattr__ returns at run time, declared for type checkers
    from .delegated import DelegatedRouting
    from .kad.core import KadConfig
    from .kad.dht import PROTOCOL_KAD, PROTOCOL_LAN_KAD, KadDHT, ProvideReport, cid_key
    from .providing import STRATEGIES, Provider
    from .router import Router
    from .static import ContentRouting, StaticRouting

#: public name -> the submodule defining it, imported on first use: a `fastswap get --peer`
#: needs the static router only, and the DHT's modules were ~5 ms of every start
_LAZY = {
    "DelegatedRouting": ".delegated",
    "KadConfig": ".kad.core",
    "PROTOCOL_KAD": ".kad.dht",
    "PROTOCOL_LAN_KAD": ".kad.dht",
    "KadDHT": ".kad.dht",
    "ProvideReport": ".kad.dht",
    "cid_key": ".kad.dht",
    "STRATEGIES": ".providing",
    "Provider": ".providing",
    "Router": ".router",
    "ContentRouting": ".static",
    "StaticRouting": ".static",
}


__getattr__ = lazy_getattr(__name__, _LAZY)

__all__ = [
    "PROTOCOL_KAD",
    "PROTOCOL_LAN_KAD",
    "PUBLIC_BOOTSTRAP",
    "STRATEGIES",
    "ContentRouting",
    "DelegatedRouting",
    "KadConfig",
    "KadDHT",
    "ProvideReport",
    "Provider",
    "Router",
    "StaticRouting",
    "cid_key",
]

#: The public Amino DHT's bootstrap peers (Kubo 0.22's ``config.DefaultBootstrapAddresses``,
#: TCP ones). Opt-in only: ``--bootstrap-public``; never dialled by default, by tests or by CI.
#: The ``/dnsaddr`` entries need a DNS TXT lookup that fastswap's host does not do yet, so of
#: these only the ``/ip4`` one is dialled today.
PUBLIC_BOOTSTRAP: tuple[str, ...] = (
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN",
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmQCU2EcMqAqQPR2i9bChDtGNJchTbq5TbXJJ16u19uLTa",
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmbLHAnMoJPWSCR5Zhtx6BHJX9KiKNN6tpvbUcqanj75Nb",
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmcZf59bWwK5XFi76CZX8cbJ4BhTzzA3gU1ZjYZcYW3dwt",
    "/ip4/104.131.131.82/tcp/4001/p2p/QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ",
)
