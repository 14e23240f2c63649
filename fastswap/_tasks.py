"""The background tasks of a long-lived object (a Node, the host, the DHT): started with
:meth:`TaskSet.spawn`, forgotten when done, their failures logged rather than lost ("Task
exception was never retrieved" at interpreter exit), and all cancelled and awaited at stop.

asyncio.TaskGroup would cancel every task when one fails; these tasks are independent (one
peer's dial failing must not stop the others), so a plain set with a done callback it is.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterator
from typing import Any

__all__ = ["TaskSet"]


class TaskSet:
    """Tasks of *what* (named in log lines). A task that fails with one of *expected* (errors
    of the network, a peer going away) is logged at INFO; any other failure at ERROR with
    its traceback."""

    def __init__(self, log: logging.Logger, what: str,
                 expected: tuple[type[BaseException], ...] = ()) -> None:
        self._log = log
        self._what = what
        self._expected = expected
        self._tasks: set[asyncio.Future[Any]] = set()

    def spawn(self, coro: Awaitable[Any], name: str | None = None) -> asyncio.Future[Any]:
        task = asyncio.ensure_future(coro)
        if name and isinstance(task, asyncio.Task):
            task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def track(self, fut: asyncio.Future[Any]) -> None:
        """Hold *fut* until it is done, to cancel it at stop; its outcome is the caller's to
        handle (nothing is logged)."""
        self._tasks.add(fut)
        fut.add_done_callback(self._tasks.discard)

    def _done(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            return
        if isinstance(exc, self._expected):
            self._log.info("%s task ended: %s", self._what, exc)
        else:
            self._log.error("%s task failed", self._what, exc_info=exc)

    def __len__(self) -> int:
        return len(self._tasks)

    def __iter__(self) -> Iterator[asyncio.Future[Any]]:
        return iter(list(self._tasks))

    def cancel(self) -> list[asyncio.Future[Any]]:
        """Cancel every running task; the ones cancelled (await them with :meth:`wait`)."""
        tasks = [t for t in self._tasks if not t.done()]
        for t in tasks:
            t.cancel()
        return tasks

    async def close(self) -> None:
        """Cancel every running task and wait until all have ended."""
        tasks = self.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
