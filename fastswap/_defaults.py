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
#: 1 MiB (four 256 KiB blocks, one server response) stays below glibc's trimming and saves a
#: commit's fixed cost per block: 64 MiB of 256 KiB blocks, put_many of 4, best of 5, took
#: 26 ms with one commit per block, 20 ms per 1 MiB or 4 MiB, 31 ms per 16 MiB.
LMDB_NOSYNC_LARGE_BATCH_BYTES = 1024 * 1024
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

# -- server (fastswap/server: decision engine and peer task queue; boxo bitswap/server) ---------

#: Block bytes packed into one response (boxo's engine targets 16 KiB per message; we pack up
#: to 1 MiB: fewer, larger messages cost fewer writes and Noise frames per byte, and the 4 MiB
#: message limit still leaves room for one maximal block beyond it).
SERVER_TARGET_MESSAGE_BYTES = 1024 * 1024
#: Wantlist entries kept per peer (boxo: MaxQueuedWantlistEntriesPerPeer = 1024). When full, a
#: new want of higher priority evicts the lowest-priority entry; otherwise it is dropped.
SERVER_MAX_WANTLIST_ENTRIES_PER_PEER = 1024
#: Wantlist entries kept across all peers (boxo has no such budget: its memory grows with the
#: number of peers times 1024). When it is full, a new entry is taken from the peer holding the
#: most entries, never refused because others filled it (server/engine.py, "Budgets").
SERVER_MAX_TOTAL_WANTLIST_ENTRIES = 256 * 1024
#: Wantlist entries every peer may hold whatever the others hold, even past the total budget:
#: the total over MAX_CONNECTIONS peers (1024 x 256 = the total), so the reserve is a promise
#: the connection limit keeps. An honest fetcher holds a few hundred entries at a seeder.
SERVER_RESERVED_WANTLIST_ENTRIES_PER_PEER = 256
#: Block bytes queued for sending across all peers (accounting, not memory: the data stays in
#: the store). A push past it levels the peers' queues to a common level instead of refusing
#: (server/_taskqueue_py.py, "Limits"); boxo has no byte budget (its queue is as deep as the
#: wantlist).
SERVER_MAX_TOTAL_QUEUED_BYTES = 1024 * 1024 * 1024
#: Queued block bytes every peer may hold whatever the others hold: four 1 MiB responses, so a
#: peer that reads keeps its pipe full (one response written, one built, two waiting) while
#: 1,000 peers that never read hold the rest of the budget.
SERVER_RESERVED_QUEUED_BYTES_PER_PEER = 4 * 1024 * 1024
#: Response bytes handed to a peer's driver and not yet reported sent (boxo:
#: MaxOutstandingBytesPerPeer = 1 MiB). Two full responses: one being written while the next is
#: built keeps the pipe full; a greedy peer cannot take more of the server than this at a time.
SERVER_MAX_INFLIGHT_BYTES_PER_PEER = 2 * 1024 * 1024
#: A want-have for a block at most this large is answered with the block itself (boxo:
#: maxBlockSizeReplacesHasWithBlock = 1024): a HAVE would cost a round trip for little saving.
SERVER_MAX_REPLACE_HAVE_WITH_BLOCK = 1024
#: Fairness memory: bytes recently served to a peer count half as much after the server as a
#: whole has sent this many more bytes (clock-free decay; the engine is sans-IO).
SERVER_SERVED_HALF_LIFE_BYTES = 16 * 1024 * 1024
#: Ledgers (byte/block counters) of disconnected peers kept for ledger()/stats(), oldest dropped.
SERVER_RETAINED_LEDGERS = 1024

# -- peer scores (fastswap/core.py, "Peer scores"; no boxo equivalent: it keeps no score) -----

#: Penalty points at which a peer is disconnected and refused. With the weights below: 100 MiB
#: of blocks we did not ask for or want, 10 blocks that cannot be verified, or 5 malformed
#: messages or frames, net of recovery. An honest server's late blocks after our cancels (its
#: in-flight responses, 1-2 MiB in boxo and here) stay far below it.
PEER_SCORE_BAN_THRESHOLD = 100.0
#: Points a penalty falls back per second (so a peer's old mistakes are forgiven).
PEER_SCORE_RECOVERY_PER_SECOND = 1.0
#: Points per MiB of blocks nobody asked for or wanted...
PEER_SCORE_UNWANTED_POINTS_PER_MIB = 1.0
#: ...and at least this many per such block (a flood of tiny blocks costs per block).
PEER_SCORE_MIN_BLOCK_POINTS = 1.0 / 256
#: Points for a block that cannot be verified (malformed prefix, unsupported hash, too large).
PEER_SCORE_BAD_BLOCK = 10.0
#: Points for a message an engine refused, or a malformed or oversized frame.
PEER_SCORE_BAD_MESSAGE = 20.0
#: Seconds a peer is refused once its score fell below the threshold (go-libp2p's connection
#: gater leaves the duration to the application; GossipSub forgets scores after ~1 min). Ten
#: minutes: long enough that a flooder's reconnects cost it, short enough for a peer that was
#: merely broken.
PEER_BAN_SECONDS = 600.0
#: Refused peers remembered at once (the oldest refusal is forgotten first): bounded memory
#: against identities made by the thousand.
PEER_BAN_MAX_PEERS = 4096
#: Penalty records kept at once (recovered ones are forgotten first).
PEER_SCORE_MAX_RECORDS = 4096

# -- node (fastswap/node.py: the asyncio driver) -----------------------------------------------

#: Blocks a get_blocks() call keeps wanted or received-but-not-yet-consumed: a slow consumer
#: stops new wants instead of buffering a whole DAG in memory (backpressure to the peers).
NODE_GET_BLOCKS_WINDOW = 512
#: CIDs fetch_dag() keeps wanted at once: enough that every peer's live-want queue stays full
#: (the client engine spreads them), bounded so a huge DAG does not flood the wantlist.
NODE_FETCH_DAG_WANTS = 1024
#: Received block bytes handed to the store writer and not yet committed; past this the
#: Bitswap stream readers wait for the store (backpressure from disk to the network).
NODE_MAX_UNSTORED_BYTES = 16 * 1024 * 1024
#: A received message with at least this many block bytes is hashed (verified) in the node's
#: verifier thread while the loop reads on; smaller ones are cheaper to hash on the loop.
NODE_VERIFY_OFFLOAD_BYTES = 64 * 1024
#: Received messages one peer may have waiting in its inbox (fastswap/_receive.py) before its
#: stream readers wait (each up to 4 MiB); other peers' readers do not.
NODE_INBOX_MESSAGES = 4
#: ...or block bytes waiting in its inbox.
NODE_INBOX_BYTES = 16 * 1024 * 1024
#: Block bytes a peer's turn at the verifier thread is worth (deficit round robin): one 1 MiB
#: response of our server, or four 256 KiB blocks.
NODE_VERIFY_QUANTUM_BYTES = 1024 * 1024
#: Messages in the verifier thread's hands at once: the thread must never wait for the loop to
#: hand it the next one (with 2 the 256 MiB transfer lost throughput whenever the loop was busy
#: longer than one hash); a message of another peer waits behind at most these.
NODE_VERIFY_JOBS = 4

# -- client engine (fastswap/client/engine.py; boxo client/internal/session, messagequeue) -----

#: Live want-blocks a peer starts with (boxo has no per-peer limit: it sends a session's wants
#: to peers until its own "want potential" is spent); ours adapts per peer, see engine docstring.
CLIENT_INITIAL_QUEUE_LIMIT = 8
CLIENT_MIN_QUEUE_LIMIT = 1
CLIENT_MAX_QUEUE_LIMIT = 512
#: Outstanding data (reported pendingBytes + wants sent since the peer's last message) at or
#: below which a peer's queue limit grows (two 256 KiB chunks: "just above zero").
CLIENT_LOW_WATER_BYTES = 512 * 1024
#: ...and at or above which it shrinks (multiplicatively, at most once per round trip).
CLIENT_HIGH_WATER_BYTES = 8 * 1024 * 1024
#: Seconds without progress from a peer before a want-block sent to it is re-routed
#: (boxo: dontHaveTimeoutMgr, 5 s default ceiling for peers that never answer).
CLIENT_WANT_TIMEOUT_SECONDS = 5.0
#: Seconds between searches (FindProviders, re-asking peers that said DONT_HAVE) for a want
#: nobody has (boxo: session.periodicSearchDelay = 1 min; we are a fetcher, so sooner).
CLIENT_SEARCH_INTERVAL_SECONDS = 10.0
#: want-have entries piggybacked on each want-block sent to a peer (boxo sends want-have for
#: every other session want; bounded here so a 100k-want session cannot flood one message).
CLIENT_PIGGYBACK_MAX = 16
#: Most peers a want-block goes to at once (boxo's split factor, inverted).
CLIENT_MAX_FANOUT = 3
#: Recently received CIDs remembered to count duplicates.
CLIENT_RECENT_BLOCKS = 4096
#: CIDs we ask one peer about at once (want-have + want-block): boxo's server keeps at most
#: 1024 wantlist entries per peer (MaxQueuedWantlistEntriesPerPeer) and drops the rest.
CLIENT_MAX_PEER_WANTS = 1024

