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
#: A directory becomes a HAMT once the estimate of its node's size (the sum of each link's name
#: length plus its CID length) reaches this: boxo's io.HAMTShardingSize and Kubo 0.22's
#: Internal.UnixFSShardingSizeThreshold default, and ipfs-unixfs-importer's
#: shardSplitThresholdBytes ("links-bytes" strategy), which Helia 7 uses. Kubo shards at
#: estimate >= threshold, Helia at estimate > threshold (see fastswap.dag.importer).
HAMT_SHARD_THRESHOLD = 256 * 1024
#: Slots per HAMT node (boxo io.DefaultShardWidth; Helia's shardFanoutBits 8 = 256).
HAMT_FANOUT = 256
#: Widest HAMT node the exporter accepts: 1024 slots (boxo refuses wider shards since 0.13 for
#: the same reason: the bitfield and the link list grow with it); at least 2.
MAX_HAMT_FANOUT = 1024
#: `ipfs add --inline` puts blocks of at most this many bytes into identity CIDs (Kubo's
#: --inline-limit default, 32).
DEFAULT_INLINE_LIMIT = 32
#: Largest --inline-limit accepted: an identity CID carries the whole block, and CIDs over
#: MAX_CID_SIZE are refused here; newer boxo releases refuse identity digests over 128 bytes.
MAX_INLINE_LIMIT = 128
#: Trickle layout: subtrees of each depth added before the depth grows (boxo trickle
#: depthRepeat, ipfs-unixfs-importer layerRepeat: both 4).
TRICKLE_LAYER_REPEAT = 4
#: The streaming exporter (fastswap.dag.stream) keeps at most this many blocks requested or
#: received-but-unwritten ahead of the byte being written (no boxo equivalent: Kubo's exporter
#: fetches one block at a time behind a session's own want window). 256 keeps a wantlist of
#: small blocks full without flooding boxo's 1024-entry per-peer limit.
DAG_STREAM_WINDOW_BLOCKS = 256
#: ... and at most this many bytes of them (counted from each link's Tsize until the block
#: arrives, then from its length): memory stays flat whatever the file size. 32 MiB is 128
#: chunks of Kubo's 256 KiB or 32 of Helia's 1 MiB: several round trips of data in flight.
DAG_STREAM_WINDOW_BYTES = 32 * 1024 * 1024
#: glibc heap tuning of a `fastswap get`/`cat` process (fastswap.net.resources.keep_freed_heap):
#: free bytes at the top of a heap before glibc gives them back (its default: 128 KiB, rising
#: to twice the largest mmapped chunk freed), and the allocation size from which it maps fresh
#: memory instead of using the heap (default 128 KiB, rising to 32 MiB). Neither Kubo (Go's
#: allocator) nor Helia (V8) has these. A get allocates and frees one block-sized copy per
#: block: with the defaults many of them page-faulted in freshly zeroed memory (a get of
#: 256 MiB: ~45,000 page faults, against ~18,000 kept; ~0.05 s of CPU). The process is
#: short-lived and its peak (the fetch window) is bounded, so memory kept is not memory lost.
GET_MALLOC_TRIM_THRESHOLD = 256 * 1024 * 1024
GET_MALLOC_MMAP_THRESHOLD = 32 * 1024 * 1024
#: ... and of a program that runs the drop-in on fastswap's host (``fastswap.compat.libp2p.
#: new_host``; with one malloc arena from the drop-in's import, resources.one_malloc_arena).
#: py-libp2p programs make a host, store and client per task and drop them after: the next
#: task's blocks then reuse the last task's memory instead of page-faulting in fresh zeroed
#: pages (2,000 x 256 KiB a task, benchmarks/test_bench_pylibp2p_bitswap.py: ~130,000 faults and
#: 0.3-3.4 s of system time a task before, ~20 after). The threshold is past any sane task, so
#: glibc does not trim on its own; the host does (Host.trim_memory: malloc_trim once it is
#: quiet after a busy spell), like Node.
DROPIN_MALLOC_TRIM_THRESHOLD = 1024 * 1024 * 1024
DROPIN_MALLOC_MMAP_THRESHOLD = 32 * 1024 * 1024
#: Entries (files, directories, symlinks) one export walk visits before it stops with an error:
#: a small DAG can name the same subdirectory many times over (a "zip bomb" of shared subtrees);
#: Kubo and Helia have no such limit. Pass max_entries= to go further.
DAG_EXPORT_MAX_ENTRIES = 10_000_000

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
#: Established connections (inbound + outbound); past it a newcomer evicts the least useful
#: peer (see CONNMGR_*) or, if none may go, is refused. Handshaking sockets have their own budget.
MAX_CONNECTIONS = 1024
#: Streams per connection; an inbound stream past this is reset (go-yamux's default is 1000s;
#: boxo opens one or two per peer, Helia one per message, so 1024 leaves ample room).
MAX_STREAMS_PER_CONNECTION = 1024
#: Received-but-unread bytes per stream: the largest yamux window we grant (go-yamux's default
#: max window is 16 MiB), and the explicit bound for mplex, which has no windows.
MAX_BUFFERED_PER_STREAM = 16 * 1024 * 1024
#: Inbound connections still handshaking (TCP accepted, Noise/muxer not done), all addresses
#: together (go-libp2p's resource manager: transient scope, 64 inbound conns by default). When
#: full, the oldest handshake that has run at least INBOUND_HANDSHAKE_EVICT_AGE_SECONDS is
#: dropped for the newcomer (instead of refusing it: a honest handshake takes milliseconds,
#: a silent socket never finishes).
MAX_HANDSHAKING_INBOUND = 256
#: ...and from one IP address (go-libp2p's conn limiter: 8 concurrent conns per IPv4 /32 and
#: IPv6 /56, loopback unlimited; ours counts only sockets still handshaking, and loopback is not
#: exempt because the abuse tests attack from other 127.0.0.0/8 addresses).
MAX_HANDSHAKING_PER_IP = 16
#: Seconds an inbound connection gets for Noise + muxer negotiation (go-libp2p: 15 s accept
#: timeout). A peer that means to talk finishes in milliseconds; a silent socket holds a slot
#: for at most this long.
INBOUND_HANDSHAKE_TIMEOUT_SECONDS = 5.0
INBOUND_HANDSHAKE_EVICT_AGE_SECONDS = 0.5
#: Connections of one peer id at once (go-libp2p resource manager: peer scope, 8 conns).
MAX_CONNECTIONS_PER_PEER = 8
#: Connection manager (go-libp2p p2p/net/connmgr; Kubo's defaults are low 32, high 96, grace
#: 20 s for a desktop node). A seeder serves many peers: above the high water mark, peers are
#: trimmed down to the low one, least valuable first (tag values, then no streams, then
#: inbound), never protected ones nor those younger than the grace period.
CONNMGR_LOW_WATER = 768
CONNMGR_HIGH_WATER = 960
CONNMGR_GRACE_SECONDS = 20.0
#: Seconds between trims (go-libp2p's silence period: 10 s).
CONNMGR_SILENCE_SECONDS = 10.0
#: When every established slot (MAX_CONNECTIONS) is taken, a newcomer evicts the least useful
#: unprotected, not-in-use peer connected at least this long (go-libp2p's emergency trim ignores
#: the grace period entirely; a short floor keeps a burst of newcomers from evicting each other).
CONNMGR_EMERGENCY_MIN_AGE_SECONDS = 2.0
#: An established connection with no stream data either way for this long, whose peer is
#: neither protected nor marked in use, is closed (go-libp2p has no such timer and leaves it to
#: the connection manager; an idle peer still costs a slot and its buffers).
CONNECTION_IDLE_TIMEOUT_SECONDS = 120.0
#: Inbound streams a peer may open: a token bucket per connection and one per peer (rate per
#: second, burst). go-yamux bounds only concurrent streams (1000), not churn. Over it: the
#: connection closes and the peer is banned for STREAM_CHURN_BAN_SECONDS. A stream whose
#: message answers what we asked the peer (blocks, presences) is refunded: Kubo and Helia
#: answer on a stream per message, and a 2,000-file directory fetched from Kubo opened
#: thousands a second (banned before the refund, 0.6-0.7 s now; Kubo -> Kubo takes 5.8 s).
STREAM_OPEN_RATE_PER_CONNECTION = 256.0
STREAM_OPEN_BURST_PER_CONNECTION = 1024
STREAM_OPEN_RATE_PER_PEER = 512.0
STREAM_OPEN_BURST_PER_PEER = 2048
STREAM_CHURN_BAN_SECONDS = 60.0
#: Frames that only cost us (yamux pings, data for streams that are gone) a connection may send:
#: rate per second and burst. go-yamux answers every ping (up to 32 queued pongs) and drains data
#: for unknown streams without limit; over this budget we close and ban instead.
JUNK_FRAME_RATE_PER_CONNECTION = 200.0
JUNK_FRAME_BURST_PER_CONNECTION = 2000
FLOOD_BAN_SECONDS = 60.0
#: Replies a peer can force (pongs, RSTs refusing streams past the limit) queued in a muxer
#: session and not yet written; more are dropped (go-yamux: PingBacklog = 32 pongs).
MUXER_MAX_PENDING_REPLIES = 32
#: Bytes queued in a connection's transport above which its muxer frames stay in the muxer
#: (bounded there) and reading from the connection pauses until the transport drains below
#: its low-water mark (TRANSPORT_WRITE_HIGH_WATER / 4). Our own pumps stop at
#: TRANSPORT_WRITE_HIGH_WATER, so only replies a peer forces can push the backlog this far.
WRITE_BACKLOG_PAUSE_READING = 4 * 1024 * 1024
#: Seconds a connection's transport may stay above its high-water mark without draining below
#: the low mark before the connection is closed (go-yamux: ConnectionWriteTimeout = 10 s per
#: write; ours is per backlog, so a slow but moving reader is not cut).
WRITE_STALL_TIMEOUT_SECONDS = 30.0
#: Peer penalty scores (go-libp2p-pubsub's peer score decays the same way): a score halves every
#: PEER_SCORE_HALF_LIFE_SECONDS; at PEER_BAN_SCORE the peer is banned for PEER_BAN_SECONDS.
PEER_SCORE_HALF_LIFE_SECONDS = 60.0
PEER_BAN_SCORE = 100.0
PEER_BAN_SECONDS = 300.0
#: Penalty weights for protocol errors the network layer sees: a malformed muxer frame or
#: Bitswap message (boxo closes the connection of such a peer), an unfinished message that broke
#: its budget or time limit.
PENALTY_MALFORMED = 50.0
PENALTY_PARTIAL_FRAME = 25.0
#: Peers remembered (scores, bans): the oldest entries go first past it.
MAX_TRACKED_PEERS = 8192
#: Bytes of unfinished Bitswap messages (received, not yet complete) held per connection and per
#: peer; the stream that pushes past it is reset and the peer penalised. boxo has no such bound
#: (its msgio reader allocates the whole declared length up front). Honest peers hold several:
#: Kubo 0.22 over 1.0.0/1.1.0 sends each message on a stream of its own, many at once, and held
#: 11.5 MB (a 64 MiB fetch) to 22 MB (16 MiB, a loaded machine) of partial messages on one
#: connection here; an 8 MiB budget banned it. 64 MiB is about three times the most seen, and
#: still bounds a peer's hoard (the issue's attack held 800 MB).
MAX_PARTIAL_MESSAGE_BYTES_PER_CONNECTION = 64 * 1024 * 1024
MAX_PARTIAL_MESSAGE_BYTES_PER_PEER = 128 * 1024 * 1024
#: Bytes of Bitswap message buffers the readers of one connection may allocate as soon as a
#: message's length prefix arrives, so that its bytes are copied once, straight into place
#: (``Stream.frame``); past it a message is collected as pieces and joined (two copies). The
#: allocation is uninitialised: what is resident is what arrived, which the budgets above
#: bound; this bounds the address space a peer's announced lengths can claim.
MAX_RESERVED_MESSAGE_BYTES_PER_CONNECTION = 16 * 1024 * 1024
#: Seconds a Bitswap message may take from its first byte to its last (a 4 MiB message at 1 MB/s
#: takes 4 s).
PARTIAL_MESSAGE_TIMEOUT_SECONDS = 30.0
#: Per-peer WARNING lines of one kind logged at most once per this many seconds; the next line
#: says how many were suppressed.
LOG_RATE_LIMIT_SECONDS = 10.0
#: ``fastswap seed`` logs connects and disconnects at INFO, at most one line of each a second
#: (the next one counts those left out). go-libp2p's swarm logs them only at debug and Kubo's
#: daemon not at all; an operator asked to see them, at a rate a terminal can take whatever the
#: churn of a busy seeder.
CONNECTION_LOG_INTERVAL_SECONDS = 1.0
#: Seconds between the host's housekeeping passes (idle and stall timeouts, trimming, releasing
#: idle connections' buffers).
HOST_MAINTENANCE_INTERVAL_SECONDS = 1.0
#: Receive buffers (Noise, per read) kept in a host's pool for reuse, and the size of each: a
#: connection holds one only while it reads; an idle connection holds none.
RECV_BUFFER_POOL_SIZE = 32
RECV_BUFFER_SIZE = 256 * 1024
#: Encrypt buffers for large writes kept for reuse (each STREAM_WRITE_CHUNK + Noise overhead).
SEND_BUFFER_POOL_SIZE = 8
#: After a busy spell (at least this many bytes moved since the last trim), when the host has
#: been quiet for a maintenance pass, ask glibc to return freed heap memory to the OS
#: (malloc_trim): large response frames raise glibc's dynamic mmap threshold, after which freed
#: multi-MiB buffers stay in the heap.
HEAP_TRIM_AFTER_BYTES = 64 * 1024 * 1024
#: ...or after this many connections were accepted or closed (handshakes churn small buffers; a
#: crowd of peers that leaves frees its wantlists and buffers).
HEAP_TRIM_AFTER_CONNECTIONS = 256
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
#: Identify results kept for peers no longer connected (the most recent leavers; connected peers'
#: are always kept). go-libp2p keeps addresses for TTLs (an hour for a disconnected peer's); we
#: bound the count, so a stream of new identities cannot grow the peerstore.
PEERSTORE_MAX_DISCONNECTED = 1024
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
#: most entries, never refused because others filled it (server/engine.py, "Budgets"). An entry
#: costs ~450 bytes of small objects, and what a crowd of peers filled stays fragmented after
#: it left (pymalloc frees an arena only when nothing in it lives): 300 identities x 1,024
#: want-haves for blocks we lack took a seeder from 25 to 141 MB (256k entries), and it kept
#: 112 MB once they left; with 64k: 109 MB, then 82 (scratch run of benchmarks/_attack_peer.py
#: sybil-wants against benchmarks/_transfer_peer.py, RssAnon). 64k entries still give 64
#: honest peers a full wantlist each, and any number of peers an equal share.
SERVER_MAX_TOTAL_WANTLIST_ENTRIES = 64 * 1024
#: Wantlist entries every peer may hold whatever the others hold, even past the total budget:
#: the total over MAX_CONNECTIONS peers (1024 x 64 = the total), so the reserve is a promise
#: the connection limit keeps. Past it a peer still gets an equal share of the total (64k over
#: 300 peers: ~218 each); 64 wants of 256 KiB blocks keep 16 MiB in flight to one peer.
SERVER_RESERVED_WANTLIST_ENTRIES_PER_PEER = 64
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
#: Upper bounds (seconds) of the task-wait histogram (a want's arrival at the server engine to
#: its response sent; ``fastswap_task_wait_seconds``). prometheus_client's default buckets run
#: from 5 ms to 10 s; on loopback and LAN most answers go out in well under a millisecond, so
#: ours start at 100 us, and reach 60 s for a seeder whose uplink is the queue. boxo exports no
#: such histogram (its engine has a "sendTimeHistogram" of the send alone).
SERVER_TASK_WAIT_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                            0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

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
#: merely broken. (The host's own bans, for protocol errors below Bitswap, last PEER_BAN_SECONDS.)
PEER_SCORE_BAN_SECONDS = 600.0
#: Refused peers remembered at once (the oldest refusal is forgotten first): bounded memory
#: against identities made by the thousand.
PEER_SCORE_MAX_BANNED = 4096
#: Penalty records kept at once (recovered ones are forgotten first).
PEER_SCORE_MAX_RECORDS = 4096

# -- node (fastswap/node.py: the asyncio driver) -----------------------------------------------

#: Seconds between the node's maintenance passes: sampling transfer rates, telling the connection
#: manager which peers Bitswap exchanges with (well under the host's idle timeout).
NODE_MAINTENANCE_SECONDS = 5.0
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
#: Seconds from a want's first search (FindProviders, at once when every peer said no) to its
#: second (re-asking peers that said DONT_HAVE, FindProviders again); each later interval
#: doubles, up to CLIENT_MAX_SEARCH_INTERVAL_SECONDS. boxo searches a session's wants once a
#: minute (session.periodicSearchDelay) whatever the answers; we are a fetcher, so the first
#: re-search comes sooner, and the doubling keeps a want nobody has from costing its peers a
#: round trip per interval forever (issue 8: re-asking at once after every DONT_HAVE cost
#: ~10,000 round trips in 8 s against Kubo).
CLIENT_SEARCH_INTERVAL_SECONDS = 10.0
#: Re-sending dropped want-blocks. A server may drop a want silently (boxo past 1,024 entries
#: per peer; ours when its wantlist budget is shared among a crowd: 1,000 identities that want
#: every block left an honest peer ~65 entries), and then nothing tells us: the want waited out
#: CLIENT_WANT_TIMEOUT_SECONDS and a search interval, 15 s, for one dropped block. A peer that
#: reports pendingBytes says when its queue for us is empty; if it then stays quiet for
#: CLIENT_RESEND_QUIET_RTTS smoothed round trips (at least CLIENT_RESEND_MIN_QUIET_SECONDS)
#: while want-blocks we sent it a round trip or more before that report are unanswered, it
#: dropped them: they are sent to it again. Any message from it calls the wait off (a block
#: still on its way is a message), so a wrong guess costs one duplicate entry, which a server
#: merges. Each re-send that brings no block doubles the quiet needed, up to
#: CLIENT_WANT_TIMEOUT_SECONDS (boxo re-sends its whole wantlist every 30 s instead).
CLIENT_RESEND_QUIET_RTTS = 2
CLIENT_RESEND_MIN_QUIET_SECONDS = 0.05
#: The longest interval between two searches for one want (boxo's periodicSearchDelay).
CLIENT_MAX_SEARCH_INTERVAL_SECONDS = 60.0
#: Seconds a want may stay with nobody to ask (every peer said DONT_HAVE, did not answer, sent
#: bad data or went away, and neither routing nor a new peer brought one that says HAVE) before
#: it fails with BlockUnavailableError. boxo has no such bound (the caller's context decides);
#: a fetcher pointed at a few peers is better told within seconds that none has the block than
#: after its whole timeout. 20 s leaves room for the first re-search at 10 s; None disables it.
CLIENT_GIVE_UP_SECONDS = 20.0
#: want-have entries piggybacked on each want-block sent to a peer (boxo sends want-have for
#: every other session want; bounded here so a 100k-want session cannot flood one message).
CLIENT_PIGGYBACK_MAX = 16
#: Most peers a want-block goes to at once (boxo's split factor, inverted).
CLIENT_MAX_FANOUT = 3
#: Recently received CIDs remembered to count duplicates.
CLIENT_RECENT_BLOCKS = 4096
#: CIDs whose asks ended recently (block received elsewhere, cancel, session closed): a block
#: for one is late, not unsolicited. A block a peer sends that names neither a wanted CID nor
#: one of these was never asked of anyone -- tampered data hashes to such a name -- and the
#: peer is disconnected. Twice the most a peer may be asked about at once (its blocks in flight
#: when the cancels went out are at most that).
CLIENT_LAPSED_WANTS = 2 * 1024
#: Peers remembered as having sent bad data (never asked again, not redialled for routing).
CLIENT_BAD_PEERS = 1024
#: CIDs we ask one peer about at once (want-have + want-block): boxo's server keeps at most
#: 1024 wantlist entries per peer (MaxQueuedWantlistEntriesPerPeer) and drops the rest.
CLIENT_MAX_PEER_WANTS = 1024


# -- content routing (fastswap/routing; libp2p/specs kad-dht, go-libp2p-kad-dht 0.24 in Kubo 0.22)

#: Replication parameter and bucket size (spec and go-libp2p-kad-dht: k = 20).
KAD_K = 20
#: Lookup concurrency: RPCs in flight per lookup (spec: alpha = 3; go-libp2p-kad-dht uses 10).
#: 3 as the spec says: on a small network more concurrency only asks the same peers sooner.
KAD_ALPHA = 3
#: Seconds one DHT RPC may take, dial and stream negotiation included (go-libp2p-kad-dht bounds
#: only the whole query; a per-RPC bound keeps one silent peer from holding a lookup slot).
KAD_RPC_TIMEOUT_SECONDS = 10.0
#: Seconds one lookup may take before it returns what it has (spec: QueryTimeout 10 s for the
#: bootstrap walk; go-libp2p-kad-dht has none for FindProviders beyond the caller's context).
KAD_QUERY_TIMEOUT_SECONDS = 30.0
#: Candidates a lookup keeps (the closest ones): bounds what peers' answers can make it hold.
KAD_LOOKUP_MAX_CANDIDATES = 8 * KAD_K
#: How long a provider record is valid (go-libp2p-kad-dht amino.DefaultProvideValidity = 48 h;
#: the spec's 24 h is older).
KAD_PROVIDER_TTL_SECONDS = 48 * 3600.0
#: How often a provider re-announces (amino.DefaultReprovideInterval = 22 h): well before the
#: 48 h expiry, so one failed round does not make content vanish.
KAD_REPROVIDE_INTERVAL_SECONDS = 22 * 3600.0
#: Seconds between routing-table refreshes (a lookup of our own id and of a random key per
#: empty-ish bucket depth; go-libp2p-kad-dht: 10 min, the spec's bootstrap period: 5 min).
KAD_REFRESH_INTERVAL_SECONDS = 600.0
#: Seconds between sweeps of expired provider records (spec: "e.g. every hour"; go: 1 h).
KAD_PROVIDER_GC_INTERVAL_SECONDS = 3600.0
#: Consecutive failed RPCs after which a peer leaves the routing table (go evicts on the first
#: failed dial of a lookup; one more try forgives a transient timeout).
KAD_MAX_RPC_FAILURES = 2
#: Largest DHT message accepted (go-libp2p-kad-dht: 4 MiB). 1 MiB holds hundreds of provider
#: records with many addresses each; a peer cannot make us buffer more per stream.
KAD_MAX_MESSAGE_SIZE = 1024 * 1024
#: Longest key accepted in a request (go handleGetProviders refuses keys over 80 bytes).
KAD_MAX_KEY_SIZE = 80
#: Peers read from one message's closerPeers (the rest are ignored: an honest peer sends k).
KAD_MAX_CLOSER_PEERS = 2 * KAD_K
#: Provider peers read from one message (and the most a GET_PROVIDERS answer carries).
KAD_MAX_PROVIDER_PEERS = 64
#: Multiaddrs kept per peer from a message (go peers list a dozen or so); longer ones dropped.
KAD_MAX_ADDRS_PER_PEER = 16
KAD_MAX_ADDR_SIZE = 256
#: Provider records kept per key: the earliest-expiring one makes room for a newcomer.
KAD_MAX_PROVIDERS_PER_KEY = 64
#: Provider records kept for one provider peer: a peer that announces more is refused (and
#: penalised); 200k lets a large seeder announce to a small network, not fill our disk alone.
KAD_MAX_RECORDS_PER_PROVIDER = 200_000
#: Provider records in the store: past it the earliest-expiring record is evicted. At roughly
#: 200 bytes per record with its expiry index, 2M records stay near 400 MB of disk.
KAD_MAX_RECORDS = 2_000_000
#: The provider store's LMDB map (sparse): room for KAD_MAX_RECORDS with LMDB's page overhead.
KAD_STORE_MAP_SIZE = 4 << 30
#: Peers whose addresses the DHT remembers beyond its routing table (lookup candidates,
#: providers), least recently used dropped first.
KAD_MAX_ADDRESS_BOOK = 4096
#: Requests a peer may make per second, and in a burst. ADD_PROVIDER floods from a big seeder
#: are legitimate, so the rate is high; past it the stream is read more slowly (backpressure),
#: and a peer that stays far past it is penalised.
KAD_REQUESTS_PER_SECOND = 1000.0
KAD_REQUEST_BURST = 5000
#: Seconds of backlog (requests beyond the burst, at the sustained rate) before a peer's stream
#: is reset and the peer given a strike instead of being slowed down.
KAD_MAX_REQUEST_DELAY_SECONDS = 2.0
#: Strikes (malformed messages, forged provider records, floods) after which a peer is banned:
#: removed from the table, its streams reset, its records refused, for KAD_BAN_SECONDS.
KAD_MAX_STRIKES = 8
KAD_BAN_SECONDS = 600.0
#: Inbound DHT streams open at once, per peer and in all: each may hold a partial message of up
#: to KAD_MAX_MESSAGE_SIZE, so these bound the memory peers can make the DHT hold (go-libp2p's
#: resource manager bounds streams per protocol and peer the same way). An honest peer uses one
#: or two (one per RPC; the spec's stream reuse).
KAD_MAX_INBOUND_STREAMS_PER_PEER = 16
KAD_MAX_INBOUND_STREAMS = 256
#: Seconds an inbound DHT stream may sit idle between requests (go: dhtStreamIdleTimeout 1 min).
KAD_STREAM_IDLE_SECONDS = 60.0
#: Lookups one batched provide runs at once, and peers it sends ADD_PROVIDER batches to at once.
KAD_PROVIDE_LOOKUP_CONCURRENCY = 4
KAD_PROVIDE_SEND_CONCURRENCY = 16

#: Providers a composed router returns for one CID (and asks each source for): the client
#: dials them in turn, so more only costs dials (boxo providerquerymanager: 10 per query).
ROUTING_MAX_PROVIDERS = 20
#: Multiaddrs passed on per provider: the driver dials them in order until one works.
ROUTING_MAX_ADDRS_PER_PROVIDER = 3
#: Seconds a composed router waits for all its sources (each returns what it found by then).
ROUTING_TIMEOUT_SECONDS = 30.0
#: Largest delegated-routing answer read (the spec's providers endpoint returns at most 100
#: records in JSON); NDJSON is read record by record up to the same byte budget.
DELEGATED_MAX_RESPONSE_BYTES = 1024 * 1024
DELEGATED_TIMEOUT_SECONDS = 15.0
