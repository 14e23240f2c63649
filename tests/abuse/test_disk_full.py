"""Issue 8, item 13: a full disk is reported in words and leaves the store usable.

The disk is real: a 3 MiB tmpfs mounted in a private mount namespace of a child process
(``unshare --mount``; as a non-root user ``--user --map-root-user`` too), so the kernel returns
ENOSPC exactly as a full disk does and LMDB turns the short write into EIO ("Input/output
error"), the path the issue measured. The mount is invisible outside the child and goes with
it. Why not a bounded LMDB map or a file-size limit: the map is ours to grow (MapFull never
reaches the disk), and RLIMIT_FSIZE fails the write with EFBIG while the filesystem still has
room, which is another cause (and another message) than a full disk. The child reports what it
saw as JSON (``_small_disk.py``); these tests assert on it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.peers.fastswap_cli import Seeder

pytestmark = pytest.mark.timeout(240)

CHILD = Path(__file__).with_name("_small_disk.py")


def small_disk(*args: str, timeout: float = 180.0) -> dict[str, Any]:
    """Run ``_small_disk.py ARGS`` in its own mount namespace; its JSON report."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.fail("the disk-full tests need util-linux's unshare (apt-get install util-linux)",
                    pytrace=False)
    cmd = [unshare, "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        cmd[1:1] = ["--user", "--map-root-user"]
    proc = subprocess.run([*cmd, sys.executable, str(CHILD), *args], capture_output=True,
                          timeout=timeout, check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        pytest.fail(
            "could not run on a small tmpfs in a private mount namespace (needs root, or "
            "unprivileged user namespaces: sysctl kernel.unprivileged_userns_clone=1): "
            f"exit {proc.returncode}: {proc.stderr.decode(errors='replace')[-2000:]}",
            pytrace=False,
        )
    return json.loads(proc.stdout.decode().splitlines()[-1])


def test_a_full_disk_is_named_and_the_store_stays_usable(tmp_path: Path) -> None:
    r = small_disk("store", str(tmp_path / "disk"))
    path = str(tmp_path / "disk" / "blocks")
    assert 1 <= r["stored"] < 64, r  # some blocks fit, then the disk was full
    # the cause in words: where, how much is free, how much was needed
    assert r["message"].startswith(f"disk full at {path!r}: "), r["message"]
    assert "Input/output error" not in r["message"]
    assert r["errno"] == 28 and r["path"] == path  # ENOSPC, as an OSError would say
    assert r["free"] < r["needed"] and r["needed"] >= 256 * 1024
    assert f"{r['free']:,} bytes free" in r["message"] and f"{r['needed']:,}" in r["message"]
    # the failed write was rolled back; so was the next one, still without room
    assert r["intact"] and r["second"] == "DiskFullError" and r["intact_after_second"]
    # with room again, writes work and everything survives a reopen
    assert r["after_room"]


def test_fastswap_get_onto_a_full_disk_says_so_then_works_with_room(tmp_path: Path) -> None:
    data = os.urandom(16 * 1024 * 1024)  # the tmpfs holds 3 MiB
    src = tmp_path / "data.bin"
    src.write_bytes(data)
    seeder = Seeder(tmp_path / "seed-repo", str(src))
    try:
        out = tmp_path / "got.bin"
        r = small_disk("get", str(tmp_path / "disk"), seeder.info["roots"][0]["cid"],
                       seeder.info["addrs"][0], str(out))
    finally:
        seeder.stop()
    status, stderr = r["first"]
    repo_blocks = str(tmp_path / "disk" / "repo" / "blocks")
    assert status == 1, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(f"fastswap: error: disk full at {repo_blocks!r}: "), stderr
    assert "Input/output error" not in stderr
    assert stderr.count("cannot store received blocks") <= 1  # said once, not per batch
    # the repo took the next get once there was room
    status, stderr = r["second"]
    assert status == 0, stderr
    assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(data).digest()
