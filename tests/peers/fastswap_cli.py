"""fastswap's own CLI as a peer process: ``fastswap seed`` kept running (:class:`Seeder`),
``fastswap get`` run to completion (:func:`get`) or left running (:func:`start_get`), and any
other command (:func:`fastswap`), as a user types them; :func:`one_line_error` is what every
user error must look like."""

from __future__ import annotations

import asyncio
import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "CLI",
    "Seeder",
    "cli_env",
    "fastswap",
    "get",
    "get_argv",
    "one_line_error",
    "start_get",
    "wait_until",
]

#: how a test runs the command line (the installed package, this interpreter)
CLI = (sys.executable, "-m", "fastswap.cli")


def cli_env(extra: Mapping[str, str] | None = None) -> dict:
    """The environment for a CLI child: the test's repo flag decides, not $FASTSWAP_HOME;
    *extra* (e.g. FASTSWAP_* settings) is added."""
    env = {k: v for k, v in os.environ.items() if k != "FASTSWAP_HOME"}
    env.update(extra or {})
    return env


def fastswap(repo: Path | None, *args: str, env: Mapping[str, str] | None = None,
             stdin: bytes = b"", timeout: float = 120.0) -> subprocess.CompletedProcess:
    """``fastswap [--repo REPO] ARGS...`` to completion (stdout and stderr as text)."""
    repo_args = ("--repo", str(repo)) if repo is not None else ()
    p = subprocess.run([*CLI, *repo_args, *args], input=stdin, capture_output=True,
                       env=cli_env(env), timeout=timeout, check=False)
    return subprocess.CompletedProcess(p.args, p.returncode,
                                       p.stdout.decode(errors="replace"),
                                       p.stderr.decode(errors="replace"))


def one_line_error(p: subprocess.CompletedProcess, *what: str, status: int | None = None) -> str:
    """Assert *p* failed (with *status*, if given) with one line ``fastswap: error: ...`` on
    stderr holding each of *what*, and no traceback; the line."""
    err = p.stderr if isinstance(p.stderr, str) else p.stderr.decode()
    assert p.returncode != 0 and "Traceback" not in err, err
    if status is not None:
        assert p.returncode == status, (p.returncode, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fastswap: error: "), err
    for w in what:
        assert w in lines[0], (w, err)
    return lines[0]


def wait_until(what: str, check: Callable[[], Any], timeout: float = 30.0,
               interval: float = 0.05) -> Any:
    """Poll *check* until it returns something true; that value (AssertionError naming *what*
    after *timeout* s)."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class Seeder:
    """``fastswap --repo REPO seed --json EXTRA... PATHS...`` in its own process group, its
    start-up summary read (``info``). Standard error goes to a file (:meth:`log`): a busy
    seeder's log never fills a pipe nobody reads."""

    def __init__(self, repo: Path, *paths: str, extra: tuple[str, ...] = (),
                 env: Mapping[str, str] | None = None, global_args: tuple[str, ...] = (),
                 json_summary: bool = True) -> None:
        self.repo = Path(repo)
        self._err = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process
        summary = ("--json",) if json_summary else ()
        self.proc = subprocess.Popen(
            [*CLI, "--repo", str(repo), *global_args, "seed", *summary, *extra, *paths],
            stdout=subprocess.PIPE, stderr=self._err, env=cli_env(env), start_new_session=True,
            # unbuffered: readline's select() on the pipe must not miss lines a buffered reader
            # already pulled in with an earlier one (the summary arrives in one write)
            bufsize=0,
        )
        self.pid = self.proc.pid
        line = self.readline(60.0)
        self.info = json.loads(line) if json_summary else {"first_line": line}

    def readline(self, timeout: float) -> str:
        """The next line of standard output (AssertionError if none comes in time)."""
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            self.kill()
            raise AssertionError("the seeder printed nothing in time: " + self.log())
        line = self.proc.stdout.readline().decode()
        if not line:
            self.proc.wait(10)
            raise AssertionError("the seeder exited: " + self.log())
        return line

    def log(self) -> str:
        """Everything written to standard error so far."""
        self._err.seek(0)
        return self._err.read().decode(errors="replace")

    @property
    def addr(self) -> str:
        return self.info["addrs"][0]

    def stat(self) -> dict:
        """The running seeder's ``stat`` through its control socket (what ``fastswap stat``
        asks), in this process: quick enough to poll."""
        from fastswap.control import request

        return asyncio.run(request(self.repo / "control.sock", "stat"))

    def stop(self, sig: int = signal.SIGINT) -> int:
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(30)
        finally:
            self.kill()

    def served(self) -> dict:
        """After :meth:`stop`: what the seeder said it served on its way out (its last line:
        {"served": {"blocks_sent", "bytes_sent"}})."""
        lines = self.proc.stdout.read().decode().splitlines()
        assert lines, "the seeder printed nothing on its way out"
        return json.loads(lines[-1])["served"]

    def kill(self) -> None:
        """SIGKILL the seeder's whole process group (if it still runs)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


def get_argv(repo: Path, cid: str, peer: str | None, out: Path, *extra: str,
             timeout: float = 120.0) -> list[str]:
    """The command line of ``fastswap get CID [--peer PEER] -o OUT [extra...]``."""
    peers = ("--peer", peer) if peer else ()
    return [*CLI, "--repo", str(repo), "get", cid, *peers, "-o", str(out), "--timeout",
            str(timeout), *extra]


def get(repo: Path, cid: str, peer: str | None, out: Path, *extra: str,
        timeout: float = 120.0) -> subprocess.CompletedProcess:
    """``fastswap get CID [--peer PEER] -o OUT [extra...]`` to completion."""
    return subprocess.run(get_argv(repo, cid, peer, out, *extra, timeout=timeout),
                          capture_output=True, env=cli_env(), timeout=timeout + 30, check=False)


def start_get(repo: Path, cid: str, peer: str | None, out: Path, *extra: str,
              timeout: float = 120.0, env: Mapping[str, str] | None = None) -> subprocess.Popen:
    """``fastswap get ...`` left running, in its own process group, its output discarded."""
    return subprocess.Popen(get_argv(repo, cid, peer, out, *extra, timeout=timeout),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=cli_env(env), start_new_session=True)
