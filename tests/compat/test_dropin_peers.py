"""The drop-in fetches from real Kubo 0.22 and Helia 7 peers, on both hosts: a py-libp2p
program (``dropin_fetch.py``) that changed only its Bitswap import (a py-libp2p host), or its
host construction too (fastswap's host), run in the drop-in venv (fastswap beside libp2p
0.8.1), fetching a multi-block file each peer added with its own defaults (Kubo: CIDv0, dag-pb
leaves, 256 KiB; Helia: CIDv1, raw 1 MiB leaves, which py-libp2p itself refuses: its block
limit is 512 KiB)."""

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


#: the host a run asks for -> the drop-in driver that must have run on it
HOSTS = {"pylibp2p": "TrioDriver", "fastswap": "NodeDriver"}


def _fetch(peer: str, cid: str, host: str) -> dict:
    env.ensure_installed()
    child_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([str(env.venv_python()), str(_PROGRAM), "--peer", peer, "--cid", cid,
                           "--timeout", "120", "--host", host],
                          capture_output=True, text=True, timeout=300,
                          env=child_env, cwd=env.VENV_DIR, stdin=subprocess.DEVNULL,
                          check=False)
    assert proc.returncode == 0, f"dropin_fetch failed:\n{proc.stdout}\n{proc.stderr[-6000:]}"
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["driver"] == HOSTS[host]
    return result


@pytest.fixture(scope="module")
def kubo_cid(kubo, a_file) -> str:
    return kubo.add(a_file[0])


@pytest.fixture(scope="module")
def helia_cid(helia, a_file) -> str:
    return helia.add(a_file[0])


@pytest.mark.parametrize("host", HOSTS)
def test_dropin_fetches_from_kubo(kubo, kubo_cid, a_file, host: str) -> None:
    _, digest = a_file
    result = _fetch(kubo.multiaddr, kubo_cid, host)
    assert (result["sha256"], result["size"]) == (digest, _SIZE)
    assert result["peerVersion"] == "/ipfs/bitswap/1.2.0"


@pytest.mark.parametrize("host", HOSTS)
def test_dropin_fetches_from_helia(helia, helia_cid, a_file, host: str) -> None:
    _, digest = a_file
    result = _fetch(helia.multiaddr, helia_cid, host)
    assert (result["sha256"], result["size"]) == (digest, _SIZE)
    assert result["peerVersion"] == "/ipfs/bitswap/1.2.0"
