"""Content routing for the Bitswap client: who might have a block; and the static router.

Spec: ipfs/specs bitswap-protocol leaves provider discovery to the host ("content routing");
go-bitswap PR #186 and boxo's ``client/internal/providerquerymanager`` ask routing for providers
when a session's peers cannot serve a want. The :class:`~fastswap.client.engine.ClientEngine` never
does I/O: it emits a ``FindProviders(cid)`` action, and the driver (``fastswap.Node``) awaits
``routing.find_providers(cid)`` and hands the answer back with ``engine.add_peers(session, peers)``
(dialling multiaddrs first). So routing is a protocol the driver owns; the default is a static
peer list, which is what a fetcher given ``--peer`` addresses needs. The other routers
(``fastswap.routing``: the DHT, delegated routing, and :class:`~fastswap.routing.Router` that
composes them) follow the same protocol.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

__all__ = ["ContentRouting", "StaticRouting"]


@runtime_checkable
class ContentRouting(Protocol):
    """Finds providers of a CID: peers (opaque engine keys) or multiaddrs to dial."""

    async def find_providers(self, cid: bytes) -> list[Any]:
        """Peers or multiaddrs that may hold *cid* (possibly none; never raises for "none")."""
        ...


class StaticRouting:
    """The default router: every CID is provided by the same fixed list of peers/multiaddrs."""

    def __init__(self, peers: Iterable[Any] = ()) -> None:
        self._peers = list(peers)

    def add(self, peer: Any) -> None:
        """Add a provider (kept once, in insertion order)."""
        if peer not in self._peers:
            self._peers.append(peer)

    @property
    def peers(self) -> list[Any]:
        return list(self._peers)

    async def find_providers(self, cid: bytes) -> list[Any]:
        return list(self._peers)

    def __repr__(self) -> str:
        return f"StaticRouting({self._peers!r})"
