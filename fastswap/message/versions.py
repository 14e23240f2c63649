"""The Bitswap protocol versions and what each can carry: the one table every layer reads.

Spec: ipfs/specs bitswap-protocol, "Protocol format" and the wire format of each version:

=================== ================================ =====================================
protocol id         blocks                           want-have, sendDontHave, HAVE /
                                                     DONT_HAVE presences, pendingBytes
=================== ================================ =====================================
/ipfs/bitswap       field 2: bare data, CIDv0 only   no
/ipfs/bitswap/1.0.0 field 2: bare data, CIDv0 only   no
/ipfs/bitswap/1.1.0 payload: CID prefix + data       no
/ipfs/bitswap/1.2.0 payload: CID prefix + data       yes
=================== ================================ =====================================

Two properties, two names, so "legacy" never has to mean one set here and another there:
``prefixed_blocks`` (the block carries its CID prefix, so any CID can travel) and ``presences``
(the 1.2.0 extensions: without them a peer knows only want-block and answers only with blocks).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BITSWAP_1_0_0",
    "BITSWAP_1_1_0",
    "BITSWAP_1_2_0",
    "BITSWAP_BARE",
    "BITSWAP_PROTOCOLS",
    "VERSIONS",
    "BitswapVersion",
    "version_of",
]

BITSWAP_1_2_0 = "/ipfs/bitswap/1.2.0"
BITSWAP_1_1_0 = "/ipfs/bitswap/1.1.0"
BITSWAP_1_0_0 = "/ipfs/bitswap/1.0.0"
#: the pre-versioning id; speaks 1.0.0's message format
BITSWAP_BARE = "/ipfs/bitswap"


@dataclass(frozen=True, slots=True)
class BitswapVersion:
    """What one protocol id can carry."""

    protocol_id: str
    #: blocks travel as ``payload{prefix, data}`` (1.1.0+): any CID. Otherwise as bare data in
    #: field 2, which the receiver can only name as CIDv0 (sha2-256 dag-pb).
    prefixed_blocks: bool
    #: want-have, sendDontHave, HAVE/DONT_HAVE and pendingBytes (1.2.0)
    presences: bool
    #: newer versions rank higher; two peers speak the highest version both know
    rank: int


#: every version, in order of preference (newest first)
VERSIONS: dict[str, BitswapVersion] = {
    v.protocol_id: v
    for v in (
        BitswapVersion(BITSWAP_1_2_0, prefixed_blocks=True, presences=True, rank=3),
        BitswapVersion(BITSWAP_1_1_0, prefixed_blocks=True, presences=False, rank=2),
        BitswapVersion(BITSWAP_1_0_0, prefixed_blocks=False, presences=False, rank=1),
        BitswapVersion(BITSWAP_BARE, prefixed_blocks=False, presences=False, rank=0),
    )
}
#: the protocol ids in order of preference (what a node proposes and registers by default)
BITSWAP_PROTOCOLS: tuple[str, ...] = tuple(VERSIONS)


def version_of(protocol_id: str) -> BitswapVersion:
    """The table row of *protocol_id*; ValueError naming the known ids for anything else."""
    v = VERSIONS.get(protocol_id)
    if v is None:
        raise ValueError(
            f"unknown Bitswap protocol {protocol_id!r}; known: {', '.join(BITSWAP_PROTOCOLS)}"
        )
    return v
