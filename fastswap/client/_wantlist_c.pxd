# C types for the compiled twin of _wantlist_py.py (built as fastswap.client._wantlist_c by
# setup.py, aiohttp reader_c.pxd style). Declarations only: the code is in _wantlist_py.py.
# Public entry points take `object` and check their arguments in the shared source, so both
# twins raise the same WantlistError on bad input; the C types start after the checks.
# Class decorators (final, no_gc, freelist) are on the classes in the .py: Cython ignores them
# in a .pxd.

import cython

cdef int _BLOCK, _HAVE
cdef Py_ssize_t _MAX_CID
cdef object _MIN_PRIORITY, _MAX_PRIORITY
cdef object _by_priority
cdef Py_ssize_t _RUN


cdef class Entry:
    cdef readonly bytes cid
    cdef readonly int priority
    cdef readonly int want_type
    cdef readonly bint send_dont_have


cdef class WantlistDiff:
    cdef readonly list wants
    cdef readonly list cancels


cdef class Wantlist:
    cdef dict _entries
    cdef list _sorted

    cpdef bint add(self, object cid, object priority, object want_type=*,
                   object send_dont_have=*) except -1
    @cython.locals(e=Entry)
    cdef Entry _add(self, bytes cid, int priority, int want_type, bint send_dont_have)
    cpdef bint remove(self, object cid) except -1
    cpdef bint remove_type(self, object cid, object want_type) except -1
    cdef bint _remove_type(self, object cid, int want_type) except -1
    cpdef Entry get(self, object cid)
    @cython.locals(s=list)
    cpdef list entries(self)
    @cython.locals(w=Wantlist)
    cpdef Wantlist copy(self)
    @cython.locals(dd=WantlistDiff, e=Entry)
    cpdef apply(self, object d)


cdef class _PeerWant:
    cdef readonly bytes cid
    cdef readonly Entry want
    cdef readonly Entry sent
    cdef bint queued


cdef class PeerWants:
    cdef dict _recs
    cdef list _queue
    cdef Py_ssize_t _wanted

    cdef inline void _touch(self, _PeerWant r) noexcept
    @cython.locals(r=_PeerWant, e=Entry)
    cpdef bint add(self, object cid, object priority, object want_type=*,
                   object send_dont_have=*) except -1
    @cython.locals(r=_PeerWant)
    cpdef bint remove(self, object cid) except -1
    @cython.locals(r=_PeerWant)
    cpdef bint remove_type(self, object cid, object want_type) except -1
    @cython.locals(r=_PeerWant)
    cpdef bint resend(self, object cid) except -1
    @cython.locals(r=_PeerWant)
    cpdef Entry get(self, object cid)
    @cython.locals(w=Wantlist, r=_PeerWant)
    cpdef Wantlist wanted(self)
    @cython.locals(w=Wantlist, r=_PeerWant)
    cpdef Wantlist sent(self)
    cpdef WantlistDiff flush(self, object max_entries=*)
    @cython.locals(queue=list, recs=dict, wants=list, cancels=list, again=list, r=_PeerWant,
                   d=Entry, s=Entry)
    cdef WantlistDiff _flush(self)
    @cython.locals(cancel_r=list, want_r=list, cancels=list, wants=list, rest=list,
                   r=_PeerWant, d=Entry, s=Entry)
    cdef WantlistDiff _flush_capped(self, Py_ssize_t limit)
    @cython.locals(recs=dict, wants=list, r=_PeerWant)
    cpdef WantlistDiff full(self)
    @cython.locals(recs=dict, queue=list, r=_PeerWant)
    cpdef reset(self)


cdef int _check_cid(object cid) except -1
cdef object _check_priority(object priority)
cdef int _check_want_type(object want_type) except -1

@cython.locals(e=Entry)
cdef Entry _make_entry(bytes cid, int priority, int want_type, bint send_dont_have)
cdef bint _same(Entry a, Entry b) noexcept
cdef Entry _merge(Entry old, bytes cid, int priority, int want_type, bint send_dont_have)
cdef bint _removes(Entry old, int want_type) noexcept

@cython.locals(r=_PeerWant)
cdef _PeerWant _new_peer_want(bytes cid)

# send order in C: list.sort(key=attrgetter) boxed every priority and spent most of a flush in
# attribute lookups (perf); the merge sort below compares C ints
@cython.locals(n=Py_ssize_t, start=Py_ssize_t, end=Py_ssize_t, width=Py_ssize_t, lo=Py_ssize_t,
               mid=Py_ssize_t, hi=Py_ssize_t, i=Py_ssize_t, j=Py_ssize_t, k=Py_ssize_t,
               src=list, dst=list, x=Entry, y=Entry)
cdef _sort_entries(list a)
@cython.locals(i=Py_ssize_t, j=Py_ssize_t, lo=Py_ssize_t, hi=Py_ssize_t, m=Py_ssize_t,
               p=int, x=Entry, y=Entry)
cdef _insertion_sort(list a, Py_ssize_t start, Py_ssize_t end)

cdef WantlistDiff _as_diff(object d)
cdef Wantlist _as_wantlist(object w)

@cython.locals(o=Wantlist, n=Wantlist, olds=dict, news=dict, wants=list, cancels=list,
               added=Py_ssize_t, ne=Entry, oe=Entry)
cpdef WantlistDiff diff(object old, object new)

@cython.locals(d=WantlistDiff)
cdef WantlistDiff _make_diff(list wants, list cancels)
