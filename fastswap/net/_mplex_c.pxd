# C types for the compiled twin of _mplex_py.py (built as fastswap.net._mplex_c by setup.py).
# Every attribute of the classes there must be declared here.

import cython


@cython.locals(out=bytearray)
cdef bytes _uvarint(unsigned long long n)


cdef class _MStream:
    cdef public long long handle
    cdef public long long unconsumed
    cdef public bint local_closed
    cdef public bint remote_closed


cdef class MplexSession:
    cdef public bint is_client
    cdef public Py_ssize_t max_streams
    cdef public long long max_message_size
    cdef public long long max_buffered_per_stream
    cdef public Py_ssize_t max_pending_replies
    cdef Py_ssize_t _pending_replies
    cdef public long long replies_dropped
    cdef public long long junk_frames
    cdef long long _next_id
    cdef dict _streams
    cdef list _out
    cdef object _error
    cdef int _stage
    cdef unsigned long long _acc
    cdef int _shift
    cdef int _nbytes
    cdef unsigned long long _header
    cdef long long _body_left
    cdef long long _body_handle
    cdef bint _body_deliver

    cpdef list data_to_send(self)
    cdef _message(self, unsigned long long stream_id, int flag, long long length)
    cdef _check_alive(self)

    @cython.locals(st=_MStream, total=Py_ssize_t, pos=Py_ssize_t, chunk=Py_ssize_t,
                   max_msg=Py_ssize_t, mid=cython.ulonglong, flag=cython.int, out=list)
    cpdef Py_ssize_t send_data(self, long long handle, object data) except -1

    cdef _send_reset(self, long long handle)

    @cython.locals(st=_MStream)
    cpdef consumed(self, long long handle, long long n)

    cdef object _fail(self, str message)

    @cython.locals(events=list, end=Py_ssize_t, pos=Py_ssize_t, left=cython.longlong,
                   take=Py_ssize_t, byte=cython.uchar, part=cython.ulonglong, acc=cython.ulonglong, nbytes=cython.int)
    cpdef list receive_data(self, object data)

    @cython.locals(flag=cython.int, mid=cython.ulonglong, handle=cython.longlong,
                   st=_MStream, deliver=cython.bint)
    cdef _message_header(self, unsigned long long header, long long length, list events)
