"""One libp2p connection on asyncio: libp2p/specs ``connections/README.md`` ("Upgrading
Connections": multistream-select ``/noise``, the Noise XX handshake, multistream-select of a
stream muxer inside the secure channel, then the muxer).

``Connection`` is an ``asyncio.BufferedProtocol`` (stock asyncio and uvloop both drive it):

* During the upgrade, received bytes queue in ``_inbox`` for the ``upgrade()`` coroutine, which
  feeds them to the sans-IO cores (``multistream.py``, ``noise.py``).
* Once Noise is up, the socket reads straight into the Noise receive buffer
  (``NoiseSession.get_buffer``/``buffer_updated``), which decrypts every complete frame in place
  into one reused plaintext buffer; that plaintext goes to the muxer session in the same
  callback, and the muxer's ``DataReceived`` slices are copied once, into their stream.
* Sending: streams hand bytes to the muxer (``_pump``) as its windows allow; the muxer's frames
  are collected once per loop iteration (``_flush`` via ``call_soon``), joined, encrypted in one
  call and written in one ``transport.write``: many small frames (window updates, HAVEs) share
  Noise frames and syscalls.
* Backpressure: ``pause_writing``/``resume_writing`` stop and restart the pumps, so the transport
  buffer stays near its high-water mark; a stream's ``drain`` waits on both its window and the
  transport. Each pump hands at most ``STREAM_WRITE_CHUNK`` bytes per iteration, so mplex (which
  has no windows) cannot flood the transport either.

Hostile peers (issue 8; go-yamux and go-libp2p's resource manager are the models):

* Replies a peer forces (pongs, stream refusals) are capped in the muxer session; while the
  transport holds ``WRITE_BACKLOG_PAUSE_READING`` bytes or more, ``_flush`` leaves the muxer's
  frames where they are and reading pauses until the transport drains (``resume_writing``), so
  a peer that sends without reading stops being read. The host closes a connection whose
  transport stays above its high-water mark for ``WRITE_STALL_TIMEOUT_SECONDS``.
* Inbound stream opens and junk frames (pings, data for unknown streams, refused SYNs) are
  budgeted per second (token buckets); over budget, the host closes the connection and bans the
  peer. A muxer protocol error closes the connection and penalises the peer.
* Memory: the upgrade reads into the host's scratch buffer; afterwards the Noise receive buffers
  come from the host's pool and go back when the connection is idle (``release_buffers``), and
  large encrypt buffers come from a pool too, so an idle connection holds no buffer of its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .. import _defaults
from ..errors import (
    MuxerError,
    NegotiationError,
    NetError,
    PeerAbuseError,
    StreamClosedError,
    StreamResetError,
)
from . import mplex, yamux
from ._muxer_events import (
    DataReceived,
    GoAwayReceived,
    StreamEnded,
    StreamOpened,
    StreamReset,
    WindowUpdated,
)
from ._streams import Stream
from .keys import Ed25519KeyPair, PeerId, PublicKey
from .multiaddr import Multiaddr
from .multistream import MultistreamDialer, MultistreamListener
from .noise import PROTOCOL_ID as NOISE_PROTOCOL_ID
from .noise import NoiseHandshake, NoiseSession, encrypted_size
from .resources import TokenBucket

if TYPE_CHECKING:
    from .host import Host

__all__ = ["SUPPORTED_MUXERS", "Connection"]

log = logging.getLogger("fastswap.net")

SUPPORTED_MUXERS = (yamux.PROTOCOL_ID, mplex.PROTOCOL_ID)
#: muxer chunks at least this long are encrypted straight from the application's buffer (their
#: Noise frames are cut from it); shorter ones (headers, window updates, small messages) are
#: joined first so they share frames
_DIRECT_ENCRYPT = 4096
#: bytes a peer may send before the upgrade finishes (handshake messages are < 64 KiB each);
#: more is a flood, and the connection is dropped
_MAX_UPGRADE_INBOX = 1024 * 1024
#: seconds a closing connection waits for the peer to close its side after our FIN
_CLOSE_LINGER = 2.0
#: writes this small get a buffer of their own (cheap); larger ones one from the host's pool
_SMALL_WRITE = 16 * 1024
#: after a read this small the receive buffers go back to the pool at once
_SMALL_READ = 16 * 1024


def _addr_to_multiaddr(addr: Any) -> Multiaddr | None:
    if not isinstance(addr, tuple) or len(addr) < 2:
        return None
    host, port = addr[0], addr[1]
    proto = "ip6" if ":" in host else "ip4"
    try:
        return Multiaddr.parse(f"/{proto}/{host}/tcp/{port}")
    except NetError:
        return None


#: Bytes of a write left over by the peer's window that are copied out rather than kept as a
#: view of the whole written buffer.
_COPY_REMAINDER_MAX = 64 * 1024


class Connection(asyncio.BufferedProtocol):
    """A TCP connection being upgraded to, then serving, a Noise-secured muxed libp2p session."""

    def __init__(
        self,
        host: Host,
        *,
        initiator: bool,
        expected_peer: PeerId | None = None,
    ) -> None:
        self.host = host
        self.loop = asyncio.get_running_loop()
        self.initiator = initiator
        self.expected_peer = expected_peer
        self.remote_peer: PeerId = None  # type: ignore[assignment]  # set by the handshake
        self.remote_public_key: PublicKey | None = None
        self.remote_addr: Multiaddr | None = None
        #: the peer's IP address as the socket gives it (None if unknown)
        self.remote_ip: str | None = None
        #: bytes read from / written to the socket, for the host's quiet-time detection
        self.bytes_received = 0
        self.bytes_sent = 0
        self.local_addr: Multiaddr | None = None
        #: the muxer protocol id agreed ("/yamux/1.0.0" or "/mplex/6.7.0")
        self.muxer_protocol: str | None = None
        self._transport: asyncio.Transport | None = None
        self._inbox = bytearray()
        self._inbox_waiter: asyncio.Future[None] | None = None
        self._session: NoiseSession | None = None
        self._muxer: Any = None
        self._streams: dict[int, Stream] = {}
        self._blocked: set[Stream] = set()
        self._flush_scheduled = False
        # bytes handed to the muxer since the last flush: capped, so a writer that never
        # yields cannot pile frames up in the muxer (drain then waits for the flush)
        self._unflushed = 0
        self._write_paused = False
        # loop time since when the transport has been above its high-water mark (None: not)
        self.paused_since: float | None = None
        # reading paused because our write backlog is too large
        self._read_paused = False
        # the muxer's frames wait for the transport to drain
        self._flush_on_resume = False
        now = self.loop.time()
        #: loop time the connection was accepted or dialled, and of its last stream data
        self.opened_at = now
        self.last_active = now
        #: reads since the connection began (the host releases the buffers of idle ones)
        self.reads = 0
        self._reads_at_tick = 0
        self._open_bucket = TokenBucket(
            host.stream_open_rate, host.stream_open_burst, now
        )
        self._junk_bucket = TokenBucket(
            _defaults.JUNK_FRAME_RATE_PER_CONNECTION, _defaults.JUNK_FRAME_BURST_PER_CONNECTION, now
        )
        self._junk_seen = 0
        self._eof = False
        # close() was called: our FIN is out (or going), received bytes are discarded
        self._closing = False
        self._linger: asyncio.TimerHandle | None = None
        self._closed = False
        self._error: BaseException | None = None
        self._remote_go_away = False
        self.lost: asyncio.Future[None] = self.loop.create_future()
        #: set once the upgrade finished and the host registered this connection
        self.ready = False

    # -- facts -----------------------------------------------------------------------------

    @property
    def streams(self) -> list[Stream]:
        return list(self._streams.values())

    @property
    def is_closed(self) -> bool:
        return self._closed

    @property
    def transport(self) -> asyncio.Transport | None:
        return self._transport

    def __repr__(self) -> str:
        way = "out" if self.initiator else "in"
        return f"<Connection {way} {self.remote_peer} {self.remote_addr} {self.muxer_protocol}>"

    # -- asyncio protocol callbacks -------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (uvloop's transports are not asyncio.Transport subclasses, but quack alike)
        self._transport = transport  # type: ignore[assignment]
        transport.set_write_buffer_limits(high=_defaults.TRANSPORT_WRITE_HIGH_WATER)
        peername = transport.get_extra_info("peername")
        self.remote_addr = _addr_to_multiaddr(peername)
        if isinstance(peername, tuple) and peername:
            self.remote_ip = peername[0]
        self.local_addr = _addr_to_multiaddr(transport.get_extra_info("sockname"))
        if not self.initiator:
            self.host._on_inbound(self)

    def get_buffer(self, sizehint: int) -> memoryview:
        session = self._session
        if session is not None and not self._closing:
            return session.get_buffer(sizehint)
        # the upgrade (and a closing connection) reads into the host's scratch buffer, which
        # buffer_updated empties at once: no connection holds a read buffer of its own for it
        return self.host._scratch

    def buffer_updated(self, nbytes: int) -> None:
        if self._closing:
            return  # we hung up: whatever the peer still sends is discarded
        self.reads += 1
        self.bytes_received += nbytes
        session = self._session
        if session is None:
            self._inbox += self.host._scratch[:nbytes]
            self._wake_inbox()
            if len(self._inbox) > _MAX_UPGRADE_INBOX:
                self.abort(NetError("the peer sent too much data during the upgrade"))
            return
        try:
            plain = session.buffer_updated(nbytes)
            if not len(plain):
                return
            if self._muxer is None:
                self._inbox += plain
                self._wake_inbox()
                if len(self._inbox) > _MAX_UPGRADE_INBOX:
                    self.abort(NetError("the peer sent too much data during the upgrade"))
            else:
                self._on_plain(plain)
                if nbytes < _SMALL_READ and not session.pending:
                    # a quiet connection (a small read that ended on a frame boundary, likely
                    # the last for a while) gives its buffers back at once, so thousands of
                    # them share the pool's few; a busy one keeps them (no copy of a partial
                    # frame) until a housekeeping pass finds it idle
                    session.release()
        except NetError as exc:
            self.abort(exc)
        except Exception as exc:  # noqa: BLE001 - logged below; a bug must not leave a half-dead conn
            self.host.ratelog.error(
                "connection-bug", "unexpected error handling data from %s", self.remote_peer,
                exc_info=True,
            )
            self.abort(exc)

    def eof_received(self) -> bool:
        self._eof = True
        self._wake_inbox()
        if self._session is not None and self._session.pending:
            self._error = NetError("the peer closed the connection in the middle of a Noise frame")
        return False  # close our side too: libp2p has no use for a half-closed TCP connection

    def pause_writing(self) -> None:
        self._write_paused = True
        self.paused_since = self.loop.time()

    def resume_writing(self) -> None:
        self._write_paused = False
        self.paused_since = None
        if self._read_paused:
            self._read_paused = False
            if self._transport is not None and not self._closing:
                self._transport.resume_reading()
        if self._flush_on_resume:
            self._flush_on_resume = False
            self._schedule_flush()
        for st in list(self._streams.values()):
            if st._pending_size or st._close_requested and not st._fin_sent:
                self._pump(st)
            st._wake_drain()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        if self._error is None:
            self._error = exc or NetError("the connection was closed")
        self._wake_inbox()
        self._write_paused = False
        err = StreamResetError(f"the connection to {self.remote_peer} was closed")
        for st in list(self._streams.values()):
            if st._eof:
                # the peer finished this stream cleanly before the connection went: what it
                # sent stays readable; only our direction is dead
                st._on_write_lost()
            else:
                st._on_reset(err)
        self._streams.clear()
        self._blocked.clear()
        self._transport = None
        self.release_buffers()
        if not self.lost.done():
            self.lost.set_result(None)
        self.host._on_connection_lost(self)

    # -- upgrade ---------------------------------------------------------------------------

    def _wake_inbox(self) -> None:
        fut = self._inbox_waiter
        if fut is not None and not fut.done():
            fut.set_result(None)

    async def _recv(self, what: str) -> bytes:
        while not self._inbox:
            if self._closed or self._eof:
                raise NetError(f"the peer closed the connection during {what}")
            fut = self.loop.create_future()
            self._inbox_waiter = fut
            try:
                await fut
            finally:
                self._inbox_waiter = None
        data = bytes(self._inbox)
        self._inbox.clear()
        return data

    def _write_raw(self, data: bytes) -> None:
        if data and self._transport is not None and not self._closing:
            self._transport.write(data)

    def _write_secure(self, data: bytes) -> None:
        if data and self._transport is not None and not self._closing:
            assert self._session is not None
            self._transport.write(self._session.encrypt(data))

    async def _negotiate(self, protocols: Sequence[str], secure: bool, what: str) -> tuple:
        write = self._write_secure if secure else self._write_raw
        if self.initiator:
            dialer = MultistreamDialer(protocols)
            write(dialer.initiate())
            while not dialer.done:
                out = dialer.receive_data(await self._recv(what))
                write(out)
            return dialer.selected, dialer.unused
        listener = MultistreamListener(set(protocols))
        write(listener.initiate())
        while not listener.done:
            out = listener.receive_data(await self._recv(what))
            write(out)
        return listener.selected, listener.unused

    async def upgrade(self, identity: Ed25519KeyPair, muxers: Sequence[str]) -> None:
        """Security then muxer negotiation; the caller bounds it in time and aborts on error."""
        _, early = await self._negotiate([NOISE_PROTOCOL_ID], False, "security negotiation")
        hs = NoiseHandshake(identity, initiator=self.initiator, expected_peer=self.expected_peer)
        self._write_raw(hs.initiate())
        data = early
        while not hs.complete:
            if not data:
                data = await self._recv("the Noise handshake")
            self._write_raw(hs.receive_data(data))
            data = b""
        assert hs.remote_peer is not None
        self.remote_peer = hs.remote_peer
        self.remote_public_key = hs.remote_public_key
        session = hs.session(self.host._recv_pool)
        # from here on the socket reads into the Noise buffer; what arrived already is
        # ciphertext that followed the handshake
        rest = hs.unused + bytes(self._inbox)
        self._inbox.clear()
        self._session = session
        if rest:
            self._inbox += session.decrypt(rest)
        selected, leftover = await self._negotiate(muxers, True, "muxer negotiation")
        leftover = leftover + bytes(self._inbox)
        self._inbox.clear()
        self._start_muxer(selected)
        if leftover:
            self._on_plain(memoryview(leftover))
        self._schedule_flush()

    def send_room(self, stream_id: int | None = None, queued: int = 0) -> int | None:
        """The peer's send window on *stream_id* (on a stream not opened yet: the window every
        yamux stream starts with) less *queued*; None without windows (mplex, or no muxer)."""
        mux = self._muxer
        if not isinstance(mux, yamux.YamuxSession):
            return None
        if stream_id is None:
            return yamux.SPEC_INITIAL_WINDOW - queued
        return mux.send_window(stream_id) - queued

    def _start_muxer(self, protocol: str) -> None:
        h = self.host
        if protocol == yamux.PROTOCOL_ID:
            window = max(h.max_buffered_per_stream, yamux.SPEC_INITIAL_WINDOW)
            self._muxer = yamux.YamuxSession(
                is_client=self.initiator,
                max_window=window,
                max_streams=h.max_streams_per_conn,
                max_pending_replies=_defaults.MUXER_MAX_PENDING_REPLIES,
            )
        elif protocol == mplex.PROTOCOL_ID:
            self._muxer = mplex.MplexSession(
                is_client=self.initiator,
                max_streams=h.max_streams_per_conn,
                max_buffered_per_stream=max(h.max_buffered_per_stream, mplex.MAX_MESSAGE_SIZE),
                max_pending_replies=_defaults.MUXER_MAX_PENDING_REPLIES,
            )
        else:  # pragma: no cover - the listener only accepts what we offered
            raise NegotiationError(f"muxer {protocol} is not supported")
        self.muxer_protocol = protocol

    # -- muxed phase: receiving ------------------------------------------------------------

    def _on_plain(self, plain: memoryview) -> None:
        mux = self._muxer
        try:
            events = mux.receive_data(plain)
        except MuxerError as exc:
            self._flush()  # the session queued a GoAway; send it before closing
            self.abort(exc, graceful=True)
            self.host._protocol_error(self, "malformed muxer frame", exc)
            return
        now = self.loop.time()
        junk = mux.junk_frames
        if junk != self._junk_seen:
            n = junk - self._junk_seen
            self._junk_seen = junk
            if not self._junk_bucket.take(now, n):
                self._abused(
                    f"sent more than {_defaults.JUNK_FRAME_BURST_PER_CONNECTION} frames that "
                    "carry nothing (pings, refused streams, data for closed streams) at over "
                    f"{_defaults.JUNK_FRAME_RATE_PER_CONNECTION:.0f}/s",
                    _defaults.FLOOD_BAN_SECONDS,
                )
                return
        streams = self._streams
        for ev in events:
            t = type(ev)
            if t is DataReceived:
                st = streams.get(ev.stream_id)
                if st is not None:
                    st._on_data(ev.data)
                    self.last_active = now
                else:
                    # a stream we dropped (reset locally) but the muxer still tracks
                    self._muxer.consumed(ev.stream_id, len(ev.data))
            elif t is WindowUpdated:
                st = streams.get(ev.stream_id)
                if st is not None:
                    if st in self._blocked:
                        self._pump(st)
                    st._on_window()
            elif t is StreamOpened:
                if not self._open_bucket.take(now) or not self.host._stream_budget(self, now):
                    self._abused(
                        "opened streams faster than its budget (stream churn)",
                        _defaults.STREAM_CHURN_BAN_SECONDS,
                    )
                    return
                self.last_active = now
                st = Stream(self, ev.stream_id, outbound=False)
                streams[ev.stream_id] = st
                self.host._on_inbound_stream(st)
            elif t is StreamEnded:
                st = streams.get(ev.stream_id)
                if st is not None:
                    st._on_eof()
                    if st._fin_sent:
                        del streams[ev.stream_id]
            elif t is StreamReset:
                st = streams.pop(ev.stream_id, None)
                if st is not None:
                    self._blocked.discard(st)
                    st._on_reset(
                        StreamResetError(
                            f"stream {ev.stream_id} ({st.protocol}) was reset by the peer or "
                            "because it broke a limit"
                        )
                    )
            elif t is GoAwayReceived:
                self._remote_go_away = True
            # PingReceived: the session already queued the pong; PongReceived: we send no
            # muxer pings (liveness is the idle and write-stall timeouts' job)
        self._schedule_flush()

    def _abused(self, what: str, ban_seconds: float) -> None:
        """The peer went over a budget it controls: drop the connection, ban the peer."""
        exc = PeerAbuseError(f"{self.remote_peer} {what}; banned for {ban_seconds:.0f} s")
        self.abort(exc)
        self.host._abuse(self, what, ban_seconds, exc)

    def refund_stream_open(self) -> None:
        """An inbound stream of this connection carried what we asked the peer for (see
        ``BitswapNetwork``'s *is_answer*): its open no longer counts against the stream-churn
        budgets. Kubo and Helia answer on a stream per message, so a fast honest fetch of small
        blocks opens thousands a second; only streams that answer nothing are churn."""
        self._open_bucket.give()
        self.host._refund_stream(self)

    def _consumed(self, st: Stream, n: int) -> None:
        if self._muxer is None or self._closed:
            return
        # a stream the muxer forgot (fully closed, reset) is ignored by it: ids never recur
        self._muxer.consumed(st.stream_id, n)
        self._schedule_flush()

    # -- muxed phase: sending --------------------------------------------------------------

    def open_stream(self) -> Stream:
        if self._closed or self._muxer is None:
            raise StreamClosedError(
                f"the connection to {self.remote_peer} is closed; dial the peer again"
            )
        if self._remote_go_away:
            raise StreamClosedError(
                f"{self.remote_peer} accepts no new streams on this connection (go-away)"
            )
        if len(self._streams) >= self.host.max_streams_per_conn:
            from ..errors import LimitExceededError

            raise LimitExceededError(
                f"{len(self._streams)} streams are open to {self.remote_peer}, the "
                "max_streams_per_conn limit; close some first"
            )
        sid = self._muxer.open_stream()
        st = Stream(self, sid, outbound=True)
        self._streams[sid] = st
        self._schedule_flush()
        return st

    def _pump(self, st: Stream) -> None:
        """Hand *st*'s queued bytes to the muxer (window and chunk budget allowing)."""
        if self._closed or self._muxer is None or st._error is not None:
            return
        budget = _defaults.STREAM_WRITE_CHUNK - self._unflushed
        if self._write_paused or budget <= 0:
            if st._pending or st._close_requested and not st._fin_sent:
                self._blocked.add(st)
            return
        mux = self._muxer
        sid = st.stream_id
        pending = st._pending
        moved = False
        try:
            while pending and budget > 0:
                view = pending[0]
                piece = view if len(view) <= budget else view[:budget]
                n = mux.send_data(sid, piece)
                if n <= 0:
                    break
                moved = True
                budget -= n
                self._unflushed += n
                self.last_active = self.loop.time()
                st._pending_size -= n
                if n == len(view):
                    pending.popleft()
                elif len(view) - n <= _COPY_REMAINDER_MAX:
                    # the window cut the write near its end: a view of the rest would pin the
                    # whole buffer (a 256 KiB response) for a peer that may never read again
                    pending[0] = memoryview(bytes(view[n:]))
                else:
                    pending[0] = view[n:]
            if not pending and st._close_requested and not st._fin_sent:
                mux.close_stream(sid)
                st._fin_sent = True
                moved = True
                if st._eof:
                    self._streams.pop(sid, None)
        except StreamClosedError as exc:
            # the muxer no longer knows the stream (reset meanwhile)
            self._streams.pop(sid, None)
            self._blocked.discard(st)
            st._on_reset(StreamResetError(str(exc)))
            return
        if pending:
            self._blocked.add(st)
        else:
            self._blocked.discard(st)
            st._wake_drain()
        if moved:
            self._schedule_flush()

    def _reset_stream(self, st: Stream) -> None:
        self._streams.pop(st.stream_id, None)
        self._blocked.discard(st)
        if self._muxer is not None and not self._closed:
            try:
                self._muxer.reset_stream(st.stream_id)
            except MuxerError:
                pass
            self._schedule_flush()
        st._on_reset(StreamResetError(f"stream {st.stream_id} was reset locally"))

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled and not self._closed:
            self._flush_scheduled = True
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        """Encrypt and write every frame the muxer queued, in one write; then refill."""
        self._flush_scheduled = False
        self._unflushed = 0
        transport = self._transport
        if transport is None or self._muxer is None or self._closing:
            return
        limit = _defaults.WRITE_BACKLOG_PAUSE_READING
        if self._write_paused and transport.get_write_buffer_size() >= limit:
            # the peer does not read what we send: what the muxer queued meanwhile (replies it
            # forced, window updates) stays there, bounded, until the transport drains
            self._flush_on_resume = True
            self._pause_reading(transport)
            return
        chunks = self._muxer.data_to_send()
        if chunks:
            try:
                self._write_encrypted(transport, chunks)
            except NetError as exc:  # nonce exhausted
                self.abort(exc)
                return
            if self._write_paused and transport.get_write_buffer_size() >= limit:
                self._pause_reading(transport)
        if self._blocked and not self._write_paused:
            for st in list(self._blocked):
                self._pump(st)

    def _pause_reading(self, transport: asyncio.Transport) -> None:
        """Stop reading a peer that makes us write more than it reads (resume_writing resumes:
        the transport's low-water mark is the resume mark)."""
        if not self._read_paused:
            self._read_paused = True
            transport.pause_reading()

    def release_buffers(self) -> None:
        """Give the receive buffers back to the host's pool (the connection is idle)."""
        if self._session is not None:
            self._session.release()

    def _write_encrypted(self, transport: asyncio.Transport, chunks: list) -> None:
        """Encrypt the muxer's frames into one buffer and write it: small chunks are joined
        (they share Noise frames), large payloads are encrypted in place (no join copy)."""
        pieces: list = []
        small: list = []
        for chunk in chunks:
            if len(chunk) >= _DIRECT_ENCRYPT:
                if small:
                    pieces.append(small[0] if len(small) == 1 else b"".join(small))
                    small = []
                pieces.append(chunk)
            else:
                small.append(chunk)
        if small:
            pieces.append(small[0] if len(small) == 1 else b"".join(small))
        total = 0
        for piece in pieces:
            total += encrypted_size(len(piece))
        # a large output buffer comes from the host's pool and goes back only if the transport
        # kept no reference to it (it wrote everything at once); otherwise the transport owns it
        pool = self.host._send_pool
        pooled = _SMALL_WRITE < total <= pool.size
        out = pool.take() if pooled else bytearray(total)
        view = memoryview(out)
        encrypt_into = self._session.encrypt_into  # type: ignore[union-attr]
        pos = 0
        for piece in pieces:
            pos += encrypt_into(piece, view[pos:])
        transport.write(view[:pos] if pooled else out)
        self.bytes_sent += pos
        if pooled and transport.get_write_buffer_size() == 0:
            pool.give(out)

    # -- closing ---------------------------------------------------------------------------

    def close(self) -> None:
        """Send what is queued and a FIN, then close once the peer closes too (or after
        ``_CLOSE_LINGER`` seconds). Closing the socket at once would make the kernel answer
        with a TCP reset if the peer's bytes were still unread, and a reset destroys data we
        sent that the peer has not read yet; a half-close delivers it. Streams are reset."""
        transport = self._transport
        if transport is None or self._closing:
            return
        if self._muxer is not None and not self._closed:
            try:
                if isinstance(self._muxer, yamux.YamuxSession):
                    self._muxer.go_away(yamux.GO_AWAY_NORMAL)
            except MuxerError:
                pass
            self._flush()
        self._closing = True
        if self._session is not None and transport.can_write_eof():
            try:
                transport.write_eof()
            except (OSError, RuntimeError):
                transport.close()
                return
            self._linger = self.loop.call_later(_CLOSE_LINGER, transport.abort)
        else:
            transport.close()

    def abort(self, exc: BaseException | None = None, *, graceful: bool = False) -> None:
        """Drop the connection now (after a protocol error)."""
        if exc is not None and self._error is None:
            self._error = exc
        if self._transport is None:
            return
        self._closing = True  # a later close() has nothing to flush
        if graceful:
            self._transport.close()
        else:
            self._transport.abort()

    async def wait_closed(self) -> None:
        await asyncio.shield(self.lost)
