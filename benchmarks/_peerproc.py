"""The parent side of ``benchmarks/_transfer_peer.py``: start its ``seed``/``leech``/``abuse``
processes, read their JSON lines, stop them; and the random test file both sides use.

Shared by the transfer, swarm-abuse and RSS measurements (``benchmarks/``, ``tests/node/``).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PEER = ROOT / "benchmarks" / "_transfer_peer.py"
#: hostile peers of the abuse tests (issue 8 items 5 and 7)
ATTACK = ROOT / "benchmarks" / "_attack_peer.py"


class PeerProc:
    """One ``_transfer_peer.py`` process (or another *script*: ``ATTACK``) speaking JSON lines
    on stdout, in its own session (its process group is killed if it does not exit when its
    stdin closes)."""

    def __init__(self, *args: str, script: Path = PEER,
                 env: dict[str, str] | None = None) -> None:
        env = dict(os.environ if env is None else env)
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        self.p = subprocess.Popen(
            [sys.executable, str(script), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            env=env, start_new_session=True,
        )

    def send(self, text: str) -> None:
        assert self.p.stdin is not None
        self.p.stdin.write(text.encode() + b"\n")
        self.p.stdin.flush()

    def line(self) -> dict[str, Any]:
        assert self.p.stdout is not None
        raw = self.p.stdout.readline().decode()
        if not raw:
            raise RuntimeError(f"peer {self.p.args[2:]} exited early (its stderr is above)")
        return json.loads(raw)

    def ask(self, text: str) -> dict[str, Any]:
        self.send(text)
        return self.line()

    def close(self, wait: float = 15.0) -> None:
        try:
            if self.p.stdin:
                self.p.stdin.close()
            self.p.wait(wait)
        except (subprocess.TimeoutExpired, OSError):
            os.killpg(self.p.pid, 9)
            self.p.wait(10)


def write_random_file(path: str | os.PathLike[str], size: int) -> str:
    """Write *size* random bytes to *path*; return their sha256."""
    h = hashlib.sha256()
    with open(path, "wb") as fh:
        left = size
        while left:
            chunk = os.urandom(min(left, 1 << 24))
            h.update(chunk)
            fh.write(chunk)
            left -= len(chunk)
    return h.hexdigest()


def file_sha256(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()
