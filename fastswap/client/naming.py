"""Naming received blocks: the client's verification (ipfs/specs bitswap-protocol, 1.0.0 field-2
blocks and 1.1.0+ ``payload{prefix, data}``). A block is named by hashing its data under its own
prefix; only a name computed from the data is ever trusted, so data that does not hash to a
wanted CID can never be delivered for it.

:func:`name_blocks` is pure and thread-safe, so a driver can hash a message's blocks off its
event loop (hashlib releases the GIL on large inputs) and hand the names to the engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import CIDError
from ..message import block_cid

__all__ = ["name_block", "name_blocks"]


def name_block(prefix: Any, data: Any) -> bytes:
    if prefix is not None and len(prefix) == 0:
        # py-libp2p sends CIDv0 blocks as payloads with an empty prefix: read it as the
        # 1.0.0 form (CIDv0, sha2-256). Not a guess that can deliver wrong data: the
        # hash names the block, and only a wanted name is delivered.
        prefix = None
    return block_cid(prefix, data)


def name_blocks(blocks: Sequence[tuple[Any, Any]], max_block_size: int | None = None,
                ) -> list[bytes | CIDError | None]:
    """The CID of each received ``(prefix, data)`` block, computed by hashing its data (the
    verification), or the CIDError that refuses it; None for a block over *max_block_size*
    (not hashed: the engine refuses it by size). Pure and thread-safe, so a driver can run it
    in a worker thread (hashlib releases the GIL on large inputs) and pass the result to
    :meth:`ClientEngine.receive_message` as ``names``."""
    out: list[bytes | CIDError | None] = []
    for prefix, data in blocks:
        if max_block_size is not None and len(data) > max_block_size:
            out.append(None)
            continue
        try:
            out.append(name_block(prefix, data))
        except CIDError as e:  # includes UnsupportedHashError
            out.append(e)
    return out
