"""The constants of py-libp2p 0.8.1's ``libp2p.bitswap.config``, with the spec's values where
py-libp2p's differ (ipfs/specs bitswap-protocol, "Protocol format" and "Block sizes").

``MAX_BLOCK_SIZE`` is 2 MiB, the spec's minimum that every implementation MUST accept (py-libp2p
caps blocks at 512 KiB); the other values are py-libp2p's. ``BITSWAP_PROTOCOL_V130`` (the payment
extension) is named for completeness only: the drop-in never speaks it.
"""

from __future__ import annotations

from ... import _defaults
from ...message.versions import BITSWAP_1_0_0, BITSWAP_1_1_0, BITSWAP_1_2_0

__all__ = [
    "BITSWAP_PROTOCOLS",
    "BITSWAP_PROTOCOL_V100",
    "BITSWAP_PROTOCOL_V110",
    "BITSWAP_PROTOCOL_V120",
    "BITSWAP_PROTOCOL_V130",
    "DEFAULT_CID_VERSION",
    "DEFAULT_PRIORITY",
    "DEFAULT_TIMEOUT",
    "DEFAULT_WANTLIST_SIZE",
    "MAX_BLOCK_SIZE",
    "MAX_CONCURRENT_REQUESTS",
    "MAX_MESSAGE_SIZE",
]

BITSWAP_PROTOCOL_V100 = BITSWAP_1_0_0
BITSWAP_PROTOCOL_V110 = BITSWAP_1_1_0
BITSWAP_PROTOCOL_V120 = BITSWAP_1_2_0
BITSWAP_PROTOCOL_V130 = "/ipfs/bitswap/1.3.0"

#: what py-libp2p's BitswapClient registers, newest first (fastswap also serves the bare id)
BITSWAP_PROTOCOLS = [BITSWAP_PROTOCOL_V120, BITSWAP_PROTOCOL_V110, BITSWAP_PROTOCOL_V100]

DEFAULT_PRIORITY = 1
MAX_MESSAGE_SIZE = _defaults.MAX_MESSAGE_SIZE
MAX_BLOCK_SIZE = _defaults.MAX_BLOCK_SIZE
#: seconds a session's get_block waits by default (py-libp2p's value)
DEFAULT_TIMEOUT = 90
MAX_CONCURRENT_REQUESTS = 100
DEFAULT_WANTLIST_SIZE = 256
DEFAULT_CID_VERSION = 0
