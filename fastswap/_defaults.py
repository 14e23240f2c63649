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
#: ...but @helia/unixfs 8 (addBytes/addFile defaults) chunks at 1 MiB, not the importer's 256 KiB.
HELIA_CHUNK_SIZE = 1024 * 1024
#: Largest chunk the importer accepts: Kubo's limit (its chunker refuses more than 1 MiB).
MAX_CHUNK_SIZE = 1024 * 1024
#: Most links per importer node: keeps an internal node (~60 bytes per child) far below
#: MAX_BLOCK_SIZE so every block can travel over Bitswap.
MAX_LINKS_PER_NODE = 8192
#: The importer hashes and stores leaves in batches of about this many bytes (bounded memory:
#: a few batches are in flight at once).
DAG_IMPORT_BATCH_BYTES = 4 * 1024 * 1024
#: The exporter and DAG walkers refuse deeper DAGs (a balanced file DAG of 174 links is 5 deep at
#: 1 PiB; a cycle-free but absurdly deep DAG is an attack on the walker's stack).
MAX_DAG_DEPTH = 128
#: A CAR header (dag-cbor {roots, version}) larger than this is refused (~25k roots).
MAX_CAR_HEADER_SIZE = 1024 * 1024

# -- LMDB blockstore ---------------------------------------------------------------------------

#: Initial map size. LMDB maps are sparse files, so this costs address space, not disk; the map
#: doubles when full (up to LMDB_MAX_MAP_SIZE) instead of failing with MapFullError.
LMDB_INITIAL_MAP_SIZE = 1 << 30
LMDB_MAX_MAP_SIZE = 1 << 40
#: Commits fsync (LMDB sync=True) only when asked: a commit that returned survives SIGKILL of the
#: process either way (its pages are in the OS page cache); fsync buys power-loss durability.
LMDB_SYNC = False
#: put_many commits every this many bytes so one huge import does not hold one giant txn.
LMDB_BATCH_BYTES = 64 * 1024 * 1024
#: Without fsync, a batch also commits once it holds this many bytes of values too large for a
#: B-tree page (> 2 KiB): LMDB mallocs those per txn and frees them at commit, and glibc hands a
#: freed multi-MiB txn back to the OS, so the next txn page-faults every page in again (measured:
#: 64 x 256 KiB in one txn ~4100 minor faults and ~5x the time of one txn per block). Small
#: values live in pages LMDB recycles itself, so they keep batching up to LMDB_BATCH_BYTES.
LMDB_NOSYNC_LARGE_BATCH_BYTES = 256 * 1024
#: Reader slots (LMDB's default, 126): one per concurrent read txn of every process on the env.
LMDB_MAX_READERS = 126
#: Reset read txns kept for reuse: renewing one skips taking a reader slot (py-lmdb caches them).
LMDB_MAX_SPARE_TXNS = 8
#: How long a map resize (or close) waits for open views to end before it gives up with an error
#: instead of deadlocking (a view held across an await that waits for the writer, for instance).
LMDB_RESIZE_TIMEOUT_SECONDS = 30.0
#: Reader threads of AsyncBlockstore: one per core here; LMDB reads release the GIL.
ASYNC_BLOCKSTORE_READERS = 2

# -- libp2p host (fastswap/net/host.py) --------------------------------------------------------

#: Seconds for TCP connect + Noise + muxer negotiation (go-libp2p: 15 s for the upgrade alone).
CONNECT_TIMEOUT_SECONDS = 15.0
#: Open connections (inbound + outbound) a host accepts before refusing new ones.
MAX_CONNECTIONS = 1024
#: Streams per connection; an inbound stream past this is reset (go-yamux's default is 1000s;
#: boxo opens one or two per peer, Helia one per message, so 1024 leaves ample room).
MAX_STREAMS_PER_CONNECTION = 1024
#: Received-but-unread bytes per stream: the largest yamux window we grant (go-yamux's default
#: max window is 16 MiB), and the explicit bound for mplex, which has no windows.
MAX_BUFFERED_PER_STREAM = 16 * 1024 * 1024
#: Seconds an inbound stream may take to agree on a protocol before it is reset.
STREAM_NEGOTIATION_TIMEOUT_SECONDS = 10.0
#: Bytes queued in a connection's transport before writers are paused (asyncio write buffer
#: high-water mark); large enough to keep a fast socket fed, small enough to bound memory.
TRANSPORT_WRITE_HIGH_WATER = 1024 * 1024
#: Bytes a stream hands to the muxer per loop iteration, so one bulk writer cannot monopolize a
#: connection's flush (and mplex, which has no window, cannot flood the transport buffer).
STREAM_WRITE_CHUNK = 1024 * 1024
#: Largest identify message accepted (go-libp2p: 8 KiB signed, but protocol lists grow).
MAX_IDENTIFY_MESSAGE = 64 * 1024
#: Seconds to wait for a peer's identify answer.
IDENTIFY_TIMEOUT_SECONDS = 15.0
