"""The client engine's internal records (:mod:`fastswap.client.engine`): what it knows of each
peer (its queue, limit, rates and counters), of each want and of each session, and the checks
on CIDs it is given. Internal: only the engine creates and mutates them."""

from __future__ import annotations

from .. import _defaults as D
from ..errors import WantlistError
from ..events import Peer
from ..message.versions import version_of
from .wantlist import PeerWants

__all__: list[str] = []


class _Peer:
    __slots__ = (
        "asks",
        "avg_block",
        "bad_blocks",
        "batch",
        "blocks",
        "bytes",
        "connected",
        "dont_haves",
        "duplicates",
        "haves",
        "key",
        "last_decrease",
        "last_heard",
        "last_recv",
        "limit",
        "live",
        "min_rtt",
        "msg_bytes",
        "needs_full",
        "pending_bytes",
        "presences",
        "prev_recv",
        "rate",
        "reports_pending",
        "resend_gap",
        "resent",
        "srtt",
        "timeouts",
        "unreported",
        "unwanted",
        "version",
        "wants",
    )

    def __init__(self, key: Peer, version: str, limit: int, block_size: int) -> None:
        self.key = key
        self.avg_block = float(block_size)  # mean size of its blocks: estimates requested bytes
        self.version = version
        self.presences = version_of(version).presences
        self.connected = True
        self.needs_full = True
        self.wants = PeerWants()
        # cid -> {session id: WANT_BLOCK | WANT_HAVE}: who asked this peer for what
        self.asks: dict[bytes, dict[int, int]] = {}
        # cid -> time of the want-block (at least one session asked want-block): the queue
        self.live: dict[bytes, float] = {}
        self.limit = limit
        self.pending_bytes = 0
        # it has reported a queue for us (pendingBytes > 0) at least once: its zeros mean empty
        self.reports_pending = False
        # least quiet after an empty-queue report before unanswered want-blocks are re-sent
        # (doubles while re-sends bring nothing); how many were re-sent
        self.resend_gap = D.CLIENT_RESEND_MIN_QUIET_SECONDS
        self.resent = 0
        # want-blocks sent since its last message, less those answered since: requests its
        # pendingBytes cannot include yet
        self.unreported = 0
        self.last_recv = float("-inf")  # its last block
        self.last_heard = float("-inf")  # its last message of any kind
        self.last_decrease = float("-inf")
        self.srtt: float | None = None
        # smoothed bytes/s it delivers while busy (None until measured): bounds its queue by time
        self.rate: float | None = None
        self.min_rtt: float | None = None  # shortest request-to-block time seen
        self.msg_bytes = 0  # wanted block bytes of its last response
        self.prev_recv = float("-inf")  # its last block before the message being handled
        self.batch = [0, float("inf")]  # that message's wanted bytes, earliest request
        self.haves = self.dont_haves = self.blocks = self.bytes = 0
        self.duplicates = self.unwanted = self.bad_blocks = self.timeouts = 0

    def ratio(self) -> float:
        return (self.haves + 1) / (self.haves + self.dont_haves + 2)


class _Want:
    __slots__ = (
        "asked", "block_peers", "cid", "dont", "have", "have_sent", "open", "priority",
        "search_at", "searches", "stuck_since", "timed", "wake_at",
    )

    def __init__(self, cid: bytes, priority: int) -> None:
        self.cid = cid
        self.priority = priority
        self.block_peers: dict[Peer, float] = {}  # peer -> when the want-block was sent
        self.asked: set[Peer] = set()  # every peer asked (want-have or want-block)
        self.have: set[Peer] = set()
        self.dont: set[Peer] = set()  # said DONT_HAVE, or timed out
        self.timed: set[Peer] | None = None  # ...of which timed out (made on the first)
        # peer -> when a want-have was sent it, while unanswered (made on the first)
        self.have_sent: dict[Peer, float] | None = None
        # Searching ("DONT_HAVE, timeouts and content routing" in the engine docstring): when
        # every peer that could be asked said no (the give-up clock; a HAVE stops it), when
        # the next search may run, how many ran, and when its timer is armed.
        self.stuck_since: float | None = None
        self.search_at = float("-inf")
        self.searches = 0
        self.wake_at = float("inf")
        self.open = False  # after a re-search: every connected peer is a candidate


class _Session:
    __slots__ = (
        "avg_block", "blocks", "dup_ewma", "duplicates", "fanout", "id", "needy", "opened",
        "peers", "timeouts", "wants",
    )

    def __init__(self, sid: int, block_size: int) -> None:
        self.id = sid
        self.wants: dict[bytes, _Want] = {}
        self.needy: dict[bytes, None] = {}  # wants with fewer than `fanout` block peers (ordered)
        self.opened: dict[bytes, None] = {}  # wants re-searched: any connected peer may serve
        self.peers: dict[Peer, None] = {}  # ordered set
        self.blocks = 0
        self.duplicates = 0
        self.timeouts = 0
        self.fanout = 1
        self.dup_ewma = 0.0
        self.avg_block = float(block_size)


def _check_cid(cid: object) -> bytes:
    if type(cid) is not bytes:
        raise WantlistError(
            f"a CID must be bytes (binary CID), not {type(cid).__name__}; "
            "convert text CIDs with fastswap.cid.parse()"
        )
    if not 0 < len(cid) <= D.MAX_CID_SIZE:
        raise WantlistError(f"a CID must be 1..{D.MAX_CID_SIZE} bytes long, got {len(cid)}")
    return cid


def _entry_size(cid: bytes) -> int:
    # Upper bound of one encoded wantlist entry: field tag + length (3) around cid (1+2+len),
    # priority (1+10: a negative int32 takes 10 varint bytes), cancel, wantType, sendDontHave (2
    # each) -> len + 23; one spare byte.
    return len(cid) + 24
