"""Stand-in for Cython's pure-mode ``cython`` module, for pure twins run where Cython is absent.

Typed pure-Python twins (``X_py.py`` compiled again as ``X_c`` with an ``X_c.pxd``, see setup.py)
must put class decorators such as ``@cython.cclass``/``@cython.no_gc`` on the class itself: a
``.pxd`` cannot carry them. Cython is a build requirement only, so a pure twin imports
``cython`` as ``try: import cython / except ImportError: from fastswap._cython_shim import cython``
and gets these no-ops. Add what a twin needs; each must do nothing at run time, as Cython's own
shim does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["cython"]


def _same(x: T) -> T:
    return x


class _Shim:
    compiled = False

    cclass = staticmethod(_same)
    final = staticmethod(_same)
    no_gc = staticmethod(_same)
    inline = staticmethod(_same)
    cfunc = staticmethod(_same)
    ccall = staticmethod(_same)

    @staticmethod
    def freelist(n: int) -> Callable[[T], T]:
        return _same

    @staticmethod
    def locals(**kwargs: Any) -> Callable[[T], T]:
        return _same

    @staticmethod
    def cast(t: Any, x: T, typecheck: bool = False) -> T:
        return x


cython = _Shim()
