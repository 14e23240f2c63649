# C types for the compiled twin of _ledger_py.py (built as fastswap.server._ledger_c by setup.py,
# as _taskqueue_c.pxd is). Declarations only: the code is in _ledger_py.py.

import cython

cdef int _WANT_BLOCK, _WANT_HAVE
cdef object _MIN_PRIORITY, _MAX_PRIORITY

cdef class Want:
    cdef readonly int priority
    cdef readonly int want_type
    cdef readonly bint send_dont_have
    cdef readonly long long seq
    cdef readonly bint have

cdef inline tuple _evict_key(bint have, int want_type, int priority, long long seq, object cid)

@cython.locals(w=Want)
cdef Want _new_want(int priority, int want_type, bint sdh, long long seq)


cdef class Ledger:
    cdef readonly object peer
    cdef readonly str version
    cdef readonly bint presences
    cdef readonly bint prefixed
    cdef readonly long long gen
    cdef readonly dict wants
    cdef list heap
    cdef long long seq
    cdef long long order
    cdef Py_ssize_t recorded
    cdef bint closed
    cdef public object first_exchange
    cdef public object last_exchange
    cdef readonly Py_ssize_t blocks_sent
    cdef readonly Py_ssize_t bytes_sent
    cdef readonly Py_ssize_t haves_sent
    cdef readonly Py_ssize_t dont_haves_sent
    cdef readonly Py_ssize_t blocks_received
    cdef readonly Py_ssize_t bytes_received
    cdef readonly Py_ssize_t wants_received
    cdef readonly Py_ssize_t cancels_received
    cdef readonly Py_ssize_t messages_received
    cdef readonly Py_ssize_t wants_refused
    cdef readonly Py_ssize_t wants_lost

    cpdef set_version(self, str version, bint presences, bint prefixed)
    cpdef dict counters(self)
    cpdef restore(self, dict counters)
    @cython.locals(w=Want)
    cpdef mark_have(self, bytes cid)
    @cython.locals(heap=list, wants=dict, item=tuple, w=Want)
    cpdef object worst(self)
    @cython.locals(heap=list, w=Want)
    cdef _compact(self)


cdef class LedgerBook:
    cdef dict _ledgers
    cdef list _heavy
    cdef long long _order
    cdef Py_ssize_t _total
    cdef Py_ssize_t _cap
    cdef Py_ssize_t _max_total
    cdef Py_ssize_t _reserve
    cdef Py_ssize_t _max_cid
    cdef public list removed
    cdef public Py_ssize_t want_blocks_received
    cdef public Py_ssize_t want_haves_received
    cdef public Py_ssize_t cancels_received
    cdef public Py_ssize_t invalid_entries
    cdef public Py_ssize_t unservable_wants
    cdef public Py_ssize_t wants_dropped
    cdef public Py_ssize_t wants_evicted
    cdef public Py_ssize_t wants_evicted_global
    cdef public Py_ssize_t wants_refused_global

    cpdef Ledger get(self, object peer)
    @cython.locals(led=Ledger)
    cpdef Ledger add(self, object peer, str version, bint presences, bint prefixed, long long gen)
    @cython.locals(led=Ledger)
    cpdef Ledger remove(self, object peer)
    @cython.locals(wants=dict, dropped=dict, touched=dict, removed=list, max_cid=Py_ssize_t,
                   cur=Want, want_type=int, sdh=bint, prio=int, n=Py_ssize_t, cid=object)
    cpdef list receive(self, Ledger led, object entries, bint full, object blocks, object now)
    @cython.locals(wants=dict, w=Want)
    cpdef sent(self, Ledger led, list blocks, Py_ssize_t nbytes, list haves, list dont_haves,
               object now)
    cpdef bint drop(self, Ledger led, bytes cid) except -1
    cdef _drop(self, Ledger led, bytes cid)
    @cython.locals(low=object, w=Want)
    cdef bint _replace_own(self, Ledger led, int prio, int want_type, dict touched) except -1
    @cython.locals(h=Ledger, low=object)
    cdef bint _take_shared(self, Ledger led, Py_ssize_t n) except -1
    @cython.locals(heap=list, item=tuple, h=Ledger, n=Py_ssize_t)
    cdef Ledger _heaviest(self, Ledger exclude)
    @cython.locals(heap=list, led=Ledger)
    cdef _rebuild_heavy(self)


@cython.locals(n=Py_ssize_t)
cdef bint _valid_cid(bytes cid) except -1
