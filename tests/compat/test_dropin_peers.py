"""The drop-in on a py-libp2p host fetches from real Kubo 0.22 and Helia 7 peers: a py-libp2p
program (``dropin_fetch.py``) that changed only its Bitswap import, run in the drop-in venv
(fastswap beside libp2p 0.8.1), fetching a multi-block file each peer added with its own
defaults (Kubo: CIDv0, dag-pb leaves, 256 KiB; Helia: CIDv1, raw 1 MiB leaves, which py-libp2p
itself refuses: its block limit is 512 KiB)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.peers import pylibp2p_dropin as env

pytestmark = [pytest.mark.interop, pytest.mark.slow]

_PROGRAM = Path(__file__).parent / "dropin_fetch.py"
_SIZE = 6 * 1024 * 1024 + 12345


@pytest.fixture(scope="module")
def a_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("dropin-peers") / "file.bin"
    data = os.urandom(_SIZE)
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def _fetch(peer: str, cid: str) -> dict:
    env.ensure_installed()
    child_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([str(env.venv_python()), str(_PROGRAM), "--peer", peer, "--cid", cid,
                           "--timeout", "120"], capture_output=True, text=True, timeout=300,
                          env=child_env, cwd=env.VENV_DIR, stdin=subprocess.DEVNULL,
                          check=False)
    assert proc.returncode == 0, f"dropin_fetch failed:\n{proc.stdout}\n{proc.stderr[-6000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_dropin_fetches_from_kubo(kubo, a_file) -> None:
    path, digest = a_file
    result = _fetch(kubo.multiaddr, kubo.add(path))
    assert (result["sha256"], result["size"]) == (digest, _SIZE)
    assert result["peerVersion"] == "/ipfs/bitswap/1.2.0"


def test_dropin_fetches_from_helia(helia, a_file) -> None:
    path, digest = a_file
    result = _fetch(helia.multiaddr, helia.add(path))
    assert (result["sha256"], result["size"]) == (digest, _SIZE)
    assert result["peerVersion"] == "/ipfs/bitswap/1.2.0"
