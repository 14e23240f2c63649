/* Plain slot attributes for Cython extension types (fastswap/message/_codec_c.pyx).
 *
 * Cython exposes `cdef public object` fields through property getters. CPython 3.11 reads
 * member descriptors (what `__slots__` creates) through a specialised fast path instead, and a
 * server reads every field of thousands of wantlist entries, so the compiled Entry and
 * BlockPresence store their fields as raw `PyObject *` and publish them here as T_OBJECT_EX
 * members: get, set and delete behave exactly as on a `__slots__` class.
 */
#ifndef FASTSWAP_MEMBERS_H
#define FASTSWAP_MEMBERS_H

#include <Python.h>
#include <structmember.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Add one member descriptor per entry of defs (terminated by a NULL name) to type t. */
static int fs_expose_members(PyTypeObject *t, PyMemberDef *defs)
{
    PyMemberDef *m;
    for (m = defs; m->name != NULL; m++) {
        PyObject *descr = PyDescr_NewMember(t, m);
        int rc;
        if (descr == NULL)
            return -1;
        rc = PyDict_SetItemString(t->tp_dict, m->name, descr);
        Py_DECREF(descr);
        if (rc < 0)
            return -1;
    }
    /* Cython installs its own generic getattr; the stock one is what the interpreter's
     * attribute-access specialisation recognises. They behave the same for these types. */
    t->tp_getattro = PyObject_GenericGetAttr;
    PyType_Modified(t);
    return 0;
}

/* Field release without Cython's __dealloc__ wrapper. A Cython __dealloc__ saves and restores
 * the pending exception around itself (PyErr_Fetch/PyErr_Restore), about a tenth of the cost
 * of decoding a wantlist entry; CPython's own containers release their items without that.
 * FS_DEALLOC_WRAPPER(name) defines fs_install_<name>_dealloc(type, offsets, n): type's
 * tp_dealloc then clears the n PyObject* fields at those offsets and calls the Cython one (its
 * freelist) with them NULL. */
#define FS_DEALLOC_WRAPPER(name)                                                              \
    static destructor fs_##name##_orig;                                                       \
    static Py_ssize_t fs_##name##_offs[8];                                                    \
    static int fs_##name##_n;                                                                 \
    static void fs_##name##_dealloc(PyObject *o)                                             \
    {                                                                                         \
        int i;                                                                                \
        for (i = 0; i < fs_##name##_n; i++)                                                   \
            Py_CLEAR(*(PyObject **)((char *)o + fs_##name##_offs[i]));                        \
        fs_##name##_orig(o);                                                                  \
    }                                                                                         \
    static int fs_install_##name##_dealloc(PyTypeObject *t, const Py_ssize_t *offs, int n)   \
    {                                                                                         \
        int i;                                                                                \
        if (n > 8)                                                                            \
            return -1;                                                                        \
        for (i = 0; i < n; i++)                                                               \
            fs_##name##_offs[i] = offs[i];                                                    \
        fs_##name##_n = n;                                                                    \
        fs_##name##_orig = t->tp_dealloc;                                                     \
        t->tp_dealloc = fs_##name##_dealloc;                                                  \
        return 0;                                                                             \
    }

FS_DEALLOC_WRAPPER(presence)

/* Object-creation primitives for the wantlist decode loop, which makes two objects per entry
 * (the Entry and its CID bytes) and nothing else; per entry the generic constructors were a
 * third of decoding. Each does exactly what the CPython constructor does for these inputs,
 * minus the argument checks and special cases the decoder has already ruled out. */

/* Give a recycled (freelist) object of a non-GC static type its first reference, as
 * PyObject_Init does (tracemalloc and debug builds keep their bookkeeping). */
static inline void fs_new_reference(PyObject *o)
{
#if PY_VERSION_HEX < 0x030D0000
    _Py_NewReference(o);
#else
    (void)PyObject_Init(o, Py_TYPE(o));
#endif
}

/* A fresh zeroed instance of t (tp_alloc), and the release of one made that way. */
static inline PyObject *fs_alloc(PyTypeObject *t)
{
    return t->tp_alloc(t, 0);
}

static inline void fs_free(PyObject *o)
{
    Py_TYPE(o)->tp_free(o);
}

/* A new reference to True or False. */
static inline PyObject *fs_bool(int v)
{
    PyObject *r = v ? Py_True : Py_False;
    Py_INCREF(r);
    return r;
}

/* A new reference to int(v). */
static inline PyObject *fs_int(long v)
{
    return PyLong_FromLong(v);
}

/* Recycling of the CID bytes and priority ints of released entries.
 *
 * A server decodes a wantlist, acts on it and drops it, and the next message needs the same
 * number of CIDs (all of one length, 34 or 36 bytes in practice) and priorities. Allocating and
 * freeing them through pymalloc was over a third of decoding. When an entry is released and it
 * holds the only reference to its CID bytes or priority int (refcount 1: no dict, set, list or
 * variable anywhere refers to it), the object is kept here instead of freed, and the next
 * decoded entry of that length gets it with its contents rewritten: exactly what CPython's own
 * freelists do (and what its in-place resizing of refcount-1 bytes and strings relies on).
 * Nothing can observe the difference: the object was unreachable, its cached hash is reset, and
 * each decode writes the value anew from the input. Only CPython 3.11 with 30-bit digits (whose
 * object layouts this relies on) recycles; other builds allocate normally. */
#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000 && !defined(Py_LIMITED_API) \
    && PyLong_SHIFT == 30
#define FS_RECYCLE 1
#else
#define FS_RECYCLE 0
#endif

#define FS_RECYCLE_MAX_LEN 64 /* CIDs longer than this (none in practice) are not kept */
#define FS_RECYCLE_CAP 4096   /* objects kept per kind, at most: 4096 * 80 B of bytes */

#if FS_RECYCLE
/* Kept bytes, one chain per length, linked through their (dead) contents. */
static PyObject *fs_bytes_free[FS_RECYCLE_MAX_LEN + 1];
static int fs_bytes_nfree;
/* Kept ints by digit count (1 or 2: every int32 outside the small-int cache). */
static PyObject *fs_int_free[2][FS_RECYCLE_CAP];
static int fs_int_nfree[2];
#endif

/* Release one reference to o, a field of an entry being freed (NULL allowed). */
static inline void fs_release(PyObject *o)
{
#if FS_RECYCLE
    if (o != NULL && Py_REFCNT(o) == 1) {
        PyTypeObject *t = Py_TYPE(o);
        Py_ssize_t n = Py_SIZE(o);
        if (t == &PyBytes_Type) {
            if (n >= (Py_ssize_t)sizeof(PyObject *) && n <= FS_RECYCLE_MAX_LEN
                    && fs_bytes_nfree < FS_RECYCLE_CAP) {
                memcpy(((PyBytesObject *)o)->ob_sval, &fs_bytes_free[n], sizeof(PyObject *));
                fs_bytes_free[n] = o;
                fs_bytes_nfree++;
                return;
            }
        } else if (t == &PyLong_Type) {
            int k = (int)(n < 0 ? -n : n) - 1;
            if ((k == 0 || k == 1) && fs_int_nfree[k] < FS_RECYCLE_CAP) {
                fs_int_free[k][fs_int_nfree[k]++] = o;
                return;
            }
        }
    }
#endif
    Py_XDECREF(o);
}

/* Free every kept object; how many. A burst (a crowd of peers sending wantlists) fills the
 * lists with objects made during the burst, in pymalloc arenas the burst otherwise emptied:
 * one live object keeps a whole 1 MiB arena, so a host trimming its memory after the burst
 * (fastswap.net.host) empties the lists first. The next decodes allocate afresh. */
static Py_ssize_t fs_free_kept(void)
{
    Py_ssize_t count = 0;
#if FS_RECYCLE
    int n, k;
    for (n = 0; n <= FS_RECYCLE_MAX_LEN; n++) {
        while (fs_bytes_free[n] != NULL) {
            PyObject *o = fs_bytes_free[n];
            memcpy(&fs_bytes_free[n], ((PyBytesObject *)o)->ob_sval, sizeof(PyObject *));
            fs_bytes_nfree--;
            Py_DECREF(o); /* the reference the list held: freed */
            count++;
        }
    }
    for (k = 0; k < 2; k++) {
        while (fs_int_nfree[k]) {
            Py_DECREF(fs_int_free[k][--fs_int_nfree[k]]);
            count++;
        }
    }
#endif
    return count;
}

/* A new reference to int(v), for a decoded int32 field. */
static inline PyObject *fs_int32(int32_t v)
{
#if FS_RECYCLE
    if (v < -5 || v > 256) { /* outside the small-int cache */
        uint32_t a = v < 0 ? (uint32_t)0 - (uint32_t)v : (uint32_t)v;
        int k = a >> PyLong_SHIFT ? 1 : 0;
        if (fs_int_nfree[k]) {
            PyLongObject *o = (PyLongObject *)fs_int_free[k][--fs_int_nfree[k]];
            o->ob_digit[0] = (digit)(a & PyLong_MASK);
            if (k)
                o->ob_digit[1] = (digit)(a >> PyLong_SHIFT);
            Py_SET_SIZE(o, v < 0 ? -(k + 1) : k + 1);
            return (PyObject *)o; /* the reference the freelist held */
        }
    }
#endif
    return PyLong_FromLong(v);
}

/* bytes(p[0:n]) for 0 < n: a kept one of that length, else PyBytes_FromStringAndSize without
 * its size checks, its one-character cache lookup and a call per step (the layout is CPython
 * 3.11's own, cpython/bytesobject.h; other versions take the public call). */
static inline PyObject *fs_bytes(const uint8_t *p, size_t n)
{
#if FS_RECYCLE
    PyBytesObject *op;
    if (n <= FS_RECYCLE_MAX_LEN && fs_bytes_free[n] != NULL) {
        op = (PyBytesObject *)fs_bytes_free[n];
        memcpy(&fs_bytes_free[n], op->ob_sval, sizeof(PyObject *));
        fs_bytes_nfree--;
_Pragma("GCC diagnostic push")
_Pragma("GCC diagnostic ignored \"-Wdeprecated-declarations\"")
        op->ob_shash = -1;
_Pragma("GCC diagnostic pop")
        memcpy(op->ob_sval, p, n); /* its trailing NUL is still in place */
        return (PyObject *)op;     /* the reference the freelist held */
    }
    if (n > (size_t)PY_SSIZE_T_MAX - offsetof(PyBytesObject, ob_sval) - 1)
        return PyErr_NoMemory();
    op = (PyBytesObject *)PyObject_Malloc(offsetof(PyBytesObject, ob_sval) + n + 1);
    if (op == NULL)
        return PyErr_NoMemory();
    Py_SET_TYPE(op, &PyBytes_Type);
    Py_SET_SIZE(op, (Py_ssize_t)n);
    _Py_NewReference((PyObject *)op);
_Pragma("GCC diagnostic push")
_Pragma("GCC diagnostic ignored \"-Wdeprecated-declarations\"")
    op->ob_shash = -1;
_Pragma("GCC diagnostic pop")
    memcpy(op->ob_sval, p, n);
    op->ob_sval[n] = '\0';
    return (PyObject *)op;
#else
    return PyBytes_FromStringAndSize((const char *)p, (Py_ssize_t)n);
#endif
}

#endif /* FASTSWAP_MEMBERS_H */
