"""libp2p ping: libp2p/specs ``ping/ping.md`` (``/ipfs/ping/1.0.0``).

The dialer writes 32 random bytes, the listener echoes them, and the dialer measures the round
trip; both sides may repeat on the same stream. The listener echoes until the dialer closes.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from ..errors import IncompleteReadError, PingError

if TYPE_CHECKING:
    from ._streams import Stream
    from .host import Host
    from .keys import PeerId
    from .multiaddr import Multiaddr

__all__ = ["PAYLOAD_SIZE", "PROTOCOL_ID", "handle_ping", "ping"]

PROTOCOL_ID = "/ipfs/ping/1.0.0"
PAYLOAD_SIZE = 32
#: the most pings one call sends (a bound, so a mistyped count cannot run for hours)
MAX_COUNT = 10_000


async def handle_ping(host: Host, stream: Stream) -> None:
    """Echo each 32-byte payload until the peer closes the stream."""
    while True:
        try:
            payload = await stream.readexactly(PAYLOAD_SIZE)
        except IncompleteReadError:
            stream.close()
            return
        stream.write(payload)
        await stream.drain()


async def ping(host: Host, peer: PeerId | Multiaddr | str, count: int = 1) -> list[float]:
    """Ping *peer* (dialled if given as an address) *count* times on one stream; the round-trip
    times in seconds."""
    if not 1 <= count <= MAX_COUNT:
        raise ValueError(f"ping count must be between 1 and {MAX_COUNT}")
    stream = await host.new_stream(peer, [PROTOCOL_ID])
    rtts: list[float] = []
    try:
        for _ in range(count):
            payload = os.urandom(PAYLOAD_SIZE)
            start = time.perf_counter()
            stream.write(payload)
            await stream.drain()
            try:
                echo = await stream.readexactly(PAYLOAD_SIZE)
            except IncompleteReadError:
                raise PingError(f"{stream.remote_peer} closed the ping stream") from None
            rtts.append(time.perf_counter() - start)
            if echo != payload:
                raise PingError(f"{stream.remote_peer} echoed different bytes than we sent")
    except BaseException:
        stream.reset()
        raise
    stream.close()
    return rtts
