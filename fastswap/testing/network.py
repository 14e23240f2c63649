"""A virtual network: many Bitswap engines in one process, on a virtual clock.

Spec: ipfs/specs bitswap-protocol (the messages exchanged are real, encoded and decoded Bitswap
messages) and DESIGN.md "Fetching (client): keep every peer busy", whose claims this network
makes testable. Every node is a :class:`~fastswap.server.engine.ServerEngine`, a
:class:`~fastswap.client.engine.ClientEngine` and a
:class:`~fastswap.blockstore.memory.MemoryBlockstore` (under the identity layer, as a Node's
store is), driven the way ``fastswap.Node`` drives them, except that the sockets are simulated
links and the clock is virtual
(:mod:`fastswap.testing.clock`). Same seed, same run: events at the same instant run in the order
they were scheduled, and the only randomness is the seeded ``rng``.

The link model. Each connection has two directions (:class:`_Pipe`); a direction sends one
message at a time, FIFO: a message of ``n`` bytes (encoded, with its length prefix) occupies the
sender for ``n / bandwidth`` seconds (serialization) and arrives ``latency`` seconds after it
left. A node's :class:`Link` is its access link; a connection takes the larger latency and the
smaller bandwidth of its two ends unless :meth:`VirtualNetwork.connect` is given a link of its
own. A node may also have an ``uplink``: one upload FIFO shared by all its connections, for
the messages that carry blocks (small control messages -- wants, cancels, presences -- go out on
their connection's own pipe at once, as separate TCP flows would).

The driver loop (what ``fastswap.Node`` does with sockets, done here with events). After every
event that touches a node: send ``client.outgoing(now)``; answer ``client.actions(now)``
(FindProviders, from a network-wide provider index, after ``routing_delay``; DisconnectPeer
closes the connection; WantFailed fails the session's :class:`Fetch`, recorded in its
``failed``, and closes the session); serve
``server.peers_with_work()`` with ``next_response`` while the direction toward that peer has at
most ``send_buffer`` bytes not yet serialized (the socket's write buffer: a real Node awaits
``drain()``), calling ``response_sent`` once the response has left; and arm a timer at
``client.next_deadline()``. On arrival a message is decoded and given to the server (its
wantlist) and the client (blocks and presences); received blocks are stored and announced with
``server.blocks_added``.

What is measured (:class:`NodeMetrics`, :class:`PeerMetrics`): blocks and bytes received per
peer (and each peer's share of them, :meth:`NodeMetrics.share`), duplicates (a block the node
already had), wants as seen on the wire (want-blocks sent to a peer that did not hold the block,
the most want-blocks outstanding at a peer, the largest ``pending_bytes`` a peer reported and how
many seconds of that peer's upload it was: ``max_queue_seconds``), how long messages carrying
wants waited behind earlier messages on their connection (``want_delay``: head-of-line blocking
behind blocks this node uploads to the same peer) and idle time. :meth:`VirtualNetwork.link_bound`
gives the least time the links allow for a set of fetches, the yardstick for their durations.

Why several measures: each alone is passed by some naive client (tests/testing/naive.py). Idle
time (below) cannot see over-assignment: a client that sends every want to the first peer keeps
that peer busy and leaves nothing "waiting" for the others, so nobody idles while three of four
seeders sit unused. The holders' shares and the duration against :meth:`link_bound` see that;
duplicates see a client that asks every peer for everything; ``max_queue_seconds`` sees a client
that floods a peer with more wants than it can serve soon.

A peer P is *idle* toward a leecher L while the two are connected and up, L has waiting work P
could do, nothing is in flight from P to L, and, for a P with a shared ``uplink``, that uplink is
not serializing anything either. L's *waiting work for P* is a block L wants, P holds, and L has
not given to other peers only: no want-block for it is outstanding (on the wire: sent, and not
yet answered by the block, DONT_HAVE, a cancel or a new full wantlist), or one is outstanding at
P itself. So "idle" means capacity wasted while wants remain unserved, which is what the client
controls ("keep every peer busy"):

* a block L already asked another peer for is that peer's work. Were it counted for P too, P
  would count as idle until the client moved the want, and moving a want a server may already
  have sent is a duplicate; the duplicate bounds and the idle bound would then contradict each
  other. (Measured with that stricter count, 1 seeder -> 8 leechers: leecher pairs idled 27-50%
  toward each other, all of it on blocks queued at the seeder; moving them cost 6-15 duplicates
  per leecher.)
* a node whose one upload FIFO is busy serving other leechers has nothing left to give this one
  (with the pairwise condition alone, leecher pairs of the shared-uplink swarm idled 57-70% "of
  their serve time" while those uplinks ran flat out). Nodes without an ``uplink`` have one
  independent pipe per connection: an empty pipe toward L is capacity not used.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Self

from .._defaults import MAX_BLOCK_SIZE
from ..blockstore.identity import IdentityBlockstore, with_identity
from ..blockstore.memory import MemoryBlockstore
from ..cid import compute_cid, to_str
from ..client.naming import name_blocks
from ..core import DriverCore, pack_response
from ..errors import SimulationError
from ..events import (
    BadBlock,
    Deadline,
    DisconnectPeer,
    DontHave,
    FindProviders,
    Have,
    PeerMisbehaved,
    SendMessage,
    ServePeer,
    StoreBlocks,
    WantFailed,
)
from ..message import WANT_HAVE, Message, decode_message, encode_message, frame_length_prefix
from ..message.versions import BITSWAP_1_2_0, BITSWAP_PROTOCOLS, VERSIONS
from .clock import Timer, VirtualClock

__all__ = [
    "Fetch",
    "Link",
    "NodeMetrics",
    "PeerKey",
    "PeerMetrics",
    "VirtualNetwork",
    "VirtualNode",
    "random_blocks",
]



class PeerKey(int):
    """How the engines see a virtual node: an int (the node's index in the network) whose repr is
    the node's name. Engines keep peers in dicts and sets; a str name's hash is salted per process
    (PYTHONHASHSEED), so where an engine iterates a set of peers, string keys would make a run
    replay differently in another process. An int's hash is itself: runs replay everywhere."""

    name: Hashable

    def __new__(cls, index: int, name: Hashable) -> Self:
        self = super().__new__(cls, index)
        self.name = name
        return self

    def __repr__(self) -> str:
        return f"<peer {self.name!r}>"

    __str__ = __repr__


#: A timer whose deadline has already passed right after a tick is re-armed this far ahead, the
#: resolution of a real event loop's timers; without it an engine whose deadline never moves
#: would spin forever at one instant.
TIMER_RESOLUTION = 1e-3


@dataclass(frozen=True)
class Link:
    """A node's access link: one-way ``latency`` in seconds, ``bandwidth`` in bytes per second in
    each direction, and ``jitter``: up to this many extra seconds of latency per message, drawn
    from the network's seeded rng (messages still arrive in order, as on one TCP stream)."""

    latency: float = 0.01
    bandwidth: float = 100e6
    jitter: float = 0.0

    def __post_init__(self) -> None:
        for name in ("latency", "jitter"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or math.isnan(v) or math.isinf(v) or v < 0:
                raise SimulationError(
                    f"Link.{name} must be a finite number of seconds >= 0, not {v!r}"
                )
        bw = self.bandwidth
        if not isinstance(bw, (int, float)) or math.isnan(bw) or bw <= 0:
            raise SimulationError(
                f"Link.bandwidth must be a number of bytes per second > 0, not {bw!r}"
                " (disconnect the nodes to model a dead link)"
            )

    @staticmethod
    def between(a: Link, b: Link) -> Link:
        """The path between two access links: the slower end sets both latency and bandwidth."""
        return Link(
            max(a.latency, b.latency), min(a.bandwidth, b.bandwidth), max(a.jitter, b.jitter)
        )


@dataclass
class PeerMetrics:
    """What one node saw of one peer. Received/sent are from this node's side."""

    blocks: int = 0  # blocks received from the peer (duplicates included)
    bytes: int = 0  # block bytes received from the peer (duplicates included)
    duplicates: int = 0  # blocks from the peer that this node already had
    duplicate_bytes: int = 0
    blocks_sent: int = 0  # blocks this node's server sent to the peer
    bytes_sent: int = 0
    haves: int = 0  # HAVE presences received from the peer
    dont_haves: int = 0
    want_blocks_sent: int = 0  # want-block entries this node sent to the peer
    want_haves_sent: int = 0
    cancels_sent: int = 0
    misrouted_want_blocks: int = 0  # want-blocks sent to the peer for a block it did not hold
    max_outstanding_wants: int = 0  # most want-blocks sent to the peer and not yet answered
    max_pending_bytes: int = 0  # largest pending_bytes the peer reported to this node
    # the longest a pending_bytes report would take the peer to send at its upload rate toward
    # this node when the report arrived: how deep this node's wants queue up at the peer
    max_queue_seconds: float = 0.0
    # seconds messages carrying wants to the peer left later than they would have on an idle
    # connection (the most, and the sum): head-of-line blocking behind the blocks this node
    # uploads to the same peer
    max_want_delay: float = 0.0
    want_delay: float = 0.0
    serve_time: float = 0.0  # seconds connected while this node wanted blocks the peer held
    idle_time: float = 0.0  # ...of which nothing was in flight from the peer to this node

    @property
    def idle_fraction(self) -> float:
        return self.idle_time / self.serve_time if self.serve_time > 0 else 0.0

    @property
    def useful_bytes(self) -> int:
        """Block bytes received from the peer that this node did not have yet."""
        return self.bytes - self.duplicate_bytes


@dataclass
class NodeMetrics:
    blocks_received: int = 0
    bytes_received: int = 0
    duplicates: int = 0
    duplicate_bytes: int = 0
    bad_blocks: int = 0
    unwanted_blocks: int = 0  # blocks no fetch of this node wanted (not stored)
    peers_disconnected: int = 0  # peers dropped (DisconnectPeer: bad data, or a low score)
    messages_sent: int = 0
    messages_received: int = 0
    wire_bytes_sent: int = 0
    wire_bytes_received: int = 0
    # sent to a peer with no connection (the engine's mistake), or lost to a vanished peer
    dropped_messages: int = 0
    provider_queries: int = 0
    wants_failed: int = 0  # wants the client gave up on (nobody could provide them)
    peers: dict[Hashable, PeerMetrics] = field(default_factory=dict)

    def peer(self, name: Hashable) -> PeerMetrics:
        pm = self.peers.get(name)
        if pm is None:
            pm = self.peers[name] = PeerMetrics()
        return pm

    @property
    def unique_blocks(self) -> int:
        return self.blocks_received - self.duplicates

    @property
    def duplicate_ratio(self) -> float:
        """Duplicate blocks per useful block received."""
        return self.duplicates / self.unique_blocks if self.unique_blocks else 0.0

    @property
    def serve_time(self) -> float:
        return sum(p.serve_time for p in self.peers.values())

    @property
    def idle_time(self) -> float:
        return sum(p.idle_time for p in self.peers.values())

    @property
    def idle_fraction(self) -> float:
        """Idle peer-seconds over peer-seconds in which a connected peer held a wanted block."""
        serve = self.serve_time
        return self.idle_time / serve if serve > 0 else 0.0

    def share(self, name: Hashable) -> float:
        """The fraction of the block bytes this node received that came from peer *name*
        (duplicates included: bytes a peer spent on this node, useful or not)."""
        pm = self.peers.get(name)
        return pm.bytes / self.bytes_received if pm is not None and self.bytes_received else 0.0

    @property
    def max_want_delay(self) -> float:
        """The longest any message carrying wants waited on one of this node's connections."""
        return max((p.max_want_delay for p in self.peers.values()), default=0.0)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            f.name: getattr(self, f.name) for f in fields(self) if f.name != "peers"
        }
        out["peers"] = {
            p: {f.name: getattr(pm, f.name) for f in fields(pm)} for p, pm in self.peers.items()
        }
        return out


class _Pipe:
    """One direction of one connection: a FIFO that serializes one message at a time."""

    __slots__ = (
        "busy_until",
        "closed",
        "dst",
        "in_flight",
        "last_arrival",
        "link",
        "src",
        "version",
    )

    def __init__(self, src: VirtualNode, dst: VirtualNode, link: Link, version: str) -> None:
        self.src = src
        self.dst = dst
        self.link = link
        self.version = version
        self.busy_until = 0.0  # when the sender finishes serializing what it has queued
        self.last_arrival = 0.0
        self.in_flight = 0  # messages sent and not yet delivered
        self.closed = False

    def backlog(self, now: float) -> float:
        """Bytes queued on the sender and not yet serialized."""
        return max(0.0, self.busy_until - now) * self.link.bandwidth


class Fetch:
    """A node's request for blocks: one client session wanting ``cids``."""

    def __init__(self, node: VirtualNode, cids: Sequence[bytes]) -> None:
        self.node = node
        self.cids = list(cids)
        self.remaining: set[bytes] = set(self.cids)
        self.session: int | None = None
        self.started: float | None = None
        self.finished: float | None = None
        #: wants the client gave up on (WantFailed: nobody could provide them), and when
        self.failed: dict[bytes, WantFailed] = {}
        self.failed_at: float | None = None

    @property
    def done(self) -> bool:
        return self.finished is not None

    @property
    def over(self) -> bool:
        """Done, or failed: a want of it was given up on (its session is closed)."""
        return self.finished is not None or self.failed_at is not None

    @property
    def duration(self) -> float | None:
        if self.finished is None or self.started is None:
            return None
        return self.finished - self.started

    def __repr__(self) -> str:
        state = (
            f"done in {self.duration:.4f} s" if self.done
            else f"failed at {self.failed_at:.4f} s ({len(self.failed)} given up)"
            if self.failed_at is not None else f"{len(self.remaining)} remaining"
        )
        return f"Fetch({self.node.name!r}, {len(self.cids)} blocks, {state})"


class VirtualNode:
    """One simulated peer: its engines, its store, its link and what it measured."""

    def __init__(
        self,
        name: Hashable,
        link: Link,
        version: str,
        store: IdentityBlockstore,
        server: Any,
        client: Any,
    ) -> None:
        self.name = name
        self.key: PeerKey  # set by the network: what the engines call this node
        self.link = link
        self.version = version
        self.store = store
        #: the driver core shared with fastswap.Node: the network only simulates the I/O
        self.core = DriverCore(server, client)
        self.up = True
        self.metrics = NodeMetrics()
        self.fetches: list[Fetch] = []
        self.wanted: set[bytes] = set()  # cids some fetch wants that are not stored yet
        self.peers: dict[Hashable, str] = {}  # connected peer -> negotiated protocol
        self.uplink: float | None = None  # total upload bytes/s shared by all its connections
        self._uplink_busy_until = 0.0
        self._timer: Timer | None = None
        self._last_tick = -1.0
        # want-blocks sent to each peer and not yet answered (block, DONT_HAVE, cancel or a new
        # full list), and for each cid how many peers hold such a want-block from this node
        self._outstanding: dict[Hashable, set[bytes]] = {}
        self._assigned: dict[bytes, set[Hashable]] = {}

    @property
    def server(self) -> Any:
        return self.core.server

    @property
    def client(self) -> Any:
        return self.core.client

    def __repr__(self) -> str:
        return (
            f"VirtualNode({self.name!r}, {len(self.store)} blocks, {'up' if self.up else 'down'})"
        )


def random_blocks(n: int, size: int, seed: int = 0) -> list[tuple[bytes, bytes]]:
    """*n* distinct random raw blocks of *size* bytes as ``(cid, data)``, the same for a seed."""
    import random

    if n < 0 or size <= 0:
        raise SimulationError(f"need n >= 0 blocks of size > 0 bytes, not n={n!r}, size={size!r}")
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        data = rng.randbytes(size)
        out.append((compute_cid(data), data))
    return out


def _default_server(store: IdentityBlockstore) -> Any:
    from ..server.engine import ServerEngine

    return ServerEngine(store)


def _default_client(index: int) -> Any:
    from ..client.engine import ClientConfig, ClientEngine

    # each node orders its waiting wants with its own seed (its index: no rng draw, so adding
    # nodes does not shift the link jitter), as real swarm members would; see ClientEngine's
    # "Order within a session"
    return ClientEngine(config=ClientConfig(order_seed=index))


class VirtualNetwork:
    """Nodes, the links between them and the clock that drives them.

        net = VirtualNetwork(seed=1)
        blocks = random_blocks(64, 16384)
        net.add_node("seed", blocks=blocks)
        net.add_node("leech", link=Link(latency=0.02, bandwidth=10e6))
        net.connect("seed", "leech")
        f = net.fetch("leech", [c for c, _ in blocks])
        assert net.run_until(lambda: f.done, max_time=60)

    ``server_factory(store)`` and ``client_factory()`` build each node's engines (defaults: the
    real ServerEngine and ClientEngine); ``add_node`` can also take ready engines.
    ``send_buffer``: bytes a connection may have queued unserialized before the server is asked
    for another response (0: only when the link is free). ``response_bytes``: the ``max_bytes``
    passed to ``next_response`` (default: the server's own target). ``routing_delay``: seconds a
    FindProviders query takes. ``max_events``: the clock's event budget.
    """

    def __init__(
        self,
        seed: int = 0,
        *,
        server_factory: Callable[[IdentityBlockstore], Any] | None = None,
        client_factory: Callable[[], Any] | None = None,
        send_buffer: int = 0,
        routing_delay: float = 0.05,
        response_bytes: int | None = None,
        max_events: int | None = None,
    ) -> None:
        if response_bytes is not None and response_bytes <= 0:
            raise SimulationError(f"response_bytes must be > 0, not {response_bytes!r}")
        if send_buffer < 0:
            raise SimulationError(f"send_buffer must be >= 0 bytes, not {send_buffer!r}")
        if routing_delay < 0:
            raise SimulationError(f"routing_delay must be >= 0 seconds, not {routing_delay!r}")
        self.clock = (
            VirtualClock(seed) if max_events is None else VirtualClock(seed, max_events=max_events)
        )
        self.rng = self.clock.rng
        self.send_buffer = send_buffer
        self.routing_delay = routing_delay
        self.response_bytes = response_bytes
        self._server_factory = server_factory or _default_server
        self._client_factory = client_factory
        self.nodes: dict[Hashable, VirtualNode] = {}
        self._by_key: list[VirtualNode] = []  # PeerKey -> node
        self._pipes: dict[tuple[Hashable, Hashable], _Pipe] = {}
        self._providers: dict[bytes, set[Hashable]] = {}  # cid -> up nodes holding it
        self._wanters: dict[bytes, set[Hashable]] = {}  # cid -> nodes wanting it
        # (leecher, peer) -> how many blocks the leecher wants that the peer holds
        self._servable: dict[tuple[Hashable, Hashable], int] = {}
        # (leecher, peer) -> [since, servable, idle]: the state of the idle accounting
        self._pair_state: dict[tuple[Hashable, Hashable], list] = {}

    # -- building the network -------------------------------------------------------------------

    @property
    def now(self) -> float:
        return self.clock.now

    def node(self, name: Hashable) -> VirtualNode:
        try:
            return self.nodes[name]
        except KeyError:
            raise SimulationError(f"no node named {name!r}; add it with add_node first") from None

    def add_node(
        self,
        name: Hashable,
        blocks: Iterable[Any] = (),
        link: Link | None = None,
        *,
        version: str = BITSWAP_1_2_0,
        uplink: float | None = None,
        server: Any = None,
        client: Any = None,
    ) -> VirtualNode:
        """A new node holding *blocks* (``(cid, data)`` pairs, Blocks, or bare data, named by
        their raw CIDv1); not connected to anyone yet. ``uplink``: the node's total upload in
        bytes/s, shared by all its connections in one FIFO (default: no cap beyond each
        connection's own bandwidth), so a seeder's many leechers compete for it."""
        if uplink is not None and (not isinstance(uplink, (int, float)) or not uplink > 0):
            raise SimulationError(
                f"uplink must be a number of bytes per second > 0, not {uplink!r}"
            )
        if name in self.nodes:
            raise SimulationError(f"a node named {name!r} exists already; names must be unique")
        if version not in VERSIONS:
            raise SimulationError(
                f"unknown Bitswap protocol {version!r}; use one of {list(BITSWAP_PROTOCOLS)}"
            )
        # identity CIDs are answered from the CID, as a Node's store does (never fetched)
        store = with_identity(MemoryBlockstore())
        for item in blocks:
            if isinstance(item, (bytes, bytearray, memoryview)):
                data = bytes(item)
                cid = compute_cid(data)
            elif isinstance(item, tuple):
                cid, data = item
            else:
                cid, data = item.cid, item.data
            store.put(cid, data)
        node = VirtualNode(
            name,
            link or Link(),
            version,
            store,
            server if server is not None else self._server_factory(store),
            client if client is not None else self._make_client(),
        )
        node.uplink = None if uplink is None else float(uplink)
        node.key = PeerKey(len(self.nodes), name)
        self.nodes[name] = node
        self._by_key.append(node)
        for cid in store.cids():
            self._providers.setdefault(cid, set()).add(name)
        return node

    def _make_client(self) -> Any:
        if self._client_factory is not None:
            return self._client_factory()
        return _default_client(len(self.nodes))

    def connect(
        self, a: Hashable, b: Hashable, link: Link | None = None, *, at: float | None = None
    ) -> None:
        """Connect *a* and *b* (now, or at virtual time *at*); both engines of both are told."""
        na, nb = self.node(a), self.node(b)
        if na is nb:
            raise SimulationError(f"node {a!r} cannot connect to itself")
        self._later(at, self._connect, na, nb, link)

    def connect_all(self, names: Iterable[Hashable] | None = None) -> None:
        """Connect every pair among *names* (default: all nodes), now."""
        ns = list(self.nodes if names is None else names)
        for i, a in enumerate(ns):
            for b in ns[i + 1 :]:
                self.connect(a, b)

    def disconnect(self, a: Hashable, b: Hashable, *, at: float | None = None) -> None:
        """Close the connection: messages in flight on it are lost; both sides are told."""
        self._later(at, self._disconnect, self.node(a), self.node(b))

    def leave(self, name: Hashable, *, at: float | None = None) -> None:
        """The node goes away for good (now or at *at*): every connection of it closes."""
        self._later(at, self._leave, self.node(name))

    def vanish(self, name: Hashable, *, at: float | None = None) -> None:
        """The node goes silent (a crash, a cut cable): it stops receiving and sending, but its
        connections stay open and its peers are not told, so only their timeouts can notice."""
        self._later(at, self._vanish, self.node(name))

    def set_uplink(self, name: Hashable, uplink: float | None, *, at: float | None = None) -> None:
        """Change *name*'s shared upload rate (bytes/s; None: no cap beyond each connection's
        bandwidth), now or at virtual time *at*: a peer whose speed changes mid-transfer (other
        traffic, a congested path). Messages already queued keep the times they were given."""
        if uplink is not None and (not isinstance(uplink, (int, float)) or not uplink > 0):
            raise SimulationError(
                f"uplink must be a number of bytes per second > 0 or None, not {uplink!r}"
            )
        self._later(at, self._set_uplink, self.node(name), uplink)

    def _set_uplink(self, node: VirtualNode, uplink: float | None) -> None:
        node.uplink = None if uplink is None else float(uplink)

    def fetch(self, name: Hashable, cids: Sequence[bytes], *, at: float | None = None) -> Fetch:
        """*name* opens a client session and wants *cids* (now or at *at*)."""
        f = Fetch(self.node(name), cids)
        self._later(at, self._start_fetch, f)
        return f

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any) -> Timer:
        return self.clock.call_at(when, callback, *args)

    def connected(self, a: Hashable, b: Hashable) -> bool:
        return (a, b) in self._pipes

    def outstanding_wants(self, leecher: Hashable, peer: Hashable) -> int:
        """Want-blocks *leecher* has sent to *peer* (as seen on the wire) not yet answered by a
        block from that peer, cancelled, or dropped by a full wantlist / disconnect."""
        return len(self.node(leecher)._outstanding.get(peer, ()))

    def providers(self, cid: bytes) -> list[Hashable]:
        """Up nodes holding *cid*, in the order they were added (deterministic)."""
        have = self._providers.get(cid, ())
        return [n for n in self.nodes if n in have]

    def link_bound(self, fetches: Iterable[Fetch]) -> float:
        """The least time (virtual seconds) in which the links as they are now let *fetches*
        (started, not yet run) all finish, whatever the clients do. The longest of:

        * each fetch's missing bytes over the rate all its connections can bring them in at
          once (each peer's upload toward it: :meth:`_upload_rate`);
        * for each node, the wanted bytes only it holds over its upload rate (its ``uplink``,
          else the sum of its connections): each of those blocks leaves it at least once;
        * all fetches' missing bytes over the upload rate of every node at once;

        plus the fetch's shortest round trip (a want out, a block back). A client that finishes
        within a small factor of it used the links well; one that leaves holders unused, or
        queues everything behind one of them, cannot."""
        fs = list(fetches)
        if any(f.started is None or f.started < self.clock.now for f in fs):
            raise SimulationError(
                "link_bound() needs fetches that started now and have not run yet: call it"
                " between fetch() and run_until()"
            )
        sizes: dict[bytes, int] = {}
        for f in fs:
            if not f.node.peers:
                raise SimulationError(f"{f.node.name!r} has no connection: no bound exists")
            for cid in f.remaining:
                holder = next(iter(self._providers.get(cid, ())), None)
                if holder is None:
                    raise SimulationError(f"no node holds {to_str(cid)}: no bound exists")
                sizes[cid] = self.nodes[holder].store.get_size(cid)
        upload: dict[Hashable, float] = {}
        for (src, _dst), pipe in self._pipes.items():
            upload[src] = upload.get(src, 0.0) + pipe.link.bandwidth
        for name, total in upload.items():
            cap = self.nodes[name].uplink
            if cap is not None:
                upload[name] = min(total, cap)
        # each block that only one node holds leaves that node at least once
        only: dict[Hashable, int] = {}
        for cid, n in sizes.items():
            holders = self._providers[cid]
            if len(holders) == 1:
                (h,) = holders
                only[h] = only.get(h, 0) + n
        floor = max((b / upload[h] for h, b in only.items() if h in upload), default=0.0)
        total_up = sum(upload.values())
        floor = max(floor, sum(sizes[c] for f in fs for c in f.remaining) / total_up)
        bound = 0.0
        for f in fs:
            node = f.node
            pipes = [self._pipes[(p, node.name)] for p in node.peers]
            inflow = sum(self._upload_rate(p.src, p.link) for p in pipes)
            need = sum(sizes[c] for c in f.remaining)
            rtt = min(2 * p.link.latency for p in pipes)
            bound = max(bound, max(floor, need / inflow) + rtt)
        return bound

    # -- running --------------------------------------------------------------------------------

    def run_until(self, predicate: Callable[[], bool], max_time: float) -> bool:
        """Run until ``predicate()`` holds or virtual time passes *max_time*; its final value."""
        ok = self.clock.run_until(predicate, max_time)
        self._settle()
        return ok

    def run_fetches(self, fetches: Iterable[Fetch], max_time: float) -> bool:
        """Run until every fetch is over (done, or failed); whether all are done."""
        fs = list(fetches)
        self.run_until(lambda: all(f.over for f in fs), max_time)
        return all(f.done for f in fs)

    def metrics(self, name: Hashable) -> NodeMetrics:
        self._settle()
        return self.node(name).metrics

    def snapshot(self) -> dict[Hashable, dict[str, Any]]:
        """Every node's metrics as plain data (compare two runs of one seed with ==)."""
        self._settle()
        out: dict[Hashable, dict[str, Any]] = {}
        for name, node in self.nodes.items():
            d = node.metrics.as_dict()
            d["fetches"] = [(f.started, f.finished, len(f.remaining)) for f in node.fetches]
            out[name] = d
        out["__clock__"] = {"now": self.clock.now, "events": self.clock.events_run}
        return out

    # -- events ---------------------------------------------------------------------------------

    def _later(self, at: float | None, fn: Callable[..., Any], *args: Any) -> None:
        if at is None or at <= self.clock.now:
            if at is not None and at < self.clock.now:
                raise SimulationError(
                    f"cannot schedule at {at} s: the clock is already at {self.clock.now} s"
                )
            fn(*args)
        else:
            self.clock.call_at(at, fn, *args)

    def _connect(self, a: VirtualNode, b: VirtualNode, link: Link | None) -> None:
        if a is b:
            raise SimulationError(f"node {a.name!r} cannot connect to itself")
        if not (a.up and b.up) or (a.name, b.name) in self._pipes:
            return
        link = link or Link.between(a.link, b.link)
        # a connection speaks the older of its two ends' newest protocol (multistream-select
        # settles on the first protocol both sides know, and every node knows the older ones)
        version = min(a.version, b.version, key=lambda v: VERSIONS[v].rank)
        self._pipes[(a.name, b.name)] = _Pipe(a, b, link, version)
        self._pipes[(b.name, a.name)] = _Pipe(b, a, link, version)
        now = self.clock.now
        for x, y in ((a, b), (b, a)):
            x.peers[y.name] = version
            x.core.peer_connected(y.key, version, now)
        self._touch(a.name, b.name)
        self._touch(b.name, a.name)
        self._pump(a)
        self._pump(b)

    def _disconnect(self, a: VirtualNode, b: VirtualNode) -> None:
        if (a.name, b.name) not in self._pipes:
            return
        for x, y in ((a, b), (b, a)):
            pipe = self._pipes.pop((x.name, y.name))
            pipe.closed = True
            pipe.in_flight = 0
            del x.peers[y.name]
            for cid in x._outstanding.pop(y.name, ()):
                self._unassign(x, cid, y.name)
        now = self.clock.now
        self._touch(a.name, b.name)
        self._touch(b.name, a.name)
        for x, y in ((a, b), (b, a)):
            if x.up:
                x.core.peer_disconnected(y.key, now)
        self._pump(a)
        self._pump(b)

    def _leave(self, node: VirtualNode) -> None:
        if not node.up:
            return
        for peer in list(node.peers):
            self._disconnect(node, self.nodes[peer])
        node.up = False
        if node._timer is not None:
            node._timer.cancel()
        for cid in node.store.cids():
            self._providers.get(cid, set()).discard(node.name)

    def _vanish(self, node: VirtualNode) -> None:
        if not node.up:
            return
        node.up = False
        if node._timer is not None:
            node._timer.cancel()
        for cid in node.store.cids():
            self._providers.get(cid, set()).discard(node.name)
        for peer in node.peers:
            self._touch(peer, node.name)
            self._touch(node.name, peer)

    def _start_fetch(self, f: Fetch) -> None:
        node = f.node
        now = self.clock.now
        f.started = now
        node.fetches.append(f)
        have = node.store.has_many(f.cids)
        for cid, h in zip(f.cids, have):
            if h:
                f.remaining.discard(cid)
            elif cid not in node.wanted:
                self._add_want(node, cid)
        if not f.remaining:
            f.finished = now
            return
        if not node.up:
            return
        f.session = node.core.new_session(now)
        node.core.want(f.session, f.cids, now)
        self._pump(node)

    def _add_want(self, node: VirtualNode, cid: bytes) -> None:
        before = self._work_for(node, cid)
        node.wanted.add(cid)
        self._wanters.setdefault(cid, set()).add(node.name)
        self._update_work(node, cid, before)

    def _counts_for(self, node: VirtualNode, cid: bytes, peer: Hashable) -> bool:
        """Whether *cid* is work *peer* could be doing for *node*: wanted, and not given to other
        holders only (no want-block for it outstanding at a peer that holds it, or one at
        *peer*); see "idle" above. A want-block at a peer without the block is nobody's work."""
        if cid not in node.wanted:
            return False
        at = node._assigned.get(cid)
        if not at or peer in at:
            return True
        holders = self._providers.get(cid, ())
        return not any(q in holders for q in at)

    def _work_for(self, node: VirtualNode, cid: bytes) -> list[tuple[Hashable, bool]]:
        return [
            (p, self._counts_for(node, cid, p))
            for p in self._providers.get(cid, ())
            if p != node.name
        ]

    def _update_work(
        self, node: VirtualNode, cid: bytes, before: list[tuple[Hashable, bool]]
    ) -> None:
        """Apply the change of *cid*'s standing at *node* to the holders' servable counts."""
        for p, was in before:
            now_ = self._counts_for(node, cid, p)
            if now_ != was:
                key = (node.name, p)
                self._servable[key] = self._servable.get(key, 0) + (1 if now_ else -1)
                self._touch(node.name, p)

    def _assign(self, node: VirtualNode, cid: bytes, peer: Hashable) -> None:
        before = self._work_for(node, cid)
        node._assigned.setdefault(cid, set()).add(peer)
        self._update_work(node, cid, before)

    def _unassign(self, node: VirtualNode, cid: bytes, peer: Hashable) -> None:
        at = node._assigned.get(cid)
        if not at or peer not in at:
            return
        before = self._work_for(node, cid)
        at.discard(peer)
        if not at:
            del node._assigned[cid]
        self._update_work(node, cid, before)

    def _stored(self, node: VirtualNode, cids: list[bytes]) -> None:
        """Bookkeeping for blocks *node* just stored: wants met, providers, fetches done."""
        now = self.clock.now
        name = node.name
        for cid in cids:
            if cid in node.wanted:
                before = self._work_for(node, cid)
                node.wanted.discard(cid)
                self._wanters[cid].discard(name)
                self._update_work(node, cid, before)
            if node.up:
                # a new holder: its wanters' want-blocks at it become real work, which may take
                # the block off the other holders' counts
                wanters = [self.nodes[w] for w in self._wanters.get(cid, ())]
                befores = [self._work_for(w, cid) for w in wanters]
                self._providers.setdefault(cid, set()).add(name)
                for w, before in zip(wanters, befores):
                    self._update_work(w, cid, before)
                    if self._counts_for(w, cid, name):
                        key = (w.name, name)
                        self._servable[key] = self._servable.get(key, 0) + 1
                        self._touch(w.name, name)
        for f in node.fetches:
            if f.finished is None and f.remaining:
                f.remaining.difference_update(cids)
                if not f.remaining:
                    f.finished = now
                    if f.session is not None and node.up:
                        node.core.close_session(f.session, now)

    # -- the driver loop ------------------------------------------------------------------------

    def _pump(self, node: VirtualNode) -> None:
        """What a Node does after any event: carry out the core's actions (store what arrived,
        send wantlists, ask routing, serve peers, re-arm the timer)."""
        if not node.up:
            return
        now = self.clock.now
        for action in node.core.poll(now):
            match action:
                case StoreBlocks(_, blocks):
                    self._store_blocks(node, blocks)
                case SendMessage(peer, msg):
                    self._transmit(node, self._peer_name(node, peer), msg, None)
                case FindProviders(cid, session):
                    node.metrics.provider_queries += 1
                    self.clock.call_later(
                        self.routing_delay, self._answer_providers, node, bytes(cid), session)
                case ServePeer(peer):
                    self._serve(node, peer)
                case PeerMisbehaved():
                    pass  # counted from the client's events (_handle_events)
                case DisconnectPeer(peer, _, _):
                    # as a Node bans the peer (the core refuses it meanwhile: it drops its
                    # messages and refuses its peer_connected): close the pipes, after this
                    # event (a disconnect pumps both nodes itself)
                    other = self.nodes[self._peer_name(node, peer)]
                    node.metrics.peers_disconnected += 1
                    self.clock.call_at(self.clock.now, self._disconnect, node, other)
                case WantFailed():
                    self._want_failed(node, action)
                case Deadline(when):
                    self._arm_timer(node, when)

    def _serve(self, node: VirtualNode, peer: Any) -> None:
        """Hand responses for *peer* to its pipe while the pipe's backlog allows."""
        now = self.clock.now
        name = self._peer_name(node, peer)
        pipe = self._pipes.get((node.name, name))
        if pipe is None:
            return  # the server still has work for a peer that left; nothing to write to
        while pipe.backlog(now) <= self.send_buffer:
            resp = node.core.next_response(peer, self.response_bytes)
            if resp is None:
                break
            msg = self._response_message(node, pipe, resp)
            if msg is None:
                node.core.response_sent(peer, resp, now, sent=False)  # nothing left to send
                continue
            self._transmit(node, name, msg, resp)

    def _peer_name(self, node: VirtualNode, peer: Any) -> Hashable:
        """The node an engine of *node* means by *peer* (a PeerKey it was given)."""
        if type(peer) is PeerKey and 0 <= peer < len(self._by_key):
            return self._by_key[peer].name
        raise SimulationError(
            f"an engine of node {node.name!r} named peer {peer!r}, which the network never gave"
            " it; engines must use the peer keys from peer_connected/receive_message"
        )

    def _response_message(self, node: VirtualNode, pipe: _Pipe, resp: Any) -> Message | None:
        msg = pack_response(VERSIONS[pipe.version], resp, node.store.get_many(resp.blocks))
        if msg is not None:
            pm = node.metrics.peer(pipe.dst.name)
            for _, data in msg.blocks:
                pm.blocks_sent += 1
                pm.bytes_sent += len(data)
        return msg

    def _transmit(self, src: VirtualNode, peer: Hashable, msg: Message, resp: Any) -> None:
        pipe = self._pipes.get((src.name, peer))
        if pipe is None:
            src.metrics.dropped_messages += 1
            return
        data = encode_message(msg)
        size = len(data) + len(frame_length_prefix(len(data)))
        now = self.clock.now
        link = pipe.link
        start = max(now, pipe.busy_until)
        sent = start + size / link.bandwidth
        if src.uplink is not None and msg.blocks:
            # the node's one upload FIFO: this message queues behind everything it sent to anyone.
            # Messages without blocks (wants, cancels, presences: a few hundred bytes) do not
            # wait in it: on a real host each connection is its own TCP flow and the kernel
            # interleaves flows, so a small message on a quiet connection leaves at once instead
            # of behind megabytes of other connections' blocks (in a strict FIFO, want-blocks
            # between leechers waited ~75 ms behind the blocks the sender was uploading).
            was_idle = src._uplink_busy_until <= now
            up_done = max(start, src._uplink_busy_until) + size / src.uplink
            src._uplink_busy_until = up_done
            sent = max(sent, up_done)
            if was_idle:
                # the uplink turns busy: no leecher may count this node as idle meanwhile
                self._touch_uplink(src)
        pipe.busy_until = sent
        arrival = sent + link.latency
        if link.jitter:
            arrival += self.rng.uniform(0.0, link.jitter)
        arrival = max(arrival, pipe.last_arrival)  # one stream: in order
        pipe.last_arrival = arrival
        pipe.in_flight += 1
        if pipe.in_flight == 1:
            self._touch(peer, src.name)
        src.metrics.messages_sent += 1
        src.metrics.wire_bytes_sent += size
        if msg.entries or msg.full:
            # how much later it left than it would have on an idle connection
            self._observe_wants(src, peer, msg, sent - now - size / link.bandwidth)
        self.clock.call_at(sent, self._sent, pipe, resp)
        self.clock.call_at(arrival, self._deliver, pipe, data, size)

    def _observe_wants(self, src: VirtualNode, peer: Hashable, msg: Message, waited: float) -> None:
        """Account the wants of *msg* from *src* to *peer*, which finished leaving *waited*
        seconds later than it would have on an idle connection (behind earlier messages)."""
        pm = src.metrics.peer(peer)
        pm.want_delay += waited
        pm.max_want_delay = max(pm.max_want_delay, waited)
        out = src._outstanding.setdefault(peer, set())
        if msg.full:
            for cid in out:
                self._unassign(src, cid, peer)
            out.clear()
        holder = self.nodes[peer].store
        for e in msg.entries:
            cid = bytes(e.cid)
            if e.cancel:
                pm.cancels_sent += 1
                if cid in out:
                    out.discard(cid)
                    self._unassign(src, cid, peer)
            elif e.want_type == WANT_HAVE:
                pm.want_haves_sent += 1
            else:
                pm.want_blocks_sent += 1
                if not holder.has(cid):
                    pm.misrouted_want_blocks += 1
                if cid not in out:
                    out.add(cid)
                    self._assign(src, cid, peer)
        pm.max_outstanding_wants = max(pm.max_outstanding_wants, len(out))

    def _sent(self, pipe: _Pipe, resp: Any) -> None:
        """The message left the sender (its write drained): account it, then send more."""
        if pipe.closed or not pipe.src.up:
            return
        src = pipe.src
        if resp is not None:
            src.core.response_sent(pipe.dst.key, resp, self.clock.now)
        self._pump(src)
        if src.uplink is not None and src._uplink_busy_until <= self.clock.now:
            # nothing more queued on its uplink: it is free again for whoever it could serve
            self._touch_uplink(src)

    def _deliver(self, pipe: _Pipe, data: bytes, size: int) -> None:
        if pipe.closed:
            return  # the connection closed while this was in flight: lost
        src, dst = pipe.src, pipe.dst
        pipe.in_flight -= 1
        if pipe.in_flight == 0:
            self._touch(dst.name, src.name)
        if not (src.up and dst.up):
            dst.metrics.dropped_messages += 1
            return  # one end vanished: what was on the wire goes nowhere
        now = self.clock.now
        msg = decode_message(data)
        # what a Node hands its pipeline: nothing from a refused peer, no blocks from a peer
        # we ask nothing of (the metrics below still count the message as on the wire)
        screened = dst.core.screen(src.key, msg, now)
        if screened is None:
            dst.metrics.dropped_messages += 1
            return
        dst.metrics.messages_received += 1
        dst.metrics.wire_bytes_received += size
        if msg.pending_bytes:
            self._observe_pending(pipe, msg.pending_bytes)
        # name (hash: verify) the blocks once, as Node's verifier does, for the metrics and
        # the client engine both
        names = name_blocks(msg.blocks, MAX_BLOCK_SIZE) if msg.blocks else None
        events = dst.core.message_received(src.key, screened, now,
                                           names=names if screened.blocks else None)
        self._observe_received(dst, src.name, msg, names, events)
        self._pump(dst)

    def _observe_received(self, node: VirtualNode, sender: Hashable, msg: Message,
                          names: list[Any] | None, events: Iterable[Any]) -> None:
        """Metrics of a received message, as seen on the wire: every verifiable block (wanted,
        duplicate or unwanted), and the presences and bad blocks the client reported."""

        m = node.metrics
        pm = m.peer(sender)
        for (_, data), cid in zip(msg.blocks, names or ()):
            if type(cid) is not bytes:
                continue  # not verifiable: the client reports it as BadBlock
            n = len(data)
            m.blocks_received += 1
            m.bytes_received += n
            pm.blocks += 1
            pm.bytes += n
            out = node._outstanding.get(sender)
            if out is not None and cid in out:
                out.discard(cid)
                self._unassign(node, cid, sender)
            if node.store.has(cid):
                m.duplicates += 1
                m.duplicate_bytes += n
                pm.duplicates += 1
                pm.duplicate_bytes += n
            elif cid not in node.wanted:
                # nobody here asked for it (a forged block names itself by its own hash, so
                # it lands here too): a Node would not keep it
                m.unwanted_blocks += 1
        for ev in events:
            if isinstance(ev, Have):
                pm.haves += 1
            elif isinstance(ev, DontHave):
                pm.dont_haves += 1
                # a want-block answered "not here" is no longer anyone's work
                cid = bytes(ev.cid)
                out = node._outstanding.get(sender)
                if out is not None and cid in out:
                    out.discard(cid)
                    self._unassign(node, cid, sender)
            elif isinstance(ev, BadBlock):
                m.bad_blocks += 1

    def _observe_pending(self, pipe: _Pipe, pending: int) -> None:
        """The peer at the sending end of *pipe* reported *pending* bytes queued for the
        receiver: how deep the receiver's wants are queued there, in bytes and in seconds."""
        pm = pipe.dst.metrics.peer(pipe.src.name)
        pm.max_pending_bytes = max(pm.max_pending_bytes, pending)
        pm.max_queue_seconds = max(
            pm.max_queue_seconds, pending / self._upload_rate(pipe.src, pipe.link)
        )

    @staticmethod
    def _upload_rate(src: VirtualNode, link: Link) -> float:
        """Bytes/s *src* can send blocks on a connection over *link* (its uplink, when it has
        one, is shared with its other connections: this is the most one connection gets)."""
        return link.bandwidth if src.uplink is None else min(link.bandwidth, src.uplink)

    def _store_blocks(self, node: VirtualNode, blocks: list[tuple[bytes, Any]]) -> None:
        """The core's StoreBlocks: keep the wanted blocks not held yet, then announce them."""
        stored: list[bytes] = []
        for cid, data in blocks:
            if cid in node.wanted and not node.store.has(cid):
                node.store.put(cid, data)
                stored.append(cid)
        if stored:
            node.core.blocks_stored(stored, self.now)
            self._stored(node, stored)

    def _want_failed(self, node: VirtualNode, failed: WantFailed) -> None:
        """The client gave up on a want: the fetch of that session fails (as a Node's waiting
        session would) and closes its session."""
        node.metrics.wants_failed += 1
        now = self.clock.now
        for f in node.fetches:
            if f.session == failed.session and f.finished is None:
                f.failed[bytes(failed.cid)] = failed
                if f.failed_at is None:
                    f.failed_at = now
                    node.core.close_session(failed.session, now)
                    self.clock.call_later(0.0, self._pump, node)  # its cancels

    def _answer_providers(self, node: VirtualNode, cid: bytes, session: int | None) -> None:
        if not node.up:
            return
        found = [p for p in self.providers(cid) if p != node.name and self.nodes[p].up]
        for p in found:
            if (node.name, p) not in self._pipes:
                self._connect(node, self.nodes[p], None)
        if found:
            now = self.clock.now
            # sessions still open (a fetch closes its session when done, possibly while the
            # routing query was under way: the answer then has nobody to go to)
            open_ = [f.session for f in node.fetches if f.session is not None and not f.done]
            if session is not None:
                sessions = [session] if session == 0 or session in open_ else []
            else:  # the action did not say which session asked: every open one wanting the cid
                sessions = [
                    f.session
                    for f in node.fetches
                    if f.session is not None and not f.done and cid in f.remaining
                ]
            for s in sessions:
                node.core.add_peers(s, [self.nodes[p].key for p in found], now)
        self._pump(node)

    def _arm_timer(self, node: VirtualNode, deadline: float) -> None:
        now = self.clock.now
        when = max(float(deadline), now)
        if when <= node._last_tick:
            when = node._last_tick + TIMER_RESOLUTION
        t = node._timer
        if t is not None and not t.cancelled:
            if t.when <= when:
                return  # an earlier wake-up is armed; it re-arms after ticking
            t.cancel()
        node._timer = self.clock.call_at(when, self._on_timer, node)

    def _on_timer(self, node: VirtualNode) -> None:
        node._timer = None
        if not node.up:
            return
        now = self.clock.now
        node._last_tick = now
        node.core.tick(now)
        self._pump(node)

    # -- idle accounting ------------------------------------------------------------------------

    def _touch(self, leecher: Hashable, peer: Hashable) -> None:
        """Close the (leecher, peer) pair's current interval and start one in its new state."""
        now = self.clock.now
        key = (leecher, peer)
        st = self._pair_state.get(key)
        if st is not None:
            dt = now - st[0]
            if dt > 0 and st[1]:
                pm = self.nodes[leecher].metrics.peer(peer)
                pm.serve_time += dt
                if st[2]:
                    pm.idle_time += dt
        pipe = self._pipes.get((peer, leecher))
        servable = (
            pipe is not None and pipe.src.up and pipe.dst.up and self._servable.get(key, 0) > 0
        )
        idle = servable and pipe.in_flight == 0
        if idle:
            src = pipe.src
            # a shared uplink still serializing (for anyone) is not idle capacity; see the
            # module docstring. _transmit and _sent touch the pairs when it turns busy/idle.
            idle = src.uplink is None or src._uplink_busy_until <= now
        self._pair_state[key] = [now, servable, idle]

    def _touch_uplink(self, node: VirtualNode) -> None:
        """*node*'s shared uplink turned busy or idle: re-evaluate every leecher's pair with it."""
        name = node.name
        for leecher in node.peers:
            self._touch(leecher, name)

    def _settle(self) -> None:
        for leecher, peer in list(self._pair_state):
            self._touch(leecher, peer)
