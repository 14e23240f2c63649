"""``new_host()``: a host with py-libp2p 0.8.1's host API -- the part Bitswap programs use -- on
fastswap's own libp2p stack (libp2p/specs ``connections``: TCP, Noise, yamux/mplex, identify,
ping; ``fastswap.net``), where the drop-in runs at fastswap's speed.

A py-libp2p program changes its imports and its host construction, and nothing else::

    from libp2p import new_host                              # before
    from fastswap.compat.libp2p import new_host              # after

    host = new_host(key_pair=create_new_key_pair())
    async with host.run(listen_addrs=[Multiaddr("/ip4/127.0.0.1/tcp/0")]):
        bitswap = BitswapClient(host, MemoryBlockStore())
        await bitswap.start()
        await host.connect(info_from_p2p_addr(provider_addr))
        data, _ = await MerkleDag(bitswap).fetch_file(cid)

The host runs on a uvloop loop in a thread of its own (``fastswap.compat._asyncio``); every
method below is called from trio, as py-libp2p's are. ``BitswapClient(host)`` then runs
``fastswap.Node`` on it (:class:`~fastswap.compat._asyncio.NodeDriver`).

Offered, with py-libp2p's shapes: ``run(listen_addrs)``, ``get_id()``, ``get_addrs()`` (with
``/p2p/<id>``), ``get_transport_addrs()``, ``get_connected_peers()``, ``connect(peer_info)``,
``disconnect(peer_id)``, ``close()``. Addresses are py-multiaddr ``Multiaddr`` objects (the
``multiaddr`` package py-libp2p programs use); peer ids are fastswap's ``PeerId`` (``str()``,
``to_base58()``), and every call that takes one also takes py-libp2p's ``ID``. ``key_pair`` may
be any py-libp2p ``KeyPair`` (Ed25519, secp256k1, ...): the host signs its Noise handshake with
it, so the peer id is the one py-libp2p would derive. Not offered: other protocols on this host
(``set_stream_handler``, ``new_stream``), its peerstore and network objects, and py-libp2p's
discovery, relay, QUIC and WebSocket options; ``new_host`` refuses those options by name.
Content routing is the address book of ``connect``: a want nobody connected can serve is asked
of the peers this program connected to, redialled if they dropped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import trio

from ... import _defaults
from ...errors import HostNotRunningError, NetError, UnsupportedOptionError
from ...net import mplex, yamux
from ...net.host import Host
from ...net.keys import PeerId, PublicKey
from ...net.multiaddr import Multiaddr as FastswapMultiaddr
from ...net.multiaddr import parse_multiaddr
from ...net.resources import keep_freed_heap
from ...routing import StaticRouting
from .._asyncio import LoopThread, NodeDriver, as_peer_id

__all__ = ["FastswapHost", "new_host"]

#: py-libp2p's muxer_preference -> fastswap's muxers, in order of preference
_MUXERS = {None: (yamux.PROTOCOL_ID, mplex.PROTOCOL_ID),
           "YAMUX": (yamux.PROTOCOL_ID, mplex.PROTOCOL_ID),
           "MPLEX": (mplex.PROTOCOL_ID, yamux.PROTOCOL_ID)}


def new_host(key_pair: Any = None, listen_addrs: Sequence[Any] | None = None, *,
             muxer_preference: str | None = None, **options: Any) -> FastswapHost:
    """A host for the drop-in on fastswap's stack, in place of py-libp2p's ``new_host``.

    * ``key_pair``: a py-libp2p ``KeyPair`` (its peer id is kept), or None for a new Ed25519
      identity;
    * ``listen_addrs``: where ``run()`` listens unless it is given addresses itself;
    * ``muxer_preference``: ``"YAMUX"`` (default) or ``"MPLEX"``.

    py-libp2p's other options are accepted switched off (``enable_mDNS=False``,
    ``bootstrap=None``, ...); switched on, they raise :class:`UnsupportedOptionError`.
    """
    for name, value in options.items():
        if value is not None and value is not False and not (name == "enable_tcp" and value):
            raise UnsupportedOptionError(
                f"new_host({name}=...) is a py-libp2p host option that fastswap's host does not "
                "offer; leave it out, or use libp2p.new_host (the drop-in runs there too)")
    if muxer_preference not in _MUXERS:
        raise UnsupportedOptionError(
            f"muxer_preference={muxer_preference!r}: use 'YAMUX' or 'MPLEX'")
    # memory freed by the last task's blocks serves the next task's (see
    # _defaults.DROPIN_MALLOC_TRIM_THRESHOLD); the host trims when it is quiet
    keep_freed_heap(_defaults.DROPIN_MALLOC_TRIM_THRESHOLD, _defaults.DROPIN_MALLOC_MMAP_THRESHOLD)
    return FastswapHost(key_pair, listen_addrs, _MUXERS[muxer_preference])


class _Libp2pIdentity:
    """A py-libp2p ``KeyPair`` as the host's identity: the Noise handshake payload is signed
    with the key's own scheme (fastswap verifies all four key types of the spec)."""

    def __init__(self, key_pair: Any) -> None:
        self._private = key_pair.private_key
        self.public_key = PublicKey.from_protobuf(key_pair.public_key.serialize())
        self.peer_id = self.public_key.peer_id()

    def sign(self, data: bytes) -> bytes:
        return bytes(self._private.sign(data))


def _py_multiaddr(ma: FastswapMultiaddr) -> Any:
    from multiaddr import Multiaddr

    return Multiaddr(str(ma))


def _dialable(addr: Any, peer: PeerId) -> FastswapMultiaddr:
    """*addr* (text or any multiaddr object) without a ``/p2p`` part, then ``/p2p/<peer>``."""
    text = str(addr)
    cut = text.find("/p2p/")
    return parse_multiaddr(text if cut < 0 else text[:cut]).with_p2p(peer)


class FastswapHost:
    """py-libp2p's host API over fastswap's ``Host``, on a loop thread; see the module
    docstring. Made by :func:`new_host`."""

    def __init__(self, key_pair: Any, listen_addrs: Sequence[Any] | None,
                 muxers: Sequence[str]) -> None:
        self._identity: Any = None if key_pair is None else _Libp2pIdentity(key_pair)
        self._listen = list(listen_addrs or ())
        self._muxers = list(muxers)
        self._loop: LoopThread | None = None
        self._host: Host | None = None
        self._addrs: list[FastswapMultiaddr] = []
        self._connected: tuple[PeerId, ...] = ()
        self._drivers: set[NodeDriver] = set()
        #: content routing of the Bitswap on this host: the peers this program connected to
        self.routing = StaticRouting()
        if self._identity is None:
            from ...net.keys import Ed25519KeyPair

            self._identity = Ed25519KeyPair.generate()
        self._peer_id: PeerId = self._identity.peer_id

    def __repr__(self) -> str:
        return f"<FastswapHost {self._peer_id} {len(self._connected)} peers>"

    # -- py-libp2p's host API (trio side) --------------------------------------------------

    def get_id(self) -> PeerId:
        return self._peer_id

    def get_addrs(self) -> list[Any]:
        """Listen addresses with ``/p2p/<id>`` (py-multiaddr objects); empty until ``run``."""
        return [_py_multiaddr(a) for a in self._addrs]

    def get_transport_addrs(self) -> list[Any]:
        """Listen addresses without ``/p2p/<id>`` (py-multiaddr objects)."""
        return [_py_multiaddr(a.without_p2p()) for a in self._addrs]

    def get_connected_peers(self) -> list[PeerId]:
        return list(self._connected)

    def run(self, listen_addrs: Sequence[Any] | None = None, *,
            task_status: Any = trio.TASK_STATUS_IGNORED) -> AbstractAsyncContextManager[None]:
        """Listen on *listen_addrs* (else those given to ``new_host``) while the context is
        open; close everything at its end (Bitswap clients still running are stopped)."""
        return self._run(list(listen_addrs) if listen_addrs is not None else self._listen)

    @asynccontextmanager
    async def _run(self, listen_addrs: list[Any]) -> AsyncIterator[None]:
        if self._loop is not None:
            raise HostNotRunningError("this host ran already; make a new one with new_host()")
        if not listen_addrs:
            raise UnsupportedOptionError(
                "no listen address: pass listen_addrs to run() or new_host(), e.g. "
                "[Multiaddr('/ip4/127.0.0.1/tcp/0')]")
        host = Host(self._identity, listen_addrs=[str(a) for a in listen_addrs],
                    muxers=self._muxers)
        self._host = host
        self._loop = LoopThread()
        try:
            await self._loop.call(self._start, host)
            yield
        finally:
            with trio.CancelScope(shield=True):
                await self.close()

    async def connect(self, peer_info: Any) -> None:
        """Dial ``peer_info.peer_id`` at ``peer_info.addrs`` (py-libp2p's ``PeerInfo``) unless
        connected already; the addresses join the host's address book."""
        loop = self._running_loop()
        peer = as_peer_id(peer_info.peer_id)
        addrs = [_dialable(a, peer) for a in peer_info.addrs]
        if not addrs:
            raise UnsupportedOptionError(f"no address to dial {peer} at; give PeerInfo addrs")
        await loop.call(self._dial, addrs)

    async def disconnect(self, peer_id: Any) -> None:
        """Close every connection to *peer_id*."""
        await self._running_loop().call(self._hang_up, as_peer_id(peer_id))

    async def close(self) -> None:
        """Stop the Bitswap clients on this host, close its connections and listeners, and
        end its thread. Harmless when already closed."""
        loop = self._loop
        if loop is None or not loop.running:
            return
        try:
            await loop.call(self._shutdown)
        finally:
            await loop.close()
            self._connected = ()

    # -- for NodeDriver and the loop side --------------------------------------------------

    def _running_loop(self) -> LoopThread:
        if self._loop is None or not self._loop.running:
            raise HostNotRunningError(
                "fastswap's host is not running; use it inside `async with host.run(...)`")
        return self._loop

    def _net_host(self) -> Host:
        assert self._host is not None
        return self._host

    def _attach(self, driver: NodeDriver) -> None:
        self._drivers.add(driver)

    def _detach(self, driver: NodeDriver) -> None:
        self._drivers.discard(driver)

    def addresses(self, peer: PeerId) -> list[FastswapMultiaddr]:
        """The addresses this program gave for *peer* (``connect``)."""
        return [a for a in self.routing.peers if a.peer_id == peer]

    async def _start(self, host: Host) -> None:
        host.subscribe(self._connections_changed, self._connections_changed)
        await host.start()
        self._addrs = host.addrs

    def _connections_changed(self, conn: Any) -> None:
        assert self._host is not None
        self._connected = tuple(dict.fromkeys(c.remote_peer for c in self._host.connections))

    async def _dial(self, addrs: list[FastswapMultiaddr]) -> None:
        host = self._net_host()
        last: NetError | None = None
        for ma in addrs:
            self.routing.add(ma)
        for ma in addrs:
            try:
                await host.dial(ma)
                return
            except NetError as exc:  # the next address may work; else the last error
                last = exc
        assert last is not None
        raise last

    async def _hang_up(self, peer: PeerId) -> None:
        host = self._net_host()
        for conn in list(host.connections):
            if conn.remote_peer == peer:
                conn.close()

    async def _shutdown(self) -> None:
        for driver in list(self._drivers):
            driver.stopped = True
            await driver._stop()
        if self._host is not None:
            await self._host.stop()
