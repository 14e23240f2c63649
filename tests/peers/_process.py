"""A real peer run as a child process, driven over stdin/stdout JSON lines.

Both peers (Kubo through a ctypes driver, Helia through Node) speak the same line protocol,
so process management lives here once:

    parent -> child   {"id": N, "op": "...", ...args}\\n
    child  -> parent  {"id": N, "ok": true, ...result}\\n
                  or {"id": N, "ok": false, "error": "..."}\\n
    child  -> parent  {"event": "ready", ...}\\n           once, when the node is up

Commands carry ids so a slow one (a download) never blocks a quick one (peer info), and so
the same peer can be driven from plain threads and from an asyncio event loop (``arequest``:
a test whose fastswap node runs on the loop must not block the loop while a peer fetches from
it). The child runs in its own session/process group: teardown kills the whole group, so a
wedged Go runtime or a Node child never outlives the test run. Every wait is bounded; stderr is
drained continuously (Kubo logs a line per call) and its tail is quoted in every failure.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self

__all__ = [
    "PeerCommandError",
    "PeerError",
    "PeerExitedError",
    "PeerInstallError",
    "PeerProcess",
    "PeerStartError",
    "PeerTimeoutError",
]


class PeerError(RuntimeError):
    """A real peer used by the interop tests could not do what was asked."""


class PeerInstallError(PeerError):
    """The peer's software is missing or could not be installed."""


class PeerStartError(PeerError):
    """The peer process did not come up (exited, or sent no ready line in time)."""


class PeerExitedError(PeerError):
    """The peer process is gone (crashed, killed or stopped) with commands outstanding."""


class PeerTimeoutError(PeerError, TimeoutError):
    """The peer did not answer a command in time."""


class PeerCommandError(PeerError):
    """The peer answered a command with an error."""


_STDERR_TAIL_LINES = 60
# the child's stdout carries only protocol lines; one bigger than this is a bug, not data
_MAX_LINE = 16 << 20


class PeerProcess:
    """One child process speaking the JSON-line protocol. Use as a context manager, or call
    ``close()`` (idempotent, never raises) in a ``finally``."""

    #: short name used in messages ("kubo", "helia")
    name = "peer"

    def __init__(
        self,
        argv: Sequence[str],
        *,
        cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        start_timeout: float = 60.0,
        log_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self._argv = list(argv)
        self._cwd = cwd
        self._env = dict(env) if env is not None else None
        self._start_timeout = start_timeout
        self._log_path = Path(log_path) if log_path is not None else None
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()  # guards _pending, _next_id, stdin writes
        self._pending: dict[int, concurrent.futures.Future[dict[str, Any]]] = {}
        self._next_id = 1
        self._ready: concurrent.futures.Future[dict[str, Any]] = concurrent.futures.Future()
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=_STDERR_TAIL_LINES)
        self._threads: list[threading.Thread] = []
        self._closed = False
        #: the child's ready line (node info at start-up)
        self.ready_info: dict[str, Any] = {}
        #: seconds from spawn to the ready line
        self.start_seconds: float | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> PeerProcess:
        t0 = time.monotonic()
        try:
            self._proc = subprocess.Popen(
                self._argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=self._cwd,
                env=self._env,
                # own process group: teardown can kill the child and everything it spawned
                start_new_session=True,
            )
        except OSError as exc:
            raise PeerStartError(f"{self.name}: cannot run {self._argv[0]!r}: {exc}") from exc
        for target, label in ((self._read_stdout, "stdout"), (self._read_stderr, "stderr")):
            t = threading.Thread(target=target, name=f"{self.name}-{label}", daemon=True)
            t.start()
            self._threads.append(t)
        try:
            self.ready_info = self._ready.result(timeout=self._start_timeout)
        except concurrent.futures.TimeoutError:
            self.close()
            raise PeerStartError(
                f"{self.name}: no ready line within {self._start_timeout:.0f} s"
                + self.stderr_excerpt()
            ) from None
        except PeerError as exc:
            self.close()
            raise PeerStartError(f"{self.name}: failed to start: {exc}") from None
        self.start_seconds = time.monotonic() - t0
        return self

    def __enter__(self) -> Self:
        if self._proc is None:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def close(self, timeout: float = 10.0) -> None:
        """Ask the child to stop, then SIGTERM and SIGKILL its process group, each wait bounded.
        Safe to call twice, after a crash, or on a peer that never started."""
        if self._closed:
            return
        self._closed = True
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None and self._ready.done() and self._ready.exception() is None:
            # a peer that came up can stop cleanly; one that never did gets signals only
            try:
                self._send({"id": 0, "op": "stop"})
            except PeerError:
                pass
            self._wait(proc, timeout)
        for sig, grace in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 5.0)):
            # signal only while the leader is unreaped, so its group id cannot have been reused
            if proc.poll() is not None:
                break
            try:
                os.killpg(proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                break
            self._wait(proc, grace)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
        for t in self._threads:
            t.join(timeout=2.0)
        self._fail_pending(PeerExitedError(f"{self.name} was closed"))

    @staticmethod
    def _wait(proc: subprocess.Popen[bytes], timeout: float) -> bool:
        try:
            proc.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    # -- commands ----------------------------------------------------------------------------

    # -- node facts every driver reports in its ready line -----------------------------------

    @property
    def peer_id(self) -> str:
        return str(self.ready_info["peerId"])

    @property
    def multiaddrs(self) -> list[str]:
        """Listen addresses, each ending in /p2p/<peer id>, ready to dial."""
        return list(self.ready_info["multiaddrs"])

    @property
    def multiaddr(self) -> str:
        return self.multiaddrs[0]

    @property
    def protocols(self) -> list[str]:
        """Protocols the peer handles (what its identify answer lists), where it reports them."""
        return list(self.ready_info.get("protocols", []))

    def info(self, timeout: float = 10.0) -> dict[str, Any]:
        return self.request("info", timeout=timeout)

    def submit(self, op: str, **args: Any) -> concurrent.futures.Future[dict[str, Any]]:
        """Send a command; the future resolves to the result dict or raises a PeerError."""
        fut: concurrent.futures.Future[dict[str, Any]] = concurrent.futures.Future()
        with self._lock:
            if self._closed or self._proc is None:
                raise PeerExitedError(f"{self.name} is not running")
            req_id = self._next_id
            self._next_id += 1
            self._pending[req_id] = fut
        try:
            self._send({"id": req_id, "op": op, **args})
        except PeerError as exc:
            with self._lock:
                self._pending.pop(req_id, None)
            fut.set_exception(exc)
        return fut

    def request(self, op: str, *, timeout: float = 60.0, **args: Any) -> dict[str, Any]:
        """Send a command and wait (bounded) for its answer."""
        fut = self.submit(op, **args)
        try:
            return fut.result(timeout=timeout)
        except concurrent.futures.TimeoutError:
            raise PeerTimeoutError(
                f"{self.name}: {op} got no answer within {timeout:.0f} s" + self.stderr_excerpt()
            ) from None

    async def arequest(self, op: str, *, timeout: float = 60.0, **args: Any) -> dict[str, Any]:
        """``request`` for coroutines: waits without blocking the running event loop."""
        fut = asyncio.wrap_future(self.submit(op, **args))
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise PeerTimeoutError(
                f"{self.name}: {op} got no answer within {timeout:.0f} s" + self.stderr_excerpt()
            ) from None

    def stderr_excerpt(self) -> str:
        lines = list(self._stderr_tail)
        if not lines:
            return ""
        return f"\n--- last {len(lines)} lines of {self.name} stderr ---\n" + "\n".join(lines)

    # -- plumbing ----------------------------------------------------------------------------

    def _send(self, obj: dict[str, Any]) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None:
            raise PeerExitedError(f"{self.name} is not running")
        data = (json.dumps(obj) + "\n").encode()
        with self._lock:
            try:
                proc.stdin.write(data)
                proc.stdin.flush()
            except (BrokenPipeError, ValueError, OSError) as exc:
                raise PeerExitedError(
                    f"{self.name} exited (code {proc.poll()}); cannot send {obj.get('op')!r}"
                    + self.stderr_excerpt()
                ) from exc

    def _read_stdout(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        try:
            stdout = proc.stdout
            for raw in iter(lambda: stdout.readline(_MAX_LINE), b""):
                try:
                    msg = json.loads(raw)
                except ValueError:
                    # not ours (a library printed to stdout): keep it for diagnostics
                    self._stderr_tail.append("[stdout] " + raw.decode(errors="replace").rstrip())
                    continue
                if not isinstance(msg, dict):
                    continue
                if msg.get("event") == "ready":
                    if not self._ready.done():
                        self._ready.set_result(msg)
                    continue
                with self._lock:
                    fut = self._pending.pop(msg.get("id"), None)  # type: ignore[arg-type]
                if fut is None or fut.done():
                    continue
                if msg.get("ok"):
                    fut.set_result({k: v for k, v in msg.items() if k not in ("id", "ok")})
                else:
                    fut.set_exception(
                        PeerCommandError(f"{self.name}: {msg.get('error')}" + self.stderr_excerpt())
                    )
        except (OSError, ValueError):
            pass
        # EOF: the child is gone (or closing); nobody will answer what is outstanding
        try:
            code = proc.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            code = None
        # let the stderr reader catch the child's last words before quoting them
        for t in self._threads:
            if t.name.endswith("stderr") and t is not threading.current_thread():
                t.join(timeout=2.0)
        err = PeerExitedError(f"{self.name} exited (code {code})" + self.stderr_excerpt())
        if not self._ready.done():
            self._ready.set_exception(err)
        self._fail_pending(err)

    def _read_stderr(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stderr is not None
        log_path = self._log_path
        with open(log_path, "ab") if log_path is not None else contextlib.nullcontext() as log:
            try:
                for raw in iter(proc.stderr.readline, b""):
                    if log is not None:
                        log.write(raw)
                    self._stderr_tail.append(raw.decode(errors="replace").rstrip()[:2000])
            except (OSError, ValueError):
                pass

    def _fail_pending(self, err: PeerError) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(err)
