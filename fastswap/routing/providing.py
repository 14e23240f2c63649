"""Providing: announce on the DHT what a node serves, and keep announcing it (libp2p/specs
kad-dht "Content routing": records expire, so providers re-announce; Kubo's reprovider with
its ``Reprovider.Strategy`` "roots" and "all" is the model).

:class:`Provider` holds the CIDs a node serves and a strategy:

* ``"roots"``: the roots handed to :meth:`Provider.add` (what ``fastswap seed`` prints). A
  fetcher finds the root's providers and then asks them for every block (Bitswap sessions ask
  the peers that had the root first), so this is enough for whole-DAG fetches and costs one
  record per file.
* ``"all"``: every block in the blockstore, so a fetcher that starts from any block finds us.

``add`` announces at once (every DHT in parallel, batched: ``KadDHT.provide_many``), and every
``interval`` (``KAD_REPROVIDE_INTERVAL_SECONDS``, 22 h against a 48 h record life) everything
is announced again. A round that fails is logged and tried again at the next interval.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from .. import _defaults
from ..errors import RoutingError
from .kad.dht import KadDHT, ProvideReport

__all__ = ["STRATEGIES", "Provider"]

log = logging.getLogger("fastswap.routing")

STRATEGIES = ("roots", "all")


class Provider:
    """Announces what a node serves on *dhts*; ``start()`` re-announces every *interval*."""

    def __init__(
        self,
        dhts: Sequence[KadDHT],
        *,
        blockstore: Any = None,
        strategy: str = "roots",
        interval: float = _defaults.KAD_REPROVIDE_INTERVAL_SECONDS,
    ) -> None:
        if strategy not in STRATEGIES:
            raise RoutingError(f"provide strategy {strategy!r}: use one of {STRATEGIES}")
        if strategy == "all" and blockstore is None:
            raise RoutingError("the 'all' provide strategy needs the node's blockstore")
        if interval <= 0:
            raise RoutingError("the reprovide interval must be positive")
        self.dhts = list(dhts)
        self.blockstore = blockstore
        self.strategy = strategy
        self.interval = interval
        self.roots: dict[bytes, None] = {}  # insertion-ordered set
        self.rounds = 0
        self._task: asyncio.Task[None] | None = None

    async def add(self, roots: Iterable[bytes]) -> list[ProvideReport]:
        """Serve *roots* from now on and announce them (under "all": every stored block)."""
        new = [bytes(r) for r in roots if bytes(r) not in self.roots]
        for r in new:
            self.roots[r] = None
        if self.strategy == "all":
            return await self.provide_all()
        return await self._provide(new)

    async def _cids(self) -> list[bytes]:
        if self.strategy == "roots":
            return list(self.roots)
        return await asyncio.to_thread(lambda: list(self.blockstore.cids()))

    async def provide_all(self) -> list[ProvideReport]:
        """Announce everything the strategy covers, now."""
        return await self._provide(await self._cids())

    async def _provide(self, cids: list[bytes]) -> list[ProvideReport]:
        if not cids:
            return []
        reports = await asyncio.gather(*(d.provide_many(cids) for d in self.dhts),
                                       return_exceptions=True)
        out = []
        for dht, rep in zip(self.dhts, reports):
            if isinstance(rep, BaseException):
                if isinstance(rep, asyncio.CancelledError):
                    raise rep
                log.warning("providing %d CIDs on %s failed: %s", len(cids), dht.protocol, rep)
                continue
            log.info("provided %d keys on %s to %d peers with %d lookups in %.2f s",
                     rep.keys, dht.protocol, len(rep.peers), rep.lookups, rep.seconds)
            out.append(rep)
        return out

    def start(self) -> None:
        """Re-announce every ``interval`` until :meth:`stop`."""
        if self._task is None:
            self._task = asyncio.ensure_future(self._reprovide_loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _reprovide_loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.rounds += 1
            try:
                await self.provide_all()
            except Exception:  # the next round tries again
                log.exception("reprovide round %d failed", self.rounds)
