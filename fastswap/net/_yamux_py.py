# cython: annotation_typing=False
"""yamux session state machine, sans-IO (hashicorp/yamux ``spec.md``; libp2p ``/yamux/1.0.0``).

This is the pure-Python twin. The same source is compiled a second time as ``_yamux_c`` with
``_yamux_c.pxd`` adding C types (aiohttp's reader_py/reader_c), so the twins cannot drift: keep
this file valid typed Python and declare every attribute and hot local in the ``.pxd``.
Use ``fastswap.net.yamux`` (the selector), not this module.

Spec sections implemented: Framing (12-byte header; Data, Window Update, Ping, Go Away; SYN, ACK,
FIN, RST), Message Flow (opening, half-closing, resetting streams), Flow Control (256 KiB initial
window per stream, window updates, larger windows announced in the SYN/ACK) and Session
termination. Nothing here does I/O or reads a clock: bytes in, events out; calls in, bytes out.
"""

from __future__ import annotations

import struct

from .._defaults import (
    MAX_BUFFERED_PER_STREAM,
    MAX_STREAMS_PER_CONNECTION,
    MUXER_MAX_PENDING_REPLIES,
)
from ..errors import NetError, StreamClosedError, YamuxError
from ._muxer_events import (
    DataReceived,
    GoAwayReceived,
    PingReceived,
    PongReceived,
    StreamEnded,
    StreamOpened,
    StreamReset,
    WindowUpdated,
)

__all__ = ["YamuxSession"]

_HEADER = struct.Struct(">BBHII")
HEADER_SIZE = 12

TYPE_DATA = 0
TYPE_WINDOW_UPDATE = 1
TYPE_PING = 2
TYPE_GO_AWAY = 3

FLAG_SYN = 1
FLAG_ACK = 2
FLAG_FIN = 4
FLAG_RST = 8

GO_AWAY_NORMAL = 0
GO_AWAY_PROTOCOL_ERROR = 1
GO_AWAY_INTERNAL_ERROR = 2

#: every stream starts with this window in both directions (spec, "Flow Control")
SPEC_INITIAL_WINDOW = 256 * 1024
MAX_UINT32 = 0xFFFFFFFF


class _Stream:
    """Per-stream flow-control and close state."""

    def __init__(self, stream_id: int, recv_window: int) -> None:
        self.stream_id = stream_id
        #: bytes we may still send before the peer grants more
        self.send_window = SPEC_INITIAL_WINDOW
        #: bytes the peer may still send us (the credit we granted and it has not used)
        self.recv_credit = recv_window
        #: the window size we aim to keep granted; grows toward max_window (auto-tuning)
        self.recv_target = recv_window
        #: bytes announced by the peer's data frames that the application has not consumed yet
        self.unconsumed = 0
        #: the peer used all its credit since the window last grew (it was waiting on us)
        self.exhausted = False
        self.local_closed = False
        self.remote_closed = False


class YamuxSession:
    """One side of a yamux session. ``is_client``: the dialer (odd stream ids) or not (even).

    ``receive_data(data)`` parses frames and returns events; ``data_to_send()`` returns the
    frames to write, as a scatter list. Payloads are never joined or copied: ``send_data``
    queues memoryview slices of the caller's buffer (do not mutate it until written), and
    ``DataReceived.data`` is a slice of the buffer given to ``receive_data``.

    Received-but-unconsumed bytes of a stream never exceed the window granted to the peer,
    which never exceeds ``max_window``; ``max_buffered_per_stream``, if given, lowers that cap
    (it is the same bound, named as for mplex). ``max_streams`` bounds the open streams: an
    inbound SYN past it is answered with RST.

    Replies the peer forces (pongs, RSTs refusing a stream) are bounded: at most
    ``max_pending_replies`` wait in ``data_to_send()`` at once, the rest are dropped and counted
    in ``replies_dropped`` (go-yamux drops pongs past its PingBacklog of 32 the same way). Data
    for a stream that is gone is discarded without a reply (as go-yamux does). ``junk_frames``
    counts the frames that cost us and carry nothing for the application (pings, refused SYNs,
    data for unknown streams): the connection budgets them per second.
    """

    def __init__(
        self,
        is_client: bool,
        *,
        initial_window: int = SPEC_INITIAL_WINDOW,
        max_window: int = MAX_BUFFERED_PER_STREAM,
        max_streams: int = MAX_STREAMS_PER_CONNECTION,
        max_frame_size: int = 256 * 1024,
        max_buffered_per_stream: int = 0,
        max_pending_replies: int = MUXER_MAX_PENDING_REPLIES,
    ) -> None:
        if max_buffered_per_stream > 0 and max_buffered_per_stream < max_window:
            max_window = max_buffered_per_stream
        if not SPEC_INITIAL_WINDOW <= initial_window <= max_window <= MAX_UINT32:
            raise NetError(
                f"yamux windows must satisfy 256 KiB <= initial_window ({initial_window}) <= "
                f"max_window ({max_window}) < 4 GiB: peers assume 256 KiB, so a window can "
                "only be announced larger"
            )
        if max_streams < 1 or max_frame_size < 1 or max_pending_replies < 1:
            raise NetError(
                "yamux max_streams, max_frame_size and max_pending_replies must be positive"
            )
        self.is_client = is_client
        self.initial_window = initial_window
        self.max_window = max_window
        self.max_streams = max_streams
        self.max_frame_size = max_frame_size
        self.max_pending_replies = max_pending_replies
        self._pending_replies = 0
        #: forced replies dropped because max_pending_replies were already waiting
        self.replies_dropped = 0
        #: pings, refused SYNs and data frames for unknown streams received
        self.junk_frames = 0
        self._next_id = 1 if is_client else 2
        self._streams: dict[int, _Stream] = {}
        self._out: list = []
        self._next_ping = 1
        self.local_go_away = False
        self.remote_go_away = False
        #: the error that killed the session (every later call raises it again)
        self._error: YamuxError | None = None
        # receive state: a header split across reads waits here (never more than 12 bytes)
        self._hdr = bytearray(HEADER_SIZE)
        self._hdr_len = 0
        # the data frame whose payload is being received
        self._body_left = 0
        self._body_sid = 0
        self._body_deliver = False
        self._body_fin = False

    # -- sending ---------------------------------------------------------------------------

    def data_to_send(self) -> list:
        """Frames queued since the last call, in order: bytes headers and memoryview payloads."""
        out = self._out
        self._out = []
        self._pending_replies = 0
        return out

    def _frame(self, typ: int, flags: int, stream_id: int, length: int) -> None:
        self._out.append(_HEADER.pack(0, typ, flags, stream_id, length))

    def _reply(self, typ: int, flags: int, stream_id: int, length: int) -> bool:
        """Queue a frame the peer forced us to send, unless too many already wait."""
        if self._pending_replies >= self.max_pending_replies:
            self.replies_dropped += 1
            return False
        self._pending_replies += 1
        self._frame(typ, flags, stream_id, length)
        return True

    def _check_alive(self) -> None:
        if self._error is not None:
            raise self._error

    def open_stream(self) -> int:
        """Open a stream (SYN sent at once, with a larger window if configured); its id."""
        self._check_alive()
        if self.local_go_away or self.remote_go_away:
            raise StreamClosedError(
                "cannot open a yamux stream: the session is going away; open a new connection"
            )
        sid = self._next_id
        if sid > MAX_UINT32:
            raise StreamClosedError("yamux stream ids exhausted; open a new connection")
        self._next_id = sid + 2
        self._streams[sid] = _Stream(sid, self.initial_window)
        self._frame(TYPE_WINDOW_UPDATE, FLAG_SYN, sid, self.initial_window - SPEC_INITIAL_WINDOW)
        return sid

    def _writable(self, stream_id: int) -> _Stream:
        self._check_alive()
        st = self._streams.get(stream_id)
        if st is None:
            raise StreamClosedError(
                f"yamux stream {stream_id} is unknown, reset or fully closed; open a new stream"
            )
        if st.local_closed:
            raise StreamClosedError(f"yamux stream {stream_id} was closed for writing")
        return st

    def send_window(self, stream_id: int) -> int:
        """Bytes ``send_data`` would accept now on *stream_id* (0 if unknown)."""
        st = self._streams.get(stream_id)
        return 0 if st is None else st.send_window

    def send_data(self, stream_id: int, data) -> int:
        """Queue as much of *data* as the peer's window allows; returns how many bytes were taken.

        The rest must wait for a ``WindowUpdated`` event on this stream.
        """
        st = self._writable(stream_id)
        total = len(data)
        n = st.send_window
        n = min(n, total)
        if n <= 0:
            return 0
        st.send_window -= n
        view = memoryview(data)
        pos = 0
        max_frame = self.max_frame_size
        out = self._out
        while pos < n:
            chunk = n - pos
            chunk = min(chunk, max_frame)
            out.append(_HEADER.pack(0, TYPE_DATA, 0, stream_id, chunk))
            out.append(view[pos:pos + chunk])
            pos += chunk
        return n

    def close_stream(self, stream_id: int) -> None:
        """Half-close: send FIN; the peer may still send until it closes too."""
        self._check_alive()
        st = self._streams.get(stream_id)
        if st is None or st.local_closed:
            return
        st.local_closed = True
        self._frame(TYPE_WINDOW_UPDATE, FLAG_FIN, stream_id, 0)
        if st.remote_closed:
            del self._streams[stream_id]

    def reset_stream(self, stream_id: int) -> None:
        """Abort the stream in both directions (RST); no event is emitted for it."""
        self._check_alive()
        if self._streams.pop(stream_id, None) is not None:
            self._frame(TYPE_WINDOW_UPDATE, FLAG_RST, stream_id, 0)
            if stream_id == self._body_sid:
                # a payload for it may be half received: swallow the rest
                self._body_deliver = False
                self._body_fin = False

    def ping(self, opaque: int = -1) -> int:
        """Send a ping; the answer arrives as ``PongReceived(opaque)``. Returns *opaque*."""
        self._check_alive()
        if opaque < 0:
            opaque = self._next_ping
            self._next_ping = (self._next_ping + 1) & MAX_UINT32
        self._frame(TYPE_PING, FLAG_SYN, 0, opaque & MAX_UINT32)
        return opaque & MAX_UINT32

    def go_away(self, code: int = GO_AWAY_NORMAL) -> None:
        """Tell the peer no new streams will be accepted; existing streams continue."""
        self._check_alive()
        if not self.local_go_away:
            self.local_go_away = True
            self._frame(TYPE_GO_AWAY, 0, 0, code & MAX_UINT32)

    def consumed(self, stream_id: int, n: int) -> None:
        """The application took *n* received bytes of *stream_id*: grant window back in batches.

        A window update goes out only when at least half the target window can be restored
        (not on every read). If the peer used up its whole credit and the application has
        since read everything (it is waiting for data), the window, not the reader, is the
        bottleneck: the target doubles, up to max_window. go-yamux grows the window for a fast
        consumer too, but measures "fast" with a clock against the RTT; this core has no clock.
        A reader that always has a backlog never grows the window.
        """
        st = self._streams.get(stream_id)
        if st is None:
            return  # reset or closed meanwhile: nothing to grant
        if n < 0 or n > st.unconsumed:
            raise NetError(
                f"consumed({stream_id}, {n}): only {st.unconsumed} bytes were received and not "
                "yet consumed on this stream"
            )
        st.unconsumed -= n
        if st.remote_closed or self._error is not None:
            return  # the peer sends no more: no window to grant
        target = st.recv_target
        if st.exhausted and st.unconsumed == 0 and target < self.max_window:
            target = target * 2
            target = min(target, self.max_window)
            st.recv_target = target
            st.exhausted = False
        delta = target - st.recv_credit - st.unconsumed
        if delta >= (target >> 1) and delta > 0:
            st.recv_credit += delta
            self._frame(TYPE_WINDOW_UPDATE, 0, stream_id, delta)

    def stream_ids(self) -> list:
        """Ids of the streams this session still tracks (open in at least one direction)."""
        return list(self._streams)

    # -- receiving -------------------------------------------------------------------------

    def _fail(self, message: str) -> YamuxError:
        err = YamuxError(message + "; the session is dead: close the connection")
        self._error = err
        if not self.local_go_away:
            self.local_go_away = True
            self._frame(TYPE_GO_AWAY, 0, 0, GO_AWAY_PROTOCOL_ERROR)
        return err

    def receive_data(self, data) -> list:
        """Feed bytes read from the connection; returns the events they complete, in order.

        Raises ``YamuxError`` when the peer broke the protocol (a GoAway is then queued in
        ``data_to_send()``; write it and close the connection).
        """
        if self._error is not None:
            raise self._error
        events: list = []
        view = memoryview(data)
        end = len(view)
        pos = 0
        hdr = self._hdr
        while pos < end:
            left = self._body_left
            if left > 0:
                take = end - pos
                take = min(take, left)
                if self._body_deliver:
                    events.append(DataReceived(self._body_sid, view[pos:pos + take]))
                pos += take
                left -= take
                self._body_left = left
                if left == 0 and self._body_fin:
                    self._body_fin = False
                    self._remote_fin(self._body_sid, events)
                continue
            have = self._hdr_len
            if have == 0 and end - pos >= HEADER_SIZE:
                version, typ, flags, sid, length = _HEADER.unpack_from(view, pos)
                pos += HEADER_SIZE
            else:
                take = HEADER_SIZE - have
                take = min(take, end - pos)
                hdr[have:have + take] = view[pos:pos + take]
                pos += take
                have += take
                if have < HEADER_SIZE:
                    self._hdr_len = have
                    break
                self._hdr_len = 0
                version, typ, flags, sid, length = _HEADER.unpack_from(hdr, 0)
            if version != 0:
                raise self._fail(f"yamux frame with version {version} (only 0 exists)")
            if typ == TYPE_DATA or typ == TYPE_WINDOW_UPDATE:
                self._stream_frame(typ, flags, sid, length, events)
            elif typ == TYPE_PING:
                if sid != 0:
                    raise self._fail(f"yamux ping on stream {sid} (must be stream 0)")
                if flags & FLAG_SYN:
                    self.junk_frames += 1
                    if self._reply(TYPE_PING, FLAG_ACK, 0, length):
                        events.append(PingReceived(length))
                elif flags & FLAG_ACK:
                    events.append(PongReceived(length))
                else:
                    raise self._fail("yamux ping with neither SYN nor ACK")
            elif typ == TYPE_GO_AWAY:
                if sid != 0:
                    raise self._fail(f"yamux go-away on stream {sid} (must be stream 0)")
                self.remote_go_away = True
                events.append(GoAwayReceived(length))
            else:
                raise self._fail(f"yamux frame of unknown type {typ}")
        return events

    def _stream_frame(self, typ: int, flags: int, sid: int, length: int, events: list) -> None:
        """A Data or Window Update frame's header: flags, window accounting, payload routing."""
        if sid == 0:
            raise self._fail("yamux data or window update on stream 0 (reserved for the session)")
        is_data = typ == TYPE_DATA
        st = self._streams.get(sid)
        if flags & FLAG_SYN:
            if st is not None:
                raise self._fail(f"yamux SYN for stream {sid}, which is already open")
            if (sid & 1) == (1 if self.is_client else 0):
                raise self._fail(
                    f"yamux SYN for stream {sid} with this side's parity (peer ids must be "
                    f"{'even' if self.is_client else 'odd'})"
                )
            if self.local_go_away or len(self._streams) >= self.max_streams:
                # refuse the stream, not the session; swallow any payload it carried
                self.junk_frames += 1
                self._reply(TYPE_WINDOW_UPDATE, FLAG_RST, sid, 0)
                if is_data:
                    self._skip_body(length)
                return
            st = _Stream(sid, self.initial_window)
            self._streams[sid] = st
            events.append(StreamOpened(sid))
            self._frame(
                TYPE_WINDOW_UPDATE, FLAG_ACK, sid, self.initial_window - SPEC_INITIAL_WINDOW
            )
        elif st is None:
            # a stream we never knew, or reset/closed already (its data may still be in flight):
            # discarded without a reply, which would let the peer make us write at its pace
            if is_data:
                self._skip_body(length)
                if length > 0:
                    self.junk_frames += 1
            return
        if flags & FLAG_RST:
            del self._streams[sid]
            events.append(StreamReset(sid))
            if is_data:
                self._skip_body(length)
            return
        if is_data:
            if length > st.recv_credit:
                raise self._fail(
                    f"yamux stream {sid}: peer sent {length} bytes with only {st.recv_credit} "
                    "bytes of window granted"
                )
            if st.remote_closed and length > 0:
                # data after FIN: a stream-level violation, answered with a reset
                del self._streams[sid]
                self._frame(TYPE_WINDOW_UPDATE, FLAG_RST, sid, 0)
                events.append(StreamReset(sid))
                self._skip_body(length)
                return
            st.recv_credit -= length
            st.unconsumed += length
            if st.recv_credit == 0:
                st.exhausted = True
            if length > 0:
                self._body_left = length
                self._body_sid = sid
                self._body_deliver = True
                if flags & FLAG_FIN:
                    self._body_fin = True  # after the payload, not before
                    return
        elif length > 0:
            window = st.send_window + length
            if window > MAX_UINT32:
                raise self._fail(f"yamux stream {sid}: window update overflows 4 GiB")
            st.send_window = window
            events.append(WindowUpdated(sid, length))
        if flags & FLAG_FIN:
            self._remote_fin(sid, events)

    def _skip_body(self, length: int) -> None:
        """Discard a payload without buffering it; bounded so a bogus length cannot stall us."""
        if length > self.max_window:
            raise self._fail(
                f"yamux data frame of {length} bytes exceeds any window this session grants"
            )
        self._body_left = length
        self._body_deliver = False
        self._body_fin = False

    def _remote_fin(self, sid: int, events: list) -> None:
        st = self._streams.get(sid)
        if st is None or st.remote_closed:
            return
        st.remote_closed = True
        events.append(StreamEnded(sid))
        if st.local_closed:
            del self._streams[sid]
