"""Fetch sessions on a :class:`~fastswap.node.Node`: ipfs/specs bitswap-protocol, the client
side ("Wantlist"), with the session semantics of boxo's ``client/internal/session``.

A :class:`Session` groups wants that belong together (a DAG, a file): the client engine asks
the peers that answered one of them first for the others. It turns the application's calls
(``get_block``, ``get_blocks``, the DAG walk behind ``Node.fetch_dag``) into wants on the
node's driver core and waits for the node to deliver the blocks (store first, then waiters),
with a bounded window of outstanding wants so a slow consumer slows the fetch instead of
filling memory.
"""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any, Self

from . import _defaults
from .block import Block
from .cid import CID, DAG_PB, decode_cid, parse, to_str
from .errors import BadBlockError, FetchTimeoutError, NodeError

if TYPE_CHECKING:
    from .node import Node

__all__ = ["Session"]


class Session:
    """Wants that belong together (a DAG, a file): peers that answered one are asked first
    for the others. ``async with node.session() as s:``; closing cancels its open wants."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.id = node.core.new_session(node._now())
        self._closed = False

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if not self.node._stopped:
                self.node.core.close_session(self.id, self.node._now())
                self.node._schedule()

    def _want(self, cids: list[bytes]) -> None:
        if self._closed:
            raise NodeError("the session is closed; open a new one with node.session()")
        self.node.core.want(self.id, cids, self.node._now())
        self.node._schedule()

    def _cancel(self, cids: list[bytes]) -> None:
        if cids and not self._closed and not self.node._stopped:
            self.node.core.cancel(self.id, cids, self.node._now())
            self.node._schedule()

    async def get_block(self, cid: bytes | str, *, timeout: float | None = None) -> Block:
        key = parse(cid)
        try:
            async with asyncio.timeout(timeout):
                async for blk in self.get_blocks([key]):
                    return blk
        except TimeoutError:
            raise FetchTimeoutError(
                f"block {to_str(key)} did not arrive within {timeout} s; connect to a peer "
                "that has it"
            ) from None
        raise NodeError(f"block {to_str(key)} was not delivered")  # pragma: no cover

    async def fetch_missing(self, cid: bytes) -> bytes | memoryview:
        """The data of block *cid* (binary), which the store lacked when the caller looked,
        once it arrives from a peer (verified and stored first, as every received block): one
        :meth:`fetch_futures` future. Cancelling the call cancels the want."""
        data: bytes | memoryview = await self.fetch_futures([cid])[0]
        return data

    def fetch_futures(self, cids: list[bytes]) -> list[asyncio.Future[Any]]:
        """A future per CID of *cids* (blocks the store lacked when the caller looked), each
        done with the block's data once it arrives from a peer (verified and stored first, as
        every received block), or with the error that ended its want: one waiter per CID and
        one want for them all, no task and no generator per block. What the streaming
        exporter (:class:`fastswap.fetch.NodeSource`) asks for the blocks of a file, a window
        at a time; wants made in one turn of the loop go out in one message per peer.
        Cancelling a future cancels its want. The data may be a read-only view of the message
        it came in (not copied: 256 MiB of copies were 5% of a get), which it keeps alive: the
        streaming exporter's window counts such a block as that message."""
        node = self.node
        node._check_running()
        assert node._loop is not None
        new_future = node._loop.create_future
        futs: list[asyncio.Future[Any]] = []
        waiters: list[Any] = []
        for cid in cids:
            fut: asyncio.Future[Any] = new_future()
            arrived = functools.partial(_settle, fut)
            node._add_waiter(cid, arrived, self.id)
            fut.add_done_callback(functools.partial(self._abandoned, cid, arrived))
            futs.append(fut)
            waiters.append(arrived)
        try:
            self._want(cids)
        except BaseException:
            for cid, arrived in zip(cids, waiters):
                node._remove_waiter(cid, arrived)
            raise
        return futs

    def _abandoned(self, cid: bytes, arrived: Any, fut: asyncio.Future[Any]) -> None:
        """A fetch future is done: if it was cancelled or failed, nobody waits for *cid* here
        any more (its waiter goes, its want is cancelled)."""
        if fut.cancelled() or fut.exception() is not None:
            self.node._remove_waiter(cid, arrived)
            self._cancel([cid])

    async def get_blocks(
        self, cids: Iterable[bytes | str], *, window: int = _defaults.NODE_GET_BLOCKS_WINDOW
    ) -> AsyncIterator[Block]:
        """Yield a :class:`Block` for each CID as it arrives (local blocks first). At most
        *window* CIDs are wanted or waiting to be consumed at a time: a slow consumer slows the
        fetch instead of filling memory."""
        node = self.node
        node._check_running()
        todo = deque(dict.fromkeys(parse(c) for c in cids))  # unique, in order
        arrivals = _Arrivals(self)
        try:
            while todo or arrivals.wanted:
                room = window - len(arrivals.wanted) - arrivals.ready.qsize()
                if todo and room > 0:
                    batch = [todo.popleft() for _ in range(min(room, len(todo)))]
                    local = arrivals.want_missing(batch)
                    if local:
                        datas = await node.astore.get_many(local)
                        for c, d in zip(local, datas):
                            if d is None:  # deleted meanwhile: fetch it
                                arrivals.want([c])
                            else:
                                yield Block(CID(c), d)
                    continue
                cid, data = await arrivals.next()
                yield Block(CID(cid), bytes(data))
        finally:
            arrivals.close()

    async def _fetch_dag(self, root: bytes) -> int:
        """Breadth-first: every link of every arrived block is wanted at once (up to
        NODE_FETCH_DAG_WANTS outstanding), so peers always have the next layer queued."""
        node = self.node
        node._check_running()
        pending: deque[bytes] = deque([root])
        seen = {root}
        arrivals = _Arrivals(self)
        count = 0
        limit = _defaults.NODE_FETCH_DAG_WANTS

        def expand(cid: bytes, data: Any) -> None:
            from .dag import iter_links

            if decode_cid(cid)[1] != DAG_PB:
                return  # raw leaves have no links (other codecs: iter_links refuses)
            for link in iter_links(cid, data):
                if link not in seen:
                    seen.add(link)
                    pending.append(link)

        try:
            while pending or arrivals.wanted:
                if pending and len(arrivals.wanted) < limit:
                    batch = [pending.popleft() for _ in range(min(limit - len(arrivals.wanted),
                                                                  len(pending)))]
                    local = arrivals.want_missing(batch)
                    inner = [c for c in local if decode_cid(c)[1] == DAG_PB]
                    count += len(local)
                    if inner:
                        datas = await node.astore.get_many(inner)
                        for c, d in zip(inner, datas):
                            if d is None:
                                raise BadBlockError(f"{to_str(c)} vanished from the store")
                            expand(c, d)
                    continue
                cid, data = await arrivals.next()
                count += 1
                expand(cid, data)
        finally:
            arrivals.close()
        return count


def _settle(fut: asyncio.Future[Any], _cid: bytes | None, data: Any,
            exc: BaseException | None) -> None:
    """A node waiter: the block (or the error) for one :meth:`Session.fetch_futures` future."""
    if fut.done():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(data)


class _Arrivals:
    """The CIDs one call of a session waits for, and the blocks that arrived for them: each is
    registered with the node as a waiter and wanted in the session; :meth:`next` returns the
    next arrival; :meth:`close` forgets and cancels what is still wanted."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.ready: asyncio.Queue[tuple[bytes, Any, BaseException | None]] = asyncio.Queue()
        self.wanted: set[bytes] = set()

    def _waiter(self, cid: bytes | None, data: Any, exc: BaseException | None) -> None:
        self.ready.put_nowait((cid or b"", data, exc))

    def want(self, cids: list[bytes]) -> None:
        node = self.session.node
        for c in cids:
            node._add_waiter(c, self._waiter, self.session.id)
            self.wanted.add(c)
        if cids:
            self.session._want(cids)

    def want_missing(self, batch: list[bytes]) -> list[bytes]:
        """Want the CIDs of *batch* the store lacks; return the ones already stored."""
        have = self.session.node.store.has_many(batch)
        self.want([c for c, h in zip(batch, have) if not h])
        return [c for c, h in zip(batch, have) if h]

    async def next(self) -> tuple[bytes, Any]:
        """The next wanted block to arrive: (cid, data); its error if it failed."""
        while True:
            cid, data, exc = await self.ready.get()
            if exc is not None:
                raise exc
            if cid in self.wanted:
                self.wanted.discard(cid)
                return cid, data

    def close(self) -> None:
        node = self.session.node
        for c in self.wanted:
            node._remove_waiter(c, self._waiter)
        self.session._cancel(list(self.wanted))
