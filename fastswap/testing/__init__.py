"""A virtual network for deterministic tests of the Bitswap engines (DESIGN.md, "testing/").

Many :class:`~fastswap.server.engine.ServerEngine` + :class:`~fastswap.client.engine.ClientEngine`
pairs run in one process over simulated links (latency, bandwidth, serialization) on a virtual
clock: :class:`VirtualNetwork` (``network.py``) over :class:`VirtualClock` (``clock.py``), each node
driven through the same :class:`~fastswap.core.DriverCore` as ``fastswap.Node``. Protocol ids
come from :mod:`fastswap.message.versions`.
"""

from __future__ import annotations

from .clock import Timer, VirtualClock
from .network import (
    Fetch,
    Link,
    NodeMetrics,
    PeerKey,
    PeerMetrics,
    VirtualNetwork,
    VirtualNode,
    random_blocks,
)

__all__ = [
    "Fetch",
    "Link",
    "NodeMetrics",
    "PeerKey",
    "PeerMetrics",
    "Timer",
    "VirtualClock",
    "VirtualNetwork",
    "VirtualNode",
    "random_blocks",
]
