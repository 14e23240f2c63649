"""The server's peer task queue: merged per-(peer, CID) tasks, fair across peers.

Spec: ipfs/specs bitswap-protocol (1.2.0 responses); the rules and the design are in the docstring
of :mod:`fastswap.server._taskqueue_py`. This module picks the compiled twin (``_taskqueue_c``) or
the pure one via :func:`fastswap._compat.load_twin`.
"""

from __future__ import annotations

from .._compat import load_twin

_impl = load_twin("fastswap.server._taskqueue_c", "fastswap.server._taskqueue_py")

BLOCK: int = _impl.BLOCK
HAVE: int = _impl.HAVE
DONT_HAVE: int = _impl.DONT_HAVE
PUSHED: int = _impl.PUSHED
MERGED: int = _impl.MERGED
REFUSED: int = _impl.REFUSED
BLOCK_OVERHEAD: int = _impl.BLOCK_OVERHEAD
PRESENCE_OVERHEAD: int = _impl.PRESENCE_OVERHEAD
Task = _impl.Task
TaskQueue = _impl.TaskQueue
WaitHistogram = _impl.WaitHistogram

__all__ = [
    "BLOCK", "BLOCK_OVERHEAD", "DONT_HAVE", "HAVE", "MERGED", "PRESENCE_OVERHEAD", "PUSHED",
    "REFUSED", "Task", "TaskQueue", "WaitHistogram",
]
