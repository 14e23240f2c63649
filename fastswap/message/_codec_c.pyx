# cython: language_level=3
"""The Bitswap wire codec, compiled twin of ``_codec_py.py`` (same API, same answers).

Spec: ipfs/specs bitswap-protocol, "Wire Format" (1.0.0, 1.1.0, 1.2.0): a protobuf ``Message``
(``proto/bitswap.proto``) behind an unsigned-varint length prefix. The decoding rules (varints,
unknown fields, wire-type checks, limits) are listed in ``_codec_py.py``; the primitives are in
``csrc/varint.h``.

Speed notes: parsing walks raw pointers into the input buffer and creates Python objects only
for results (CID bytes, block memoryviews, entries). ``Entry`` and ``BlockPresence`` are compiled
twins of the model classes (same constructor, attributes, equality, repr; registered as virtual
subclasses of them): decoding a 1000-entry wantlist into the shared ``__slots__`` class spent
about half its time allocating and freeing entries (``subtype_dealloc``, GC bookkeeping); these
come from a freelist, are not GC-tracked (their fields are bytes/int/bool), and publish their
fields as plain member descriptors (``csrc/members.h``), which reads as fast as ``__slots__``.
Entries in the canonical layout every known peer emits take a straight-line fast path before
the generic field loop. The decode loop builds entries from raw pointers into a list made at its
final size (a counting pass first), and recycles what dropped entries leave behind: the entry
objects themselves (a module freelist) and, when nothing else refers to them, their CID bytes
and priority ints (``csrc/members.h``): allocating and freeing those through pymalloc was over
a third of decoding, and a server drops every wantlist it has acted on. Fields are released by
a plain C ``tp_dealloc`` rather than a Cython ``__dealloc__`` (which saves and restores the
pending exception around itself).
Encoding sizes everything first, checks the limits, then writes once into a preallocated
``bytes`` (or, for ``encode_message_parts``, into a small header buffer, handing block data
through uncopied).
"""

cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_FromStringAndSize
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.long cimport PyLong_Check
from cpython.object cimport PyObject, PyTypeObject, destructor
from cpython.ref cimport Py_INCREF, Py_XDECREF, Py_XINCREF
from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

from .._defaults import MAX_BLOCK_SIZE, MAX_CID_SIZE, MAX_MESSAGE_SIZE
from ..errors import (
    BlockTooLargeError,
    CIDTooLongError,
    MalformedMessageError,
    MessageTooLargeError,
    TruncatedMessageError,
)
from .model import BlockPresence as _PyBlockPresence
from .model import Entry as _PyEntry
from .model import HAVE, WANT_BLOCK, ZEROCOPY_MIN, Message, entry_key, entry_repr, presence_repr

__all__ = [
    "decode_message", "encode_message", "encode_message_parts", "frame_length_prefix",
    "FrameDecoder", "Entry", "BlockPresence", "release_freelists",
]


cdef extern from "varint.h":
    enum:
        FS_OK
        FS_TRUNCATED
        FS_OVERLONG
        FS_BAD_WIRETYPE
        FS_BAD_GROUP
        FS_BAD_TAG
    int fs_read_varint(const uint8_t **pp, const uint8_t *end, uint64_t *out) nogil
    int fs_read_tag(const uint8_t **pp, const uint8_t *end, uint32_t *tag) nogil
    int fs_read_len(const uint8_t **pp, const uint8_t *end, size_t *n) nogil
    int fs_skip_field(const uint8_t **pp, const uint8_t *end, uint32_t tag, int depth) nogil
    bint fs_read_varint_fast(const uint8_t **pp, const uint8_t *end, uint64_t *out) nogil
    size_t fs_varint_size(uint64_t v) nogil
    uint8_t *fs_write_varint(uint8_t *p, uint64_t v) nogil

cdef extern from "members.h":
    ctypedef struct PyMemberDef:
        const char *name
        int type
        Py_ssize_t offset
        int flags
        const char *doc
    int T_OBJECT_EX
    int fs_expose_members(PyTypeObject *t, PyMemberDef *defs) except -1
    void fs_new_reference(PyObject *o) noexcept
    PyObject *fs_alloc(PyTypeObject *t) except NULL
    void fs_free(PyObject *o) noexcept
    PyObject *fs_bool(int v) noexcept
    PyObject *fs_int(long v)  # NULL with the error set
    PyObject *fs_int32(int32_t v)  # NULL with the error set
    void fs_release(PyObject *o) noexcept
    PyObject *fs_bytes(const uint8_t *p, size_t n)  # NULL with the error set
    Py_ssize_t fs_free_kept() noexcept
    int fs_install_presence_dealloc(PyTypeObject *t, const Py_ssize_t *offs, int n)

cdef extern from "Python.h":
    long long PyLong_AsLongLongAndOverflow(object o, int *overflow) except? -1
    list PyList_New(Py_ssize_t n)
    void fs_list_set "PyList_SET_ITEM"(list l, Py_ssize_t i, PyObject *o) noexcept


# -- compiled twins of the model's Entry and BlockPresence ------------------------------------------

cdef inline void _put(PyObject **field, object value) noexcept:
    """Store *value* in a PyObject* field, owning a reference (as a slot assignment does)."""
    cdef PyObject *old = field[0]
    Py_INCREF(value)
    field[0] = <PyObject *>value
    Py_XDECREF(old)


# no_gc: the fields hold bytes, ints and bools, which cannot form reference cycles (an entry
# given a container that refers back to it would leak rather than be collected).
# No @cython.freelist: decoded entries come from the module's own freelist (_entry_new /
# _entry_dealloc below), which the decode loop pops without going through tp_new.
@cython.no_gc
@cython.final
cdef class Entry:
    """One wantlist entry: want (or cancel) the block named by ``cid`` (compiled twin of
    :class:`fastswap.message.model.Entry`; same constructor, attributes and equality)."""

    cdef PyObject *cid
    cdef PyObject *priority
    cdef PyObject *cancel
    cdef PyObject *want_type
    cdef PyObject *send_dont_have

    def __init__(self, cid, priority=1, cancel=False, want_type=WANT_BLOCK,
                 send_dont_have=False):
        _put(&self.cid, cid)
        _put(&self.priority, priority)
        _put(&self.cancel, cancel)
        _put(&self.want_type, want_type)
        _put(&self.send_dont_have, send_dont_have)

    # no __dealloc__: _entry_dealloc (installed by _publish_members) releases the fields

    def __eq__(self, other):
        if not isinstance(other, _PyEntry):
            return NotImplemented
        return entry_key(self) == entry_key(other)

    def __ne__(self, other):
        if not isinstance(other, _PyEntry):
            return NotImplemented
        return entry_key(self) != entry_key(other)

    __hash__ = None

    def __repr__(self):
        return entry_repr(self)

    def __reduce__(self):
        return (Entry, entry_key(self))


@cython.freelist(256)
@cython.no_gc
@cython.final
cdef class BlockPresence:
    """A 1.2.0 answer to a want-have (compiled twin of
    :class:`fastswap.message.model.BlockPresence`)."""

    cdef PyObject *cid
    cdef PyObject *type

    def __init__(self, cid, type=HAVE):
        _put(&self.cid, cid)
        _put(&self.type, type)

    # no __dealloc__: see Entry

    # getattr: the member descriptors (csrc/members.h), which raise for an unset field
    def __eq__(self, other):
        if not isinstance(other, _PyBlockPresence):
            return NotImplemented
        return (bytes(getattr(self, "cid")) == bytes(other.cid)
                and getattr(self, "type") == other.type)

    def __ne__(self, other):
        r = self.__eq__(other)
        return r if r is NotImplemented else not r

    __hash__ = None

    def __repr__(self):
        return presence_repr(self)

    def __reduce__(self):
        return (BlockPresence, (getattr(self, "cid"), getattr(self, "type")))


# -- the Entry freelist ------------------------------------------------------------------------
# A server decodes a wantlist, acts on it and drops it; the next message reuses the same
# entries. Up to _ENTRY_FREELIST of them are kept (64 bytes each): more than a boxo peer's
# whole wantlist per message, so steady traffic allocates no entries at all.

cdef enum:
    _ENTRY_FREELIST = 4096

cdef PyObject *_entry_free[_ENTRY_FREELIST]
cdef Py_ssize_t _entry_nfree = 0


cdef void _entry_dealloc(PyObject *o) noexcept:
    """tp_dealloc of Entry: release the fields (a CID or priority only this entry refers to
    is kept for the next decode, csrc/members.h), then keep the object for reuse."""
    global _entry_nfree
    cdef PyObject *f
    f = (<Entry>o).cid
    (<Entry>o).cid = NULL
    fs_release(f)
    f = (<Entry>o).priority
    (<Entry>o).priority = NULL
    fs_release(f)
    f = (<Entry>o).cancel
    (<Entry>o).cancel = NULL
    Py_XDECREF(f)
    f = (<Entry>o).want_type
    (<Entry>o).want_type = NULL
    Py_XDECREF(f)
    f = (<Entry>o).send_dont_have
    (<Entry>o).send_dont_have = NULL
    Py_XDECREF(f)
    if _entry_nfree < _ENTRY_FREELIST:
        _entry_free[_entry_nfree] = o
        _entry_nfree += 1
    else:
        fs_free(o)


cdef inline PyObject *_entry_new() except NULL:
    """A new Entry with every field NULL (a new reference)."""
    global _entry_nfree
    cdef PyObject *o
    if _entry_nfree:
        _entry_nfree -= 1
        o = _entry_free[_entry_nfree]
        fs_new_reference(o)  # its fields were cleared when it was freed
        return o
    return fs_alloc(<PyTypeObject *>Entry)  # zeroed


def release_freelists():
    """Free the entries, CID bytes and priority ints the decoder keeps for reuse; how many.

    After a burst the lists hold objects made during it, scattered over pymalloc arenas the
    burst otherwise emptied (one live object keeps a 1 MiB arena): a host trimming its memory
    when quiet calls this first (``fastswap.net.host``). Decoding refills them as it goes."""
    global _entry_nfree
    cdef Py_ssize_t count = fs_free_kept()
    while _entry_nfree:
        _entry_nfree -= 1
        fs_free(_entry_free[_entry_nfree])
        count += 1
    return count


cdef PyMemberDef _ENTRY_MEMBERS[6]
cdef PyMemberDef _PRESENCE_MEMBERS[3]


cdef int _publish_members() except -1:
    cdef Entry e = Entry.__new__(Entry)
    cdef BlockPresence b = BlockPresence.__new__(BlockPresence)
    cdef char *eb = <char *><PyObject *>e
    cdef char *bb = <char *><PyObject *>b
    cdef int i
    cdef Py_ssize_t offs[5]
    offs[0] = <char *>&e.cid - eb
    offs[1] = <char *>&e.priority - eb
    offs[2] = <char *>&e.cancel - eb
    offs[3] = <char *>&e.want_type - eb
    offs[4] = <char *>&e.send_dont_have - eb
    _ENTRY_MEMBERS[0].name = "cid"
    _ENTRY_MEMBERS[1].name = "priority"
    _ENTRY_MEMBERS[2].name = "cancel"
    _ENTRY_MEMBERS[3].name = "want_type"
    _ENTRY_MEMBERS[4].name = "send_dont_have"
    for i in range(5):
        _ENTRY_MEMBERS[i].type = T_OBJECT_EX
        _ENTRY_MEMBERS[i].offset = offs[i]
        _ENTRY_MEMBERS[i].flags = 0
        _ENTRY_MEMBERS[i].doc = NULL
    _ENTRY_MEMBERS[5].name = NULL
    (<PyTypeObject *>Entry).tp_dealloc = <destructor>_entry_dealloc
    _PRESENCE_MEMBERS[0].name = "cid"
    _PRESENCE_MEMBERS[0].offset = <char *>&b.cid - bb
    _PRESENCE_MEMBERS[1].name = "type"
    _PRESENCE_MEMBERS[1].offset = <char *>&b.type - bb
    for i in range(2):
        _PRESENCE_MEMBERS[i].type = T_OBJECT_EX
        _PRESENCE_MEMBERS[i].flags = 0
        _PRESENCE_MEMBERS[i].doc = NULL
    _PRESENCE_MEMBERS[2].name = NULL
    offs[0] = _PRESENCE_MEMBERS[0].offset
    offs[1] = _PRESENCE_MEMBERS[1].offset
    if fs_install_presence_dealloc(<PyTypeObject *>BlockPresence, offs, 2) < 0:
        raise RuntimeError("fastswap: cannot install BlockPresence dealloc (a bug in fastswap)")
    fs_expose_members(<PyTypeObject *>Entry, _ENTRY_MEMBERS)
    fs_expose_members(<PyTypeObject *>BlockPresence, _PRESENCE_MEMBERS)
    return 0


_publish_members()
_PyEntry.register(Entry)
_PyBlockPresence.register(BlockPresence)

cdef Py_ssize_t _ZEROCOPY_MIN = ZEROCOPY_MIN
cdef bytes _EMPTY = b""
cdef tuple _WANT_TYPES = (0, 1)  # owns the objects _WANT_TYPE_OBJS points to
cdef PyObject *_WANT_TYPE_OBJS[2]
_WANT_TYPE_OBJS[0] = <PyObject *>_WANT_TYPES[0]
_WANT_TYPE_OBJS[1] = <PyObject *>_WANT_TYPES[1]


# -- errors (the same classes and texts as the pure twin) ------------------------------------------

cdef int _fail(int code, str where) except -1:
    if code == FS_TRUNCATED:
        raise TruncatedMessageError(
            f"Bitswap message truncated: {where} runs past the end of its message (the stream "
            "was cut short or a length is wrong); close the stream"
        )
    if code == FS_OVERLONG:
        raise MalformedMessageError(
            f"malformed Bitswap message: a varint in {where} is longer than 10 bytes; "
            "close the stream"
        )
    if code == FS_BAD_WIRETYPE:
        raise MalformedMessageError(
            f"malformed Bitswap message: invalid wire type (6 or 7) in {where}; close the stream"
        )
    if code == FS_BAD_GROUP:
        raise MalformedMessageError(
            f"malformed Bitswap message: unmatched or too deeply nested group in {where}; "
            "close the stream"
        )
    raise MalformedMessageError(
        f"malformed Bitswap message: invalid field tag (field number 0 or over 32 bits) in "
        f"{where}; close the stream"
    )


cdef int _wrong_type(str field, uint32_t tag) except -1:
    raise MalformedMessageError(
        f"malformed Bitswap message: field {field} has wire type {tag & 7}, which its type does "
        "not allow (not a Bitswap message, or a corrupted one); close the stream"
    )


cdef int _cid_too_long(str where, size_t n, size_t limit) except -1:
    raise CIDTooLongError(
        f"{where} of {n} bytes is over the {limit}-byte CID limit (MAX_CID_SIZE); "
        "the peer is misbehaving: close the stream"
    )


cdef int _block_too_large(size_t n, size_t limit) except -1:
    raise BlockTooLargeError(
        f"block of {n} bytes is over the {limit}-byte block limit (MAX_BLOCK_SIZE); "
        "the peer is misbehaving: close the stream"
    )


cdef inline int32_t _int32(uint64_t v) noexcept:
    # protobuf int32: the low 32 bits, two's complement
    return <int32_t><uint32_t>(v & 0xffffffffu)


cdef object _as_view(object buf):
    mv = buf if type(buf) is memoryview else memoryview(buf)
    if mv.ndim != 1 or mv.format != "B":
        mv = mv.cast("B")
    return mv


# -- decoding ------------------------------------------------------------------------------------

cdef struct _Limits:
    size_t block
    size_t cid


cdef PyObject *_decode_entry(const uint8_t *p, const uint8_t *end, size_t max_cid) except NULL:
    """One wantlist entry from its submessage bytes, as a new reference."""
    cdef const uint8_t *cid_p = NULL
    cdef size_t cid_n = 0
    cdef size_t n = 0
    cdef uint64_t v = 0
    cdef uint32_t tag = 0
    cdef uint32_t field
    cdef int32_t prio = 0
    cdef int32_t wt = 0
    cdef bint cancel = False
    cdef bint sdh = False
    cdef int rc
    # Fast path: the layout boxo, Helia and protobuf itself emit (fields in number order, one
    # byte tags, a one-byte CID length): 0a <n> <cid> 10 <prio> [18 01] 20 <wt> 28 <sdh>. Each
    # step consumes its field only when tag and value are well formed and in bounds, so it is
    # exactly a prefix of what the generic loop below would do; the loop then takes over at
    # the first byte the fast path did not take (unknown fields, repeats, anything odd).
    if end - p >= 2 and p[0] == 0x0a and p[1] < 0x80 and <size_t>(end - p - 2) >= p[1]:
        if p[1] > max_cid:
            _cid_too_long("wantlist entry CID", p[1], max_cid)
        cid_n = p[1]
        cid_p = p + 2
        p = cid_p + cid_n
        if p < end and p[0] == 0x10:
            if fs_read_varint_fast(&p, end, &v):
                prio = _int32(v)
        if end - p >= 2 and p[0] == 0x18 and p[1] < 0x80:
            cancel = p[1] != 0
            p += 2
        if end - p >= 2 and p[0] == 0x20 and p[1] < 0x80:
            wt = p[1]
            p += 2
        if end - p >= 2 and p[0] == 0x28 and p[1] < 0x80:
            sdh = p[1] != 0
            p += 2
    while p < end:
        rc = fs_read_tag(&p, end, &tag)
        if rc != FS_OK:
            _fail(rc, "the wantlist")
        field = tag >> 3
        if field == 1:
            if tag & 7 != 2:
                _wrong_type("Wantlist.Entry.block", tag)
            rc = fs_read_len(&p, end, &n)
            if rc != FS_OK:
                _fail(rc, "the wantlist")
            if n > max_cid:
                _cid_too_long("wantlist entry CID", n, max_cid)
            cid_p = p
            cid_n = n
            p += n
        elif 2 <= field <= 5:
            if tag & 7 != 0:
                _wrong_type(("Wantlist.Entry.priority", "Wantlist.Entry.cancel",
                             "Wantlist.Entry.wantType", "Wantlist.Entry.sendDontHave")[field - 2],
                            tag)
            if p < end and p[0] < 0x80:  # one-byte values: nearly all of them
                v = p[0]
                p += 1
            else:
                rc = fs_read_varint(&p, end, &v)
                if rc != FS_OK:
                    _fail(rc, "the wantlist")
            if field == 2:
                prio = _int32(v)
            elif field == 3:
                cancel = v != 0
            elif field == 4:
                wt = _int32(v)
            else:
                sdh = v != 0
        else:
            rc = fs_skip_field(&p, end, tag, 0)
            if rc != FS_OK:
                _fail(rc, "the wantlist")
    # Raw pointers from here on: every field of a new entry is NULL and takes a new reference,
    # and the entry itself goes to the caller as one (no reference-count round trips).
    # On a failed allocation the entry is released with its remaining fields NULL (which
    # _entry_dealloc allows) and NULL returned with the error set.
    cdef PyObject *o = _entry_new()
    cdef PyObject *f = fs_int32(prio)
    if f == NULL:
        Py_XDECREF(o)
        return NULL
    (<Entry>o).priority = f
    (<Entry>o).cancel = fs_bool(cancel)
    (<Entry>o).send_dont_have = fs_bool(sdh)
    if <uint32_t>wt < 2:  # want-block or want-have: the cached small ints
        f = _WANT_TYPE_OBJS[wt]
        Py_XINCREF(f)
    else:
        f = fs_int(wt)
        if f == NULL:
            Py_XDECREF(o)
            return NULL
    (<Entry>o).want_type = f
    if cid_n:
        f = fs_bytes(cid_p, cid_n)
        if f == NULL:
            Py_XDECREF(o)
            return NULL
    else:
        f = <PyObject *>_EMPTY
        Py_XINCREF(f)
    (<Entry>o).cid = f
    return o


cdef Py_ssize_t _count_entries(const uint8_t *p, const uint8_t *end) noexcept nogil:
    """The number of entries in a wantlist's bytes, to size the list before decoding. Reads
    tags and lengths exactly as _decode_wantlist does, and stops at the first thing it cannot
    read (the decoding pass then raises there): whenever decoding succeeds, the counts agree."""
    cdef Py_ssize_t count = 0
    cdef uint32_t tag = 0
    cdef size_t n = 0
    while p < end:
        if p[0] == 0x0a and end - p >= 2 and p[1] < 0x80:  # an entry with a one-byte length
            n = p[1]
            p += 2
            if n > <size_t>(end - p):
                break
            p += n
            count += 1
            continue
        if fs_read_tag(&p, end, &tag) != FS_OK:
            break
        if tag == 0x0a:
            if fs_read_len(&p, end, &n) != FS_OK:
                break
            p += n
            count += 1
        elif fs_skip_field(&p, end, tag, 0) != FS_OK:
            break
    return count


cdef list _decode_wantlist(const uint8_t *p, const uint8_t *end, list before, bint *full,
                           size_t max_cid):
    """The entries of *before* followed by those of this wantlist (protobuf merges repeated
    wantlist fields). The list is made at its final size and filled in place: appending grew
    and copied it a few dozen times for 1000 entries."""
    cdef uint32_t tag = 0
    cdef uint32_t field
    cdef size_t n = 0
    cdef uint64_t v = 0
    cdef int rc
    cdef Py_ssize_t count = _count_entries(p, end)
    cdef Py_ssize_t i = 0
    cdef PyObject *o
    cdef list entries = PyList_New(count)  # items NULL until set (list_dealloc allows that)
    while p < end:
        if p[0] == 0x0a:  # entries, the common case
            p += 1
            tag = 0x0a
        else:
            rc = fs_read_tag(&p, end, &tag)
            if rc != FS_OK:
                _fail(rc, "the wantlist")
        field = tag >> 3
        if field == 1:
            if tag & 7 != 2:
                _wrong_type("Wantlist.entries", tag)
            rc = fs_read_len(&p, end, &n)
            if rc != FS_OK:
                _fail(rc, "the wantlist")
            o = _decode_entry(p, p + n, max_cid)
            if i < count:  # always, unless the counting pass was wrong
                fs_list_set(entries, i, o)  # steals the reference
                i += 1
            else:
                entries.append(<object>o)
                Py_XDECREF(o)
            p += n
        elif field == 2:
            if tag & 7 != 0:
                _wrong_type("Wantlist.full", tag)
            rc = fs_read_varint(&p, end, &v)
            if rc != FS_OK:
                _fail(rc, "the wantlist")
            full[0] = v != 0
        else:
            rc = fs_skip_field(&p, end, tag, 0)
            if rc != FS_OK:
                _fail(rc, "the wantlist")
    if i < count:  # the counting pass was wrong (a bug): drop the unset tail
        del entries[i:]
    if before:
        before.extend(entries)
        return before
    return entries


cdef tuple _decode_payload(const uint8_t *base, const uint8_t *p, const uint8_t *end, object mv,
                           _Limits *lim):
    cdef uint32_t tag = 0
    cdef uint32_t field
    cdef size_t n = 0
    cdef int rc
    prefix = _EMPTY
    data = None
    while p < end:
        rc = fs_read_tag(&p, end, &tag)
        if rc != FS_OK:
            _fail(rc, "a block payload")
        field = tag >> 3
        if field == 1 or field == 2:
            if tag & 7 != 2:
                _wrong_type("Block.prefix" if field == 1 else "Block.data", tag)
            rc = fs_read_len(&p, end, &n)
            if rc != FS_OK:
                _fail(rc, "a block payload")
            if field == 1:
                if n > lim.cid:
                    _cid_too_long("block prefix", n, lim.cid)
                prefix = PyBytes_FromStringAndSize(<const char *>p, n)
            else:
                if n > lim.block:
                    _block_too_large(n, lim.block)
                data = mv[p - base:p - base + n]
            p += n
        else:
            rc = fs_skip_field(&p, end, tag, 0)
            if rc != FS_OK:
                _fail(rc, "a block payload")
    if data is None:
        data = mv[0:0]
    return (prefix, data)


cdef object _decode_presence(const uint8_t *p, const uint8_t *end, size_t max_cid):
    cdef uint32_t tag = 0
    cdef uint32_t field
    cdef size_t n = 0
    cdef uint64_t v = 0
    cdef int32_t kind = 0
    cdef int rc
    cid = _EMPTY
    while p < end:
        rc = fs_read_tag(&p, end, &tag)
        if rc != FS_OK:
            _fail(rc, "a block presence")
        field = tag >> 3
        if field == 1:
            if tag & 7 != 2:
                _wrong_type("BlockPresence.cid", tag)
            rc = fs_read_len(&p, end, &n)
            if rc != FS_OK:
                _fail(rc, "a block presence")
            if n > max_cid:
                _cid_too_long("block presence CID", n, max_cid)
            cid = PyBytes_FromStringAndSize(<const char *>p, n)
            p += n
        elif field == 2:
            if tag & 7 != 0:
                _wrong_type("BlockPresence.type", tag)
            rc = fs_read_varint(&p, end, &v)
            if rc != FS_OK:
                _fail(rc, "a block presence")
            kind = _int32(v)
        else:
            rc = fs_skip_field(&p, end, tag, 0)
            if rc != FS_OK:
                _fail(rc, "a block presence")
    cdef BlockPresence o = BlockPresence.__new__(BlockPresence)
    cdef object value  # typed: inferred from the C int it would become one
    Py_INCREF(cid)
    o.cid = <PyObject *>cid
    value = kind
    Py_INCREF(value)
    o.type = <PyObject *>value
    return o


cdef object _decode(object buf, const uint8_t *base, size_t size, _Limits *lim):
    cdef const uint8_t *p = base
    cdef const uint8_t *end = base + size
    cdef uint32_t tag = 0
    cdef uint32_t field
    cdef size_t n = 0
    cdef uint64_t v = 0
    cdef int rc
    cdef bint full = False
    cdef int32_t pending = 0
    cdef list entries = []
    cdef list blocks = []
    cdef list presences = []
    mv = None
    while p < end:
        rc = fs_read_tag(&p, end, &tag)
        if rc != FS_OK:
            _fail(rc, "the message")
        field = tag >> 3
        if 1 <= field <= 4:
            if tag & 7 != 2:
                _wrong_type(("Message.wantlist", "Message.blocks", "Message.payload",
                             "Message.blockPresences")[field - 1], tag)
            rc = fs_read_len(&p, end, &n)
            if rc != FS_OK:
                _fail(rc, ("the wantlist", "a block", "a block payload",
                           "a block presence")[field - 1])
            if field == 1:
                entries = _decode_wantlist(p, p + n, entries, &full, lim.cid)
            elif field == 2:
                if n > lim.block:
                    _block_too_large(n, lim.block)
                if mv is None:
                    mv = _as_view(buf)
                blocks.append((None, mv[p - base:p - base + n]))
            elif field == 3:
                if mv is None:
                    mv = _as_view(buf)
                blocks.append(_decode_payload(base, p, p + n, mv, lim))
            else:
                presences.append(_decode_presence(p, p + n, lim.cid))
            p += n
        elif field == 5:
            if tag & 7 != 0:
                _wrong_type("Message.pendingBytes", tag)
            rc = fs_read_varint(&p, end, &v)
            if rc != FS_OK:
                _fail(rc, "pendingBytes")
            pending = _int32(v)
        else:
            rc = fs_skip_field(&p, end, tag, 0)
            if rc != FS_OK:
                _fail(rc, f"unknown field {field}")
    msg = Message.__new__(Message)
    msg.entries = entries
    msg.full = full
    msg.blocks = blocks
    msg.presences = presences
    msg.pending_bytes = pending
    return msg


def decode_message(
    buf,
    *,
    Py_ssize_t max_message_size=MAX_MESSAGE_SIZE,
    Py_ssize_t max_block_size=MAX_BLOCK_SIZE,
    Py_ssize_t max_cid_size=MAX_CID_SIZE,
):
    """Decode one Bitswap message (without its length prefix) from a bytes-like *buf*.

    Block data in the result are zero-copy ``memoryview`` slices of *buf*: keep *buf* unchanged
    while they are in use. Raises a MessageError subclass for anything it cannot accept.
    """
    cdef Py_buffer view
    cdef _Limits lim
    PyObject_GetBuffer(buf, &view, PyBUF_SIMPLE)
    try:
        if view.len > max_message_size:
            raise MessageTooLargeError(
                f"Bitswap message of {view.len} bytes is over the {max_message_size}-byte limit "
                "(MAX_MESSAGE_SIZE); close the stream"
            )
        lim.block = <size_t>max(max_block_size, 0)
        lim.cid = <size_t>max(max_cid_size, 0)
        return _decode(buf, <const uint8_t *>view.buf, <size_t>view.len, &lim)
    finally:
        PyBuffer_Release(&view)


# -- encoding ------------------------------------------------------------------------------------

cdef struct _EntRec:
    const uint8_t *cid
    size_t cid_n
    uint64_t prio
    uint64_t wt
    bint cancel
    bint sdh
    size_t body


cdef struct _BlkRec:
    Py_buffer data
    Py_buffer prefix
    bint has_data
    bint has_prefix
    size_t body         # payload body (field 3); unused for 1.0.0 blocks


cdef struct _PresRec:
    const uint8_t *cid
    size_t cid_n
    uint64_t kind
    size_t body


cdef inline size_t _ld_size(size_t n) noexcept:
    """Tag byte + length varint + n bytes."""
    return 1 + fs_varint_size(n) + n


cdef int64_t _int32_of(object v, str name) except? -1:
    cdef int overflow = 0
    cdef long long x
    if not PyLong_Check(v):
        raise TypeError(f"{name} must be an int, not {type(v).__name__}")
    x = PyLong_AsLongLongAndOverflow(v, &overflow)
    if overflow or x < -0x80000000 or x > 0x7fffffff:
        raise MalformedMessageError(
            f"{name} {v} does not fit protobuf int32 (-2**31 .. 2**31-1); pass a smaller value"
        )
    return x


cdef inline bint _truth(object v) except -1:
    if v is True:
        return True
    if v is False or v is None:
        return False
    return bool(v)


cdef object _cid_bytes(object cid, str where, size_t limit):
    """*cid* as bytes (kept alive by the caller), with the CID length limit checked."""
    if type(cid) is not bytes:
        cid = bytes(memoryview(cid))  # TypeError unless bytes-like, as the pure twin
    if <size_t>len(<bytes>cid) > limit:
        raise CIDTooLongError(
            f"{where} of {len(<bytes>cid)} bytes is over the {limit}-byte CID limit "
            "(MAX_CID_SIZE); peers would refuse it"
        )
    return cid


@cython.final
cdef inline uint8_t *_put_bytes(uint8_t *p, uint8_t tag, const uint8_t *buf,
                                size_t n) noexcept nogil:
    """Write a length-delimited field: tag, varint length, the bytes."""
    p[0] = tag
    p = fs_write_varint(p + 1, n)
    memcpy(p, buf, n)
    return p + n


cdef inline uint8_t *_put_varint_field(uint8_t *p, uint8_t tag, uint64_t v) noexcept nogil:
    p[0] = tag
    return fs_write_varint(p + 1, v)


cdef class _Encoder:
    """One encode: the gathered fields (C records), their sizes, and the buffers to release."""

    cdef _EntRec *ents
    cdef Py_ssize_t n_ents
    cdef _BlkRec *blks
    cdef Py_ssize_t n_blks
    cdef Py_ssize_t n_acquired  # blks[0:n_acquired] hold buffers to release
    cdef _PresRec *pres
    cdef Py_ssize_t n_pres
    cdef list keep             # objects whose memory the records point into
    cdef list block_objs       # the data object of each block, for zero-copy segments
    cdef bint full
    cdef uint64_t pending
    cdef size_t wl_body
    cdef size_t total
    cdef size_t zerocopy_bytes

    def __dealloc__(self):
        cdef Py_ssize_t i
        if self.blks != NULL:
            for i in range(self.n_acquired):
                if self.blks[i].has_data:
                    PyBuffer_Release(&self.blks[i].data)
                if self.blks[i].has_prefix:
                    PyBuffer_Release(&self.blks[i].prefix)
        free(self.ents)
        free(self.blks)
        free(self.pres)

    cdef int gather(self, object msg, size_t max_message, size_t max_block,
                    size_t max_cid) except -1:
        cdef list entries = msg.entries
        cdef list blocks = msg.blocks
        cdef list presences = msg.presences
        cdef Py_ssize_t i
        cdef Py_ssize_t k
        cdef int kind_pass
        cdef _EntRec *r
        cdef _BlkRec *b
        cdef _PresRec *q
        cdef size_t body
        cdef size_t total = 0
        cdef int64_t x
        cdef Entry ce
        self.keep = []
        self.block_objs = []
        self.n_ents = len(entries)
        self.n_blks = len(blocks)
        self.n_pres = len(presences)
        self.ents = <_EntRec *>malloc(sizeof(_EntRec) * (self.n_ents + 1))
        self.blks = <_BlkRec *>malloc(sizeof(_BlkRec) * (self.n_blks + 1))
        self.pres = <_PresRec *>malloc(sizeof(_PresRec) * (self.n_pres + 1))
        if self.ents == NULL or self.blks == NULL or self.pres == NULL:
            raise MemoryError()

        # wantlist (field 1)
        self.wl_body = 0
        for i in range(self.n_ents):
            e = entries[i]
            r = &self.ents[i]
            ce = e if type(e) is Entry else None
            if ce is not None and ce.cid != NULL and ce.priority != NULL \
                    and ce.cancel != NULL and ce.want_type != NULL and ce.send_dont_have != NULL:
                # our own class: read the fields without attribute lookups
                cid = <object>ce.cid
                prio = <object>ce.priority
                cancel = <object>ce.cancel
                wt = <object>ce.want_type
                sdh = <object>ce.send_dont_have
            else:
                cid = e.cid
                prio = e.priority
                cancel = e.cancel
                wt = e.want_type
                sdh = e.send_dont_have
            cid = _cid_bytes(cid, "wantlist entry CID", max_cid)
            self.keep.append(cid)
            r.cid = <const uint8_t *>PyBytes_AS_STRING(cid)
            r.cid_n = len(<bytes>cid)
            x = _int32_of(prio, "priority")
            r.prio = <uint64_t>x
            r.cancel = _truth(cancel)
            x = _int32_of(wt, "want_type")
            r.wt = <uint64_t>x
            r.sdh = _truth(sdh)
            body = 0
            if r.cid_n:
                body += _ld_size(r.cid_n)
            if r.prio:
                body += 1 + fs_varint_size(r.prio)
            if r.cancel:
                body += 2
            if r.wt:
                body += 1 + fs_varint_size(r.wt)
            if r.sdh:
                body += 2
            r.body = body
            self.wl_body += _ld_size(body)
        self.full = _truth(msg.full)
        if self.full:
            self.wl_body += 2
        if self.wl_body:
            total += _ld_size(self.wl_body)

        # blocks: 1.0.0 ones (field 2) first, then payloads (field 3), as protobuf orders them
        self.zerocopy_bytes = 0
        k = 0
        for kind_pass in range(2):
            for i in range(self.n_blks):
                item = blocks[i]
                prefix, data = item
                if (prefix is None) != (kind_pass == 0):
                    continue
                b = &self.blks[k]
                b.has_data = False
                b.has_prefix = False
                self.n_acquired = k + 1
                if prefix is not None:
                    prefix = _cid_bytes(prefix, "block prefix", max_cid)
                    PyObject_GetBuffer(prefix, &b.prefix, PyBUF_SIMPLE)
                    b.has_prefix = True
                PyObject_GetBuffer(data, &b.data, PyBUF_SIMPLE)
                b.has_data = True
                if <size_t>b.data.len > max_block:
                    raise BlockTooLargeError(
                        f"block of {b.data.len} bytes is over the {max_block}-byte block limit "
                        "(MAX_BLOCK_SIZE); peers would refuse it: chunk the data smaller"
                    )
                if b.data.len >= _ZEROCOPY_MIN:
                    self.zerocopy_bytes += b.data.len
                    self.block_objs.append(data if type(data) is bytes else _as_view(data))
                else:
                    self.block_objs.append(None)
                if kind_pass == 0:
                    b.body = 0
                    total += _ld_size(b.data.len)
                else:
                    body = 0
                    if b.prefix.len:
                        body += _ld_size(b.prefix.len)
                    if b.data.len:
                        body += _ld_size(b.data.len)
                    b.body = body
                    total += _ld_size(body)
                k += 1

        # presences (field 4)
        for i in range(self.n_pres):
            p = presences[i]
            q = &self.pres[i]
            cid = _cid_bytes(p.cid, "block presence CID", max_cid)
            self.keep.append(cid)
            q.cid = <const uint8_t *>PyBytes_AS_STRING(cid)
            q.cid_n = len(<bytes>cid)
            x = _int32_of(p.type, "presence type")
            q.kind = <uint64_t>x
            body = 0
            if q.cid_n:
                body += _ld_size(q.cid_n)
            if q.kind:
                body += 1 + fs_varint_size(q.kind)
            q.body = body
            total += _ld_size(body)

        # pendingBytes (field 5)
        x = _int32_of(msg.pending_bytes, "pending_bytes")
        self.pending = <uint64_t>x
        if self.pending:
            total += 1 + fs_varint_size(self.pending)

        if total > max_message:
            raise MessageTooLargeError(
                f"message of {total} bytes would be over the {max_message}-byte limit "
                "(MAX_MESSAGE_SIZE); peers would refuse it: split it into several messages"
            )
        self.total = total
        return 0

    cdef uint8_t *write(self, uint8_t *p, list parts) except NULL:
        """Write the message at p. With *parts*, big block data become their own segments:
        the bytes written since the last segment are flushed to *parts* first."""
        cdef Py_ssize_t i
        cdef _EntRec *r
        cdef _BlkRec *b
        cdef _PresRec *q
        cdef uint8_t *seg = p
        if self.wl_body:
            p[0] = 0x0a
            p = fs_write_varint(p + 1, self.wl_body)
            for i in range(self.n_ents):
                r = &self.ents[i]
                p[0] = 0x0a
                p = fs_write_varint(p + 1, r.body)
                if r.cid_n:
                    p = _put_bytes(p, 0x0a, r.cid, r.cid_n)
                if r.prio:
                    p = _put_varint_field(p, 0x10, r.prio)
                if r.cancel:
                    p[0] = 0x18
                    p[1] = 1
                    p += 2
                if r.wt:
                    p = _put_varint_field(p, 0x20, r.wt)
                if r.sdh:
                    p[0] = 0x28
                    p[1] = 1
                    p += 2
            if self.full:
                p[0] = 0x10
                p[1] = 1
                p += 2
        for i in range(self.n_acquired):
            b = &self.blks[i]
            if b.has_prefix:
                p[0] = 0x1a
                p = fs_write_varint(p + 1, b.body)
                if b.prefix.len:
                    p = _put_bytes(p, 0x0a, <const uint8_t *>b.prefix.buf, b.prefix.len)
                if b.data.len == 0:
                    continue
            p[0] = 0x12
            p = fs_write_varint(p + 1, b.data.len)
            if parts is not None and b.data.len >= _ZEROCOPY_MIN:
                if p > seg:
                    parts.append(PyBytes_FromStringAndSize(<const char *>seg, p - seg))
                parts.append(self.block_objs[i])
                seg = p
            else:
                memcpy(p, b.data.buf, b.data.len)
                p += b.data.len
        for i in range(self.n_pres):
            q = &self.pres[i]
            p = _put_varint_field(p, 0x22, q.body)
            if q.cid_n:
                p = _put_bytes(p, 0x0a, q.cid, q.cid_n)
            if q.kind:
                p = _put_varint_field(p, 0x10, q.kind)
        if self.pending:
            p = _put_varint_field(p, 0x28, self.pending)
        if parts is not None and p > seg:
            parts.append(PyBytes_FromStringAndSize(<const char *>seg, p - seg))
        return p


cdef _Encoder _gather(object msg, Py_ssize_t max_message_size, Py_ssize_t max_block_size,
                      Py_ssize_t max_cid_size):
    cdef _Encoder enc = _Encoder.__new__(_Encoder)
    enc.gather(msg, <size_t>max(max_message_size, 0), <size_t>max(max_block_size, 0),
               <size_t>max(max_cid_size, 0))
    return enc


def encode_message(
    msg,
    *,
    Py_ssize_t max_message_size=MAX_MESSAGE_SIZE,
    Py_ssize_t max_block_size=MAX_BLOCK_SIZE,
    Py_ssize_t max_cid_size=MAX_CID_SIZE,
):
    """Encode *msg* (without length prefix); byte-identical to protobuf's SerializeToString."""
    cdef _Encoder enc = _gather(msg, max_message_size, max_block_size, max_cid_size)
    cdef bytes out = PyBytes_FromStringAndSize(NULL, enc.total)
    cdef uint8_t *start = <uint8_t *>PyBytes_AS_STRING(out)
    cdef uint8_t *p = enc.write(start, None)
    if <size_t>(p - start) != enc.total:  # pragma: no cover - sizing and writing disagree
        raise AssertionError("encode_message: size mismatch (a bug in fastswap)")
    return out


def encode_message_parts(
    msg,
    *,
    Py_ssize_t max_message_size=MAX_MESSAGE_SIZE,
    Py_ssize_t max_block_size=MAX_BLOCK_SIZE,
    Py_ssize_t max_cid_size=MAX_CID_SIZE,
):
    """Encode *msg* as a list of bytes/memoryview segments whose concatenation equals
    :func:`encode_message`; block data of ZEROCOPY_MIN bytes or more are passed through
    uncopied (keep them unchanged until the segments are written)."""
    cdef _Encoder enc = _gather(msg, max_message_size, max_block_size, max_cid_size)
    cdef size_t inline_size = enc.total - enc.zerocopy_bytes
    cdef uint8_t *scratch = <uint8_t *>malloc(inline_size + 1)
    cdef uint8_t *p
    cdef list parts = []
    if scratch == NULL:
        raise MemoryError()
    try:
        p = enc.write(scratch, parts)
        if <size_t>(p - scratch) != inline_size:  # pragma: no cover
            raise AssertionError("encode_message_parts: size mismatch (a bug in fastswap)")
    finally:
        free(scratch)
    return parts


# -- framing -------------------------------------------------------------------------------------

def frame_length_prefix(n, *, Py_ssize_t max_message_size=MAX_MESSAGE_SIZE):
    """The unsigned-varint length prefix for a message of *n* bytes."""
    cdef uint8_t out[10]
    cdef uint8_t *end
    if n < 0:
        raise ValueError(f"a message length cannot be negative ({n})")
    if n > max_message_size:
        raise MessageTooLargeError(
            f"message of {n} bytes is over the {max_message_size}-byte limit (MAX_MESSAGE_SIZE)"
            "; split it into several messages"
        )
    end = fs_write_varint(out, <uint64_t>n)
    return PyBytes_FromStringAndSize(<const char *>out, end - out)


@cython.final
cdef class FrameDecoder:
    """Splits a byte stream into length-prefixed Bitswap messages (sans-IO: feed bytes in).

    :meth:`feed` returns the payloads completed by the new bytes, each a ``memoryview`` the
    caller owns: a slice of the fed object when it is immutable ``bytes`` and holds the whole
    frame (zero copy), otherwise a view of a buffer the decoder has let go of. A declared length
    over the limit raises MessageTooLargeError as soon as the prefix says so, before any of it
    is buffered; buffers grow only as data arrives. Call :meth:`eof` at end of stream.

    A feeder of transient views (a muxed stream's receive buffer, overwritten by the next
    read) may let the decoder allocate a message's whole buffer when its prefix arrives, so
    the rest is copied straight into place (one copy; else each piece is copied, then joined):
    :attr:`reserve_room` is how large a buffer it may take (0: never, the default),
    :attr:`reserved` how large the one it holds is. The feeder bounds the sum; what
    :attr:`buffered` counts is still only what arrived (the buffer is allocated uninitialised:
    its pages are touched only as bytes arrive).
    """

    cdef uint64_t _max
    #: bytes of a message buffer the decoder may allocate before they arrive (see above)
    cdef public Py_ssize_t reserve_room
    # the message's whole buffer, when one was reserved, and how much of it arrived
    cdef object _buf
    cdef Py_ssize_t _filled
    # the body being collected, as the pieces that arrived (views of immutable input, copies
    # of anything else), joined once at its exact size: no reallocation, nothing held that has
    # not arrived
    cdef list _parts
    cdef Py_ssize_t _held
    cdef int64_t _need      # body bytes still missing; -1 while reading a prefix
    cdef uint64_t _hdr
    cdef int _hdr_len
    cdef int _shift

    def __init__(self, *, Py_ssize_t max_message_size=MAX_MESSAGE_SIZE):
        self._max = <uint64_t>max(max_message_size, 0)
        self._parts = []
        self._held = 0
        self._need = -1
        self._hdr = 0
        self._hdr_len = 0
        self._shift = 0
        self.reserve_room = 0
        self._buf = None
        self._filled = 0

    @property
    def buffered(self):
        """Bytes of an incomplete frame held (prefix bytes included)."""
        return self._hdr_len + self._held + self._filled

    @property
    def reserved(self):
        """Size of the message buffer allocated ahead of its bytes (0 if none)."""
        return 0 if self._buf is None else len(self._buf)

    def feed(self, data):
        cdef object mv = _as_view(data)
        cdef bint immutable = type(data) is bytes
        cdef list out = []
        cdef Py_buffer view
        cdef const uint8_t *base
        cdef Py_ssize_t pos = 0
        cdef Py_ssize_t end
        cdef Py_ssize_t take
        cdef uint8_t b
        cdef uint64_t n
        PyObject_GetBuffer(mv, &view, PyBUF_SIMPLE)
        try:
            base = <const uint8_t *>view.buf
            end = view.len
            while pos < end:
                if self._need < 0:
                    b = base[pos]
                    pos += 1
                    # bits past 63 cannot matter: any value that large is already refused
                    if self._shift < 63:
                        self._hdr |= (<uint64_t>(b & 0x7f)) << self._shift
                    elif b & 0x7f:
                        self._hdr = 0xffffffffffffffff
                    self._hdr_len += 1
                    self._shift += 7
                    if self._hdr > self._max:
                        raise MessageTooLargeError(
                            f"peer announced a Bitswap message of at least {self._hdr} bytes, "
                            f"over the {self._max}-byte limit (MAX_MESSAGE_SIZE); close the "
                            "stream"
                        )
                    if b >= 0x80:
                        if self._hdr_len >= 10:
                            raise MalformedMessageError(
                                "message length prefix is a varint over 10 bytes; close the "
                                "stream"
                            )
                        continue
                    n = self._hdr
                    self._hdr = 0
                    self._hdr_len = 0
                    self._shift = 0
                    if immutable and <uint64_t>(end - pos) >= n:
                        out.append(mv[pos:pos + <Py_ssize_t>n])
                        pos += <Py_ssize_t>n
                        continue
                    if n == 0:
                        out.append(memoryview(b""))
                        continue
                    self._need = <int64_t>n
                    if not immutable and <Py_ssize_t>n <= self.reserve_room:
                        self._buf = PyByteArray_FromStringAndSize(NULL, <Py_ssize_t>n)
                    continue
                take = min(<Py_ssize_t>self._need, end - pos)
                if self._buf is not None:
                    memcpy(PyByteArray_AS_STRING(self._buf) + self._filled, base + pos, take)
                    pos += take
                    self._need -= take
                    if self._need:
                        self._filled += take
                    else:
                        buf = self._buf
                        self._buf = None
                        self._filled = 0
                        self._need = -1
                        # nobody else holds the buffer: the payload cannot change under its
                        # users
                        out.append(memoryview(buf).toreadonly())
                    continue
                piece = mv[pos:pos + take]
                self._parts.append(piece if immutable else bytes(piece))
                self._held += take
                pos += take
                self._need -= take
                if self._need == 0:
                    parts = self._parts
                    out.append(memoryview(b"".join(parts)) if len(parts) > 1
                               else memoryview(parts[0]))
                    self._parts = []
                    self._held = 0
                    self._need = -1
        finally:
            PyBuffer_Release(&view)
        return out

    def eof(self):
        """End of stream: raise TruncatedMessageError if a frame was left incomplete."""
        if self._need > 0 or self._hdr_len:
            missing = f"{self._need} more bytes" if self._need > 0 else "the rest of its length"
            raise TruncatedMessageError(
                f"stream ended inside a Bitswap message frame (waiting for {missing}); the "
                "peer closed early or the connection broke"
            )
