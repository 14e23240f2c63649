"""mplex stream multiplexer (libp2p/specs ``mplex/README.md``, ``/mplex/6.7.0``), sans-IO.

Selects the compiled or the pure-Python twin (``fastswap._compat.load_twin``). Same event and
bytes shape as ``fastswap.net.yamux``; mplex has no windows, pings or go-away, so
``send_data`` takes everything and ``consumed`` only releases the per-stream buffer bound.
Stream handles are ``id << 1 | 1`` for streams this side opened, ``id << 1`` for the peer's.
Prefer yamux: mplex is deprecated in libp2p and offers no backpressure.
"""

from __future__ import annotations

from .._compat import load_twin
from ._muxer_events import DataReceived, MuxerEvent, StreamEnded, StreamOpened, StreamReset

_impl = load_twin("fastswap.net._mplex_c", "fastswap.net._mplex_py")

MplexSession = _impl.MplexSession
PROTOCOL_ID = "/mplex/6.7.0"
MAX_MESSAGE_SIZE = _impl.MAX_MESSAGE_SIZE

__all__ = [
    "MAX_MESSAGE_SIZE",
    "PROTOCOL_ID",
    "DataReceived",
    "MplexSession",
    "MuxerEvent",
    "StreamEnded",
    "StreamOpened",
    "StreamReset",
]
