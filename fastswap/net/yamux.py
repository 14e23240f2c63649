"""yamux stream multiplexer (libp2p ``/yamux/1.0.0``; hashicorp/yamux ``spec.md``), sans-IO.

Selects the compiled or the pure-Python twin of the session state machine
(``fastswap._compat.load_twin``). Usage, h11/aioquic style::

    s = YamuxSession(is_client=True)
    sid = s.open_stream()
    taken = s.send_data(sid, payload)      # <= the peer's window; wait for WindowUpdated
    transport.writelines(s.data_to_send())
    for event in s.receive_data(chunk):    # StreamOpened, DataReceived, StreamEnded, ...
        ...
    s.consumed(sid, n)                     # the application read n bytes: re-open the window
"""

from __future__ import annotations

from .._compat import load_twin
from ._muxer_events import (
    DataReceived,
    GoAwayReceived,
    MuxerEvent,
    PingReceived,
    PongReceived,
    StreamEnded,
    StreamOpened,
    StreamReset,
    WindowUpdated,
)

_impl = load_twin("fastswap.net._yamux_c", "fastswap.net._yamux_py")

YamuxSession = _impl.YamuxSession
PROTOCOL_ID = "/yamux/1.0.0"
HEADER_SIZE = _impl.HEADER_SIZE
SPEC_INITIAL_WINDOW = _impl.SPEC_INITIAL_WINDOW
GO_AWAY_NORMAL = _impl.GO_AWAY_NORMAL
GO_AWAY_PROTOCOL_ERROR = _impl.GO_AWAY_PROTOCOL_ERROR
GO_AWAY_INTERNAL_ERROR = _impl.GO_AWAY_INTERNAL_ERROR

__all__ = [
    "GO_AWAY_INTERNAL_ERROR",
    "GO_AWAY_NORMAL",
    "GO_AWAY_PROTOCOL_ERROR",
    "PROTOCOL_ID",
    "DataReceived",
    "GoAwayReceived",
    "MuxerEvent",
    "PingReceived",
    "PongReceived",
    "StreamEnded",
    "StreamOpened",
    "StreamReset",
    "WindowUpdated",
    "YamuxSession",
]
