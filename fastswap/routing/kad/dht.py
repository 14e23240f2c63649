"""The Kademlia DHT on fastswap's libp2p host: libp2p/specs kad-dht, the asyncio driver.

:class:`KadDHT` runs one DHT protocol (``/ipfs/kad/1.0.0``, the public Amino DHT, or
``/ipfs/lan/kad/1.0.0``, the LAN DHT that Kubo runs beside it and that accepts loopback and
private addresses) on a :class:`~fastswap.net.host.Host`. The protocol logic is
:class:`~.core.KadCore` (table, records, answers, penalties) and :class:`~.lookup.Lookup` (the
iterative walk); this module does their I/O:

* **Server mode** registers the stream handler, so identify lists the protocol and peers add us
  to their tables; **client mode** registers nothing (we ask, we never answer), as the spec says
  of nodes that are not publicly reachable.
* Every new connection is identified; a peer whose identify lists our protocol joins the table.
  So does a peer that answers one of our RPCs (it serves the protocol).
* RPCs: one stream per request (the spec's default), the request written, one answer read, all
  within ``rpc_timeout`` (dial included). A batch of ADD_PROVIDERs to one peer shares a stream
  (the spec lets a stream carry many requests).
* Inbound streams carry any number of requests, answered in order; each waits for its
  requester's tokens (backpressure) and an idle stream is closed after ``KAD_STREAM_IDLE_SECONDS``.
  Open inbound streams are bounded per peer and in all (``KAD_MAX_INBOUND_STREAMS*``).
* Lookups run ``alpha`` RPCs at once, bounded as a whole by ``query_timeout`` (the lookup then
  returns what it has).
* Maintenance: at start, the bootstrap peers are dialled and (in server mode) a lookup of our
  own id fills the table; then every ``refresh_interval`` a lookup of our id and of a random id
  refreshes it, and expired provider records are swept every ``gc_interval``.

``now`` for the core is wall-clock time (records outlive the process), read through ``clock``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

from ... import _defaults, varint
from ..._tasks import TaskSet
from ...cid import decode_cid
from ...errors import KadError, KadMessageError, MessageError, NetError
from ...message import FrameDecoder
from ...net.host import Host, Stream
from ...net.keys import PeerId
from ...net.multiaddr import Multiaddr, parse_multiaddr
from .batch import assign, candidates, hash_keys, region_bits, split_regions
from .core import KadConfig, KadCore
from .lookup import Lookup
from .messages import KadMessage, KadPeer, MessageType, decode, encode, parse_addrs
from .records import ProviderStore

__all__ = ["PROTOCOL_KAD", "PROTOCOL_LAN_KAD", "KadDHT", "ProvideReport", "cid_key"]

log = logging.getLogger("fastswap.routing.kad")

PROTOCOL_KAD = "/ipfs/kad/1.0.0"
PROTOCOL_LAN_KAD = "/ipfs/lan/kad/1.0.0"

#: The repo subdirectory of the provider store.
PROVIDERS_DIR = "providers"


def cid_key(cid: bytes) -> bytes:
    """The DHT key of a CID: its multihash (go-libp2p-kad-dht keys provider records by
    multihash, so a CIDv0 and a CIDv1 of one block share providers)."""
    _, _, code, digest = decode_cid(cid)
    return varint.encode(code) + varint.encode(len(digest)) + digest


class KadDHT:
    """A DHT node on *host*. ``await dht.start()`` after the host is started (``Node.start``);
    ``await dht.stop()`` before the host stops.

    * ``datastore``: directory of the provider store (a node's is ``<repo>/providers``); None
      keeps it in a temporary directory removed at stop.
    * ``protocol``: :data:`PROTOCOL_LAN_KAD` (default: what runs on loopback and private
      networks) or :data:`PROTOCOL_KAD` (the public Amino DHT).
    * ``server``: answer requests (and say so in identify); False for a client-only node.
    * ``bootstrap``: multiaddrs (with ``/p2p/``) dialled at start.
    """

    def __init__(
        self,
        host: Host,
        *,
        datastore: str | os.PathLike[str] | None = None,
        protocol: str = PROTOCOL_LAN_KAD,
        server: bool = True,
        bootstrap: Iterable[str | Multiaddr] = (),
        config: KadConfig | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.host = host
        self.protocol = protocol
        config = config or KadConfig()
        self.config = config
        self.bootstrap_peers = [parse_multiaddr(a) for a in bootstrap]
        self._clock = clock
        self._tmpdir: str | None = None
        if datastore is None:
            self._tmpdir = tempfile.mkdtemp(prefix="fastswap-kad-")
            datastore = self._tmpdir
        self.store = ProviderStore(datastore, ttl=config.provider_ttl)
        self.core = KadCore(host.peer_id, self.store, config, server=server)
        self._tasks = TaskSet(log, "DHT")
        self._inbound: dict[PeerId, int] = {}  # open inbound streams per peer
        self._unsubscribe: Callable[[], None] | None = None
        self._started = False
        self._stopped = False
        self.rpcs_sent = 0

    @property
    def server(self) -> bool:
        return self.core.server

    @property
    def table(self) -> Any:
        return self.core.table

    def __repr__(self) -> str:
        mode = "server" if self.server else "client"
        return f"<KadDHT {self.protocol} {mode} {len(self.core.table)} peers>"

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self, *, wait_bootstrap: bool = True) -> None:
        """Serve (in server mode), watch connections, dial the bootstrap peers and fill the
        table (waited for unless ``wait_bootstrap`` is False), start maintenance."""
        if self._started:
            return
        self._started = True
        if self.server:
            self.host.set_stream_handler(self.protocol, self._handle_stream)
        self._unsubscribe = self.host.subscribe(self._on_connected)
        for conn in self.host.connections:
            self._on_connected(conn)
        self._spawn(self._maintain())
        if wait_bootstrap:
            await self.bootstrap()
        else:
            self._spawn(self.bootstrap())

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self.server and self._started:
            self.host.remove_stream_handler(self.protocol)
        await self._tasks.close()
        self.store.close()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _spawn(self, coro: Any) -> asyncio.Future[Any]:
        return self._tasks.spawn(coro)

    def _now(self) -> float:
        return self._clock()

    async def bootstrap(self) -> int:
        """Dial the bootstrap peers (each identified: DHT servers join the table); a server
        then looks up its own id (the spec's bootstrap walk: it fills the table near us, which
        is where peers looking for us come). A client skips that walk: its table only seeds its
        own lookups, which walk from the bootstrap peers anyway, and a fetch that starts at once
        should not wait for it. Returns the table's size."""
        async def dial(ma: Multiaddr) -> None:
            try:
                conn = await self.host.dial(ma)
                await self._check_peer(conn.remote_peer)
            except (NetError, TimeoutError) as exc:
                log.warning("bootstrap peer %s unreachable: %s", ma, exc)

        if self.bootstrap_peers:
            await asyncio.gather(*(dial(ma) for ma in self.bootstrap_peers))
        if self.server and len(self.core.table):
            await self.get_closest_peers(self.host.peer_id.multihash)
        return len(self.core.table)

    async def _maintain(self) -> None:
        cfg = self.config
        next_refresh = time.monotonic() + cfg.refresh_interval
        next_gc = time.monotonic()
        while True:
            now = time.monotonic()
            if now >= next_gc:
                # on the loop (the store closes at stop: no thread may be inside it then), in
                # bounded batches so requests are served in between
                while self.store.sweep(self._now(), _SWEEP_BATCH) == _SWEEP_BATCH:
                    await asyncio.sleep(0)
                next_gc = now + cfg.gc_interval
            if now >= next_refresh:
                await self.get_closest_peers(self.host.peer_id.multihash)
                random_id = b"\x12\x20" + os.urandom(32)
                await self.get_closest_peers(random_id)
                next_refresh = now + cfg.refresh_interval
            await asyncio.sleep(max(0.0, min(next_gc, next_refresh) - time.monotonic()))

    # -- peers joining the table -----------------------------------------------------------

    def _on_connected(self, conn: Any) -> None:
        if not self._stopped:
            self._spawn(self._check_peer(conn.remote_peer))

    async def _check_peer(self, peer: PeerId) -> None:
        """Identify says whether the peer serves our protocol: if so it joins the table."""
        try:
            async with asyncio.timeout(self.config.rpc_timeout):
                info = await self.host.identify(peer)
        except (NetError, TimeoutError) as exc:
            log.debug("cannot identify %s: %s", peer, exc)
            return
        if info.supports(self.protocol):
            self.core.add_peer(peer, info.addrs, self._now())

    # -- RPCs ------------------------------------------------------------------------------

    async def _open(self, kp: KadPeer) -> Stream:
        peer = kp.peer
        if self.host.connection(peer) is None:
            addrs = kp.dialable() or self.core.info(peer).dialable()
            if not addrs:
                info = self.host.peerstore.get(peer)
                addrs = KadPeer(peer, tuple(info.addrs)).dialable() if info else []
            if not addrs:
                raise KadError(f"no address to dial DHT peer {peer}")
            last: Exception | None = None
            for ma in addrs:
                try:
                    await self.host.dial(ma)
                    break
                except NetError as exc:
                    last = exc
            else:
                raise KadError(f"cannot reach DHT peer {peer}: {last}")
        return await self.host.new_stream(peer, [self.protocol])

    async def rpc(self, kp: KadPeer, request: KadMessage) -> KadMessage:
        """Send *request* to *kp* and return its answer (KadError if none in time)."""
        self.rpcs_sent += 1
        stream: Stream | None = None
        try:
            async with asyncio.timeout(self.config.rpc_timeout):
                stream = await self._open(kp)
                stream.write(encode(request))
                await stream.drain()
                answer = await _read_one(stream)
        except TimeoutError:
            if stream is not None:
                stream.reset()
            raise KadError(
                f"DHT peer {kp.peer} did not answer {request.type.name} within "
                f"{self.config.rpc_timeout} s"
            ) from None
        except (NetError, MessageError) as exc:
            if stream is not None:
                stream.reset()
            if isinstance(exc, KadError):
                raise
            raise KadError(f"{request.type.name} to {kp.peer} failed: {exc}") from exc
        except BaseException:
            if stream is not None:
                stream.reset()
            raise
        stream.close()
        if answer.type is not request.type:
            raise KadMessageError(
                f"{kp.peer} answered {request.type.name} with {answer.type.name}"
            )
        return answer

    async def send_batch(self, kp: KadPeer, messages: Sequence[KadMessage]) -> None:
        """Write *messages* (requests without answers: ADD_PROVIDER) on one stream."""
        self.rpcs_sent += len(messages)
        stream: Stream | None = None
        timeout = self.config.rpc_timeout + len(messages) * 0.01
        try:
            async with asyncio.timeout(timeout):
                stream = await self._open(kp)
                for i, msg in enumerate(messages):
                    stream.write(encode(msg))
                    if i % 64 == 63:
                        await stream.drain()
                stream.close()
                await stream.drain()
        except TimeoutError:
            if stream is not None:
                stream.reset()
            raise KadError(f"{kp.peer} did not take {len(messages)} messages within "
                           f"{timeout:.0f} s") from None
        except NetError as exc:
            if stream is not None:
                stream.reset()
            if isinstance(exc, KadError):
                raise
            raise KadError(f"sending to {kp.peer} failed: {exc}") from exc

    async def _handle_stream(self, stream: Stream) -> None:
        """Answer every request on a stream a peer opened, in order (within the per-peer and
        total bounds on open inbound streams)."""
        peer = stream.remote_peer
        open_here = self._inbound.get(peer, 0)
        if (open_here >= _defaults.KAD_MAX_INBOUND_STREAMS_PER_PEER
                or sum(self._inbound.values()) >= _defaults.KAD_MAX_INBOUND_STREAMS
                or self.core.is_banned(peer, self._now())):
            if open_here >= _defaults.KAD_MAX_INBOUND_STREAMS_PER_PEER:
                self.core.strike(peer, self._now(), "too many DHT streams open at once")
            stream.reset()
            return
        self._inbound[peer] = open_here + 1
        try:
            await self._serve(stream, peer)
        finally:
            left = self._inbound[peer] - 1
            if left:
                self._inbound[peer] = left
            else:
                del self._inbound[peer]

    async def _serve(self, stream: Stream, peer: PeerId) -> None:
        core = self.core
        decoder = FrameDecoder(max_message_size=_defaults.KAD_MAX_MESSAGE_SIZE)
        try:
            while True:
                async with asyncio.timeout(_defaults.KAD_STREAM_IDLE_SECONDS):
                    chunks = await stream.read_chunks()
                if not chunks:
                    decoder.eof()
                    stream.close()
                    return
                for chunk in chunks:
                    for payload in decoder.feed(chunk):
                        wait = core.admit(peer, self._now())
                        if wait is None:
                            stream.reset()
                            return
                        if wait:
                            await asyncio.sleep(wait)
                        answer = core.handle(peer, decode(payload), self._now())
                        if answer is not None:
                            stream.write(encode(answer))
                            # a peer that does not read its answers holds one stream, not us
                            async with asyncio.timeout(self.config.rpc_timeout):
                                await stream.drain()
        except (KadMessageError, MessageError) as exc:
            core.strike(peer, self._now(), str(exc))
            stream.reset()
        except TimeoutError:
            stream.reset()

    # -- lookups ---------------------------------------------------------------------------

    async def walk(self, lookup: Lookup, mtype: MessageType) -> Lookup:
        """Drive *lookup* over the network with *mtype* requests until it is done or
        ``query_timeout`` passes; returns it (with whatever it learnt)."""
        core = self.core
        tasks: dict[asyncio.Task[KadMessage], KadPeer] = {}
        try:
            async with asyncio.timeout(self.config.query_timeout):
                while not lookup.done:
                    for kp in lookup.next_queries():
                        req = KadMessage(mtype, lookup.key)
                        tasks[asyncio.ensure_future(self.rpc(kp, req))] = kp
                    if not tasks:
                        break
                    done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                    for t in done:
                        kp = tasks.pop(t)
                        exc = t.exception()
                        if exc is not None:
                            log.debug("DHT lookup: %s", exc)
                            core.rpc_failed(kp.peer)
                            lookup.on_failure(kp.peer)
                            continue
                        answer = t.result()
                        core.rpc_succeeded(kp.peer, kp.addrs, self._now())
                        core.learn(answer.closer)
                        lookup.on_response(kp.peer, answer.closer, answer.providers)
        except TimeoutError:
            log.info("DHT lookup of %s stopped after %s s with %d answers", lookup.key.hex(),
                     self.config.query_timeout, len(lookup.answered()))
        finally:
            for t in tasks:
                t.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
        return lookup

    async def get_closest_peers(self, key: bytes) -> list[KadPeer]:
        """The k closest peers to *key* that answered (FIND_NODE walk)."""
        lookup = await self.walk(self.core.lookup(key), MessageType.FIND_NODE)
        return lookup.closest()

    async def find_peer(self, peer: PeerId) -> KadPeer | None:
        """Addresses of *peer*: known ones, else from a FIND_NODE walk."""
        known = self.core.info(peer)
        if known.addrs:
            return known
        lookup = await self.walk(self.core.lookup(peer.multihash), MessageType.FIND_NODE)
        for kp in lookup.answered():
            if kp.peer == peer:
                return kp
        found = self.core.info(peer)  # named in an answer (the walk learnt its addresses)
        return found if found.addrs else None

    async def lookup_providers(self, key: bytes, count: int) -> Lookup:
        """A GET_PROVIDERS walk for *key* (a multihash) that stops at *count* providers."""
        lookup = self.core.lookup(key, want_providers=count)
        for pid, raw in self.store.get(key, self._now(), count):
            lookup.providers.setdefault(pid, KadPeer(pid, parse_addrs(raw)))
        if lookup.done:
            return lookup
        return await self.walk(lookup, MessageType.GET_PROVIDERS)

    async def find_providers(
        self, cid: bytes, count: int = _defaults.ROUTING_MAX_PROVIDERS
    ) -> list[Multiaddr]:
        """Multiaddrs (with ``/p2p/``) of peers that provide *cid*: the content-routing call
        of ``fastswap.Node(routing=...)``. A provider announced without addresses is looked
        up by its id."""
        lookup = await self.lookup_providers(cid_key(cid), count)
        out: list[Multiaddr] = []
        for kp in list(lookup.providers.values())[:count]:
            if kp.peer == self.host.peer_id:
                continue
            addrs = kp.dialable()
            if not addrs:
                found = await self.find_peer(kp.peer)
                addrs = found.dialable() if found else []
            out.extend(addrs[: _defaults.ROUTING_MAX_ADDRS_PER_PROVIDER])
        return out

    # -- providing -------------------------------------------------------------------------

    def provider_record(self, key: bytes) -> KadMessage:
        """Our ADD_PROVIDER for *key*: our id and listen addresses."""
        me = KadPeer(self.host.peer_id, tuple(a.without_p2p() for a in self.host.addrs))
        return KadMessage(MessageType.ADD_PROVIDER, key, providers=[me])

    async def provide(self, cid: bytes) -> ProvideReport:
        """Announce that we provide *cid* to the k closest peers of its key."""
        return await self.provide_many([cid])

    async def provide_many(self, cids: Iterable[bytes]) -> ProvideReport:
        """Announce many CIDs with few lookups: one per keyspace region (:mod:`.batch`),
        ``KAD_PROVIDE_LOOKUP_CONCURRENCY`` at once; each peer gets its keys' ADD_PROVIDERs on
        one stream, ``KAD_PROVIDE_SEND_CONCURRENCY`` peers at once."""
        t0 = time.monotonic()
        keys = hash_keys(cid_key(c) for c in cids)
        report = ProvideReport(keys=len(keys))
        if not keys:
            return report
        k = self.config.k
        first = await self.walk(self.core.lookup(keys[0][1]), MessageType.FIND_NODE)
        report.lookups += 1
        regions = split_regions(keys, region_bits(keys[0][0], first.closest(), k))
        todo = iter(regions)
        sends = asyncio.Semaphore(_defaults.KAD_PROVIDE_SEND_CONCURRENCY)

        async def send(kp: KadPeer, peer_keys: list[bytes]) -> None:
            async with sends:
                try:
                    for i in range(0, len(peer_keys), _PROVIDE_BATCH):
                        batch = peer_keys[i : i + _PROVIDE_BATCH]
                        await self.send_batch(kp, [self.provider_record(key) for key in batch])
                        report.messages += len(batch)
                    report.peers.add(kp.peer)
                except KadError as exc:
                    report.failed.add(kp.peer)
                    self.core.rpc_failed(kp.peer)
                    log.info("provider records to %s lost: %s", kp.peer, exc)

        async def worker() -> None:
            for region in todo:
                if region[0] == keys[0]:
                    lookup = first
                else:
                    lookup = await self.walk(self.core.lookup(region[0][1]),
                                             MessageType.FIND_NODE)
                    report.lookups += 1
                peers = candidates(lookup.answered(), self.core.closest(region[0][1]))
                by_id = {kp.peer: kp for kp in peers}
                plan = assign(region, peers, k)
                await asyncio.gather(*(send(by_id[p], ks) for p, ks in plan.items()))

        workers = min(_defaults.KAD_PROVIDE_LOOKUP_CONCURRENCY, len(regions))
        await asyncio.gather(*(worker() for _ in range(workers)))
        report.seconds = time.monotonic() - t0
        if report.keys and not report.peers:
            log.warning("no DHT peer took our provider records for %d keys (table: %d peers)",
                        report.keys, len(self.core.table))
        return report


@dataclass
class ProvideReport:
    """What one (batched) provide did."""

    keys: int = 0
    lookups: int = 0
    messages: int = 0
    seconds: float = 0.0
    peers: set[PeerId] = field(default_factory=set)
    failed: set[PeerId] = field(default_factory=set)


#: ADD_PROVIDER messages written on one stream before it is closed and the next opened
_PROVIDE_BATCH = 1024
#: Expired records deleted per write transaction by the periodic sweep
_SWEEP_BATCH = 10_000


async def _read_one(stream: Stream) -> KadMessage:
    decoder = FrameDecoder(max_message_size=_defaults.KAD_MAX_MESSAGE_SIZE)
    while True:
        chunks = await stream.read_chunks()
        if not chunks:
            decoder.eof()
            raise KadError(f"{stream.remote_peer} closed the DHT stream without an answer")
        for chunk in chunks:
            for payload in decoder.feed(chunk):
                return decode(payload)

