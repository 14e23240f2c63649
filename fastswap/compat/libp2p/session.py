"""``BitswapSession``: py-libp2p 0.8.1's session API (``get_block``, ``get_blocks_batch``) over
a fastswap driver (ipfs/specs bitswap-protocol, "Bitswap 1.2.0 Interaction Pattern").

Each call wants its CIDs in an engine session of its own (``fastswap.client.engine``: want-have
discovery, want-block to the peers that answer, DONT_HAVE re-routes at once) and returns when
they are stored, reading them from the client's block store. Differences from py-libp2p (the
spec's behaviour):

* a DONT_HAVE is an answer: when every connected peer has said DONT_HAVE for a CID,
  ``get_block`` raises :class:`~.errors.BlockUnavailableError` at once instead of waiting out
  its timeout (``get_blocks_batch`` leaves the CID out of its result at once);
* an identity CID (multihash 0x00: the CID carries its data) is answered from the CID and
  never asked of a peer, as Kubo's and Helia's block stores do (``fastswap.blockstore.identity``);
* ``get_blocks_batch`` keeps as many wants in flight as the peers can serve (the engine's
  per-peer queues) instead of waiting for each batch of ``batch_size``; its timeout is
  ``timeout`` per ``batch_size`` CIDs, as py-libp2p's per-batch timeout adds up.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ...cid import identity_data
from .cid import CIDInput, cid_to_bytes, format_cid_for_display
from .config import DEFAULT_TIMEOUT
from .errors import BlockUnavailableError
from .errors import TimeoutError as BitswapTimeoutError

if TYPE_CHECKING:
    from .client import BitswapClient

__all__ = ["BitswapSession"]


class BitswapSession:
    """Blocks fetched together (a file): see the module docstring."""

    def __init__(self, client: BitswapClient, session_id: int) -> None:
        self.client = client
        self.id = session_id
        #: peers that delivered blocks to this session
        self.active_peers: set[Any] = set()

    async def get_block(self, cid: CIDInput, peer_id: Any = None,
                        timeout: float = DEFAULT_TIMEOUT) -> bytes:
        """The block's data, from the local store or from peers (*peer_id* first).
        :class:`~.errors.TimeoutError` after *timeout* seconds,
        :class:`~.errors.BlockUnavailableError` as soon as every connected peer said
        DONT_HAVE."""
        key = cid_to_bytes(cid)
        data = identity_data(key)
        if data is None:
            data = await self.client.block_store.get_block(key)
        if data is not None:
            return data
        fetch = await self.client._driver.fetch([key], peer_id, timeout)
        if key in fetch.arrived:
            data = await self.client.block_store.get_block(key)
            if data is not None:  # else deleted since it arrived: as if it never had
                return data
        text = format_cid_for_display(key)
        if key in fetch.unavailable:
            raise BlockUnavailableError(
                f"every connected peer said DONT_HAVE for {text}; connect to a peer that has it")
        raise BitswapTimeoutError(
            f"Timeout waiting for block {text} ({timeout} s); connect to a peer that has it "
            "or wait longer")

    async def get_blocks_batch(self, cids: list[CIDInput], peer_id: Any = None,
                               timeout: float = DEFAULT_TIMEOUT,
                               batch_size: int = 32) -> dict[bytes, bytes]:
        """``{cid bytes: data}`` for every CID that is stored or arrives in time (missing ones
        are left out, as in py-libp2p)."""
        keys = list(dict.fromkeys(cid_to_bytes(c) for c in cids))
        results: dict[bytes, bytes] = {}
        missing = []
        store = self.client.block_store
        for key in keys:
            data = identity_data(key)
            if data is None:
                data = await store.get_block(key)
            if data is None:
                missing.append(key)
            else:
                results[key] = data
        if missing:
            batches = math.ceil(len(missing) / max(1, batch_size))
            fetch = await self.client._driver.fetch(missing, peer_id, timeout * batches)
            for key in missing:
                if key in fetch.arrived:
                    data = await store.get_block(key)
                    if data is not None:
                        results[key] = data
        return results
