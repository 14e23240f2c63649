# C types for the compiled twin of _noiseframe_py.py (same source; see its docstring).
import cython

cdef Py_ssize_t MAX_FRAME, TAG_LEN, MAX_PLAINTEXT
cdef unsigned long long NONCE_LIMIT
cdef bytes _ZERO4

@cython.locals(frames=Py_ssize_t)
cpdef Py_ssize_t encrypted_size(Py_ssize_t n)


cdef class FrameEncryptor:
    cdef object _encrypt_into
    cdef public unsigned long long nonce

    @cython.locals(src=memoryview, dst=memoryview, total=Py_ssize_t, need=Py_ssize_t,
                   pos=Py_ssize_t, opos=Py_ssize_t, n="unsigned long long", chunk=Py_ssize_t,
                   clen=Py_ssize_t)
    cpdef Py_ssize_t encrypt_into(self, object data, object out) except -1

    @cython.locals(out=bytearray)
    cpdef bytearray encrypt(self, object data)


cdef class FrameDecryptor:
    cdef object _decrypt_into
    cdef public unsigned long long nonce
    cdef object _pool
    cdef Py_ssize_t _size
    cdef bytearray _buf
    cdef memoryview _view
    cdef Py_ssize_t _start, _end
    cdef bytes _hold
    cdef bytearray _out

    cdef bytearray _take(self)

    @cython.locals(buf=bytearray, hold=bytes, n=Py_ssize_t)
    cdef int _acquire(self) except -1

    @cython.locals(buf=bytearray, out=bytearray)
    cpdef release(self)

    @cython.locals(out=bytearray)
    cdef memoryview _plain_buffer(self, Py_ssize_t need)

    @cython.locals(n="unsigned long long", plen=Py_ssize_t)
    cdef Py_ssize_t _decrypt_frame(self, memoryview frame, memoryview out, Py_ssize_t opos) except -1

    @cython.locals(clen=Py_ssize_t)
    cdef tuple _drain(self, memoryview src, Py_ssize_t pos, Py_ssize_t end, memoryview out,
                      Py_ssize_t opos)

    @cython.locals(src=memoryview, total=Py_ssize_t, pending=Py_ssize_t, out=memoryview,
                   opos=Py_ssize_t, pos=Py_ssize_t, buf=memoryview, take=Py_ssize_t,
                   clen=Py_ssize_t, missing=Py_ssize_t)
    cpdef memoryview feed(self, object data)

    @cython.locals(n=Py_ssize_t)
    cdef int _append(self, memoryview chunk) except -1

    @cython.locals(pending=Py_ssize_t)
    cdef int _compact(self) except -1

    cpdef memoryview get_buffer(self, Py_ssize_t sizehint=*)

    @cython.locals(out=memoryview, pos=Py_ssize_t, opos=Py_ssize_t)
    cpdef memoryview buffer_updated(self, Py_ssize_t nbytes)
