"""Every error fastswap raises on purpose, in one place both twins import (msgpack style)."""

from __future__ import annotations

__all__ = [
    "FastswapError",
    "ExtensionMissingError",
    "ExtensionMissingWarning",
    "CIDError",
    "UnsupportedHashError",
    "BadBlockError",
    "MessageError",
    "MessageTooLargeError",
    "BlockTooLargeError",
    "CIDTooLongError",
    "TruncatedMessageError",
    "MalformedMessageError",
    "BlockstoreError",
    "BlockNotFoundError",
    "DagError",
    "CarError",
]


class FastswapError(Exception):
    """Base class of every fastswap error."""


class ExtensionMissingError(FastswapError, ImportError):
    """A compiled twin did not load and FASTSWAP_REQUIRE_EXTENSIONS=1 was set."""


class ExtensionMissingWarning(RuntimeWarning):
    """A compiled twin did not load; the pure-Python twin stands in (slower)."""


# -- CIDs and blocks -------------------------------------------------------------------------


class CIDError(FastswapError, ValueError):
    """Bytes or text that are not a valid CID (or block prefix)."""


class UnsupportedHashError(CIDError):
    """A multihash function fastswap cannot compute, so a block using it cannot be verified."""


class BadBlockError(FastswapError, ValueError):
    """A block whose data does not hash to its CID."""


# -- wire messages ---------------------------------------------------------------------------


class MessageError(FastswapError, ValueError):
    """A Bitswap message that cannot be accepted. The stream carrying it should be closed."""


class MessageTooLargeError(MessageError):
    """A message (or its length prefix) over the message size limit."""


class BlockTooLargeError(MessageError):
    """A block in a message over the block size limit."""


class CIDTooLongError(MessageError):
    """A CID in a message over the CID length limit."""


class TruncatedMessageError(MessageError):
    """Input ends in the middle of a field or a length-prefixed frame."""


class MalformedMessageError(MessageError):
    """Input that is not a valid Bitswap protobuf message (bad wire type, varint, field...)."""


# -- storage and DAGs ------------------------------------------------------------------------


class BlockstoreError(FastswapError):
    """The blockstore could not complete an operation."""


class BlockNotFoundError(BlockstoreError, KeyError):
    """The block is not in the blockstore."""

    def __str__(self) -> str:  # KeyError quotes its argument; say it plainly
        return str(self.args[0]) if self.args else "block not found"


class DagError(FastswapError, ValueError):
    """A DAG node that cannot be decoded or walked (bad dag-pb, bad UnixFS, missing link)."""


class CarError(FastswapError, ValueError):
    """A CAR file that cannot be read (bad header, truncated section, bad CID)."""
