"""py-libp2p's own Bitswap example (``examples/bitswap/bitswap.py`` of the libp2p 0.8.1 sdist,
ported by ``tests/peers/pylibp2p_dropin.py``) run as a provider process and a client process
against the drop-in, as its README tells a user to: the provider adds a file and logs the
command to run the client, the client fetches the file and saves it.

Two ports: ``examples/`` (its ``libp2p.bitswap`` imports changed, nothing else: a py-libp2p
host) and ``examples_on_fastswap_host/`` (its ``new_host`` import changed too: fastswap's
host). Both run in the drop-in venv. The example listens on every interface it finds (its
``get_available_interfaces``); it dials only the address the provider printed, 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import threading
import time
from collections import deque
from pathlib import Path

import pytest

from tests.peers import pylibp2p_dropin as env

pytestmark = [pytest.mark.interop, pytest.mark.slow]

#: the provider's log line with the client's command (its "COPY THIS COMMAND" banner)
_COMMAND = re.compile(r'--provider "(/ip4/127\.0\.0\.1/[^"]+)" --cid "([^"]+)"')
_SIZE = 3 * 1024 * 1024 + 4321
_START_TIMEOUT = 60.0


class _Provider:
    """The example in provider mode, its log (stderr) read as it comes."""

    def __init__(self, program: Path, file: Path, cwd: Path) -> None:
        self.lines: deque[str] = deque(maxlen=400)
        self.proc = subprocess.Popen(
            [str(env.venv_python()), str(program), "--mode", "provider", "--file", str(file),
             "--port", "0"], cwd=cwd, env=_child_env(), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def command(self) -> tuple[str, str]:
        """(provider address, root CID) from its log, once it printed them."""
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            for line in list(self.lines):
                m = _COMMAND.search(line)
                if m:
                    return m.group(1), m.group(2)
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        pytest.fail(f"the example provider printed no client command:\n{self.log()}")

    def log(self) -> str:
        return "\n".join(list(self.lines)[-80:])

    def close(self) -> None:
        """Ctrl+C (as its banner says), then the whole process group if it lingers."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(15)
        self._reader.join(5)


def _child_env() -> dict[str, str]:
    # the drop-in venv's fastswap, not this checkout's
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


@pytest.mark.parametrize("tree", ["examples", "examples_on_fastswap_host"])
def test_example_provider_and_client(tree: str, tmp_path: Path) -> None:
    env.ensure_installed()
    program = env.ported_tests() / tree / "bitswap.py"
    # the host it runs on: py-libp2p's, or (its one other change) the drop-in's new_host
    host_import = {"examples": "from libp2p import new_host",
                   "examples_on_fastswap_host": "from fastswap.compat.libp2p import new_host"}
    assert host_import[tree] in program.read_text().splitlines()
    data = os.urandom(_SIZE)
    src = tmp_path / "shared.bin"
    src.write_bytes(data)
    out = tmp_path / "out"
    provider = _Provider(program, src, tmp_path)
    try:
        addr, cid = provider.command()
        client = subprocess.run(
            [str(env.venv_python()), str(program), "--mode", "client", "--provider", addr,
             "--cid", cid, "--output", str(out), "--port", "0"],
            cwd=tmp_path, env=_child_env(), stdin=subprocess.DEVNULL, capture_output=True,
            text=True, timeout=180, check=False)
        log = client.stdout + client.stderr
        assert client.returncode == 0, f"client failed:\n{log[-6000:]}\nprovider:\n" \
                                       f"{provider.log()}"
        assert "FILE DOWNLOADED!" in log, log[-6000:]
        (saved,) = out.iterdir()
        assert hashlib.sha256(saved.read_bytes()).digest() == hashlib.sha256(data).digest()
    finally:
        provider.close()
