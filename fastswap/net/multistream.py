"""multistream-select 1.0, sans-IO: multiformats/multistream-select README ("Protocol",
"Listing") and libp2p/specs ``connections/README.md`` ("Protocol Negotiation").

Every message is an unsigned-varint length, then UTF-8 text ending in ``\\n`` (counted in the
length). Both sides open with the header ``/multistream/1.0.0``. The dialer proposes protocols one
at a time; the listener echoes a protocol it speaks or answers ``na``; ``ls`` asks the listener for
its list. The same two machines negotiate the security and muxer protocols of a connection
upgrade and the protocol of every new stream.

The objects here never touch a socket: feed them received bytes, send what they return
(aioquic/h11 style). Once ``done``, bytes that arrived after the last negotiation message are in
``unused``: they belong to the negotiated protocol.

Limits (bad input never grows memory or loops forever): a message is at most
``MAX_MESSAGE_LENGTH`` bytes (1024, as go-multistream and js-libp2p use for protocol ids), the
listener answers at most ``max_attempts`` proposals, and an ``ls`` answer is at most
``MAX_LS_RESPONSE`` bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence

from .. import varint
from ..errors import NegotiationError, TruncatedVarintError, VarintError

__all__ = [
    "PROTOCOL_ID",
    "MultistreamDialer",
    "MultistreamListener",
    "encode_ls_response",
    "encode_message",
]

PROTOCOL_ID = "/multistream/1.0.0"
NA = "na"
LS = "ls"
#: Longest message (protocol id + newline) accepted or sent.
MAX_MESSAGE_LENGTH = 1024
#: Longest ``ls`` answer a dialer accepts.
MAX_LS_RESPONSE = 64 * 1024
#: Proposals a listener answers with ``na`` before it gives up on the peer.
DEFAULT_MAX_ATTEMPTS = 32


def encode_message(text: str, *, limit: int = MAX_MESSAGE_LENGTH) -> bytes:
    """One length-prefixed ``text\\n`` message."""
    raw = text.encode() + b"\n"
    if len(raw) > limit:
        raise NegotiationError(
            f"protocol id {text[:60]!r}... is {len(raw)} bytes; multistream-select allows {limit}"
        )
    return varint.encode(len(raw)) + raw


def encode_ls_response(protocols: Iterable[str]) -> bytes:
    """The ``ls`` answer: one message holding a length-prefixed ``proto\\n`` per protocol,
    then a closing ``\\n`` (the form go-multistream and js-libp2p write)."""
    body = b"".join(encode_message(p) for p in protocols) + b"\n"
    if len(body) > MAX_LS_RESPONSE:
        raise NegotiationError(f"ls answer of {len(body)} bytes is over {MAX_LS_RESPONSE}")
    return varint.encode(len(body)) + body


def _check_protocol(proto: str) -> str:
    if not proto or "\n" in proto or len(proto.encode()) + 1 > MAX_MESSAGE_LENGTH:
        raise NegotiationError(
            f"{proto[:60]!r} is not a usable protocol id: it must be non-empty, have no newline "
            f"and be under {MAX_MESSAGE_LENGTH} bytes"
        )
    return proto


class _MessageReader:
    """Splits the received bytes into messages; keeps the rest for ``unused``."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        self._buf += data

    def next_raw(self, limit: int) -> bytes | None:
        """The next message body (with its newline), or None if it has not fully arrived."""
        buf = self._buf
        if not buf:
            return None
        try:
            length, pos = varint.decode(buf, 0)
        except TruncatedVarintError as exc:
            if len(buf) < 4:  # a longer prefix would announce more than any limit allows
                return None
            raise NegotiationError(f"peer sent a malformed multistream length: {exc}") from None
        except VarintError as exc:
            raise NegotiationError(f"peer sent a malformed multistream length: {exc}") from None
        if length > limit:
            raise NegotiationError(
                f"peer sent a {length}-byte multistream message; the limit is {limit} "
                "(is this peer speaking multistream-select?)"
            )
        if len(buf) < pos + length:
            return None
        body = bytes(buf[pos : pos + length])
        del buf[: pos + length]
        return body

    def next_text(self, limit: int = MAX_MESSAGE_LENGTH) -> str | None:
        body = self.next_raw(limit)
        if body is None:
            return None
        if not body.endswith(b"\n"):
            raise NegotiationError("peer sent a multistream message that does not end in newline")
        try:
            return body[:-1].decode()
        except UnicodeDecodeError:
            raise NegotiationError("peer sent a multistream message that is not UTF-8") from None

    def take(self) -> bytes:
        out = bytes(self._buf)
        self._buf.clear()
        return out


class MultistreamDialer:
    """The proposing side: tries ``protocols`` in order, falling back on ``na``.

    ``initiate()`` returns the header and the first proposal together (one round trip, as go and
    js do). With ``list_first=True`` the dialer sends ``ls`` first and stores the answer in
    ``remote_protocols`` before proposing.
    """

    def __init__(self, protocols: Sequence[str], *, list_first: bool = False) -> None:
        if not protocols:
            raise NegotiationError("no protocols to propose")
        self._protocols = [_check_protocol(p) for p in protocols]
        self._index = 0
        self._reader = _MessageReader()
        self._header_ok = False
        self._list_pending = list_first
        self._started = False
        self.selected: str | None = None
        self.remote_protocols: list[str] | None = None
        self.rejected: list[str] = []

    @property
    def done(self) -> bool:
        return self.selected is not None

    @property
    def unused(self) -> bytes:
        """Bytes received after the listener's final answer (the selected protocol's data)."""
        return self._reader.take()

    def initiate(self) -> bytes:
        if self._started:
            raise NegotiationError("initiate() was already called")
        self._started = True
        first = encode_message(LS) if self._list_pending else encode_message(self._protocols[0])
        return encode_message(PROTOCOL_ID) + first

    def receive_data(self, data: bytes | bytearray | memoryview) -> bytes:
        """Feed received bytes; return bytes to send (maybe empty)."""
        if not self._started:
            raise NegotiationError("call initiate() before receive_data()")
        if self.done:
            raise NegotiationError("negotiation is over; read the rest from `unused`")
        self._reader.feed(data)
        out = bytearray()
        while not self.done:
            if not self._header_ok:
                msg = self._reader.next_text()
                if msg is None:
                    break
                if msg != PROTOCOL_ID:
                    raise NegotiationError(
                        f"peer answered {msg[:60]!r} instead of {PROTOCOL_ID}: it does not speak "
                        "multistream-select 1.0"
                    )
                self._header_ok = True
                continue
            if self._list_pending:
                body = self._reader.next_raw(MAX_LS_RESPONSE)
                if body is None:
                    break
                self.remote_protocols = _parse_ls(body)
                self._list_pending = False
                out += encode_message(self._protocols[0])
                continue
            msg = self._reader.next_text()
            if msg is None:
                break
            proposed = self._protocols[self._index]
            if msg == proposed:
                self.selected = proposed
            elif msg == NA:
                self.rejected.append(proposed)
                self._index += 1
                if self._index >= len(self._protocols):
                    raise NegotiationError(
                        f"peer supports none of {self._protocols}; it answered 'na' to each"
                    )
                out += encode_message(self._protocols[self._index])
            else:
                raise NegotiationError(
                    f"peer answered {msg[:60]!r} to our proposal {proposed!r}; expected the same "
                    "id or 'na'"
                )
        return bytes(out)


def _parse_ls(body: bytes) -> list[str]:
    reader = _MessageReader()
    reader.feed(body)
    out: list[str] = []
    while True:
        if reader._buf in (b"", b"\n"):  # js/go close the list with a bare newline
            return out
        msg = reader.next_text()
        if msg is None:
            raise NegotiationError("peer sent a truncated ls answer")
        out.append(msg)


class MultistreamListener:
    """The answering side: echoes the first proposal it supports, ``na`` otherwise.

    ``supported`` is a collection of protocol ids (a handler dict works: its keys are used), or a
    predicate ``proto -> bool`` for pattern-matched protocols; ``ls`` lists ``supported`` when it
    is a collection.
    """

    def __init__(
        self,
        supported: Collection[str] | Callable[[str], bool],
        *,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> None:
        self._supported = supported
        self._max_attempts = max_attempts
        self._attempts = 0
        self._reader = _MessageReader()
        self._header_ok = False
        self._started = False
        self.selected: str | None = None

    @property
    def done(self) -> bool:
        return self.selected is not None

    @property
    def unused(self) -> bytes:
        return self._reader.take()

    def _speaks(self, proto: str) -> bool:
        if callable(self._supported):
            return bool(self._supported(proto))
        return proto in self._supported

    def initiate(self) -> bytes:
        """The header, sent at once (as go-multistream does), not after the dialer's."""
        self._started = True
        return encode_message(PROTOCOL_ID)

    def receive_data(self, data: bytes | bytearray | memoryview) -> bytes:
        if self.done:
            raise NegotiationError("negotiation is over; read the rest from `unused`")
        out = bytearray()
        if not self._started:
            out += self.initiate()
        self._reader.feed(data)
        while not self.done:
            msg = self._reader.next_text()
            if msg is None:
                break
            if not self._header_ok:
                if msg != PROTOCOL_ID:
                    raise NegotiationError(
                        f"peer opened with {msg[:60]!r} instead of {PROTOCOL_ID}: it does not "
                        "speak multistream-select 1.0"
                    )
                self._header_ok = True
                continue
            self._attempts += 1
            if self._attempts > self._max_attempts:
                raise NegotiationError(
                    f"peer made over {self._max_attempts} proposals without agreeing; giving up"
                )
            if msg == LS:
                if callable(self._supported):
                    out += encode_ls_response([])
                else:
                    out += encode_ls_response(self._supported)
            elif msg != NA and self._speaks(msg):
                self.selected = msg
                out += encode_message(msg)
            else:
                out += encode_message(NA)
        return bytes(out)
