"""Durability contract of LMDBBlockstore: a block whose put/put_many returned survives SIGKILL
of the process (LMDB commit with sync off: its pages are in the OS page cache), and a crash
never leaves a partial or corrupt block behind (LMDB commits are atomic)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from fastswap.blockstore import LMDBBlockstore
from fastswap.cid import verify_block

ROOT = Path(__file__).resolve().parents[2]

# Imports 256 KiB blocks forever (up to a cap), alternating put and put_many, from a tiny map so
# that the map also grows during the import; prints each CID once its call has returned.
_IMPORTER = textwrap.dedent(
    """
    import os, random, sys
    from fastswap.blockstore import LMDBBlockstore
    from fastswap.cid import compute_cid

    path, seed = sys.argv[1], int(sys.argv[2])
    rng = random.Random(seed)
    store = LMDBBlockstore(path, map_size=1 << 20)
    out = sys.stdout
    done = 0
    while done < 800:  # a cap, in case nobody kills us
        k = rng.choice((1, 1, 2, 5, 9))
        blocks = []
        for _ in range(k):
            data = os.urandom(256 * 1024)
            blocks.append((compute_cid(data), data))
        if k == 1:
            store.put(*blocks[0])
        else:
            store.put_many(blocks)
        out.write("".join(cid.hex() + "\\n" for cid, _ in blocks))
        out.flush()
        done += k
    """
)


@pytest.mark.parametrize("kill_after", [1, 23, 71, 160])
def test_sigkill_mid_import_loses_nothing_returned(tmp_path: Path, kill_after: int) -> None:
    path = tmp_path / "blocks"
    proc = subprocess.Popen(
        [sys.executable, "-c", _IMPORTER, str(path), str(kill_after)],
        stdout=subprocess.PIPE,
        cwd=ROOT,
    )
    # a safety net: the test never hangs on a stuck child
    watchdog = threading.Timer(120, proc.kill)
    watchdog.start()
    printed: list[bytes] = []
    try:
        assert proc.stdout is not None
        while len(printed) < kill_after:
            line = proc.stdout.readline()
            if not line:
                break
            printed.append(bytes.fromhex(line.decode().strip()))
        still_running = proc.poll() is None
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(60)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    assert len(printed) >= kill_after, "the importer died before the kill point"
    assert still_running, "the importer had finished: the kill was not mid-import"
    assert proc.returncode == -signal.SIGKILL

    with LMDBBlockstore(path) as store:
        stored = set(store.cids())
        # every block the importer was told is stored, is, with the right data
        missing = [c for c in printed if c not in stored]
        assert not missing, f"{len(missing)} acknowledged blocks lost"
        for cid in printed:
            with store.view(cid) as mv:
                verify_block(cid, mv)
        # every stored block is whole (maybe more than printed: committed, not yet printed)
        total = 0
        for cid in stored:
            data = store.get(cid)
            verify_block(cid, data)
            assert store.get_size(cid) == len(data)
            total += len(data)
        assert len(store) == len(stored)
        assert store.size_bytes() == total
