"""A virtual Kademlia network: many :class:`~fastswap.routing.kad.core.KadCore` nodes in one
process on a :class:`~.clock.VirtualClock`, for deterministic tests of the DHT at a scale real
hosts make slow (fifty nodes, thousands of lookups, records that expire after 48 hours).

It runs the same sans-IO core and lookup machine as :class:`~fastswap.routing.kad.dht.KadDHT`
and replaces only the I/O: an RPC is the request serialized, delivered after half a round trip
(the responder's ``KadCore.handle`` answers it at that virtual instant) and the answer delivered
after the other half; a node that is down makes the RPC fail after ``rpc_timeout``. Round trips
are drawn from the clock's seeded ``rng``, so a scenario replays exactly. A request also tells
the responder about the requester, as identify does on a real connection.

    swarm = KadSwarm(50, tmp_path, seed=1)
    swarm.bootstrap()
    swarm.provide(swarm.nodes[3], [cid])
    found = swarm.find_providers(swarm.nodes[7], cid)   # a finished Lookup
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from ..errors import SimulationError
from ..net.keys import Ed25519KeyPair, PeerId
from ..net.multiaddr import Multiaddr
from ..routing.kad.batch import assign, candidates, hash_keys, region_bits, split_regions
from ..routing.kad.core import KadConfig, KadCore
from ..routing.kad.dht import ProvideReport, cid_key
from ..routing.kad.lookup import Lookup
from ..routing.kad.messages import KadMessage, KadPeer, MessageType, decode, serialize
from ..routing.kad.records import ProviderStore
from .clock import VirtualClock

__all__ = ["KadSwarm", "SimKadNode"]


class SimKadNode:
    """One virtual DHT node: a core, an address (never dialled) and whether it is up."""

    def __init__(self, index: int, key: Ed25519KeyPair, store: ProviderStore,
                 config: KadConfig) -> None:
        self.index = index
        self.peer: PeerId = key.peer_id
        # a loopback address: nothing dials it, and nothing could leave the machine if it did
        self.addr = Multiaddr.parse(f"/ip4/127.0.0.1/tcp/{10000 + index}")
        self.core = KadCore(self.peer, store, config)
        self.up = True

    @property
    def info(self) -> KadPeer:
        return KadPeer(self.peer, (self.addr,))

    def __repr__(self) -> str:
        return f"<SimKadNode {self.index} {self.peer}>"


class _Walk:
    __slots__ = ("finished", "lookup", "mtype", "node", "started")

    def __init__(self, node: SimKadNode, lookup: Lookup, mtype: MessageType, now: float) -> None:
        self.node = node
        self.lookup = lookup
        self.mtype = mtype
        self.started = now
        self.finished: float | None = None


class KadSwarm:
    """*n* DHT nodes with provider stores under *directory*, on one virtual clock."""

    def __init__(
        self,
        n: int,
        directory: str | os.PathLike[str],
        *,
        seed: int = 0,
        config: KadConfig | None = None,
        rtt: tuple[float, float] = (0.01, 0.1),
    ) -> None:
        if n < 1:
            raise SimulationError("a swarm needs at least one node")
        self.clock = VirtualClock(seed)
        self.config = config or KadConfig()
        self.rtt = rtt
        self.nodes: list[SimKadNode] = []
        self.by_peer: dict[PeerId, SimKadNode] = {}
        self.rpcs = 0
        self._in_flight = 0
        for i in range(n):
            key = Ed25519KeyPair.from_seed(self.clock.rng.randbytes(32))
            store = ProviderStore(os.path.join(os.fspath(directory), f"node{i}"),
                                  ttl=self.config.provider_ttl, map_size=64 << 20)
            node = SimKadNode(i, key, store, self.config)
            self.nodes.append(node)
            self.by_peer[node.peer] = node

    def close(self) -> None:
        for node in self.nodes:
            node.core.store.close()

    # -- the wire --------------------------------------------------------------------------

    def _half_rtt(self) -> float:
        return self.clock.rng.uniform(*self.rtt) / 2

    def _deliver(self, src: SimKadNode, dst: SimKadNode, req: bytes) -> KadMessage | None:
        """*req* arrives at *dst*: it learns *src* (identify) and answers."""
        now = self.clock.now
        dst.core.add_peer(src.peer, (src.addr,), now)
        if dst.core.admit(src.peer, now) is None:
            return None
        answer = dst.core.handle(src.peer, decode(req), now)
        return None if answer is None else decode(serialize(answer))

    def _send(self, src: SimKadNode, dst_peer: PeerId, msg: KadMessage) -> None:
        """A request without an answer (ADD_PROVIDER)."""
        dst = self.by_peer.get(dst_peer)
        self.rpcs += 1
        if dst is None or not dst.up:
            return
        self._in_flight += 1

        def arrive() -> None:
            self._in_flight -= 1
            if dst.up:
                self._deliver(src, dst, serialize(msg))

        self.clock.call_later(self._half_rtt(), arrive)

    # -- lookups ---------------------------------------------------------------------------

    def _pump(self, walk: _Walk) -> None:
        if walk.finished is not None:
            return
        lookup = walk.lookup
        for kp in lookup.next_queries():
            self._query(walk, kp)
        if lookup.done or lookup.inflight == 0:
            walk.finished = self.clock.now

    def _query(self, walk: _Walk, kp: KadPeer) -> None:
        src = walk.node
        dst = self.by_peer.get(kp.peer)
        self.rpcs += 1
        req = serialize(KadMessage(walk.mtype, walk.lookup.key))
        if dst is None or not dst.up:
            self.clock.call_later(self.config.rpc_timeout, self._failed, walk, kp)
            return

        def arrive() -> None:
            if not dst.up:
                self.clock.call_later(self.config.rpc_timeout, self._failed, walk, kp)
                return
            answer = self._deliver(src, dst, req)
            if answer is None:
                self.clock.call_later(self._half_rtt(), self._failed, walk, kp)
            else:
                self.clock.call_later(self._half_rtt(), self._answered, walk, kp, answer)

        self.clock.call_later(self._half_rtt(), arrive)

    def _answered(self, walk: _Walk, kp: KadPeer, answer: KadMessage) -> None:
        core = walk.node.core
        core.rpc_succeeded(kp.peer, kp.addrs, self.clock.now)
        core.learn(answer.closer)
        walk.lookup.on_response(kp.peer, answer.closer, answer.providers)
        self._pump(walk)

    def _failed(self, walk: _Walk, kp: KadPeer) -> None:
        walk.node.core.rpc_failed(kp.peer)
        walk.lookup.on_failure(kp.peer)
        self._pump(walk)

    def walk(self, node: SimKadNode, lookup: Lookup, mtype: MessageType) -> Lookup:
        """Run *lookup* from *node* to its end (or the query timeout) on the virtual clock."""
        w = _Walk(node, lookup, mtype, self.clock.now)
        self._pump(w)
        deadline = self.clock.now + self.config.query_timeout
        self.clock.run_until(lambda: w.finished is not None, deadline)
        w.finished = self.clock.now if w.finished is None else w.finished
        # answers still in flight land on a finished walk: let them, so time moves on cleanly
        self.clock.run_until(lambda: False, self.clock.now + max(self.rtt))
        return lookup

    # -- operations ------------------------------------------------------------------------

    def bootstrap(self, via: int = 0) -> None:
        """Each node joins knowing node *via* only, then looks up its own id and a random
        one (the spec's bootstrap walk)."""
        entry = self.nodes[via]
        for node in self.nodes:
            if node is entry:
                continue
            node.core.add_peer(entry.peer, (entry.addr,), self.clock.now)
            self.walk(node, node.core.lookup(node.peer.multihash), MessageType.FIND_NODE)
        for node in self.nodes:
            random_id = b"\x12\x20" + self.clock.rng.randbytes(32)
            self.walk(node, node.core.lookup(random_id), MessageType.FIND_NODE)

    def closest(self, node: SimKadNode, key: bytes) -> Lookup:
        return self.walk(node, node.core.lookup(key), MessageType.FIND_NODE)

    def provide(self, node: SimKadNode, cids: Sequence[bytes]) -> ProvideReport:
        """Announce *cids* from *node*, batched by keyspace region (``kad.batch``)."""
        k = self.config.k
        keys = hash_keys(cid_key(c) for c in cids)
        stats = ProvideReport(keys=len(keys))
        if not keys:
            return stats
        first = self.closest(node, keys[0][1])
        stats.lookups += 1
        bits = region_bits(keys[0][0], first.closest(), k)
        for region in split_regions(keys, bits):
            if region[0] == keys[0]:
                lookup = first
            else:
                lookup = self.closest(node, region[0][1])
                stats.lookups += 1
            peers = candidates(lookup.answered(), node.core.closest(region[0][1]))
            for peer, peer_keys in assign(region, peers, k).items():
                stats.peers.add(peer)
                for key in peer_keys:
                    self._send(node, peer, KadMessage(
                        MessageType.ADD_PROVIDER, key, providers=[node.info]))
                    stats.messages += 1
        self.clock.run_until(lambda: self._in_flight == 0, self.clock.now + 60.0)
        return stats

    def find_providers(self, node: SimKadNode, cid: bytes, count: int = 1) -> Lookup:
        """A GET_PROVIDERS walk for *cid* from *node* that stops at *count* providers."""
        lookup = node.core.lookup(cid_key(cid), want_providers=count)
        return self.walk(node, lookup, MessageType.GET_PROVIDERS)

    def advance(self, seconds: float) -> None:
        """Let *seconds* of virtual time pass (records age)."""
        self.clock.run_until(lambda: False, self.clock.now + seconds)
