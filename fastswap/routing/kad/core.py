"""One DHT node's protocol logic without I/O: libp2p/specs kad-dht "DHT operations" (the
responder side) and the bookkeeping both sides share.

:class:`KadCore` owns the routing table (:mod:`.table`), the provider records (:mod:`.records`)
and a bounded address book, and answers requests: ``handle(peer, request, now)`` returns the
response to write, or None (ADD_PROVIDER has none). It starts lookups (:mod:`.lookup`) seeded
from the table and learns from their outcomes. The asyncio driver (``dht.py``) and the virtual
network (``fastswap.testing.kad``) feed it the same events, so both run the same policy.

Responder rules (the spec's, and go-libp2p-kad-dht's where the spec is silent):

* FIND_NODE: the k closest peers of our table to the key, without the requester; the peer
  itself if we know it (the spec's "exact match").
* GET_PROVIDERS: the unexpired providers of the key (a multihash) and the k closest peers.
* ADD_PROVIDER: every provider entry whose id is the sender's is stored, with the addresses it
  gives; an entry naming another peer is a forgery (a strike).
* PING: PING. PUT_VALUE/GET_VALUE: not served yet (a strike-free empty answer to GET_VALUE
  with closer peers, as a peer that has no record would give; PUT_VALUE is ignored).

Hostile peers: every request costs a token (``KAD_REQUESTS_PER_SECOND`` with a burst); the
driver waits for tokens (backpressure) and gives up past ``KAD_MAX_REQUEST_DELAY_SECONDS`` of
backlog. Malformed messages, forged records, over-quota records and floods are strikes;
``KAD_MAX_STRIKES`` of them ban the peer for ``KAD_BAN_SECONDS``: it leaves the table and its
requests are refused. Each peer's first offence per ban period is logged, never every one.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ... import _defaults
from ...errors import KadMessageError
from ...net.keys import PeerId
from ...net.multiaddr import Multiaddr
from .lookup import Lookup
from .messages import KadMessage, KadPeer, MessageType, parse_addrs
from .records import ProviderStore
from .table import RoutingTable, kad_key

__all__ = ["KadConfig", "KadCore"]

log = logging.getLogger("fastswap.routing.kad")


@dataclass(frozen=True)
class KadConfig:
    """The DHT's tunables (defaults and their lineage: ``fastswap._defaults``)."""

    k: int = _defaults.KAD_K
    alpha: int = _defaults.KAD_ALPHA
    rpc_timeout: float = _defaults.KAD_RPC_TIMEOUT_SECONDS
    query_timeout: float = _defaults.KAD_QUERY_TIMEOUT_SECONDS
    provider_ttl: float = _defaults.KAD_PROVIDER_TTL_SECONDS
    refresh_interval: float = _defaults.KAD_REFRESH_INTERVAL_SECONDS
    gc_interval: float = _defaults.KAD_PROVIDER_GC_INTERVAL_SECONDS
    requests_per_second: float = _defaults.KAD_REQUESTS_PER_SECOND
    request_burst: int = _defaults.KAD_REQUEST_BURST
    max_request_delay: float = _defaults.KAD_MAX_REQUEST_DELAY_SECONDS
    max_strikes: int = _defaults.KAD_MAX_STRIKES
    ban_seconds: float = _defaults.KAD_BAN_SECONDS


class _PeerBudget:
    __slots__ = ("banned_until", "logged", "strikes", "tokens", "updated")

    def __init__(self, burst: int, now: float) -> None:
        self.tokens = float(burst)
        self.updated = now
        self.strikes = 0
        self.banned_until = 0.0
        self.logged = False


class KadCore:
    """The sans-IO DHT node: routing table, provider records, request handling, penalties."""

    def __init__(
        self,
        self_id: PeerId,
        store: ProviderStore,
        config: KadConfig = KadConfig(),
        *,
        server: bool = True,
    ) -> None:
        self.self_id = self_id
        self.store = store
        self.config = config
        self.server = server
        self.table = RoutingTable(self_id, k=config.k)
        self._addrs: OrderedDict[PeerId, tuple[Multiaddr, ...]] = OrderedDict()
        self._budgets: OrderedDict[PeerId, _PeerBudget] = OrderedDict()
        self.counters = {"requests": 0, "refused": 0, "strikes": 0, "bans": 0,
                         "records_added": 0, "records_refused": 0}

    # -- peers and addresses ---------------------------------------------------------------

    def learn(self, peers: Iterable[KadPeer], *, firsthand: bool = False) -> None:
        """Remember addresses; bounded, least recent dropped. Hearsay (peers named in answers)
        does not replace the addresses of a table peer, which came first-hand (identify, or the
        addresses we reached it at): a hostile answer cannot redirect our table."""
        book = self._addrs
        for p in peers:
            if not p.addrs or p.peer == self.self_id:
                continue
            if not firsthand and p.peer in self.table and book.get(p.peer):
                continue
            book[p.peer] = p.addrs
            book.move_to_end(p.peer)
        # table peers keep their addresses (they are moved to the recent end instead): with
        # more entries than table peers, each turn deletes one or passes a table peer
        while len(book) > _defaults.KAD_MAX_ADDRESS_BOOK + len(self.table):
            oldest = next(iter(book))
            if oldest in self.table:
                book.move_to_end(oldest)
            else:
                del book[oldest]

    def addrs(self, peer: PeerId) -> tuple[Multiaddr, ...]:
        return self._addrs.get(peer, ())

    def info(self, peer: PeerId) -> KadPeer:
        return KadPeer(peer, self.addrs(peer))

    def add_peer(self, peer: PeerId, addrs: Sequence[Multiaddr] = (), now: float = 0.0) -> bool:
        """A peer that serves the DHT (identify says so, or it answered a query) joins the
        table, unless banned. True if it is in the table."""
        if self.is_banned(peer, now):
            return False
        if addrs:
            self.learn([KadPeer(peer, tuple(a.without_p2p() for a in addrs))], firsthand=True)
        return self.table.add(peer)

    def rpc_succeeded(self, peer: PeerId, addrs: Sequence[Multiaddr], now: float) -> None:
        """*peer* answered an RPC: it serves the DHT, so it joins (or stays in) the table."""
        self.add_peer(peer, addrs, now)
        self.table.rpc_succeeded(peer)

    def rpc_failed(self, peer: PeerId) -> None:
        self.table.rpc_failed(peer)

    def closest(self, key: bytes, count: int | None = None,
                exclude: Iterable[PeerId] = ()) -> list[KadPeer]:
        """The closest table peers to *key* that we have addresses for."""
        count = self.config.k if count is None else count
        peers = self.table.closest(kad_key(key), count + 8, exclude)
        return [self.info(p) for p in peers if self._addrs.get(p)][:count]

    def lookup(self, key: bytes, *, want_providers: int = 0) -> Lookup:
        """A lookup of *key*, seeded with our closest table peers."""
        return Lookup(
            key, self.closest(key), self_id=self.self_id, k=self.config.k,
            alpha=self.config.alpha, want_providers=want_providers,
        )

    # -- admission and penalties -----------------------------------------------------------

    def _budget(self, peer: PeerId, now: float) -> _PeerBudget:
        b = self._budgets.get(peer)
        if b is None:
            b = self._budgets[peer] = _PeerBudget(self.config.request_burst, now)
            while len(self._budgets) > _defaults.KAD_MAX_ADDRESS_BOOK:
                self._budgets.popitem(last=False)
        else:
            self._budgets.move_to_end(peer)
        return b

    def is_banned(self, peer: PeerId, now: float) -> bool:
        b = self._budgets.get(peer)
        return b is not None and b.banned_until > now

    def admit(self, peer: PeerId, now: float) -> float | None:
        """Take a request token for *peer*: seconds to wait before serving the request (0 for
        now), or None if the request must be refused (banned, or too far over its rate)."""
        b = self._budget(peer, now)
        if b.banned_until > now:
            self.counters["refused"] += 1
            return None
        cfg = self.config
        b.tokens = min(float(cfg.request_burst),
                       b.tokens + (now - b.updated) * cfg.requests_per_second)
        b.updated = now
        b.tokens -= 1.0
        if b.tokens >= 0:
            return 0.0
        delay = -b.tokens / cfg.requests_per_second
        if delay > cfg.max_request_delay:
            b.tokens += 1.0
            self.counters["refused"] += 1
            self.strike(peer, now, "requests far over its rate")
            return None
        return delay

    def strike(self, peer: PeerId, now: float, reason: str) -> None:
        """Count an offence; ban the peer after ``max_strikes``. Logged once per ban period."""
        b = self._budget(peer, now)
        b.strikes += 1
        self.counters["strikes"] += 1
        if not b.logged:
            b.logged = True
            log.warning("DHT peer %s misbehaves: %s (further offences are counted, not "
                        "logged)", peer, reason)
        if b.strikes >= self.config.max_strikes and b.banned_until <= now:
            b.banned_until = now + self.config.ban_seconds
            b.strikes = 0
            b.logged = False
            self.counters["bans"] += 1
            self.table.remove(peer)
            log.warning("DHT peer %s banned for %.0f s after %d offences (last: %s)", peer,
                        self.config.ban_seconds, self.config.max_strikes, reason)

    # -- answering -------------------------------------------------------------------------

    def handle(self, peer: PeerId, req: KadMessage, now: float) -> KadMessage | None:
        """The answer to *req* from *peer*, or None when the request type has none."""
        self.counters["requests"] += 1
        if req.skipped:
            self.strike(peer, now, f"{req.skipped} unusable entries in a {req.type.name}")
        match req.type:
            case MessageType.FIND_NODE:
                closer = self.closest(req.key, exclude=(peer,))
                try:
                    target = PeerId.from_bytes(req.key)
                except ValueError:
                    target = None
                if target is not None and target != peer and self._addrs.get(target):
                    closer = [self.info(target)]
                return KadMessage(MessageType.FIND_NODE, req.key, closer=closer)
            case MessageType.GET_PROVIDERS:
                self._check_key(req.key)
                stored = self.store.get(req.key, now, _defaults.KAD_MAX_PROVIDER_PEERS)
                providers = []
                for pid, raw_addrs in stored:
                    addrs = parse_addrs(raw_addrs) or self.addrs(pid)
                    providers.append(KadPeer(pid, addrs))
                return KadMessage(MessageType.GET_PROVIDERS, req.key,
                                  closer=self.closest(req.key, exclude=(peer,)),
                                  providers=providers)
            case MessageType.ADD_PROVIDER:
                self._check_key(req.key)
                for p in req.providers:
                    if p.peer != peer:
                        self.strike(peer, now, "an ADD_PROVIDER for another peer")
                        continue
                    if self.store.add(req.key, peer, [bytes(a) for a in p.addrs], now):
                        self.counters["records_added"] += 1
                    else:
                        self.counters["records_refused"] += 1
                        self.strike(peer, now, "more provider records than its quota")
                return None
            case MessageType.PING:
                return KadMessage(MessageType.PING)
            case MessageType.GET_VALUE:
                return KadMessage(MessageType.GET_VALUE, req.key,
                                  closer=self.closest(req.key, exclude=(peer,)))
            case _:
                return None  # PUT_VALUE: we keep no values

    def _check_key(self, key: bytes) -> None:
        if not key:
            raise KadMessageError("a provider request without a key")

