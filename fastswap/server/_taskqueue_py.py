# cython: annotation_typing=False
"""The server's peer task queue (pure-Python twin): what to send to whom, and in which order.

Spec: ipfs/specs bitswap-protocol, "Bitswap 1.2.0" (responses carry blocks, HAVE and DONT_HAVE
presences); the design follows boxo's ``peertaskqueue`` (written anew). This one source is also
compiled as ``fastswap.server._taskqueue_c``: ``_taskqueue_c.pxd`` beside it adds the C types, so
the twins cannot drift (see ``fastswap.client._wantlist_py`` for the pattern; the annotations are
for readers, the ``.pxd`` decides the C types).

Tasks
    A task is keyed by (peer, cid): one queued task per CID per peer. Its ``kind`` is
    :data:`BLOCK` (send the block), :data:`HAVE` or :data:`DONT_HAVE` (send a presence); its
    ``size`` is the block's size (0 for presences), its ``priority`` the peer's want priority.
    Pushing a task for a CID that already has one *merges* them: the stronger kind wins
    (BLOCK > HAVE > DONT_HAVE: a block answers a want-have too, and a block that arrived replaces
    the DONT_HAVE queued before it), and the higher priority wins (boxo does the same). A CID
    whose task was popped and is still in flight (between :meth:`TaskQueue.pop` and
    :meth:`TaskQueue.task_done`) only gets a new task if it is stronger than the one in flight
    (boxo: "has new info"), so a re-sent wantlist does not send a block twice.
    ``queued_at`` is the caller's clock when the want that queued the task arrived, kept
    through merges; :class:`WaitHistogram` files the waits of sent tasks (the server's
    ``fastswap_task_wait_seconds``).

Order within a peer
    Priority descending, then first arrival (FIFO): a binary heap ordered by
    ``(-priority, seq)``. A merge that raises the priority replaces the task with a new one
    (same ``seq``) and pushes that; the old one is marked dead. Dead items (removed, popped or
    superseded tasks) are skipped when they reach the top, and the heap is rebuilt when they
    outnumber live ones, so memory stays O(live tasks). The pure twin keeps
    ``(-priority, seq, task)`` tuples in a :mod:`heapq` heap; compiled, comparing those tuples
    was most of a pop (perf), so the compiled twin keeps the tasks themselves and sifts them with
    its own heap functions comparing C ints (``_hpush``/``_hpop``, same order, same results).

Fairness across peers
    :meth:`TaskQueue.peers_with_work` lists the peers that have tasks and are under their
    in-flight cap, fairest first: least bytes in flight, then least bytes served *recently*, then
    the one popped longest ago. "Recently" needs no clock: a peer's served bytes halve every
    ``half_life`` bytes the whole queue pops (computed lazily when compared). A peer that has
    just arrived with three wants therefore goes before one that has been pulling thousands of
    blocks, and a greedy peer can never hold more than its in-flight cap: it drops out of the
    list until the driver reports its responses sent (:meth:`task_done`), so no peer starves.

Packing
    :meth:`TaskQueue.pop` takes a peer's tasks in order while their wire cost fits ``max_bytes``
    and the room left under the peer's in-flight cap (a block costs its size plus framing, a
    presence its CID plus framing); the first task is always taken, so a block larger than the
    target goes alone (and may overshoot the cap once). What it takes counts as in flight until
    :meth:`task_done`; a peer at its cap gets nothing.

Limits: the shared byte budget, levelled (issue 8 item 5)
    Queued block bytes across all peers are budgeted (``max_queued_bytes``), but a full budget
    never refuses a peer because *others* filled it (1,000 peers that want blocks and never read
    used to fill the 1 GiB budget, after which every honest want-block was refused). A push that
    would go over the budget levels it instead, max-min fairly: the queue finds the water level
    ``L`` at which the peers' queued bytes, each cut to ``L``, fit ``max_queued_bytes - slack``
    (slack: a sixteenth of the budget, so the next pushes fit without levelling again), never
    below ``reserve_per_peer``. If the pushing peer would then hold more than ``L`` it is one of
    the heaviest and its push is refused (:data:`REFUSED`); otherwise every other peer above
    ``L`` loses the tasks it would send last (lowest priority, newest) until it is at ``L``.
    So each peer can always queue ``reserve_per_peer`` bytes (the total may exceed the budget by
    at most that much per peer with work: the host's connection limits bound the peers, and the
    bytes are accounting, the data stays in the store), and only the heaviest peers lose.

    Refused and evicted peers are *starved*: their entries lost their tasks. The caller asks
    :meth:`TaskQueue.refillable` for starved peers whose queue has drained below half their
    reserve and that are under their in-flight cap (they are reading), and queues their answers
    again. A peer that never reads never drains, so it is never refilled: its evicted tasks stay
    gone. The level is cached while the queue stays over ``budget - slack``, so a flood of
    pushes from a peer at the level costs one comparison each, not a scan of every peer.

    boxo (peertaskqueue) has no byte budget at all: its decision engine bounds the wantlist
    entries only, so a peer's queue is as deep as its wantlist. The number of tasks is bounded
    by the caller here too (the engine only queues tasks for wantlist entries, which are
    budgeted the same way).
"""

from __future__ import annotations

from heapq import heapify, heappop, heappush

from .._defaults import (
    SERVER_MAX_INFLIGHT_BYTES_PER_PEER,
    SERVER_MAX_TOTAL_QUEUED_BYTES,
    SERVER_RESERVED_QUEUED_BYTES_PER_PEER,
    SERVER_SERVED_HALF_LIFE_BYTES,
)
from ..errors import ServerError

try:
    import cython  # class decorators must sit on the class itself: a .pxd cannot carry them
except ImportError:  # pragma: no cover - Cython is a build requirement, not a runtime one
    from .._cython_shim import cython

__all__ = [
    "BLOCK",
    "BLOCK_OVERHEAD",
    "DONT_HAVE",
    "HAVE",
    "MERGED",
    "PRESENCE_OVERHEAD",
    "PUSHED",
    "REFUSED",
    "Task",
    "TaskQueue",
    "WaitHistogram",
]

#: Task kinds, weakest last (the merge keeps the stronger: BLOCK < HAVE < DONT_HAVE numerically).
BLOCK = 0
HAVE = 1
DONT_HAVE = 2

#: push() results
PUSHED = 1
MERGED = 0
REFUSED = -1

#: Wire bytes a block costs beyond its data: payload field tag and length, the prefix (four
#: varints, at most ~12 bytes in practice) with its tag and length, the data tag and length.
BLOCK_OVERHEAD = 32
#: Wire bytes a presence costs beyond its CID: field tags, lengths and the type.
PRESENCE_OVERHEAD = 8

# C-typed copies for the compiled twin (the public names above stay Python objects)
_BLOCK = 0
_HAVE = 1
_DONT_HAVE = 2
_BLOCK_OVERHEAD = 32
_PRESENCE_OVERHEAD = 8
_MAX_PRIORITY = 2**31 - 1
_MIN_PRIORITY = -(2**31)
_MAX_SIZE = 1 << 40


def _check_task(cid: object, kind: object, size: object, priority: object) -> None:
    if type(cid) is not bytes or len(cid) == 0:
        raise ServerError(f"a task CID must be non-empty bytes, not {type(cid).__name__}")
    if type(kind) is not int or kind < _BLOCK or kind > _DONT_HAVE:
        raise ServerError(f"task kind must be BLOCK (0), HAVE (1) or DONT_HAVE (2), got {kind!r}")
    if type(size) is not int or size < 0 or size > _MAX_SIZE:
        raise ServerError(f"task size must be an int in [0, 2**40], got {size!r}")
    if type(priority) is not int or priority < _MIN_PRIORITY or priority > _MAX_PRIORITY:
        raise ServerError(f"task priority must be an int32, got {priority!r}")


def _cost(cid: bytes, kind: int, size: int) -> int:
    if kind == _BLOCK:
        return size + _BLOCK_OVERHEAD
    return len(cid) + _PRESENCE_OVERHEAD


@cython.final
@cython.no_gc
@cython.freelist(256)
@cython.cclass
class Task:
    """One queued (or popped) task: send ``cid`` as ``kind`` to a peer. Read-only outside."""

    def __init__(self) -> None:
        raise ServerError("tasks are made by TaskQueue.push, not directly")

    def __repr__(self) -> str:
        kind = ("BLOCK", "HAVE", "DONT_HAVE")[self.kind]
        return f"Task({self.cid.hex()}, {kind}, size={self.size}, priority={self.priority})"


def _new_task(cid: bytes, kind: int, size: int, priority: int, seq: int,
              queued_at: float) -> Task:
    t = Task.__new__(Task)
    t.cid = cid
    t.kind = kind
    t.size = size if kind == _BLOCK else 0
    t.priority = priority
    t.seq = seq
    t.cost = _cost(cid, kind, t.size)
    t.live = True
    t.queued_at = queued_at
    return t


@cython.final
@cython.cclass
class _PeerQueue:
    """One peer's tasks, in-flight bytes and fairness record."""

    def __init__(self, peer: object, order: int) -> None:
        self.peer = peer
        self.tasks = {}  # type: dict[bytes, Task]
        self.heap = []  # type: list  # see _hpush: tuples (pure twin) or Tasks (compiled)
        self.active = {}  # type: dict[bytes, int]  # cid -> kind in flight
        self.queued_bytes = 0
        self.inflight = 0
        self.served = 0.0
        self.served_at = 0.0
        self.last_pop = 0
        self.order = order


@cython.final
@cython.cclass
class TaskQueue:
    """Per-peer task queues with merging, priority order, fairness and in-flight caps."""

    def __init__(
        self,
        max_inflight_per_peer: int = SERVER_MAX_INFLIGHT_BYTES_PER_PEER,
        max_queued_bytes: int = SERVER_MAX_TOTAL_QUEUED_BYTES,
        half_life: int = SERVER_SERVED_HALF_LIFE_BYTES,
        reserve_per_peer: int = SERVER_RESERVED_QUEUED_BYTES_PER_PEER,
    ) -> None:
        for name, v in (("max_inflight_per_peer", max_inflight_per_peer),
                        ("max_queued_bytes", max_queued_bytes), ("half_life", half_life),
                        ("reserve_per_peer", reserve_per_peer)):
            if type(v) is not int or v <= 0 or v > _MAX_SIZE:
                raise ServerError(f"{name} must be a positive int (bytes), got {v!r}")
        self._peers = {}  # type: dict[object, _PeerQueue]
        # peers with queued tasks, arrival order: listed (``_work``, what peers_with_work
        # sorts) or held while the driver pulls their tasks itself (``_held``, see pause()).
        # 1,000 peers that want blocks and never read all have tasks: listing and sorting them
        # on every driver pass was a fifth of the seeder's time beside an honest fetch.
        self._work = {}  # type: dict[object, None]
        self._held = {}  # type: dict[object, None]
        self._paused = {}  # type: dict[object, None]
        self._seq = 0
        self._pops = 0
        self._order = 0
        self._ntasks = 0
        self._bytes = 0
        self._max_inflight = max_inflight_per_peer
        self._max_bytes = max_queued_bytes
        self._half_life = float(half_life)
        self._clock = 0.0
        self._reserve = reserve_per_peer
        self._slack = max_queued_bytes >> 4
        self._level = -1  # the cached water level while over the budget (-1: none)
        self._starved = {}  # type: dict[object, None]  # peers whose tasks were refused/evicted
        # starved peers whose queue or in-flight bytes fell since refillable() last looked:
        # only they can have become refillable (the rest are not scanned again)
        self._recheck = {}  # type: dict[object, None]
        self._evicted = 0

    # -- queries -------------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._ntasks

    @property
    def queued_bytes(self) -> int:
        """Block bytes queued across all peers."""
        return self._bytes

    @property
    def max_inflight_per_peer(self) -> int:
        return self._max_inflight

    @property
    def evicted(self) -> int:
        """Tasks evicted so far to level the byte budget (see "Limits")."""
        return self._evicted

    def starved(self) -> list:
        """Peers that lost tasks to the byte budget and were not refilled yet (a copy)."""
        return list(self._starved)

    def pending_bytes(self, peer: object) -> int:
        """Block bytes still queued for *peer* (the ``pendingBytes`` of its next response)."""
        pq = self._peers.get(peer)
        return 0 if pq is None else pq.queued_bytes

    def queued(self, peer: object) -> int:
        """Number of tasks queued for *peer*."""
        pq = self._peers.get(peer)
        return 0 if pq is None else len(pq.tasks)

    def inflight(self, peer: object) -> int:
        """Wire bytes popped for *peer* and not yet reported done."""
        pq = self._peers.get(peer)
        return 0 if pq is None else pq.inflight

    def tasks(self, peer: object) -> list:
        """*peer*'s queued tasks in pop order (a copy; for inspection and tests)."""
        pq = self._peers.get(peer)
        if pq is None:
            return []
        live = [(-t.priority, t.seq, t) for t in pq.tasks.values()]
        live.sort()
        return [x[2] for x in live]

    def get(self, peer: object, cid: bytes) -> Task | None:
        pq = self._peers.get(peer)
        return None if pq is None else pq.tasks.get(cid)

    def peers(self) -> list:
        """Every peer the queue holds state for (tasks, or bytes in flight)."""
        return list(self._peers)

    def _recent(self, pq: _PeerQueue) -> float:
        age = self._clock - pq.served_at
        if age <= 0.0 or pq.served == 0.0:
            return pq.served
        return pq.served * 2.0 ** (-age / self._half_life)

    def peers_with_work(self) -> list:
        """Peers with queued tasks and under their in-flight cap, fairest first (see module doc)."""
        keyed = []
        for peer in self._work:
            pq = self._peers[peer]
            if pq.inflight < self._max_inflight:
                keyed.append((pq.inflight, self._recent(pq), pq.last_pop, pq.order, peer))
        if len(keyed) > 1:
            keyed.sort()  # ``order`` is unique per peer, so the peer itself never compares
        return [k[4] for k in keyed]

    # -- changes -------------------------------------------------------------------------------

    def push(self, peer: object, cid: bytes, kind: int, size: int, priority: int,
             at: float = -1.0) -> int:
        """Queue (or merge) a task; PUSHED, MERGED (merged or nothing new) or REFUSED (cap).
        *at*: the caller's clock when the want arrived (``Task.queued_at``, kept through merges:
        the wait is the oldest want's); negative: unknown."""
        _check_task(cid, kind, size, priority)
        pq = self._peers.get(peer)
        if pq is None:
            self._order += 1
            pq = _PeerQueue(peer, self._order)
            self._peers[peer] = pq
        return self._push(pq, cid, kind, size if kind == _BLOCK else 0, priority, at)

    def _push(self, pq: _PeerQueue, cid: bytes, kind: int, size: int, priority: int,
              at: float) -> int:
        old = pq.tasks.get(cid)
        if old is None:
            a = pq.active.get(cid)
            if a is not None and kind >= a:
                self._drop_if_idle(pq)
                return MERGED  # the same or a stronger answer is in flight: nothing new
            if (kind == _BLOCK and self._bytes + size > self._max_bytes
                    and not self._make_room(pq, size)):
                self._starve(pq.peer)
                self._drop_if_idle(pq)
                return REFUSED
            self._seq += 1
            t = _new_task(cid, kind, size, priority, self._seq, at)
            pq.tasks[cid] = t
            _hpush(pq.heap, t)
            pq.queued_bytes += size
            self._bytes += size
            self._ntasks += 1
            if pq.peer in self._paused:
                self._held[pq.peer] = None
            else:
                self._work[pq.peer] = None
            if self._level >= 0:
                self._check_level(pq)
            return PUSHED
        # merge: stronger kind, higher priority
        new_kind = old.kind
        new_size = old.size
        if kind < old.kind:
            new_kind = kind
            new_size = size
        new_prio = max(old.priority, priority)
        if old.queued_at < 0.0:
            old.queued_at = at  # the first want that came with a time
        if new_kind == old.kind and new_prio == old.priority:
            return MERGED
        delta = new_size - old.size
        if (delta > 0 and self._bytes + delta > self._max_bytes
                and not self._make_room(pq, delta)):
            self._starved[pq.peer] = None
            return REFUSED
        pq.queued_bytes += delta
        self._bytes += delta
        if self._level >= 0:
            self._check_level(pq)
        if new_prio != old.priority:
            # a heap item's key must not change: a new task (same seq) replaces the old one,
            # which goes dead in the heap; priorities only rise, so the two never tie
            old.live = False
            t = _new_task(cid, new_kind, new_size, new_prio, old.seq, old.queued_at)
            pq.tasks[cid] = t
            _hpush(pq.heap, t)
            self._maybe_compact(pq)
        else:
            old.kind = new_kind
            old.size = new_size
            old.cost = _cost(cid, new_kind, new_size)
        return MERGED

    def remove(self, peer: object, cid: bytes) -> bool:
        """Drop *peer*'s queued task for *cid* (a cancel); True if there was one."""
        pq = self._peers.get(peer)
        if pq is None:
            return False
        t = pq.tasks.pop(cid, None)
        if t is None:
            return False
        self._unqueue(pq, t)
        self._recheck_if_starved(peer)
        if not pq.tasks:
            pq.heap = []
            self._unlist(peer)
            self._drop_if_idle(pq)
        else:
            self._maybe_compact(pq)
        return True

    def remove_peer(self, peer: object) -> int:
        """Forget *peer* entirely (disconnect); returns the number of queued tasks dropped."""
        self._starved.pop(peer, None)
        pq = self._peers.pop(peer, None)
        if pq is None:
            return 0
        n = len(pq.tasks)
        for t in pq.tasks.values():
            t.live = False
        self._ntasks -= n
        self._bytes -= pq.queued_bytes
        self._unlist(peer)
        self._recheck.pop(peer, None)
        self._paused.pop(peer, None)
        self._level = -1  # the peers' shares changed
        return n

    def pop(self, peer: object, max_bytes: int) -> list:
        """Take *peer*'s next tasks while their wire cost fits *max_bytes* and the room left under
        its in-flight cap (at least one task, so a large block goes alone and may overshoot the
        cap by one block). The tasks count as in flight until :meth:`task_done`. Returns [] if
        nothing is queued or the peer is at its cap.
        """
        if type(max_bytes) is not int:
            raise ServerError(f"max_bytes must be an int, got {type(max_bytes).__name__}")
        pq = self._peers.get(peer)
        if pq is None or not pq.tasks:
            return []
        room = self._max_inflight - pq.inflight
        if room <= 0:
            return []  # at its in-flight cap until task_done
        return self._pop(pq, min(room, max_bytes))

    def _pop(self, pq: _PeerQueue, max_bytes: int) -> list:
        out = []
        total = 0
        heap = pq.heap
        tasks = pq.tasks
        while heap:
            t = _htop(heap)
            if not t.live:
                _hpop(heap)  # dead: removed, or superseded by a higher-priority task
                continue
            if total + t.cost > max_bytes and len(out) > 0:
                break
            _hpop(heap)
            del tasks[t.cid]
            t.live = False
            total += t.cost
            pq.queued_bytes -= t.size
            self._bytes -= t.size
            self._ntasks -= 1
            a = pq.active.get(t.cid)
            if a is None or t.kind < a:
                pq.active[t.cid] = t.kind
            out.append(t)
        pq.inflight += total
        if not tasks:
            pq.heap = []
            self._unlist(pq.peer)
        self._recheck_if_starved(pq.peer)
        recent = self._recent(pq)
        self._clock += total
        pq.served = recent + total
        pq.served_at = self._clock
        self._pops += 1
        pq.last_pop = self._pops
        return out

    def pause(self, peer: object) -> None:
        """The driver pulls *peer*'s tasks by itself for now (a writer of its own, which may be
        waiting on a peer that does not read): leave it out of :meth:`peers_with_work` and
        :meth:`refillable` until :meth:`resume`. Its tasks stay queued; :meth:`pop` serves
        them."""
        if peer in self._paused:
            return
        self._paused[peer] = None
        if self._work.pop(peer, 0) is None:  # (None: it was listed)
            self._held[peer] = None

    def resume(self, peer: object) -> None:
        """*peer* can take responses again (see :meth:`pause`)."""
        if self._paused.pop(peer, 0) is not None:
            return  # (0: it was not paused)
        self._recheck_if_starved(peer)
        if self._held.pop(peer, 0) is None:
            self._work[peer] = None

    def task_done(self, peer: object, tasks: list) -> None:
        """The popped *tasks* were sent (or given up): release their in-flight bytes."""
        pq = self._peers.get(peer)
        if pq is None:
            return  # the peer was removed meanwhile: nothing to release
        for x in tasks:
            if not isinstance(x, Task):
                raise ServerError(f"task_done() takes popped Tasks, got {type(x).__name__}")
            t = cython.cast(Task, x)
            pq.inflight -= t.cost
            pq.active.pop(t.cid, None)
        pq.inflight = max(pq.inflight, 0)  # tasks reported twice: never go negative
        self._recheck_if_starved(peer)
        self._drop_if_idle(pq)

    def refillable(self) -> list:
        """Starved peers (see "Limits") whose queue drained below half their reserve and that
        are under their in-flight cap and not paused: the caller queues their answers again. (A
        peer that never reads has a writer waiting on its window, so it is paused; before, its
        levelled queue counted as drained and was refilled, refused and evicted again on every
        pass: 9,000 refills during one honest fetch among 1,000 such peers.) Each is returned
        once (it is starved again if its pushes are refused again)."""
        if not self._recheck:
            return []
        out = []
        low = self._reserve >> 1
        for peer in self._recheck:
            if peer not in self._starved or peer in self._paused:
                continue  # (a paused peer is looked at again when it resumes)
            pq = self._peers.get(peer)
            if pq is None or (pq.queued_bytes < low and pq.inflight < self._max_inflight):
                del self._starved[peer]
                out.append(peer)
        self._recheck = {}
        return out

    # -- internals -----------------------------------------------------------------------------

    def _make_room(self, pq: _PeerQueue, size: int) -> bool:
        """The budget is full: may *pq* queue *size* more bytes? If so, the other peers above
        the water level are levelled down to it first (see "Limits")."""
        mine = pq.queued_bytes + size
        level = self._level
        if level >= 0 and (level == self._reserve
                           or self._bytes + size <= self._max_bytes + self._slack):
            # cached: every other peer is at or below it (a push past it drops the cache), and
            # peers filling up to it overshoot the budget by at most the slack (or only by
            # reserves)
            return mine <= level
        level = self._water_level(pq, mine)
        self._level = level
        if mine > level:
            return False
        for other in list(self._peers.values()):
            q = cython.cast(_PeerQueue, other)
            if q is not pq and q.queued_bytes > level:
                self._evict(q, level)
        return True

    def _check_level(self, pq: _PeerQueue) -> None:
        # the cached level holds while every peer is at or below it and the queue is still
        # near its budget; otherwise the next push over the budget computes it afresh
        if pq.queued_bytes > self._level or self._bytes <= self._max_bytes - self._slack:
            self._level = -1

    def _water_level(self, pq: _PeerQueue, mine: int) -> int:
        """The largest level L (at least the reserve) at which every peer's queued bytes cut to
        L (*pq*'s counted as *mine*) fit the budget less its slack."""
        amounts = [mine]
        for other in self._peers.values():
            q = cython.cast(_PeerQueue, other)
            if q is not pq and q.queued_bytes > 0:
                amounts.append(q.queued_bytes)
        amounts.sort()
        room = self._max_bytes - self._slack
        m = len(amounts)
        level = room  # everyone fits whole
        for k in range(m):
            a = amounts[k]
            if a * (m - k) > room:
                level = room // (m - k)
                break
            room -= a
        return max(level, self._reserve)

    def _evict(self, pq: _PeerQueue, level: int) -> None:
        """Drop *pq*'s tasks it would send last until it holds at most *level* bytes."""
        # (priority, -seq) is unique per live task: the Tasks themselves never compare
        order = [(t.priority, -t.seq, t) for t in pq.tasks.values() if t.size > 0]
        order.sort()
        i = 0
        while pq.queued_bytes > level and i < len(order):
            t = cython.cast(Task, order[i][2])
            i += 1
            del pq.tasks[t.cid]
            self._unqueue(pq, t)
            self._evicted += 1
        self._starve(pq.peer)
        if not pq.tasks:
            pq.heap = []
            self._unlist(pq.peer)
            self._drop_if_idle(pq)
        else:
            self._maybe_compact(pq)


    def _unlist(self, peer: object) -> None:
        # no tasks left: neither listed nor held
        self._work.pop(peer, None)
        self._held.pop(peer, None)

    def _starve(self, peer: object) -> None:
        self._starved[peer] = None
        self._recheck[peer] = None

    def _recheck_if_starved(self, peer: object) -> None:
        # its queue or in-flight bytes fell, or it resumed: refillable() looks at it again
        if peer in self._starved:
            self._recheck[peer] = None

    def _unqueue(self, pq: _PeerQueue, t: Task) -> None:
        t.live = False
        pq.queued_bytes -= t.size
        self._bytes -= t.size
        self._ntasks -= 1

    def _maybe_compact(self, pq: _PeerQueue) -> None:
        if len(pq.heap) > 2 * len(pq.tasks) + 64:
            pq.heap = _heap_of(list(pq.tasks.values()))

    def _drop_if_idle(self, pq: _PeerQueue) -> None:
        # an idle peer costs nothing: forget it (its fairness record goes too, harmlessly: it
        # has nothing in flight)
        if not pq.tasks and not pq.active and pq.inflight == 0:
            self._peers.pop(pq.peer, None)
            self._unlist(pq.peer)
            self._recheck_if_starved(pq.peer)  # gone idle: refillable



@cython.final
@cython.cclass
class WaitHistogram:
    """How long answered wants waited: from a task's ``queued_at`` (the want's arrival at the
    engine) to the driver's report that its response was sent. Cumulative-free counts per bucket
    (``bounds``: upper bounds in seconds, ascending; one more bucket above the last), their sum
    and count: what a Prometheus histogram exposes, kept here because :meth:`observe` runs for
    every sent response (compiled: a comparison per bucket, no allocation)."""

    def __init__(self, bounds: object) -> None:
        bs = [float(b) for b in bounds]
        if not bs or any(not b > 0.0 for b in bs) or any(
                bs[i] >= bs[i + 1] for i in range(len(bs) - 1)):
            raise ServerError(f"histogram bounds must be positive and ascending, got {bs!r}")
        self.bounds = bs
        self.counts = [0] * (len(bs) + 1)
        self.total = 0.0
        self.count = 0

    def observe(self, tasks: list, now: float) -> None:
        """The popped *tasks* went out at *now* (tasks queued without a time are skipped)."""
        bounds = self.bounds
        n = len(bounds)
        for x in tasks:
            t = cython.cast(Task, x)
            if t.queued_at < 0.0:
                continue
            # a driver whose clock stepped back: count it as no wait
            w = max(now - t.queued_at, 0.0)
            i = 0
            while i < n:
                b = bounds[i]
                if w <= b:
                    break
                i += 1
            self.counts[i] += 1
            self.total += w
            self.count += 1

    def snapshot(self) -> dict:
        """``{"bounds", "counts", "sum", "count"}`` (copies; JSON-serialisable)."""
        return {"bounds": list(self.bounds), "counts": list(self.counts), "sum": self.total,
                "count": self.count}


# -- the per-peer heap: order (-priority, seq) ---------------------------------------------------


def _before(a: Task, b: Task) -> bool:
    return a.priority > b.priority or (a.priority == b.priority and a.seq < b.seq)


def _hpush(heap: list, t: Task) -> None:
    if not cython.compiled:
        heappush(heap, (-t.priority, t.seq, t))
    else:
        heap.append(t)
        # sift the new last item up towards the root
        pos = len(heap) - 1
        while pos > 0:
            parent = (pos - 1) >> 1
            p = cython.cast(Task, heap[parent])
            if not _before(t, p):
                break
            heap[pos] = p
            pos = parent
        heap[pos] = t


def _htop(heap: list) -> Task:
    if not cython.compiled:
        return heap[0][2]
    return cython.cast(Task, heap[0])


def _hpop(heap: list) -> None:
    """Remove the top item."""
    if not cython.compiled:
        heappop(heap)
    else:
        last = heap.pop()
        if heap:
            heap[0] = last
            _sift_down(heap, 0)


def _sift_down(heap: list, pos: int) -> None:
    n = len(heap)
    t = cython.cast(Task, heap[pos])
    while True:
        child = 2 * pos + 1
        if child >= n:
            break
        c = cython.cast(Task, heap[child])
        if child + 1 < n:
            r = cython.cast(Task, heap[child + 1])
            if _before(r, c):
                child += 1
                c = r
        if not _before(c, t):
            break
        heap[pos] = c
        pos = child
    heap[pos] = t


def _heap_of(tasks: list) -> list:
    """A heap of *tasks* (live ones), in the twin's representation."""
    if not cython.compiled:
        heap = [(-t.priority, t.seq, t) for t in tasks]
        heapify(heap)
        return heap
    i = (len(tasks) >> 1) - 1
    while i >= 0:
        _sift_down(tasks, i)
        i -= 1
    return tasks
