# C types for the compiled twin of _taskqueue_py.py (built as fastswap.server._taskqueue_c by
# setup.py, aiohttp reader_c.pxd style). Declarations only: the code is in _taskqueue_py.py.
# Public entry points take `object` and check their arguments in the shared source, so both
# twins raise the same ServerError on bad input; the C types start after the checks.

import cython

cdef int _BLOCK, _HAVE, _DONT_HAVE
cdef Py_ssize_t _BLOCK_OVERHEAD, _PRESENCE_OVERHEAD
cdef object _MAX_PRIORITY, _MIN_PRIORITY, _MAX_SIZE

cdef int _check_task(object cid, object kind, object size, object priority) except -1
cdef Py_ssize_t _cost(bytes cid, int kind, Py_ssize_t size) noexcept

cdef class Task:
    cdef readonly bytes cid
    cdef readonly int kind
    cdef readonly Py_ssize_t size
    cdef readonly int priority
    cdef readonly long long seq
    cdef readonly Py_ssize_t cost
    cdef bint live
    cdef readonly double queued_at

@cython.locals(t=Task)
cdef Task _new_task(bytes cid, int kind, Py_ssize_t size, int priority, long long seq,
                    double queued_at)


cdef class _PeerQueue:
    cdef object peer
    cdef dict tasks
    cdef list heap
    cdef dict active
    cdef Py_ssize_t queued_bytes
    cdef Py_ssize_t inflight
    cdef double served
    cdef double served_at
    cdef long long last_pop
    cdef long long order


cdef class TaskQueue:
    cdef dict _peers
    cdef dict _work
    cdef dict _held
    cdef dict _paused
    cdef dict _recheck
    cdef long long _seq
    cdef long long _pops
    cdef long long _order
    cdef Py_ssize_t _ntasks
    cdef Py_ssize_t _bytes
    cdef Py_ssize_t _max_inflight
    cdef Py_ssize_t _max_bytes
    cdef double _half_life
    cdef double _clock
    cdef Py_ssize_t _reserve
    cdef Py_ssize_t _slack
    cdef Py_ssize_t _level
    cdef dict _starved
    cdef Py_ssize_t _evicted

    @cython.locals(pq=_PeerQueue)
    cpdef Py_ssize_t pending_bytes(self, object peer) except -1
    @cython.locals(pq=_PeerQueue)
    cpdef Py_ssize_t queued(self, object peer) except -1
    @cython.locals(pq=_PeerQueue)
    cpdef Py_ssize_t inflight(self, object peer) except -1
    @cython.locals(pq=_PeerQueue, live=list, t=Task)
    cpdef list tasks(self, object peer)
    @cython.locals(pq=_PeerQueue)
    cpdef Task get(self, object peer, object cid)
    @cython.locals(age=double)
    cdef double _recent(self, _PeerQueue pq)
    @cython.locals(keyed=list, pq=_PeerQueue)
    cpdef list peers_with_work(self)
    @cython.locals(pq=_PeerQueue)
    cpdef int push(self, object peer, object cid, object kind, object size, object priority,
                   double at=*) except? -2
    @cython.locals(old=Task, t=Task, a=object, new_kind=int, new_size=Py_ssize_t, new_prio=int,
                   delta=Py_ssize_t)
    cdef int _push(self, _PeerQueue pq, bytes cid, int kind, Py_ssize_t size, int priority,
                   double at) except? -2
    @cython.locals(pq=_PeerQueue, t=Task)
    cpdef bint remove(self, object peer, object cid) except -1
    @cython.locals(pq=_PeerQueue, t=Task, n=Py_ssize_t)
    cpdef Py_ssize_t remove_peer(self, object peer) except -1
    @cython.locals(pq=_PeerQueue, room=Py_ssize_t)
    cpdef list pop(self, object peer, object max_bytes)
    @cython.locals(out=list, total=Py_ssize_t, heap=list, tasks=dict, t=Task, a=object,
                   recent=double)
    cdef list _pop(self, _PeerQueue pq, Py_ssize_t max_bytes)
    cpdef pause(self, object peer)
    @cython.locals(pq=_PeerQueue)
    cpdef resume(self, object peer)
    @cython.locals(pq=_PeerQueue, t=Task)
    cpdef task_done(self, object peer, list tasks)
    cpdef list starved(self)
    @cython.locals(pq=_PeerQueue, out=list, low=Py_ssize_t)
    cpdef list refillable(self)
    @cython.locals(mine=Py_ssize_t, level=Py_ssize_t, q=_PeerQueue)
    cdef bint _make_room(self, _PeerQueue pq, Py_ssize_t size) except -1
    cdef void _check_level(self, _PeerQueue pq) noexcept
    @cython.locals(amounts=list, q=_PeerQueue, room=Py_ssize_t, m=Py_ssize_t, level=Py_ssize_t,
                   k=Py_ssize_t, a=Py_ssize_t)
    cdef Py_ssize_t _water_level(self, _PeerQueue pq, Py_ssize_t mine) except -1
    @cython.locals(order=list, i=Py_ssize_t, t=Task)
    cdef _evict(self, _PeerQueue pq, Py_ssize_t level)
    cdef inline _unlist(self, object peer)
    cdef inline _starve(self, object peer)
    cdef inline _recheck_if_starved(self, object peer)
    cdef void _unqueue(self, _PeerQueue pq, Task t) noexcept
    cdef _maybe_compact(self, _PeerQueue pq)
    cdef _drop_if_idle(self, _PeerQueue pq)


cdef class WaitHistogram:
    cdef readonly list bounds
    cdef list counts
    cdef readonly double total
    cdef readonly Py_ssize_t count

    @cython.locals(bounds=list, n=Py_ssize_t, t=Task, w=double, i=Py_ssize_t, b=double)
    cpdef observe(self, list tasks, double now)
    cpdef dict snapshot(self)


cdef inline bint _before(Task a, Task b) noexcept
@cython.locals(pos=Py_ssize_t, parent=Py_ssize_t, p=Task)
cdef int _hpush(list heap, Task t) except -1
cdef Task _htop(list heap)
@cython.locals(last=object)
cdef int _hpop(list heap) except -1
@cython.locals(n=Py_ssize_t, child=Py_ssize_t, t=Task, c=Task, r=Task)
cdef int _sift_down(list heap, Py_ssize_t pos) except -1
@cython.locals(i=Py_ssize_t, heap=list)
cdef list _heap_of(list tasks)
