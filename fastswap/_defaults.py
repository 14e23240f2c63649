"""Every tunable in one place, each with the boxo default it descends from and why ours differs.

Units are bytes unless the name says otherwise.
"""

from __future__ import annotations

# -- wire limits (ipfs/specs bitswap-protocol; boxo bitswap/network) ---------------------------

#: Largest Bitswap message accepted or sent. boxo: network.maxMessageSize = 4 MiB; Helia: 4 MiB.
MAX_MESSAGE_SIZE = 4 * 1024 * 1024
#: Largest block accepted in a message. The spec and boxo use 2 MiB (the libp2p "max block"
#: convention); a block larger than this is refused, not truncated.
MAX_BLOCK_SIZE = 2 * 1024 * 1024
#: Longest CID accepted. 168 bytes as in boxo's server (MaxCidSize): enough for a 128-byte digest
#: with its prefix, small enough that wantlist floods cannot smuggle large keys.
MAX_CID_SIZE = 168
#: Entries in one message's wantlist: bounded by MAX_MESSAGE_SIZE anyway (each entry costs at
#: least ~38 bytes); the per-peer wantlist cap lives with the server.
MAX_VARINT_BYTES = 10

# -- blocks and DAGs ---------------------------------------------------------------------------

#: Kubo's `ipfs add` and Helia's importer both chunk at 256 KiB by default.
DEFAULT_CHUNK_SIZE = 256 * 1024
#: Kubo's balanced layout puts 174 links in a node (go-unixfs helpers.DefaultLinksPerBlock);
#: Helia's importer uses 1024.
KUBO_MAX_CHILDREN = 174
HELIA_MAX_CHILDREN = 1024

# -- LMDB blockstore ---------------------------------------------------------------------------

#: Initial map size. LMDB maps are sparse files, so this costs address space, not disk; the map
#: doubles when full (up to LMDB_MAX_MAP_SIZE) instead of failing with MapFullError.
LMDB_INITIAL_MAP_SIZE = 1 << 30
LMDB_MAX_MAP_SIZE = 1 << 40
#: put_many commits every this many bytes so one huge import does not hold one giant txn.
LMDB_BATCH_BYTES = 64 * 1024 * 1024
