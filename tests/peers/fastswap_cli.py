"""fastswap's own CLI as a peer process: ``fastswap seed`` kept running (:class:`Seeder`) and
``fastswap get`` run to completion (:func:`get`), as a user types them."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
from pathlib import Path

__all__ = ["Seeder", "cli_env", "get"]


def cli_env() -> dict:
    """The environment for a CLI child: the test's repo flag decides, not $FASTSWAP_HOME."""
    return {k: v for k, v in os.environ.items() if k != "FASTSWAP_HOME"}


class Seeder:
    def __init__(self, repo: Path, *paths: str, extra: tuple[str, ...] = ()) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fastswap.cli", "--repo", str(repo), "seed", "--json",
             *extra, *paths],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env(), start_new_session=True,
        )
        line = self._readline(60.0)
        self.info = json.loads(line)

    def _readline(self, timeout: float) -> str:
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            self.kill()
            raise AssertionError("the seeder printed nothing in time: "
                                 + self.proc.stderr.read().decode())
        line = self.proc.stdout.readline().decode()
        if not line:
            self.proc.wait(10)
            raise AssertionError("the seeder exited: " + self.proc.stderr.read().decode())
        return line

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
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


def get(repo: Path, cid: str, peer: str | None, out: Path, *extra: str,
        timeout: float = 120.0) -> subprocess.CompletedProcess:
    """``fastswap get CID [--peer PEER] -o OUT [extra...]`` to completion."""
    peers = ("--peer", peer) if peer else ()
    return subprocess.run(
        [sys.executable, "-m", "fastswap.cli", "--repo", str(repo), "get", cid, *peers,
         "-o", str(out), "--timeout", str(timeout), *extra],
        capture_output=True, env=cli_env(), timeout=timeout + 30, check=False,
    )
