"""A router that composes content routers: static peers, the DHT(s), delegated routing.

Spec: none of its own; boxo's ``routing/composable`` (Parallel) and ``providerquerymanager``
are the models. Every source is asked at once; the answer merges theirs in the order the
sources were given (static peers first: they are the ones the user named), one entry per
provider with at most ``ROUTING_MAX_ADDRS_PER_PROVIDER`` addresses, at most ``max_providers``
providers. A source that fails or is slow costs only itself: errors are logged and counted,
and the router answers once every source has, or ``early_return`` seconds after the first
source found a provider (what a fetch waits for is its first provider, not the slowest source),
or at ``timeout``.

Concurrent queries for one CID share one search: the client engine asks again for the same CID
from several sessions (and again when peers keep saying DONT_HAVE), and each would otherwise
start its own DHT walk.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from .. import _defaults
from ..net.keys import PeerId
from ..net.multiaddr import Multiaddr
from .static import ContentRouting

__all__ = ["Router"]

log = logging.getLogger("fastswap.routing")

#: Seconds the router waits for slower sources once one has found a provider.
EARLY_RETURN_SECONDS = 1.0


class Router:
    """``find_providers`` over several routers in parallel (see the module docstring)."""

    def __init__(
        self,
        routers: Sequence[ContentRouting],
        *,
        max_providers: int = _defaults.ROUTING_MAX_PROVIDERS,
        timeout: float = _defaults.ROUTING_TIMEOUT_SECONDS,
        early_return: float = EARLY_RETURN_SECONDS,
    ) -> None:
        self.routers = list(routers)
        self.max_providers = max_providers
        self.timeout = timeout
        self.early_return = early_return
        self._searches: dict[bytes, asyncio.Task[list[Any]]] = {}
        self.counters = {"queries": 0, "shared": 0, "errors": 0}

    def __repr__(self) -> str:
        return f"Router({self.routers!r})"

    async def find_providers(self, cid: bytes) -> list[Any]:
        """Providers of *cid*: PeerIds and multiaddrs (``/p2p/`` where known)."""
        cid = bytes(cid)
        self.counters["queries"] += 1
        task = self._searches.get(cid)
        if task is None:
            task = asyncio.ensure_future(self._search(cid))
            self._searches[cid] = task
            task.add_done_callback(lambda _t: self._searches.pop(cid, None))
        else:
            self.counters["shared"] += 1
        # one caller giving up must not cancel the others' search
        return list(await asyncio.shield(task))

    async def _ask(self, router: ContentRouting, cid: bytes) -> list[Any]:
        try:
            return list(await router.find_providers(cid))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - one source's failure is not the router's
            self.counters["errors"] += 1
            log.info("content router %r failed: %s", router, exc)
            return []

    async def _search(self, cid: bytes) -> list[Any]:
        tasks = [asyncio.ensure_future(self._ask(r, cid)) for r in self.routers]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        try:
            pending = set(tasks)
            while pending:
                left = deadline - loop.time()
                if left <= 0:
                    break
                _, pending = await asyncio.wait(
                    pending, timeout=left, return_when=asyncio.FIRST_COMPLETED)
                if any(t.done() and t.result() for t in tasks):
                    deadline = min(deadline, loop.time() + self.early_return)
        finally:
            for t in tasks:
                if not t.done():
                    t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return self.merge(t.result() for t in tasks if t.done() and not t.cancelled())

    def merge(self, answers: Iterable[Iterable[Any]]) -> list[Any]:
        """One entry list from several sources' answers, in source order, capped."""
        per_peer: dict[Any, list[Any]] = {}
        for answer in answers:
            for item in answer:
                if isinstance(item, PeerId):
                    peer: Any = item
                elif isinstance(item, Multiaddr):
                    peer = item.peer_id or item  # an address without /p2p/ stands alone
                else:
                    continue
                entries = per_peer.get(peer)
                if entries is None:
                    if len(per_peer) >= self.max_providers:
                        continue
                    entries = per_peer[peer] = []
                if item not in entries and len(entries) < _defaults.ROUTING_MAX_ADDRS_PER_PROVIDER:
                    entries.append(item)
        return [item for entries in per_peer.values() for item in entries]
