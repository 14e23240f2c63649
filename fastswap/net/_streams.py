"""Muxed streams as the application sees them: libp2p/specs ``connections/README.md``
("Opening New Streams Over a Connection", "Protocol Negotiation") on top of a yamux or mplex
session (``yamux.py``/``mplex.py``).

A ``Stream`` is the asyncio face of one muxer stream: ``read``/``readexactly`` take bytes the
connection delivered, ``write`` queues bytes the connection hands to the muxer as the peer's
window allows, ``drain`` waits for that (backpressure), ``close`` half-closes and ``reset``
aborts. The connection (``_connection.py``) owns the muxer session and calls the ``_on_*``
methods; nothing here touches a socket.

Reading consumes: every byte the application takes is reported to the muxer
(``session.consumed``), which is what re-opens a yamux window. A reader that stops reading
therefore stops the peer within one window, and received-but-unread bytes stay bounded.

``negotiate_outbound``/``negotiate_inbound`` run multistream-select 1.0 (``multistream.py``) on a
stream before the application protocol starts.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import IncompleteReadError, MessageError, NegotiationError, StreamClosedError
from .multistream import MultistreamDialer, MultistreamListener

if TYPE_CHECKING:
    from ._connection import Connection
    from .keys import PeerId

__all__ = ["FrameReserve", "Stream", "negotiate_inbound", "negotiate_outbound"]


class FrameReserve:
    """What the frame decoders of a connection's streams may allocate for messages ahead of
    their bytes (:meth:`Stream.frame`): *limit* in all, *used* now."""

    __slots__ = ("limit", "used")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0


class Stream:
    """One bidirectional muxed stream. Create with ``Host.new_stream`` (or receive in a handler).

    ``read(n=-1)`` returns the bytes available now (up to *n* if given; at least one byte),
    waiting if there are none, and ``b""`` once the peer half-closed and everything was read.
    Unlike ``asyncio.StreamReader.read(-1)`` it does not read to EOF: a hostile peer could make
    that unbounded; loop until ``b""`` instead.
    """

    __slots__ = (
        "__weakref__",
        "_chunks",
        "_close_requested",
        "_conn",
        "_credit",
        "_decoder",
        "_drain_waiter",
        "_eof",
        "_error",
        "_fin_sent",
        "_frame_error",
        "_frames",
        "_pending",
        "_pending_size",
        "_read_waiter",
        "_reserve",
        "_room_waiter",
        "_size",
        "outbound",
        "protocol",
        "stream_id",
    )

    def __init__(self, conn: Connection, stream_id: int, *, outbound: bool) -> None:
        self._conn = conn
        self.stream_id = stream_id
        self.outbound = outbound
        #: the protocol agreed by multistream-select (None until negotiated)
        self.protocol: str | None = None
        # received bytes, oldest first; each chunk is a private copy (the muxer's views die)
        self._chunks: deque[bytes] = deque()
        self._size = 0
        # bytes at the head of _chunks already reported as consumed (pushed back after
        # negotiation): reading them again must not report them twice
        self._credit = 0
        # set by frame(): arriving bytes go to this decoder at once, its messages to _frames
        self._decoder: Any = None
        self._reserve: FrameReserve | None = None
        self._frames: deque[memoryview] = deque()
        self._frame_error: MessageError | None = None
        self._eof = False
        self._error: StreamClosedError | None = None
        self._read_waiter: asyncio.Future[None] | None = None
        # bytes written but not yet handed to the muxer (waiting for window or transport)
        self._pending: deque[memoryview] = deque()
        self._pending_size = 0
        self._close_requested = False
        self._fin_sent = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._room_waiter: asyncio.Future[None] | None = None

    # -- facts -----------------------------------------------------------------------------

    @property
    def connection(self) -> Connection:
        return self._conn

    @property
    def remote_peer(self) -> PeerId:
        return self._conn.remote_peer

    @property
    def buffered(self) -> int:
        """Received bytes not yet read (bounded by the host's ``max_buffered_per_stream``)."""
        return self._size

    @property
    def write_buffered(self) -> int:
        """Written bytes not yet handed to the muxer (waiting for the peer's window)."""
        return self._pending_size

    @property
    def send_room(self) -> int | None:
        """Bytes a write could hand to the muxer now, beyond what is already queued: the
        peer's flow-control window less our queue (<= 0: the peer has not read). None when the
        muxer has no windows (mplex): the transport's backpressure (``drain``) is all there is."""
        return self._conn.send_room(self.stream_id, self._pending_size)

    async def wait_send_room(self) -> None:
        """Wait until the peer's window lets more through (``send_room`` > 0), the stream
        dies or the muxer has no windows. A writer that builds what it writes only once there
        is room holds nothing for a peer that stopped reading."""
        while self._error is None:
            room = self.send_room
            if room is None or room > 0:
                return
            await self._park("_room_waiter", "waiting for room on")
        raise self._error

    @property
    def is_reset(self) -> bool:
        return self._error is not None

    def at_eof(self) -> bool:
        return self._eof and not self._size

    def __repr__(self) -> str:
        way = "out" if self.outbound else "in"
        return f"<Stream {self.stream_id} {way} {self.protocol!r} to {self._conn.remote_peer}>"

    # -- reading ---------------------------------------------------------------------------

    async def _park(self, slot: str, doing: str) -> None:
        """Wait to be woken through the future kept in the attribute *slot* (``_read_waiter``,
        ``_drain_waiter`` or ``_room_waiter``): one coroutine per kind at a time."""
        if getattr(self, slot) is not None:
            raise RuntimeError(f"another coroutine is already {doing} this stream")
        fut = self._conn.loop.create_future()
        setattr(self, slot, fut)
        try:
            await fut
        finally:
            setattr(self, slot, None)

    async def _wait_readable(self) -> None:
        await self._park("_read_waiter", "reading")

    def _account(self, n: int) -> None:
        credit = self._credit
        if credit:
            used = min(n, credit)
            self._credit = credit - used
            n -= used
        if n:
            self._conn._consumed(self, n)

    async def read(self, n: int = -1) -> bytes:
        """Up to *n* bytes (all buffered bytes if ``n < 0``), at least one; ``b""`` at EOF."""
        if n == 0:
            return b""
        while not self._size:
            if self._error is not None:
                raise self._error
            if self._eof:
                return b""
            await self._wait_readable()
        chunks = self._chunks
        if n < 0 or n >= self._size:
            data = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
            chunks.clear()
        else:
            parts = []
            need = n
            while need:
                head = chunks[0]
                if len(head) <= need:
                    parts.append(chunks.popleft())
                    need -= len(head)
                else:
                    parts.append(head[:need])
                    chunks[0] = head[need:]
                    need = 0
            data = parts[0] if len(parts) == 1 else b"".join(parts)
        self._size -= len(data)
        self._account(len(data))
        return data

    async def read_chunks(self) -> list[bytes]:
        """Every buffered chunk as the connection delivered it (no joining copy), at least
        one, waiting if there is none; ``[]`` once the peer half-closed and all was read.
        For consumers that parse across chunk boundaries anyway (a frame decoder): joining
        the chunks first, as ``read`` does, would copy every byte once more."""
        while not self._size:
            if self._error is not None:
                raise self._error
            if self._eof:
                return []
            await self._wait_readable()
        return self._take_all(self._chunks)

    def _take_all(self, queue: deque[Any]) -> list[Any]:
        """Everything in *queue* (the chunks, or the frames), every received byte now read."""
        out = list(queue)
        queue.clear()
        n = self._size
        self._size = 0
        self._account(n)
        return out

    def frame(self, decoder: Any, reserve: FrameReserve) -> None:
        """Feed the bytes that arrive from now on to *decoder* (a ``FrameDecoder``) at once,
        in the connection's receive callback, instead of keeping them as chunks; read the
        messages it completes with :meth:`read_frames` (and nothing else). The bytes are
        copied out of the receive buffer straight into their message's own buffer (one copy,
        where chunks that a reader joins cost two), within *reserve*: what the decoders sharing
        it may allocate ahead of the bytes' arrival (beyond it they collect pieces and join).
        Bytes count as received and unread until :meth:`read_frames` returns, as chunks do,
        so flow control is unchanged."""
        self._decoder = decoder
        self._reserve = reserve
        chunks = list(self._chunks)  # already here (left over from negotiation)
        self._chunks.clear()
        for chunk in chunks:
            if self._decoder is not None:
                self._feed(chunk)

    def unframe(self) -> None:
        """Stop feeding the decoder (its reservation is given back)."""
        dec = self._decoder
        if dec is None:
            return
        self._decoder = None
        reserve = self._reserve
        assert reserve is not None
        reserve.used -= dec.reserved
        dec.reserve_room = 0

    def _feed(self, data: Any) -> None:
        dec = self._decoder
        reserve = self._reserve
        assert reserve is not None
        held = dec.reserved
        dec.reserve_room = reserve.limit - reserve.used + held
        try:
            frames = dec.feed(data)
        except MessageError as exc:  # the reader raises it after the frames before it
            self._frame_error = exc
            self.unframe()
            return
        reserve.used += dec.reserved - held
        if frames:
            self._frames.extend(frames)

    async def read_frames(self) -> list[memoryview] | None:
        """The messages completed since the last call (see :meth:`frame`); none if only part
        of one arrived, waiting until some bytes did; None once the peer half-closed and all
        was read. Raises the decoder's error once the messages before it were read."""
        while not self._size and not self._frames:
            if self._error is not None:
                raise self._error
            if self._frame_error is not None:
                raise self._frame_error
            if self._eof:
                return None
            await self._wait_readable()
        return self._take_all(self._frames)

    async def readexactly(self, n: int) -> bytes:
        """Exactly *n* bytes; ``IncompleteReadError`` (with ``.partial``) if the stream ends."""
        if n < 0:
            raise ValueError("readexactly needs n >= 0")
        parts: list[bytes] = []
        got = 0
        while got < n:
            chunk = await self.read(n - got)
            if not chunk:
                partial = b"".join(parts)
                raise IncompleteReadError(
                    f"stream ended after {got} of {n} bytes; the peer closed it early",
                    partial,
                )
            parts.append(chunk)
            got += len(chunk)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _unread(self, data: bytes) -> None:
        """Put bytes (already reported consumed) back in front: multistream leftovers."""
        if data:
            self._chunks.appendleft(data)
            self._size += len(data)
            self._credit += len(data)

    # -- writing ---------------------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Queue *data*; it goes out as the peer's window and the socket allow. Call ``drain``
        to wait for that (and to bound how much a fast writer queues)."""
        if self._error is not None:
            raise self._error
        if self._close_requested:
            raise StreamClosedError(f"stream {self.stream_id} was closed for writing")
        if not len(data):
            return
        if type(data) is not bytes:
            # the muxer keeps views until the next flush: a mutable buffer must not change
            # under it, so take a private copy
            data = bytes(data)
        self._pending.append(memoryview(data))
        self._pending_size += len(data)
        self._conn._pump(self)

    async def drain(self) -> None:
        """Wait until everything written was handed to the muxer and the connection's socket
        buffer is below its high-water mark. Raises ``StreamResetError`` if the stream died."""
        while True:
            if self._error is not None:
                raise self._error
            if not self._pending_size and not self._conn._write_paused:
                return
            await self._park("_drain_waiter", "draining")

    def close(self) -> None:
        """Half-close: no more writes; the FIN follows the queued data. Reading continues."""
        if self._error is not None or self._close_requested:
            return
        self._close_requested = True
        self._conn._pump(self)

    def reset(self) -> None:
        """Abort both directions at once (RST); queued data is dropped."""
        if self._error is None:
            self._conn._reset_stream(self)

    # -- called by the connection ----------------------------------------------------------

    def _on_data(self, data: memoryview) -> None:
        if self._decoder is not None:
            self._feed(data)
        elif self._frame_error is None:
            self._chunks.append(bytes(data))
        # else: after a malformed frame the bytes are dropped (the reader ends the stream)
        self._size += len(data)
        fut = self._read_waiter
        if fut is not None and not fut.done():
            fut.set_result(None)

    def _on_eof(self) -> None:
        self._eof = True
        fut = self._read_waiter
        if fut is not None and not fut.done():
            fut.set_result(None)

    def _on_reset(self, error: StreamClosedError) -> None:
        if self._error is not None:
            return
        self._error = error
        self._chunks.clear()
        self._frames.clear()
        self.unframe()
        self._size = 0
        self._pending.clear()
        self._pending_size = 0
        for fut in (self._read_waiter, self._drain_waiter, self._room_waiter):
            if fut is not None and not fut.done():
                fut.set_result(None)

    def _on_write_lost(self) -> None:
        """The connection died after the peer's FIN: keep the received bytes, stop writing."""
        self._pending.clear()
        self._pending_size = 0
        self._close_requested = True
        self._fin_sent = True
        self._wake_drain()

    def _on_window(self) -> None:
        fut = self._room_waiter
        if fut is not None and not fut.done():
            fut.set_result(None)

    def _wake_drain(self) -> None:
        fut = self._drain_waiter
        if fut is not None and not fut.done():
            fut.set_result(None)


async def negotiate_outbound(stream: Stream, protocols: Sequence[str]) -> str:
    """Propose *protocols* in order on a fresh stream; the selected one."""
    dialer = MultistreamDialer(protocols)
    stream.write(dialer.initiate())
    while not dialer.done:
        data = await stream.read()
        if not data:
            raise NegotiationError(
                f"the peer closed the stream while we proposed {list(protocols)}"
            )
        out = dialer.receive_data(data)
        if out:
            stream.write(out)
    stream._unread(dialer.unused)
    stream.protocol = dialer.selected
    assert dialer.selected is not None
    return dialer.selected


async def negotiate_inbound(
    stream: Stream, supported: Collection[str] | Callable[[str], bool]
) -> str:
    """Answer the peer's proposals on a stream it opened; the protocol agreed."""
    listener = MultistreamListener(supported)
    stream.write(listener.initiate())
    while not listener.done:
        data = await stream.read()
        if not data:
            raise NegotiationError("the peer closed the stream before agreeing on a protocol")
        out = listener.receive_data(data)
        if out:
            stream.write(out)
    stream._unread(listener.unused)
    stream.protocol = listener.selected
    assert listener.selected is not None
    return listener.selected
