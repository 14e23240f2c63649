"""asyncio driver for the sans-IO stream muxers (yamux, mplex) over a secured connection.

The protocol logic lives in ``fastswap.net.yamux`` / ``fastswap.net.mplex`` (hashicorp/yamux
``spec.md``, libp2p/specs ``mplex/README.md``); this module only moves bytes and wakes tasks,
like aioquic's ``asyncio/`` package around ``quic/connection.py``.

The transport is any object with ``async read() -> bytes`` (``b""`` at end of stream) and
``write(data)``, shaped like ``fastswap.net.conn.SecureConnection`` (the Noise connection):
``writelines(list)``, ``async drain()``, ``close()`` and ``async wait_closed()`` are used when
present, and ``write``/``writelines``/``close`` may also be coroutines. ``StreamTransport``
adapts an asyncio ``(StreamReader, StreamWriter)`` pair for plain TCP.

One reader task parses what arrives and one writer task flushes what the session queued, so
a slow transport write never blocks parsing, and every stream's ``write``/``drain`` obeys the
peer's window (yamux): ``drain()`` returns once the peer granted room for everything written.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import inspect
from typing import Any, Self

from ..errors import MuxerError, NetError, StreamClosedError
from ._muxer_events import (
    DataReceived,
    GoAwayReceived,
    PongReceived,
    StreamEnded,
    StreamOpened,
    StreamReset,
    WindowUpdated,
)

__all__ = ["MuxedConnection", "MuxedStream", "StreamTransport"]


def _noop() -> None:
    return None


async def _maybe_await(result: Any) -> None:
    if inspect.isawaitable(result):
        await result


class StreamTransport:
    """``read``/``write`` over an asyncio stream pair (plain TCP; for tests and cleartext)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 read_size: int = 256 * 1024) -> None:
        self._reader = reader
        self._writer = writer
        self._read_size = read_size

    async def read(self) -> bytes:
        return await self._reader.read(self._read_size)

    def write(self, data: Any) -> None:
        self._writer.write(data)

    def writelines(self, chunks: list) -> None:
        self._writer.writelines(chunks)

    async def drain(self) -> None:
        await self._writer.drain()

    def close(self) -> None:
        self._writer.close()

    async def wait_closed(self) -> None:
        try:
            await self._writer.wait_closed()
        except (ConnectionError, OSError):
            pass


class MuxedStream:
    """One stream of a muxed connection: ``read``, ``write`` + ``drain``, ``close``, ``reset``."""

    def __init__(self, conn: MuxedConnection, stream_id: int) -> None:
        self._conn = conn
        self.stream_id = stream_id
        self._chunks: collections.deque = collections.deque()
        self._buffered = 0
        self._eof = False
        self._error: BaseException | None = None
        self._readable = asyncio.Event()
        self._pending: collections.deque = collections.deque()  # written, not yet in a frame
        self._drained = asyncio.Event()
        self._drained.set()
        self._closing = False
        self._fin_sent = False

    # -- reading ---------------------------------------------------------------------------

    async def read(self, n: int = -1) -> bytes:
        """Up to *n* bytes (all buffered if n < 0); ``b""`` once the peer closed its side.

        Raises ``StreamClosedError`` if the stream was reset.
        """
        while not self._chunks:
            if self._eof:
                return b""
            if self._error is not None:
                raise self._error
            self._readable.clear()
            await self._readable.wait()
        if n < 0 or n >= self._buffered:
            out = b"".join(self._chunks)
            self._chunks.clear()
        else:
            parts = []
            need = n
            while need:
                chunk = self._chunks[0]
                if len(chunk) <= need:
                    parts.append(self._chunks.popleft())
                    need -= len(chunk)
                else:
                    parts.append(chunk[:need])
                    self._chunks[0] = chunk[need:]
                    need = 0
            out = b"".join(parts)
        self._buffered -= len(out)
        self._conn._consumed(self.stream_id, len(out))
        return out

    async def readexactly(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = await self.read(n - len(buf))
            if not chunk:
                raise StreamClosedError(
                    f"stream {self.stream_id} ended after {len(buf)} of {n} bytes"
                )
            buf += chunk
        return bytes(buf)

    # -- writing ---------------------------------------------------------------------------

    def write(self, data: Any) -> None:
        """Queue *data*; it goes out as the peer's window allows. Await ``drain()`` after."""
        if self._error is not None:
            raise self._error
        if self._closing:
            raise StreamClosedError(f"stream {self.stream_id} was closed for writing")
        if not data:
            return
        # the session keeps views of what it is given until written: never a mutable buffer
        self._pending.append(data if isinstance(data, bytes) else bytes(data))
        self._drained.clear()
        self._push()

    async def drain(self) -> None:
        """Wait until everything written went into frames (the peer's window allowed it) and
        the transport took them (its own backpressure; mplex has no windows)."""
        await self._drained.wait()
        await self._conn._flushed.wait()
        if self._error is not None:
            raise self._error

    def _push(self) -> None:
        """Move pending bytes into the session as far as the send window allows."""
        conn = self._conn
        while self._pending:
            head = self._pending[0]
            try:
                taken = conn._session.send_data(self.stream_id, head)
            except (StreamClosedError, MuxerError) as exc:
                self._fail(exc if isinstance(exc, StreamClosedError) else StreamClosedError(
                    f"stream {self.stream_id}: connection failed ({exc})"))
                return
            if taken == 0:
                break
            if taken < len(head):
                self._pending[0] = memoryview(head)[taken:]
                conn._kick()
                break
            self._pending.popleft()
        conn._kick()
        if not self._pending:
            self._drained.set()
            if self._closing and not self._fin_sent:
                self._fin_sent = True
                conn._session.close_stream(self.stream_id)
                conn._kick()

    async def close(self) -> None:
        """Half-close after everything written has gone out; reading stays possible."""
        if self._closing or self._error is not None:
            return
        self._closing = True
        self._push()
        await self.drain()

    def reset(self) -> None:
        """Abort both directions at once; pending data is dropped."""
        if self._error is None:
            self._conn._reset(self.stream_id)
            self._fail(StreamClosedError(f"stream {self.stream_id} was reset locally"))

    # -- driven by the connection ------------------------------------------------------------

    def _feed(self, data: memoryview) -> None:
        self._chunks.append(data)
        self._buffered += len(data)
        self._readable.set()

    def _end(self) -> None:
        self._eof = True
        self._readable.set()

    def _fail(self, exc: BaseException) -> None:
        if self._error is None:
            self._error = exc
        self._pending.clear()
        self._readable.set()
        self._drained.set()
        self._conn._streams.pop(self.stream_id, None)


class MuxedConnection:
    """Runs a yamux or mplex session over *transport*; use as ``async with``."""

    def __init__(self, transport: Any, session: Any) -> None:
        self._transport = transport
        self._session = session
        self._streams: dict[int, MuxedStream] = {}
        self._incoming: asyncio.Queue = asyncio.Queue()
        self._pings: dict[int, asyncio.Future] = {}
        self._wake_writer = asyncio.Event()
        self._flushed = asyncio.Event()  # nothing queued in the session or being written
        self._flushed.set()
        self._error: BaseException | None = None
        self._closed = False
        self._reader_task: asyncio.Task | None = None
        self._writer_task: asyncio.Task | None = None

    def start(self) -> MuxedConnection:
        self._reader_task = asyncio.get_running_loop().create_task(self._read_loop())
        self._writer_task = asyncio.get_running_loop().create_task(self._write_loop())
        return self

    async def __aenter__(self) -> Self:
        return self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- application calls ---------------------------------------------------------------------

    def open_stream(self) -> MuxedStream:
        if self._error is not None:
            raise self._error
        sid = self._session.open_stream()
        stream = self._streams[sid] = MuxedStream(self, sid)
        self._kick()
        return stream

    async def accept_stream(self) -> MuxedStream:
        """The next stream the peer opened; raises ``NetError`` once the connection is gone."""
        item = await self._incoming.get()
        if isinstance(item, BaseException):
            self._incoming.put_nowait(item)  # every later caller sees it too
            raise item
        return item

    async def ping(self) -> None:
        """A yamux ping round trip (mplex has no ping)."""
        opaque = self._session.ping()
        fut = self._pings[opaque] = asyncio.get_running_loop().create_future()
        self._kick()
        await fut

    async def close(self) -> None:
        """Say go-away (yamux), flush, stop both tasks and close the transport."""
        if self._closed:
            return
        self._closed = True
        if self._error is None and hasattr(self._session, "go_away"):
            with contextlib.suppress(MuxerError):  # a dead session has nothing to say
                self._session.go_away()
        await self._flush_now()
        for task in (self._reader_task, self._writer_task):
            if task is not None and not task.done():
                task.cancel()
        for task in (self._reader_task, self._writer_task):
            if task is not None:
                # shutting down: how a loop task ended no longer matters
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._shutdown(StreamClosedError("the muxed connection was closed"))
        try:
            await _maybe_await(getattr(self._transport, "close", _noop)())
            await _maybe_await(getattr(self._transport, "wait_closed", _noop)())
        except (ConnectionError, OSError, NetError):
            pass

    # -- plumbing ----------------------------------------------------------------------------

    def _kick(self) -> None:
        self._wake_writer.set()
        self._flushed.clear()

    def _consumed(self, sid: int, n: int) -> None:
        if self._error is None:
            self._session.consumed(sid, n)
            self._kick()

    def _reset(self, sid: int) -> None:
        if self._error is None:
            self._session.reset_stream(sid)
            self._kick()

    async def _flush_now(self) -> None:
        out = self._session.data_to_send()
        if not out:
            return
        transport = self._transport
        try:
            writelines = getattr(transport, "writelines", None)
            if writelines is not None:
                await _maybe_await(writelines(out))
            else:
                for chunk in out:
                    await _maybe_await(transport.write(chunk))
            drain = getattr(transport, "drain", None)
            if drain is not None:
                await drain()
        except (ConnectionError, OSError, NetError) as exc:
            self._shutdown(NetError(f"muxed connection write failed: {exc}"))

    async def _write_loop(self) -> None:
        while self._error is None:
            await self._wake_writer.wait()
            self._wake_writer.clear()
            await self._flush_now()
            if not self._wake_writer.is_set():
                self._flushed.set()

    async def _read_loop(self) -> None:
        session = self._session
        try:
            while True:
                data = await self._transport.read()
                if not data:
                    self._shutdown(StreamClosedError("the peer closed the connection"))
                    return
                try:
                    events = session.receive_data(data)
                except MuxerError as exc:
                    await self._flush_now()  # the go-away telling the peer why
                    self._shutdown(exc)
                    return
                for ev in events:
                    self._dispatch(ev)
                self._kick()
        except (ConnectionError, OSError, NetError) as exc:
            self._shutdown(NetError(f"muxed connection read failed: {exc}"))

    def _dispatch(self, ev: object) -> None:
        kind = type(ev)
        if kind is DataReceived:
            stream = self._streams.get(ev.stream_id)
            if stream is not None:
                stream._feed(ev.data)
        elif kind is WindowUpdated:
            stream = self._streams.get(ev.stream_id)
            if stream is not None:
                stream._push()
        elif kind is StreamOpened:
            stream = self._streams[ev.stream_id] = MuxedStream(self, ev.stream_id)
            self._incoming.put_nowait(stream)
        elif kind is StreamEnded:
            stream = self._streams.get(ev.stream_id)
            if stream is not None:
                stream._end()
        elif kind is StreamReset:
            stream = self._streams.get(ev.stream_id)
            if stream is not None:
                stream._fail(StreamClosedError(f"stream {ev.stream_id} was reset by the peer"))
        elif kind is PongReceived:
            fut = self._pings.pop(ev.opaque, None)
            if fut is not None and not fut.done():
                fut.set_result(None)
        elif kind is GoAwayReceived:
            pass  # the session refuses new local streams from now on; existing ones go on

    def _shutdown(self, exc: BaseException) -> None:
        if self._error is None:
            self._error = exc
        for stream in list(self._streams.values()):
            stream._fail(exc if isinstance(exc, StreamClosedError) else StreamClosedError(
                f"stream {stream.stream_id}: connection failed ({exc})"))
        for fut in self._pings.values():
            if not fut.done():
                fut.set_exception(StreamClosedError(f"connection closed before pong ({exc})"))
        self._pings.clear()
        self._incoming.put_nowait(exc)
        self._wake_writer.set()
        self._flushed.set()
