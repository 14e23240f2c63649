"""``BitswapClient``: py-libp2p 0.8.1's Bitswap client API (and 0.7's ``get_block`` /
``get_blocks_batch``) over fastswap's engines (ipfs/specs bitswap-protocol 1.0.0-1.2.0).

On a py-libp2p host the engines run in the trio driver (``fastswap.compat._trio``); on the host
of :func:`fastswap.compat.libp2p.new_host` they run in ``fastswap.Node`` on that host's asyncio
loop (``fastswap.compat._asyncio``). Either way this class only translates calls. The payment
extension (1.3.0, ``register_extension``) is not offered.
"""

from __future__ import annotations

import gc
from typing import Any

from .._wants import CompatDriver
from .block_store import BlockStore, MemoryBlockStore
from .cid import CIDInput, cid_to_bytes, format_cid_for_display, parse_cid, verify_cid
from .config import (
    BITSWAP_PROTOCOL_V120,
    BITSWAP_PROTOCOLS,
    DEFAULT_PRIORITY,
    DEFAULT_TIMEOUT,
    MAX_BLOCK_SIZE,
)
from .errors import BitswapError, BlockTooLargeError
from .host import FastswapHost
from .session import BitswapSession

__all__ = ["BitswapClient"]

#: seconds have_block waits for HAVE/DONT_HAVE (py-libp2p's value)
_HAVE_TIMEOUT = 5.0


class BitswapClient:
    """Serves the block store to peers and fetches from them.

    * ``host``: a py-libp2p host (trio), or one from :func:`~fastswap.compat.libp2p.new_host`
      (fastswap's asyncio host: the fast one);
    * ``block_store``: any :class:`BlockStore` (default: a new :class:`MemoryBlockStore`);
    * ``protocol_version``: kept for py-libp2p's API; every version is spoken and the highest
      both peers know is used;
    * ``provider_query_manager``: asked for providers when the connected peers cannot serve a
      want (py-libp2p host only: on fastswap's host the peers the program connected to are
      asked);
    * ``presence_ttl``: accepted for py-libp2p's API (presences are the engine's business).
    """

    def __init__(self, host: Any, block_store: BlockStore | None = None,
                 protocol_version: str = BITSWAP_PROTOCOL_V120,
                 provider_query_manager: Any = None, presence_ttl: float = 60.0) -> None:
        self.host = host
        self.block_store: Any = block_store if block_store is not None else MemoryBlockStore()
        self.protocol_version = protocol_version
        self.provider_query_manager = provider_query_manager
        self.presence_ttl = presence_ttl
        self.supported_protocols = list(BITSWAP_PROTOCOLS)
        self._wantlist: dict[Any, dict[str, Any]] = {}
        self._nursery: Any = None
        self._driver: CompatDriver = self._new_driver()
        self._sessions = 0

    def _new_driver(self) -> CompatDriver:
        if isinstance(self.host, FastswapHost):
            from .._asyncio import NodeDriver

            return NodeDriver(self.host, self.block_store,
                              provider_query=self.provider_query_manager)
        from .._trio import TrioDriver

        return TrioDriver(self.host, self.block_store,
                          provider_query=self.provider_query_manager)

    @property
    def _started(self) -> bool:
        return bool(self._driver.started and not self._driver.stopped)

    async def start(self) -> None:
        """Serve the store and start fetching (in the nursery from :meth:`set_nursery`, if one
        was set first; otherwise in tasks of the driver's own)."""
        if self._driver.stopped:
            self._driver = self._new_driver()
        # What earlier clients and hosts of this process left in reference cycles (a stopped
        # Node with its host, streams and stored exceptions) holds their block stores; blocks
        # are bytes, which the collector does not count, so its full passes come too rarely. A
        # program making a client per task grew 512 MB a round (2,000 x 256 KiB) and then
        # spent seconds a round in the kernel; collected here it stays at one round's blocks.
        # A client starts rarely; one full pass costs milliseconds.
        gc.collect()
        await self._driver.start(self._nursery)

    async def stop(self) -> None:
        await self._driver.stop()
        self._wantlist.clear()

    def set_nursery(self, nursery: Any) -> None:
        """The nursery the driver's tasks should run in (used by the next :meth:`start`)."""
        self._nursery = nursery

    def register_extension(self, protocol: str, extension: Any) -> None:
        raise BitswapError(
            "the Bitswap payment extension (1.3.0) is not part of fastswap's drop-in; use "
            "libp2p.bitswap for it"
        )

    def new_session(self) -> BitswapSession:
        self._sessions += 1
        return BitswapSession(self, self._sessions)

    @property
    def peers(self) -> list[Any]:
        """Peers we speak Bitswap with (fastswap addition)."""
        return self._driver.peers

    async def add_block(self, cid: CIDInput, data: bytes) -> None:
        """Store a block and send it to peers that want it. BlockTooLargeError over 2 MiB,
        ValueError if *data* does not hash to *cid*."""
        if len(data) > MAX_BLOCK_SIZE:
            raise BlockTooLargeError(
                f"Block size {len(data)} exceeds maximum {MAX_BLOCK_SIZE}; use smaller chunks")
        key = cid_to_bytes(cid)
        if not verify_cid(key, data):
            raise ValueError(
                f"Block data does not match CID hash: {format_cid_for_display(key)}")
        await self.block_store.put_block(key, data)
        self._driver.added([(key, data)])

    async def want_block(self, cid: CIDInput, priority: int = DEFAULT_PRIORITY,
                         want_type: int = 0, send_dont_have: bool = False) -> None:
        """Add *cid* to our wantlist: a want-block (``want_type`` 0) is asked of peers until
        the block arrives in the store or :meth:`cancel_want`; a want-have (1) is only
        recorded (use :meth:`have_block` to ask)."""
        obj = parse_cid(cid)
        self._wantlist[obj] = {"priority": priority, "want_type": want_type,
                               "send_dont_have": send_dont_have}
        if want_type == 0:
            self._driver.want_background([cid_to_bytes(obj)])

    async def cancel_want(self, cid: CIDInput) -> None:
        obj = parse_cid(cid)
        if self._wantlist.pop(obj, None) is not None:
            self._driver.cancel_background([cid_to_bytes(obj)])

    async def have_block(self, cid: CIDInput, peer_id: Any = None) -> bool:
        """True if the block is stored here, or a peer (*peer_id*, if given) answers HAVE
        within 5 s; False on its DONT_HAVE (every connected peer's, without *peer_id*) or
        silence. Only want-have is sent: no block is fetched."""
        key = cid_to_bytes(cid)
        if await self.block_store.has_block(key):
            return True
        fetch = await self._driver.fetch([key], peer_id, _HAVE_TIMEOUT, presence_only=True)
        return key in fetch.arrived

    # -- py-libp2p 0.7 ---------------------------------------------------------------------

    async def get_block(self, cid: CIDInput, peer_id: Any = None,
                        timeout: float = DEFAULT_TIMEOUT) -> bytes:
        """0.7's call: ``new_session().get_block(...)``."""
        return await self.new_session().get_block(cid, peer_id, timeout)

    async def get_blocks_batch(self, cids: list[CIDInput], peer_id: Any = None,
                               timeout: float = DEFAULT_TIMEOUT,
                               batch_size: int = 32) -> dict[bytes, bytes]:
        """0.7's call: ``new_session().get_blocks_batch(...)``."""
        return await self.new_session().get_blocks_batch(cids, peer_id, timeout, batch_size)
