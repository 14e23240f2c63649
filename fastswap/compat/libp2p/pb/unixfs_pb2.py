"""``Data``: the UnixFS schema (ipfs/specs UNIXFS.md), from ``proto/fastswap/unixfs.proto``."""

from ...._proto.unixfs_pb2 import Data

__all__ = ["Data"]
