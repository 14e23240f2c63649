# cython: annotation_typing=False
"""mplex session state machine, sans-IO (libp2p/specs ``mplex/README.md``, ``/mplex/6.7.0``).

This is the pure-Python twin; the same source is compiled as ``_mplex_c`` with ``_mplex_c.pxd``
(see ``_yamux_py.py``). Use ``fastswap.net.mplex`` (the selector), not this module.

Spec sections implemented: "Message format" (uvarint header ``id << 3 | flag``, uvarint length,
data), "Protocol" (opening, writing, half-closing and resetting streams) and "Implementation
notes": mplex has no flow control, so every stream's received-but-unconsumed bytes are bounded
and a stream whose peer overflows the bound is reset (go-multiplex and js-mplex do the same).

Stream handles: mplex stream ids are scoped by who opened the stream (a message says whether it
comes from the stream's initiator or receiver), so the id alone is ambiguous. Events and methods
use ``handle = id << 1 | 1`` for streams this side opened and ``id << 1`` for the peer's.
"""

from __future__ import annotations

from .._defaults import (
    MAX_BUFFERED_PER_STREAM,
    MAX_STREAMS_PER_CONNECTION,
    MUXER_MAX_PENDING_REPLIES,
)
from ..errors import MplexError, NetError, StreamClosedError
from ._muxer_events import DataReceived, StreamEnded, StreamOpened, StreamReset

__all__ = ["MplexSession"]

NEW_STREAM = 0
MESSAGE_RECEIVER = 1
MESSAGE_INITIATOR = 2
CLOSE_RECEIVER = 3
CLOSE_INITIATOR = 4
RESET_RECEIVER = 5
RESET_INITIATOR = 6

#: go-multiplex and js-mplex refuse messages over 1 MiB
MAX_MESSAGE_SIZE = 1 << 20
#: a uvarint of at most 63 bits (the multiformats unsigned-varint limit) is at most 9 bytes
MAX_VARINT_BYTES = 9
MAX_STREAM_ID = (1 << 60) - 1


def _uvarint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


class _MStream:
    """Per-stream state: half-close flags and unconsumed bytes (the only backpressure)."""

    def __init__(self, handle: int) -> None:
        self.handle = handle
        self.unconsumed = 0
        self.local_closed = False
        self.remote_closed = False


class MplexSession:
    """One side of an mplex session. ``is_client``: the dialer (odd ids) or not (even ids).

    Resets refusing streams past ``max_streams`` are bounded as yamux's forced replies are
    (``max_pending_replies`` waiting at once, the rest dropped and counted in
    ``replies_dropped``); ``junk_frames`` counts refused NewStreams and messages for unknown
    streams, which the connection budgets per second.
    """

    def __init__(
        self,
        is_client: bool,
        *,
        max_streams: int = MAX_STREAMS_PER_CONNECTION,
        max_message_size: int = MAX_MESSAGE_SIZE,
        max_buffered_per_stream: int = MAX_BUFFERED_PER_STREAM,
        max_pending_replies: int = MUXER_MAX_PENDING_REPLIES,
    ) -> None:
        if (
            max_streams < 1
            or max_message_size < 1
            or max_pending_replies < 1
            or max_buffered_per_stream < max_message_size
        ):
            raise NetError(
                "mplex limits must be positive and max_buffered_per_stream must be at least "
                "max_message_size (a single message must fit)"
            )
        self.is_client = is_client
        self.max_streams = max_streams
        self.max_message_size = max_message_size
        self.max_buffered_per_stream = max_buffered_per_stream
        self.max_pending_replies = max_pending_replies
        self._pending_replies = 0
        self.replies_dropped = 0
        self.junk_frames = 0
        self._next_id = 1 if is_client else 2
        self._streams: dict[int, _MStream] = {}
        self._out: list = []
        self._error: MplexError | None = None
        # receive state: 0 header varint, 1 length varint, 2 payload
        self._stage = 0
        self._acc = 0
        self._shift = 0
        self._nbytes = 0
        self._header = 0
        self._body_left = 0
        self._body_handle = 0
        self._body_deliver = False

    # -- sending ---------------------------------------------------------------------------

    def data_to_send(self) -> list:
        """Messages queued since the last call: bytes headers and memoryview payloads."""
        out = self._out
        self._out = []
        self._pending_replies = 0
        return out

    def _message(self, stream_id: int, flag: int, length: int) -> None:
        self._out.append(_uvarint((stream_id << 3) | flag) + _uvarint(length))

    def _check_alive(self) -> None:
        if self._error is not None:
            raise self._error

    def open_stream(self, name: bytes | None = None) -> int:
        """Open a stream (NewStream sent at once; its name defaults to the id); its handle."""
        self._check_alive()
        mid = self._next_id
        if mid > MAX_STREAM_ID:
            raise StreamClosedError("mplex stream ids exhausted; open a new connection")
        self._next_id = mid + 2
        handle = (mid << 1) | 1
        self._streams[handle] = _MStream(handle)
        if name is None:
            name = str(mid).encode()
        if len(name) > self.max_message_size:
            raise NetError(f"mplex stream name of {len(name)} bytes is over the message limit")
        self._message(mid, NEW_STREAM, len(name))
        if name:
            self._out.append(name)
        return handle

    def send_data(self, handle: int, data) -> int:
        """Queue all of *data* (mplex has no windows) in messages of at most 1 MiB; its length."""
        self._check_alive()
        st = self._streams.get(handle)
        if st is None:
            raise StreamClosedError(
                f"mplex stream {handle} is unknown, reset or fully closed; open a new stream"
            )
        if st.local_closed:
            raise StreamClosedError(f"mplex stream {handle} was closed for writing")
        total = len(data)
        view = memoryview(data)
        mid = handle >> 1
        flag = MESSAGE_INITIATOR if handle & 1 else MESSAGE_RECEIVER
        max_msg = self.max_message_size
        out = self._out
        pos = 0
        while pos < total:
            chunk = total - pos
            chunk = min(chunk, max_msg)
            out.append(_uvarint((mid << 3) | flag) + _uvarint(chunk))
            out.append(view[pos:pos + chunk])
            pos += chunk
        return total

    def close_stream(self, handle: int) -> None:
        """Half-close: the peer may still send until it closes too."""
        self._check_alive()
        st = self._streams.get(handle)
        if st is None or st.local_closed:
            return
        st.local_closed = True
        self._message(handle >> 1, CLOSE_INITIATOR if handle & 1 else CLOSE_RECEIVER, 0)
        if st.remote_closed:
            del self._streams[handle]

    def reset_stream(self, handle: int) -> None:
        """Abort the stream in both directions; no event is emitted for it."""
        self._check_alive()
        if self._streams.pop(handle, None) is not None:
            self._send_reset(handle)
            if handle == self._body_handle:
                self._body_deliver = False

    def _send_reset(self, handle: int) -> None:
        self._message(handle >> 1, RESET_INITIATOR if handle & 1 else RESET_RECEIVER, 0)

    def consumed(self, handle: int, n: int) -> None:
        """The application took *n* received bytes: they no longer count against the bound."""
        st = self._streams.get(handle)
        if st is None:
            return
        if n < 0 or n > st.unconsumed:
            raise NetError(
                f"consumed({handle}, {n}): only {st.unconsumed} bytes were received and not "
                "yet consumed on this stream"
            )
        st.unconsumed -= n

    def stream_ids(self) -> list:
        """Handles of the streams this session still tracks."""
        return list(self._streams)

    # -- receiving -------------------------------------------------------------------------

    def _fail(self, message: str) -> MplexError:
        err = MplexError(message + "; the session is dead: close the connection")
        self._error = err
        return err

    def receive_data(self, data) -> list:
        """Feed bytes read from the connection; returns the events they complete, in order.

        Raises ``MplexError`` when the peer broke the protocol: close the connection.
        """
        if self._error is not None:
            raise self._error
        events: list = []
        view = memoryview(data)
        end = len(view)
        pos = 0
        while pos < end:
            if self._stage == 2:
                left = self._body_left
                take = end - pos
                take = min(take, left)
                if self._body_deliver:
                    events.append(DataReceived(self._body_handle, view[pos:pos + take]))
                pos += take
                left -= take
                self._body_left = left
                if left == 0:
                    self._stage = 0
                continue
            byte = view[pos]
            pos += 1
            part = byte & 0x7F  # widened to 64 bits before the shift in the compiled twin
            acc = self._acc | (part << self._shift)
            nbytes = self._nbytes + 1
            if byte & 0x80:
                if nbytes >= MAX_VARINT_BYTES:
                    raise self._fail("mplex varint longer than 9 bytes")
                self._acc = acc
                self._shift += 7
                self._nbytes = nbytes
                continue
            self._acc = 0
            self._shift = 0
            self._nbytes = 0
            if self._stage == 0:
                self._header = acc
                self._stage = 1
                continue
            if acc > self.max_message_size:
                raise self._fail(
                    f"mplex message of {acc} bytes is over the {self.max_message_size}-byte limit"
                )
            self._stage = 0
            self._message_header(self._header, acc, events)
        return events

    def _message_header(self, header: int, length: int, events: list) -> None:
        """A complete header and length: route the payload (if any) that follows."""
        flag = header & 7
        mid = header >> 3
        deliver = False
        if flag == NEW_STREAM:
            handle = mid << 1
            if handle in self._streams:
                raise self._fail(f"mplex NewStream for stream {mid}, which the peer already opened")
            if len(self._streams) >= self.max_streams:
                self.junk_frames += 1
                if self._pending_replies < self.max_pending_replies:
                    self._pending_replies += 1
                    self._send_reset(handle)
                else:
                    self.replies_dropped += 1
            else:
                self._streams[handle] = _MStream(handle)
                events.append(StreamOpened(handle))
        elif flag == MESSAGE_RECEIVER or flag == MESSAGE_INITIATOR:
            handle = (mid << 1) | 1 if flag == MESSAGE_RECEIVER else mid << 1
            st = self._streams.get(handle)
            # a message for a stream we do not know is dropped: after a reset the peer's
            # in-flight data still arrives (go-multiplex drops it the same way)
            if st is None:
                self.junk_frames += 1
            elif length > 0:
                if st.remote_closed or st.unconsumed + length > self.max_buffered_per_stream:
                    # data after Close, or a peer that ignores a slow reader: reset the stream
                    del self._streams[handle]
                    self._send_reset(handle)
                    events.append(StreamReset(handle))
                else:
                    st.unconsumed += length
                    deliver = True
        elif flag == CLOSE_RECEIVER or flag == CLOSE_INITIATOR:
            handle = (mid << 1) | 1 if flag == CLOSE_RECEIVER else mid << 1
            st = self._streams.get(handle)
            if st is not None and not st.remote_closed:
                st.remote_closed = True
                events.append(StreamEnded(handle))
                if st.local_closed:
                    del self._streams[handle]
        elif flag == RESET_RECEIVER or flag == RESET_INITIATOR:
            handle = (mid << 1) | 1 if flag == RESET_RECEIVER else mid << 1
            if self._streams.pop(handle, None) is not None:
                events.append(StreamReset(handle))
        else:
            raise self._fail(f"mplex message with unknown flag {flag}")
        if length > 0:
            self._stage = 2
            self._body_left = length
            self._body_handle = handle
            self._body_deliver = deliver
