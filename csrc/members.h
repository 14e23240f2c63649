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

#endif /* FASTSWAP_MEMBERS_H */
