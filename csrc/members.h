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

FS_DEALLOC_WRAPPER(entry)
FS_DEALLOC_WRAPPER(presence)

#endif /* FASTSWAP_MEMBERS_H */
