"""The event loop fastswap runs on: uvloop where it is installed, else the stock asyncio loop.

uvloop is a dependency wherever it is supported (pyproject's environment marker leaves it out
on Windows and on interpreters other than CPython); there, and in any environment without it,
everything runs on asyncio's own loop, only slower. The CLI (``run``) and the py-libp2p
drop-in's loop thread (``new_event_loop``) choose here, so both fall back alike.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["new_event_loop", "run"]

T = TypeVar("T")


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A new uvloop loop, or a stock asyncio loop where uvloop is not installed."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(coro)`` on a loop from :func:`new_event_loop`."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(coro)
