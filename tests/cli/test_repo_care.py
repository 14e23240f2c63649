"""Repo care after a crash (issue 9, "Repo care"): ``fastswap add`` of a 1 GiB file SIGKILLed
mid-import leaves only whole, valid blocks (``repo verify`` finds no bad one and exits 0) and
orphans no pin reaches, which ``repo gc`` reclaims down to exactly what the pins reach, as
``repo stat --json`` counts it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.peers.fastswap_cli import CLI, cli_env, fastswap, wait_until

pytestmark = pytest.mark.timeout(120)

GIB = 1 << 30
CHUNK = 16 << 20


def _ok_json(p: subprocess.CompletedProcess) -> dict:
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def _write_random(path: Path, size: int) -> None:
    """*size* bytes no two 256 KiB chunks of which are alike (so every block is its own)."""
    with open(path, "wb") as f:
        f.writelines(os.urandom(CHUNK) for _ in range(size // CHUNK))


def _stored_bytes(repo: Path) -> int:
    """Bytes the blockstore's LMDB file holds on disk (it grows as an import commits)."""
    try:
        return os.stat(repo / "blocks" / "data.mdb").st_blocks * 512
    except FileNotFoundError:
        return 0


def test_sigkill_during_a_1_gib_add_then_verify_and_gc(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    kept = tmp_path / "kept.bin"
    kept_data = os.urandom(3 * 1024 * 1024 + 17)
    kept.write_bytes(kept_data)
    root = _ok_json(fastswap(repo, "add", "--json", str(kept)))["root"]
    pinned = _ok_json(fastswap(repo, "repo", "stat", "--json"))
    assert pinned["pins"] == 1 and pinned["blocks"] == 14  # 13 leaves and their parent

    big = tmp_path / "big.bin"
    t0 = time.monotonic()
    _write_random(big, GIB)
    generated = time.monotonic() - t0
    start = _stored_bytes(repo)
    add = subprocess.Popen([*CLI, "--repo", str(repo), "add", "-q", str(big)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=cli_env())
    try:
        # mid-import: a quarter of the file committed, not a fixed sleep. The file on disk
        # holds more than the blocks (LMDB's page headers, ~1.5% for 256 KiB values; a batch
        # being written), so wait for a margin of 64 MiB (LMDB_BATCH_BYTES) above the quarter
        wait_until("the import to commit 256 MiB",
                   lambda: _stored_bytes(repo) - start >= GIB // 4 + (64 << 20)
                   or add.poll() is not None,
                   timeout=60, interval=0.01)
        assert add.poll() is None, "the add finished before it could be killed: " + \
            add.stderr.read().decode()
        add.send_signal(signal.SIGKILL)
        assert add.wait(10) == -signal.SIGKILL
    finally:
        if add.poll() is None:
            add.kill()
            add.wait(10)
    imported = time.monotonic() - t0 - generated

    after = _ok_json(fastswap(repo, "repo", "stat", "--json"))
    orphans = after["blocks"] - pinned["blocks"]
    # what the import committed before it died is there, unpinned (the add pins at its end)
    assert orphans >= (GIB // 4) // (256 * 1024) - 2, after
    assert after["pins"] == 1 and after["bytes"] - pinned["bytes"] >= GIB // 4 - 512 * 1024

    p = fastswap(repo, "repo", "verify", "--json")
    assert p.returncode == 0, p.stderr
    verified = json.loads(p.stdout)
    assert verified["bad"] == [] and verified["checked"] == after["blocks"], verified

    gc = _ok_json(fastswap(repo, "repo", "gc", "--json"))
    assert gc["removed_blocks"] == orphans and gc["kept_blocks"] == pinned["blocks"], gc
    assert gc["removed_bytes"] == after["bytes"] - pinned["bytes"], gc
    assert gc["missing"] == []
    final = _ok_json(fastswap(repo, "repo", "stat", "--json"))
    assert (final["blocks"], final["bytes"], final["pins"]) == \
        (pinned["blocks"], pinned["bytes"], 1), final
    # what the pin reaches is whole
    p = subprocess.run([*CLI, "--repo", str(repo), "cat", root], capture_output=True,
                       env=cli_env(), timeout=60, check=False)
    assert p.returncode == 0 and p.stdout == kept_data
    print(f"1 GiB written in {generated:.1f} s; killed after {imported:.1f} s of import "
          f"({after['bytes'] - pinned['bytes']} bytes committed)")
