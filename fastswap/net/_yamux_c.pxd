# C types for the compiled twin of _yamux_py.py (built as fastswap.net._yamux_c by setup.py).
# Every attribute of the classes there must be declared here.

import cython


cdef class _Stream:
    cdef public long long stream_id
    cdef public long long send_window
    cdef public long long recv_credit
    cdef public long long recv_target
    cdef public long long unconsumed
    cdef public bint exhausted
    cdef public bint local_closed
    cdef public bint remote_closed


cdef class YamuxSession:
    cdef public bint is_client
    cdef public long long initial_window
    cdef public long long max_window
    cdef public Py_ssize_t max_streams
    cdef public Py_ssize_t max_frame_size
    cdef public Py_ssize_t max_pending_replies
    cdef Py_ssize_t _pending_replies
    cdef public long long replies_dropped
    cdef public long long junk_frames
    cdef long long _next_id
    cdef dict _streams
    cdef list _out
    cdef long long _next_ping
    cdef public bint local_go_away
    cdef public bint remote_go_away
    cdef object _error
    cdef bytearray _hdr
    cdef Py_ssize_t _hdr_len
    cdef long long _body_left
    cdef long long _body_sid
    cdef bint _body_deliver
    cdef bint _body_fin

    cpdef list data_to_send(self)
    cdef _frame(self, int typ, int flags, long long stream_id, long long length)
    cdef bint _reply(self, int typ, int flags, long long stream_id, long long length) except -1
    cdef _check_alive(self)
    cdef _Stream _writable(self, long long stream_id)

    @cython.locals(st=_Stream, total=Py_ssize_t, n=Py_ssize_t, pos=Py_ssize_t,
                   chunk=Py_ssize_t, max_frame=Py_ssize_t, out=list)
    cpdef Py_ssize_t send_data(self, long long stream_id, object data) except -1

    @cython.locals(st=_Stream, target=cython.longlong, delta=cython.longlong)
    cpdef consumed(self, long long stream_id, long long n)

    cdef object _fail(self, str message)

    @cython.locals(events=list, end=Py_ssize_t, pos=Py_ssize_t, left=cython.longlong,
                   take=Py_ssize_t, have=Py_ssize_t, hdr=bytearray, version=cython.int, typ=cython.int,
                   flags=cython.int, sid=cython.longlong, length=cython.longlong)
    cpdef list receive_data(self, object data)

    @cython.locals(st=_Stream, is_data=cython.bint, window=cython.longlong)
    cdef _stream_frame(self, int typ, int flags, long long sid, long long length,
                       list events)

    cdef _skip_body(self, long long length)

    @cython.locals(st=_Stream)
    cdef _remote_fin(self, long long sid, list events)
