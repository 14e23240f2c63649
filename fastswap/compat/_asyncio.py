"""The drop-in on fastswap's own host: ``fastswap.Node`` (the asyncio driver of the shared
:class:`~fastswap.core.DriverCore`) on a uvloop loop in a thread of its own, called from trio
(ipfs/specs bitswap-protocol, "Bitswap 1.2.0 Interaction Pattern", as ``fastswap.Node`` speaks
it)::

    loop = LoopThread()                         # uvloop in the thread "fastswap-host"
    result = await loop.call(coroutine_fn, *args)   # from trio: runs on the loop, awaited
    loop.call_soon(fn, *args)                   # from trio: fire and forget, in order
    await loop.close()

Why a thread: py-libp2p programs run under ``trio.run``, and trio cannot share its thread with
an asyncio loop; fastswap's libp2p stack (Noise, yamux, the engines, LMDB) is asyncio. So the
whole Bitswap node lives on the loop thread and the trio side only makes calls: a fetch of
2,000 blocks is one call, whose answer comes back when the blocks are stored. Every object of
the node (the core, the ``WantBook``, ``Fetch`` while it is open) is touched on the loop thread
only; trio sees a ``Fetch`` once it is closed, and reads blocks from the block store, whose
fastswap ``Blockstore`` is thread-safe (the node's own store threads use it too).

:class:`NodeDriver` is what ``BitswapClient`` drives on that host (``_wants.CompatDriver``, as
``_trio.TrioDriver`` on a py-libp2p host): ``Node(host=...)`` over the host's
:class:`~fastswap.net.host.Host` while the client runs, py-libp2p's semantics on top from the
shared ``WantBook``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import math
import threading
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import trio
import trio.lowlevel
import uvloop

from ..errors import HostNotRunningError, NetError, UnsupportedOptionError
from ..events import Notice, PeerJoined, PeerLeft
from ..net.keys import PeerId
from ._wants import Fetch, WantBook

if TYPE_CHECKING:
    from ..node import Node
    from .libp2p.host import FastswapHost

__all__ = ["LoopThread", "NodeDriver", "as_peer_id"]

log = logging.getLogger("fastswap.compat")

T = TypeVar("T")


class LoopThread:
    """A uvloop event loop running in a daemon thread, driven from trio (see the module
    docstring). Closing cancels whatever still runs on it."""

    def __init__(self, name: str = "fastswap-host") -> None:
        self.loop = uvloop.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._closed = False
        self._thread.start()

    def _run(self) -> None:
        loop = self.loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()

    @property
    def running(self) -> bool:
        return not self._closed

    def _check(self) -> None:
        if self._closed:
            raise HostNotRunningError(
                "fastswap's host is not running; use it inside `async with host.run(...)`")

    async def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``fn(*args)`` on the loop and wait for its result (trio side). Cancelling the
        waiting trio task cancels the asyncio task."""
        self._check()
        cf = asyncio.run_coroutine_threadsafe(_coro(fn, *args), self.loop)
        token = trio.lowlevel.current_trio_token()
        done = trio.Event()

        def wake(_: concurrent.futures.Future[T]) -> None:
            try:
                token.run_sync_soon(done.set)
            except trio.RunFinishedError:
                pass  # the trio run is gone: nobody waits

        cf.add_done_callback(wake)
        try:
            await done.wait()
        except BaseException:
            cf.cancel()
            raise
        return cf.result()

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the loop soon (calls run in the order made)."""
        self._check()
        self.loop.call_soon_threadsafe(fn, *args)

    async def close(self) -> None:
        """Stop the loop (tasks still on it are cancelled) and wait for its thread."""
        if self._closed:
            return
        self._closed = True
        self.loop.call_soon_threadsafe(self.loop.stop)
        await trio.to_thread.run_sync(self._thread.join)


async def _coro(fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    return await fn(*args)


def as_peer_id(peer: Any) -> PeerId:
    """A peer id as fastswap's host keys it: a ``PeerId``, its text or bytes, or py-libp2p's
    ``ID`` (anything with ``to_bytes()``)."""
    if isinstance(peer, PeerId | str | bytes):
        return PeerId.parse(peer)
    return PeerId.from_bytes(peer.to_bytes())


class NodeDriver:
    """``BitswapClient``'s driver on a :func:`~fastswap.compat.libp2p.new_host` host: a
    ``fastswap.Node`` over the client's block store (one of the drop-in's own, which have a
    synchronous fastswap ``Blockstore`` behind them)."""

    def __init__(self, host: FastswapHost, store: Any, *, provider_query: Any = None) -> None:
        sync = store._blockstore() if hasattr(store, "_blockstore") else None
        if sync is None:
            raise UnsupportedOptionError(
                f"{type(store).__name__} is reached only through its async methods, which "
                "fastswap's host cannot call from its own thread; use MemoryBlockStore, "
                "FilesystemBlockStore or LmdbBlockStore from fastswap.compat.libp2p, or a "
                "py-libp2p host (libp2p.new_host) for a block store of your own")
        if provider_query is not None:
            raise UnsupportedOptionError(
                "a provider_query_manager belongs to a py-libp2p host; on fastswap's host the "
                "peers this program connected to are asked (use a py-libp2p host for its DHT)")
        self.host = host
        self.store = store
        self._sync = sync
        self.node: Node | None = None
        self.book: WantBook | None = None
        self._loop: LoopThread | None = None
        self._peers: tuple[Any, ...] = ()  # the core keys peers by PeerId
        self.started = False
        self.stopped = False

    # -- lifecycle (trio side) -------------------------------------------------------------

    @property
    def peers(self) -> list[PeerId]:
        """Peers we speak Bitswap with (a snapshot the loop keeps current)."""
        return list(self._peers)

    async def start(self, nursery: Any = None) -> None:
        """Run a ``fastswap.Node`` on the host (which must be running); *nursery* is not
        needed: the node's tasks live on the host's loop."""
        if self.started:
            return
        self._loop = self.host._running_loop()
        self.started = True
        try:
            await self._loop.call(self._start)
        except BaseException:
            self.stopped = True  # a failed start is over: start() again makes a new driver
            raise

    async def stop(self) -> None:
        if not self.started or self.stopped:
            return
        self.stopped = True
        if self._loop is not None and self._loop.running:
            await self._loop.call(self._stop)

    # -- lifecycle (loop side) -------------------------------------------------------------

    async def _start(self) -> None:
        from ..node import Node

        assert self._loop is not None
        node = Node(store=self._sync, host=self.host._net_host(), routing=self.host.routing)
        await node.start()
        self.node = node
        self.book = WantBook(node.core, self._now)
        node.core.listen(self._on_notice)
        self._peers = tuple(node.core.peers)
        self.host._attach(self)

    async def _stop(self) -> None:
        self.host._detach(self)
        if self.book is not None:
            self.book.close()
        if self.node is not None:
            await self.node.stop()

    def _on_notice(self, notice: Notice) -> None:
        if isinstance(notice, PeerJoined | PeerLeft):
            assert self.node is not None
            self._peers = tuple(self.node.core.peers)

    # -- the application's side (trio) -----------------------------------------------------

    def _post(self, fn: Callable[..., Any], *args: Any) -> None:
        if self.started and not self.stopped and self._loop is not None:
            self._loop.call_soon(fn, *args)

    def added(self, items: Iterable[tuple[bytes, bytes]]) -> None:
        """Blocks the application put in the store: peers that want them are served, waiting
        fetches get them."""
        self._post(self._blocks_stored, [cid for cid, _ in items])

    def want_background(self, cids: Sequence[bytes]) -> None:
        self._post(self._want_background, list(cids))

    def cancel_background(self, cids: Sequence[bytes]) -> None:
        self._post(self._cancel_background, list(cids))

    async def fetch(self, cids: Sequence[bytes], peer: Any = None,
                    timeout: float = math.inf, *, presence_only: bool = False) -> Fetch:
        """As ``TrioDriver.fetch``: *cids* (binary, unique) until each arrived or is
        unavailable, or *timeout* seconds passed."""
        if not self.started or self.stopped or self._loop is None:
            raise HostNotRunningError("call BitswapClient.start() first")
        target = None if peer is None else as_peer_id(peer)
        return await self._loop.call(self._fetch, list(cids), target, timeout, presence_only)

    # -- the application's side (loop) -----------------------------------------------------

    def _now(self) -> float:
        assert self._loop is not None
        return self._loop.loop.time()  # the node's clock

    def _live(self) -> Node | None:
        node = self.node
        return None if node is None or self.stopped else node

    def _blocks_stored(self, cids: list[bytes]) -> None:
        node = self._live()
        if node is not None:
            node.core.blocks_stored(cids)
            node.wake()

    def _want_background(self, cids: list[bytes]) -> None:
        node = self._live()
        if node is not None and self.book is not None:
            self.book.want_background(cids)
            node.wake()

    def _cancel_background(self, cids: list[bytes]) -> None:
        node = self._live()
        if node is not None and self.book is not None:
            self.book.cancel_background(cids)
            node.wake()

    async def _fetch(self, cids: list[bytes], peer: PeerId | None, timeout: float,
                     presence_only: bool) -> Fetch:
        node, book = self.node, self.book
        assert node is not None and book is not None
        changed = asyncio.Event()
        fetch = book.open(cids, changed.set, stored=self._sync.has_many,
                          presence_only=presence_only, peer=peer)
        try:
            async with asyncio.timeout(None if math.isinf(timeout) else timeout):
                peers = [peer] if peer is not None and await self._ensure_peer(peer) else []
                book.want(fetch, peers)
                node.wake()
                while not fetch.settled and not self.stopped:
                    await changed.wait()
                    changed.clear()
        except TimeoutError:
            pass  # the caller tells a timeout from what is left
        finally:
            book.close_fetch(fetch)
            node.wake()
        return fetch

    async def _ensure_peer(self, peer: PeerId) -> bool:
        """*peer* speaks Bitswap with us, or is connected (its stream is being opened), or
        was dialled at an address this program gave the host; True then."""
        node = self.node
        assert node is not None
        if node.core.is_connected(peer) or node.host.connection(peer) is not None:
            return True
        for ma in self.host.addresses(peer):
            try:
                await node.connect(ma)
                return True
            except NetError as exc:
                log.info("cannot reach %s at %s for Bitswap: %s", peer, ma, exc)
        return False
