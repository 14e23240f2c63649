"""``Message``: the Bitswap wire schema (ipfs/specs bitswap-protocol, 1.0.0-1.2.0), generated
from ``proto/fastswap/bitswap.proto``; field names and numbers are py-libp2p's."""

from ...._proto.bitswap_pb2 import Message

__all__ = ["Message"]
