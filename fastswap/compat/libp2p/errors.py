"""The errors of py-libp2p 0.8.1's ``libp2p.bitswap.errors``: same names, same hierarchy.

They also derive from :class:`fastswap.errors.FastswapError`, so ``except FastswapError`` catches
them too. ``TimeoutError`` shadows the builtin inside this module only, as in py-libp2p.
"""

from __future__ import annotations

from ...errors import FastswapError

__all__ = [
    "BitswapError",
    "BlockNotFoundError",
    "BlockTooLargeError",
    "BlockUnavailableError",
    "InvalidBlockError",
    "InvalidCIDError",
    "MessageTooLargeError",
    "TimeoutError",
]


class BitswapError(FastswapError):
    """Base class of the drop-in's Bitswap errors."""


class InvalidBlockError(BitswapError):
    """A block whose data does not match its CID, or is otherwise malformed."""


class BlockTooLargeError(BitswapError):
    """A block over ``config.MAX_BLOCK_SIZE`` (2 MiB): split the data into smaller blocks."""


class MessageTooLargeError(BitswapError):
    """A Bitswap message over ``config.MAX_MESSAGE_SIZE`` (4 MiB)."""


class TimeoutError(BitswapError):
    """The blocks did not arrive in time: connect to a peer that has them, or wait longer."""


class BlockNotFoundError(BitswapError):
    """A block is neither in the local store nor could it be fetched."""


class BlockUnavailableError(BitswapError):
    """Every connected peer said DONT_HAVE for the block: connect to a peer that has it."""


class InvalidCIDError(BitswapError):
    """Input that is not a CID."""
