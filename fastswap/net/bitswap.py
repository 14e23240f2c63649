"""Bitswap on the libp2p host: ipfs/specs bitswap-protocol, "Protocol format" (protocol ids
``/ipfs/bitswap/1.2.0``, ``1.1.0``, ``1.0.0`` and bare ``/ipfs/bitswap``; every message is an
unsigned-varint length-prefixed protobuf) and "Sending messages" (a node may open a stream per
message or keep one; the receiver must read every stream the peer opens).

:class:`BitswapNetwork` is the thin IO layer under the sans-IO engines:

* **receiving**: a handler for each protocol id reads length-prefixed messages from any stream a
  peer opens (Helia opens one per message, Kubo keeps one) and hands ``(peer, Message, protocol)``
  to a callback. The streams we open are read too: py-libp2p answers on the requester's stream.
  A frame that is oversized or malformed closes the connection it came on (as boxo does) and
  penalises the peer (``Host.penalise``); it counts in :meth:`bad_frames`. A stream that ends in
  the middle of a message is reset (the connection carries on).
* **unfinished messages** (issue 8, item 6): the bytes of messages received but not complete
  are budgeted per connection and per peer (``MAX_PARTIAL_MESSAGE_BYTES_PER_*``), and a message
  must arrive whole within ``PARTIAL_MESSAGE_TIMEOUT_SECONDS`` of its first bytes (a watchdog
  pass a second, not a timer per read). Over either, the stream is reset and the peer
  penalised.
  Every per-peer log line is rate-limited (``Host.ratelog``).
* **sending**: one outbound stream per peer, opened on demand with the protocols we speak in
  order of preference (1.2.0 first), kept while it lives and reopened when it dies. The
  protocol it agreed is the peer's version (:meth:`version`). Writes to one peer are serialized
  (a lock), and every send waits for ``drain``: a slow peer slows only the task sending to it.

Block data written from a zero-copy store view must be consumed before the view closes.
``Stream.write`` (``_streams.py``) copies anything that is not ``bytes`` before it queues it,
so writing a view is safe (one copy); callers that want no copy on the loop build the whole
frame as one ``bytes`` off the loop (``Node`` does, in a blockstore reader thread) and pass it to
:meth:`send_frame`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from .. import _defaults
from .._defaults import MAX_MESSAGE_SIZE
from ..errors import (
    MessageError,
    NetError,
    StreamClosedError,
    UnfinishedMessageError,
)
from ..message import (
    FrameDecoder,
    Message,
    decode_message,
    encode_message_parts,
    frame_length_prefix,
)
from ..message.versions import (
    BITSWAP_1_0_0,
    BITSWAP_1_1_0,
    BITSWAP_1_2_0,
    BITSWAP_BARE,
    BITSWAP_PROTOCOLS,
)
from ._connection import Connection
from ._streams import FrameReserve
from .host import Host, Stream
from .keys import PeerId

__all__ = [
    "BITSWAP_1_0_0",
    "BITSWAP_1_1_0",
    "BITSWAP_1_2_0",
    "BITSWAP_BARE",
    "BITSWAP_PROTOCOLS",
    "BitswapNetwork",
]

log = logging.getLogger("fastswap.bitswap")

#: ``on_message(peer, msg, protocol)``; may return an awaitable, which the reader awaits before
#: it reads more from that stream (backpressure from the consumer to the peer).
MessageCallback = Callable[[PeerId, Message, str], "Awaitable[None] | None"]


class _Outbound:
    """Our sending side towards one peer."""

    __slots__ = ("lock", "reader", "stream", "version")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.stream: Stream | None = None
        self.version: str | None = None
        self.reader: asyncio.Task[None] | None = None


class BitswapNetwork:
    """Bitswap messages over a :class:`~fastswap.net.host.Host`.

    ``protocols`` limits (and orders) the ids we register and propose, e.g. only
    ``("/ipfs/bitswap/1.1.0",)`` to make a peer talk 1.1.0. ``is_answer(peer, msg)``, asked
    before a message of an inbound stream is handed on, says whether it answers what we asked
    the peer: such a stream's open is refunded to the stream-churn budgets
    (``Connection.refund_stream_open``).
    """

    def __init__(
        self,
        host: Host,
        on_message: MessageCallback,
        *,
        protocols: Sequence[str] = BITSWAP_PROTOCOLS,
        max_message_size: int = MAX_MESSAGE_SIZE,
        on_bad_frame: Callable[[PeerId, str], None] | None = None,
        max_partial_per_connection: int = _defaults.MAX_PARTIAL_MESSAGE_BYTES_PER_CONNECTION,
        max_partial_per_peer: int = _defaults.MAX_PARTIAL_MESSAGE_BYTES_PER_PEER,
        partial_timeout: float = _defaults.PARTIAL_MESSAGE_TIMEOUT_SECONDS,
        max_reserved_per_connection: int = _defaults.MAX_RESERVED_MESSAGE_BYTES_PER_CONNECTION,
        is_answer: Callable[[PeerId, Message], bool] | None = None,
    ) -> None:
        protocols = tuple(protocols)
        if not protocols or any(p not in BITSWAP_PROTOCOLS for p in protocols):
            raise NetError(
                f"Bitswap protocols must be a non-empty subset of {list(BITSWAP_PROTOCOLS)}"
            )
        self.host = host
        self.protocols = protocols
        self.max_message_size = max_message_size
        self._on_message = on_message
        self._on_bad_frame = on_bad_frame
        self._out: dict[PeerId, _Outbound] = {}
        self._inbound: set[Stream] = set()
        self._bad: dict[PeerId, int] = {}
        self.max_partial_per_connection = max_partial_per_connection
        self.max_partial_per_peer = max_partial_per_peer
        self.partial_timeout = partial_timeout
        self.max_reserved_per_connection = max_reserved_per_connection
        self._is_answer = is_answer
        # what each connection's readers may allocate ahead of their bytes (Stream.frame)
        self._reserves: weakref.WeakKeyDictionary[Connection, FrameReserve] = (
            weakref.WeakKeyDictionary())
        # bytes of unfinished messages held by the stream readers, per connection and per peer
        self._partial_conn: dict[Connection, int] = {}
        self._partial_peer: dict[PeerId, int] = {}
        # loop time each stream's unfinished message began, for the watchdog
        self._partial_since: dict[Stream, float] = {}
        self._partial_held: dict[Stream, int] = {}  # unfinished bytes each reader accounted
        self._watchdog: asyncio.Task[None] | None = None
        self._started = False
        self._stopped = False
        #: messages received and sent, for stats
        self.messages_received = 0
        self.messages_sent = 0
        self.bytes_sent = 0

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Register the stream handlers (before connecting: Helia only opens Bitswap streams
        to peers whose identify lists the protocol)."""
        if self._started:
            return
        self._started = True
        for proto in self.protocols:
            self.host.set_stream_handler(proto, self._handle_inbound)
        self._watchdog = asyncio.ensure_future(self._watch())

    async def stop(self) -> None:
        """Unregister, reset every Bitswap stream and wait for the readers to end."""
        if self._stopped:
            return
        self._stopped = True
        if self._watchdog is not None:
            self._watchdog.cancel()
        for proto in self.protocols:
            self.host.remove_stream_handler(proto)
        readers = []
        for out in self._out.values():
            if out.stream is not None:
                out.stream.reset()
            if out.reader is not None:
                out.reader.cancel()
                readers.append(out.reader)
        for stream in list(self._inbound):
            stream.reset()
        if readers:
            await asyncio.gather(*readers, return_exceptions=True)
        self._out.clear()

    # -- facts -----------------------------------------------------------------------------

    def version(self, peer: PeerId) -> str | None:
        """The protocol our outbound stream to *peer* agreed, if one is open."""
        out = self._out.get(peer)
        return out.version if out is not None else None

    def bad_frames(self, peer: PeerId) -> int:
        """Oversized, malformed or unfinished frames from *peer*."""
        return self._bad.get(peer, 0)

    def partial_bytes(self, peer: PeerId | None = None) -> int:
        """Bytes of unfinished messages held (from *peer*, or from everyone)."""
        if peer is None:
            return sum(self._partial_peer.values())
        return self._partial_peer.get(peer, 0)

    def reserved_bytes(self) -> int:
        """Bytes of message buffers allocated ahead of their bytes, on every connection (each
        within ``max_reserved_per_connection``)."""
        return sum(r.used for r in list(self._reserves.values()))

    def _hold_partial(self, conn: Connection, peer: PeerId, delta: int) -> None:
        """Account *delta* more (or fewer) unfinished bytes; UnfinishedMessageError when a
        budget is broken (the caller's ``finally`` gives its share back)."""
        if not delta:
            return
        on_conn = self._partial_conn.get(conn, 0) + delta
        on_peer = self._partial_peer.get(peer, 0) + delta
        for table, key, value in ((self._partial_conn, conn, on_conn),
                                  (self._partial_peer, peer, on_peer)):
            if value > 0:
                table[key] = value  # type: ignore[index]
            else:
                table.pop(key, None)  # type: ignore[arg-type]
        if delta > 0 and on_conn > self.max_partial_per_connection:
            raise UnfinishedMessageError(
                f"{on_conn} bytes of unfinished Bitswap messages on one connection, over "
                f"the {self.max_partial_per_connection}-byte budget"
            )
        if delta > 0 and on_peer > self.max_partial_per_peer:
            raise UnfinishedMessageError(
                f"{on_peer} bytes of unfinished Bitswap messages from one peer, over the "
                f"{self.max_partial_per_peer}-byte budget"
            )

    # -- receiving -------------------------------------------------------------------------

    async def _handle_inbound(self, stream: Stream) -> None:
        self._inbound.add(stream)
        try:
            await self._read_messages(stream, inbound=True)
        finally:
            self._inbound.discard(stream)

    async def _read_messages(self, stream: Stream, *, inbound: bool) -> None:
        """Read frames until the stream ends; a bad frame closes the connection (a stream that
        ends mid-message, or breaks the unfinished-message budgets, is reset); never raises for
        the peer's mistakes."""
        peer = stream.remote_peer
        conn = stream.connection
        protocol = stream.protocol or BITSWAP_BARE
        # FrameDecoder collects a frame spread over reads in a buffer of its size (within the
        # connection's reserve) or as pieces it joins once
        decoder = FrameDecoder(max_message_size=self.max_message_size)
        refund = inbound  # an inbound stream that answers us is not churn (see is_answer)
        reserve = self._reserves.get(conn)
        if reserve is None:
            reserve = self._reserves[conn] = FrameReserve(self.max_reserved_per_connection)
        # the stream feeds the decoder as bytes arrive: a message's bytes are copied once,
        # out of the connection's receive buffer into their own (see Stream.frame)
        stream.frame(decoder, reserve)
        try:
            while True:
                payloads = await stream.read_frames()
                if payloads is None:
                    try:
                        decoder.eof()
                    except MessageError as exc:  # the stream ended mid-message
                        raise UnfinishedMessageError(str(exc)) from None
                    if inbound:
                        stream.close()  # we have nothing to say on a stream the peer opened
                    return
                # only what is still unfinished counts against the budgets, settled before a
                # message is handed on: a handler may make this reader wait (its peer's inbox
                # is full), and a message complete by then is the inbox's to bound. Counted
                # after the wait, the finished messages of a peer that sends each on a stream
                # of its own (Kubo: 271 readers waiting at once in a 256 MiB fetch) looked
                # unfinished, went over the connection's budget, and the peer was cut off.
                self._settle(stream, conn, peer, decoder.buffered, bool(payloads))
                payloads.reverse()
                while payloads:
                    msg = decode_message(payloads.pop(), max_message_size=self.max_message_size)
                    self.messages_received += 1
                    if refund and self._is_answer is not None and self._is_answer(peer, msg):
                        refund = False  # once per stream
                        conn.refund_stream_open()
                    res = self._on_message(peer, msg, protocol)
                    del msg
                    if res is not None and inspect.isawaitable(res):
                        await res
        except MessageError as exc:
            self._bad_frame(stream, conn, peer, exc)
        except StreamClosedError as exc:
            log.debug("Bitswap stream from %s ended: %s", peer, exc)
        finally:
            stream.unframe()
            self._partial_since.pop(stream, None)
            self._hold_partial(conn, peer, -self._partial_held.pop(stream, 0))

    def _settle(self, stream: Stream, conn: Connection, peer: PeerId, held: int,
                completed: bool) -> None:
        """*stream*'s reader now holds *held* unfinished bytes (*completed*: a message of this
        read finished); UnfinishedMessageError past a budget, the new share recorded first
        (the reader's ``finally`` gives it back)."""
        before = self._partial_held.pop(stream, 0)
        if held:
            self._partial_held[stream] = held
        # the watchdog (_watch) resets a stream whose message takes too long; a message that
        # began in this batch starts its own clock
        if not held:
            self._partial_since.pop(stream, None)
        elif completed or not before:
            self._partial_since[stream] = asyncio.get_running_loop().time()
        self._hold_partial(conn, peer, held - before)

    async def _watch(self) -> None:
        """Reset the streams whose unfinished message has taken longer than partial_timeout
        (a timer per read would cost every message; one pass a second costs nothing)."""
        loop = asyncio.get_running_loop()
        interval = min(1.0, self.partial_timeout / 2)
        while True:
            await asyncio.sleep(interval)
            now = loop.time()
            late = [st for st, since in self._partial_since.items()
                    if now - since > self.partial_timeout]
            for stream in late:
                self._partial_since.pop(stream, None)
                exc = UnfinishedMessageError(
                    f"a Bitswap message was not finished within {self.partial_timeout} s"
                )
                try:
                    self._bad_frame(stream, stream.connection, stream.remote_peer, exc)
                except Exception:  # the watchdog must outlive a bug in one pass
                    log.exception("resetting a late Bitswap stream failed")

    def _bad_frame(self, stream: Stream, conn: Connection, peer: PeerId, exc: Exception) -> None:
        self._bad[peer] = self._bad.get(peer, 0) + 1
        host = self.host
        if isinstance(exc, UnfinishedMessageError):
            # a stream that ends or stalls mid-message: that stream goes, the connection stays
            host.ratelog.warning(
                "bitswap-unfinished", "resetting a Bitswap stream from %s: %s (bad frames "
                "from this peer: %d)", peer, exc, self._bad[peer],
            )
            stream.reset()
            host.penalise(peer, "unfinished Bitswap message", _defaults.PENALTY_PARTIAL_FRAME)
        else:
            # boxo closes the connection of a peer that sends a malformed message
            stream.reset()
            host.close_connection(conn)
            host._protocol_error(conn, "malformed Bitswap message", exc)
        if self._on_bad_frame is not None:
            try:
                self._on_bad_frame(peer, str(exc))
            except Exception:
                log.exception("bad-frame callback failed")

    # -- sending ---------------------------------------------------------------------------

    async def open(self, peer: PeerId) -> str:
        """Make sure an outbound stream to *peer* is open; the protocol it agreed.
        Raises NetError (DialError, NegotiationError, ...) if that is not possible."""
        out = self._out_state(peer)
        async with out.lock:
            await self._ensure(peer, out)
            assert out.version is not None
            return out.version

    def _live_stream(self, peer: PeerId) -> Stream | None:
        out = self._out.get(peer)
        stream = None if out is None else out.stream
        if stream is None or stream.is_reset or stream.connection.is_closed:
            return None
        return stream

    def send_room(self, peer: PeerId) -> int | None:
        """Bytes our stream to *peer* would take now without queueing them in our memory: the
        peer's yamux window less what waits (a stream not opened yet starts with the spec's
        window). <= 0: the peer has not read what we sent. None when unknown: no connection,
        or mplex, which has no windows (its sends are bounded by ``drain`` alone)."""
        stream = self._live_stream(peer)
        if stream is not None:
            return stream.send_room
        conn = self.host.connection(peer)
        return None if conn is None else conn.send_room()

    async def wait_send_room(self, peer: PeerId) -> None:
        """Wait until ``send_room(peer)`` is positive (or unknown). Returns at once when the
        stream died meanwhile: the next send opens a new one."""
        stream = self._live_stream(peer)
        if stream is None:
            return
        try:
            await stream.wait_send_room()
        except StreamClosedError:
            return

    def _out_state(self, peer: PeerId) -> _Outbound:
        if self._stopped:
            raise NetError("the Bitswap network is stopped; create a new node")
        out = self._out.get(peer)
        if out is None:
            out = self._out[peer] = _Outbound()
        return out

    async def _ensure(self, peer: PeerId, out: _Outbound) -> Stream:
        stream = out.stream
        if stream is not None and not stream.is_reset and not stream.connection.is_closed:
            return stream
        self._drop_stream(out)
        stream = await self.host.new_stream(peer, list(self.protocols))
        if self._stopped:
            stream.reset()
            raise NetError("the Bitswap network was stopped while opening a stream")
        out.stream = stream
        out.version = stream.protocol
        # read what the peer may send back on our stream (py-libp2p answers there); this also
        # notices promptly when the stream dies
        out.reader = asyncio.ensure_future(self._read_outbound(out, stream))
        return stream

    async def _read_outbound(self, out: _Outbound, stream: Stream) -> None:
        await self._read_messages(stream, inbound=False)
        if out.stream is stream and stream.is_reset:
            out.stream = None

    def _drop_stream(self, out: _Outbound) -> None:
        if out.stream is not None:
            out.stream.reset()
            out.stream = None
        if out.reader is not None and not out.reader.done():
            out.reader.cancel()
        out.reader = None

    def forget(self, peer: PeerId) -> None:
        """The peer disconnected: drop our stream state for it (a later send reopens)."""
        out = self._out.pop(peer, None)
        if out is not None:
            self._drop_stream(out)

    async def send(self, peer: PeerId, msg: Message) -> None:
        """Encode and send one message (length prefix + body) on our stream to *peer*."""
        parts = encode_message_parts(msg, max_message_size=self.max_message_size)
        await self.send_parts(peer, parts)

    async def send_frame(self, peer: PeerId, box: list[bytes]) -> None:
        """Send an already framed message (prefix included), handed over in *box* (a list
        holding it, emptied once the stream has it): no copy, and the caller keeps no reference,
        so a peer that stops reading pins only what its window left over (the stream copies a
        small remainder), not the whole message. A stream that dies after the write loses the
        message (NetError; the caller reports it unsent) rather than retrying it."""
        await self.send_parts(peer, box, framed=True, owned=True)

    async def send_parts(
        self, peer: PeerId, parts: list[Any], *, framed: bool = False, owned: bool = False
    ) -> None:
        """Write encoded segments as one message. Retried once on a fresh stream if the old
        one turned out dead (Bitswap messages are idempotent: wantlists and blocks).
        ``owned``: *parts* is emptied once written (see :meth:`send_frame`)."""
        if not framed:
            n = sum(len(p) for p in parts)
            parts = [frame_length_prefix(n, max_message_size=self.max_message_size), *parts]
        total = sum(len(p) for p in parts)
        out = self._out_state(peer)
        async with out.lock:
            for attempt in (0, 1):
                stream = await self._ensure(peer, out)
                try:
                    for part in parts:
                        stream.write(part)  # copies non-bytes before queueing (see docstring)
                    if owned:
                        parts.clear()
                        part = None  # the loop variable would pin the last part
                    await stream.drain()
                except StreamClosedError as exc:
                    if out.stream is stream:
                        self._drop_stream(out)
                    if attempt or not parts or self.host.connection(peer) is None:
                        raise
                    log.debug("Bitswap stream to %s died (%s); reopening", peer, exc)
                    continue
                self.messages_sent += 1
                self.bytes_sent += total
                return
