"""fastswap: a fast Bitswap engine for Python.

The small public face; everything else lives in subpackages (``fastswap.message``,
``fastswap.blockstore``, ``fastswap.dag``, ...).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import _compat
from . import errors as _errors
from ._version import __version__
from .block import Block
from .blockstore import open_blockstore
from .cid import CID
from .errors import *  # the named errors are public

if TYPE_CHECKING:
    # What __getattr__ returns at run time, declared for type checkers (mypy, pyright), which
    # do not run __getattr__: without these, ``fastswap.Node`` would be ``object`` to them.
    from .node import Node
    from .session import Session

    HAS_EXTENSIONS: bool


def __getattr__(name: str) -> object:
    # HAS_EXTENSIONS is computed on first use: it selects every twin (fastswap._compat.TWINS).
    if name == "HAS_EXTENSIONS":
        return _compat.load_all()
    if name == "Node":  # lazily: importing fastswap stays cheap
        from .node import Node

        return Node
    if name == "Session":
        from .session import Session

        return Session
    raise AttributeError(f"module 'fastswap' has no attribute {name!r}")


# HAS_EXTENSIONS, Node and Session come from __getattr__ (lazily), the errors from errors.py
__all__ = ["CID", "HAS_EXTENSIONS", "Block", "Node", "Session", "__version__", "open_blockstore"]
__all__ += _errors.__all__
