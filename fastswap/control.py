"""The control socket of a running node: ``<repo>/control.sock``, how ``fastswap stat`` (and
other local commands) ask the node that holds the repo.

A Unix stream socket, so only local users with access to the repo directory can talk to it (the
file is created 0600). The protocol is one JSON object a line: a request ``{"command": "stat"}``
and one answer ``{"ok": true, "result": ...}`` or ``{"ok": false, "error": "..."}``; the server
closes the connection after answering. Requests are bounded (64 KiB, 10 s), so a stuck or
hostile local client costs a task and a buffer, never the node.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from .errors import NodeError

__all__ = ["ControlServer", "request"]

log = logging.getLogger("fastswap.control")

_MAX_REQUEST = 64 * 1024
_TIMEOUT = 10.0

#: command name -> handler(arguments dict) returning JSON-serialisable data
Handlers = dict[str, Callable[[dict[str, Any]], Awaitable[Any]]]


class ControlServer:
    """Serve *handlers* on the Unix socket *path* (a stale socket file there is replaced: the
    caller holds the repo lock, so no live node can own it)."""

    def __init__(self, path: str | os.PathLike[str], handlers: Handlers) -> None:
        self.path = Path(path)
        self._handlers = handlers
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        self.path.unlink(missing_ok=True)
        old = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(
                self._serve, path=str(self.path), limit=_MAX_REQUEST)
        finally:
            os.umask(old)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self.path.unlink(missing_ok=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                async with asyncio.timeout(_TIMEOUT):
                    line = await reader.readline()
                req = json.loads(line)
                if type(req) is not dict or type(req.get("command")) is not str:
                    raise ValueError("a request is {\"command\": NAME, ...}")
                handler = self._handlers.get(req["command"])
                if handler is None:
                    raise ValueError(f"unknown command {req['command']!r}; known: "
                                     f"{', '.join(sorted(self._handlers))}")
                answer: dict[str, Any] = {"ok": True, "result": await handler(req)}
            except (ValueError, TimeoutError, asyncio.LimitOverrunError) as exc:
                answer = {"ok": False, "error": str(exc) or type(exc).__name__}
            writer.write(json.dumps(answer).encode() + b"\n")
            await writer.drain()
        except (ConnectionError, OSError) as exc:
            log.debug("control client went away: %s", exc)
        finally:
            writer.close()


async def request(path: str | os.PathLike[str], command: str, **args: Any) -> Any:
    """Ask the node listening on *path*; its result, or NodeError with its error (or saying no
    node is running)."""
    try:
        reader, writer = await asyncio.open_unix_connection(str(path), limit=1 << 26)
    except (FileNotFoundError, ConnectionRefusedError):
        raise NodeError(
            f"no fastswap node is running on this repo (no one answers at {path}); start one "
            "with `fastswap seed`"
        ) from None
    try:
        writer.write(json.dumps({"command": command, **args}).encode() + b"\n")
        await writer.drain()
        async with asyncio.timeout(_TIMEOUT):
            line = await reader.readline()
    finally:
        writer.close()
    if not line:
        raise NodeError(f"the node at {path} closed the control connection without an answer")
    answer = json.loads(line)
    if not answer.get("ok"):
        raise NodeError(f"the node refused {command!r}: {answer.get('error')}")
    return answer["result"]
