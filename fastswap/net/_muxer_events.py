"""Events a stream multiplexer session returns (yamux and mplex share them).

Plain Python classes in one module that both twins of each muxer import (msgpack's
``exceptions.py`` pattern), so events from the compiled and the pure twin compare equal.
The sans-IO shape follows h11/aioquic: ``session.receive_data(bytes) -> [events]``.
"""

from __future__ import annotations

__all__ = [
    "DataReceived",
    "GoAwayReceived",
    "MuxerEvent",
    "PingReceived",
    "PongReceived",
    "StreamEnded",
    "StreamOpened",
    "StreamReset",
    "WindowUpdated",
]


class MuxerEvent:
    """Base class: equality by type and fields, so tests and twins can compare event lists."""

    __slots__ = ()

    def _key(self) -> tuple:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._key() == other._key()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]  # DataReceived holds a memoryview

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__)
        return f"{type(self).__name__}({fields})"


class StreamOpened(MuxerEvent):
    """The peer opened stream *stream_id* (yamux SYN / mplex NewStream)."""

    __slots__ = ("stream_id",)

    def __init__(self, stream_id: int) -> None:
        self.stream_id = stream_id


class DataReceived(MuxerEvent):
    """Bytes arrived on *stream_id*.

    *data* is a memoryview into the buffer passed to ``receive_data`` (no copy): use it, or
    copy it, before that buffer is reused. Call ``session.consumed(stream_id, len(data))`` once
    the application has taken the bytes; that is what re-opens the peer's window.
    """

    __slots__ = ("data", "stream_id")

    def __init__(self, stream_id: int, data: memoryview) -> None:
        self.stream_id = stream_id
        self.data = data

    def _key(self) -> tuple:
        return (self.stream_id, bytes(self.data))


class StreamEnded(MuxerEvent):
    """The peer half-closed *stream_id* (FIN / Close): no more data will arrive on it."""

    __slots__ = ("stream_id",)

    def __init__(self, stream_id: int) -> None:
        self.stream_id = stream_id


class StreamReset(MuxerEvent):
    """*stream_id* is dead in both directions: the peer reset it, or this session reset it
    because the peer broke a per-stream rule (data after FIN, buffer overflow, ...)."""

    __slots__ = ("stream_id",)

    def __init__(self, stream_id: int) -> None:
        self.stream_id = stream_id


class WindowUpdated(MuxerEvent):
    """The peer granted more send window on *stream_id*: a blocked writer may resume."""

    __slots__ = ("delta", "stream_id")

    def __init__(self, stream_id: int, delta: int) -> None:
        self.stream_id = stream_id
        self.delta = delta


class PingReceived(MuxerEvent):
    """The peer pinged; the pong is already queued in ``data_to_send()``."""

    __slots__ = ("opaque",)

    def __init__(self, opaque: int) -> None:
        self.opaque = opaque


class PongReceived(MuxerEvent):
    """The peer answered our ping carrying *opaque*."""

    __slots__ = ("opaque",)

    def __init__(self, opaque: int) -> None:
        self.opaque = opaque


class GoAwayReceived(MuxerEvent):
    """The peer will accept no new streams (0 normal, 1 protocol error, 2 internal error)."""

    __slots__ = ("code",)

    def __init__(self, code: int) -> None:
        self.code = code
