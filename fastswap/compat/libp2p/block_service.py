"""``BlockService``: py-libp2p 0.8.1's local-first block access (a ``BlockStore`` in front of a
``BitswapClient``): reads try the store, then the network, and cache what arrives; writes store
and announce."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from .block_store import BlockStore
from .cid import CIDInput, cid_to_bytes

__all__ = ["BlockService"]

log = logging.getLogger("fastswap.compat.libp2p")


class BlockService:
    def __init__(self, store: BlockStore, bitswap: Any) -> None:
        self.store = store
        self.bitswap = bitswap

    @property
    def block_store(self) -> BlockStore:
        return self.store

    async def get_block(self, cid: CIDInput, session: Any, peer_id: Any = None,
                        timeout: float = 30.0) -> bytes | None:
        """The block from the store, else through *session* (then cached); None if it could
        not be had (the reason is logged)."""
        key = cid_to_bytes(cid)
        data = await self.store.get_block(key)
        if data is not None:
            return data
        try:
            data = await session.get_block(key, peer_id, timeout)
        except Exception as exc:  # noqa: BLE001 - py-libp2p's contract: None, not an error
            log.warning("BlockService: network fetch failed: %s", exc)
            return None
        if data is not None:
            await self.store.put_block(key, data)
        return data

    async def put_block(self, cid: CIDInput, data: bytes) -> None:
        """Store locally and hand to the client (its store, and peers that want it)."""
        key = cid_to_bytes(cid)
        await self.store.put_block(key, data)
        await self.bitswap.add_block(key, data)

    async def get_blocks_batch(self, cids: Sequence[CIDInput], session: Any, peer_id: Any = None,
                               timeout: float = 30.0, batch_size: int = 32) -> dict[bytes, bytes]:
        """``{cid bytes: data}``: stored blocks, then the rest through *session* (cached)."""
        results: dict[bytes, bytes] = {}
        missing: list[bytes] = []
        for cid in cids:
            key = cid_to_bytes(cid)
            data = await self.store.get_block(key)
            if data is None:
                missing.append(key)
            else:
                results[key] = data
        if missing:
            fetched = await session.get_blocks_batch(missing, peer_id=peer_id, timeout=timeout,
                                                     batch_size=batch_size)
            for key, data in fetched.items():
                await self.store.put_block(key, data)
                results[bytes(key)] = data
        return results
