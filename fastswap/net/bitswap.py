"""Bitswap on the libp2p host: ipfs/specs bitswap-protocol, "Protocol format" (protocol ids
``/ipfs/bitswap/1.2.0``, ``1.1.0``, ``1.0.0`` and bare ``/ipfs/bitswap``; every message is an
unsigned-varint length-prefixed protobuf) and "Sending messages" (a node may open a stream per
message or keep one; the receiver must read every stream the peer opens).

:class:`BitswapNetwork` is the thin IO layer under the sans-IO engines:

* **receiving**: a handler for each protocol id reads length-prefixed messages from any stream a
  peer opens (Helia opens one per message, Kubo keeps one) and hands ``(peer, Message, protocol)``
  to a callback. The streams we open are read too: py-libp2p answers on the requester's stream.
  A frame that is oversized or malformed resets *that* stream (with a logged reason) and counts
  against the peer (:meth:`bad_frames`); other streams and the connection carry on.
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
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from .._defaults import MAX_MESSAGE_SIZE
from ..errors import (
    MessageError,
    NetError,
    StreamClosedError,
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
    ``("/ipfs/bitswap/1.1.0",)`` to make a peer talk 1.1.0.
    """

    def __init__(
        self,
        host: Host,
        on_message: MessageCallback,
        *,
        protocols: Sequence[str] = BITSWAP_PROTOCOLS,
        max_message_size: int = MAX_MESSAGE_SIZE,
        on_bad_frame: Callable[[PeerId, str], None] | None = None,
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

    async def stop(self) -> None:
        """Unregister, reset every Bitswap stream and wait for the readers to end."""
        if self._stopped:
            return
        self._stopped = True
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
        """Streams of *peer* reset for an oversized or malformed frame."""
        return self._bad.get(peer, 0)

    # -- receiving -------------------------------------------------------------------------

    async def _handle_inbound(self, stream: Stream) -> None:
        self._inbound.add(stream)
        try:
            await self._read_messages(stream, inbound=True)
        finally:
            self._inbound.discard(stream)

    async def _read_messages(self, stream: Stream, *, inbound: bool) -> None:
        """Read frames until the stream ends; a bad frame resets the stream (never raises for
        the peer's mistakes)."""
        peer = stream.remote_peer
        protocol = stream.protocol or BITSWAP_BARE
        # FrameDecoder keeps a frame spread over chunks as the chunks' views and joins it once
        decoder = FrameDecoder(max_message_size=self.max_message_size)
        try:
            while True:
                # the chunks as delivered, not joined: a frame inside one stays a view of it
                chunks = await stream.read_chunks()
                if not chunks:
                    decoder.eof()
                    if inbound:
                        stream.close()  # we have nothing to say on a stream the peer opened
                    return
                for chunk in chunks:
                    for payload in decoder.feed(chunk):
                        msg = decode_message(payload, max_message_size=self.max_message_size)
                        self.messages_received += 1
                        res = self._on_message(peer, msg, protocol)
                        if res is not None and inspect.isawaitable(res):
                            await res
        except MessageError as exc:
            self._bad[peer] = self._bad.get(peer, 0) + 1
            log.warning(
                "resetting a Bitswap stream from %s: %s (bad frames from this peer: %d)",
                peer, exc, self._bad[peer],
            )
            stream.reset()
            if self._on_bad_frame is not None:
                try:
                    self._on_bad_frame(peer, str(exc))
                except Exception:
                    log.exception("bad-frame callback failed")
        except StreamClosedError as exc:
            log.debug("Bitswap stream from %s ended: %s", peer, exc)

    # -- sending ---------------------------------------------------------------------------

    async def open(self, peer: PeerId) -> str:
        """Make sure an outbound stream to *peer* is open; the protocol it agreed.
        Raises NetError (DialError, NegotiationError, ...) if that is not possible."""
        out = self._out_state(peer)
        async with out.lock:
            await self._ensure(peer, out)
            assert out.version is not None
            return out.version

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

    async def send_frame(self, peer: PeerId, frame: bytes) -> None:
        """Send an already framed message (prefix included) as one ``bytes`` (no copy)."""
        await self.send_parts(peer, [frame], framed=True)

    async def send_parts(
        self, peer: PeerId, parts: list[Any], *, framed: bool = False
    ) -> None:
        """Write encoded segments as one message. Retried once on a fresh stream if the old
        one turned out dead (Bitswap messages are idempotent: wantlists and blocks)."""
        if not framed:
            n = sum(len(p) for p in parts)
            parts = [frame_length_prefix(n, max_message_size=self.max_message_size), *parts]
        out = self._out_state(peer)
        async with out.lock:
            for attempt in (0, 1):
                stream = await self._ensure(peer, out)
                try:
                    for part in parts:
                        stream.write(part)  # copies non-bytes before queueing (see docstring)
                    await stream.drain()
                except StreamClosedError as exc:
                    if out.stream is stream:
                        self._drop_stream(out)
                    if attempt or self.host.connection(peer) is None:
                        raise
                    log.debug("Bitswap stream to %s died (%s); reopening", peer, exc)
                    continue
                self.messages_sent += 1
                self.bytes_sent += sum(len(p) for p in parts)
                return
