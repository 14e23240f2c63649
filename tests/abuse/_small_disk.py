"""Run inside a private mount namespace (``unshare --mount``, see test_disk_full.py): mount a
small tmpfs, fill it through fastswap, and report what happened as one JSON line on stdout.

A real full filesystem, not a simulation: the tmpfs gives ENOSPC exactly as a full disk does,
LMDB's commit then sees a short write and reports EIO ("Input/output error"), which is the
path the issue measured. The namespace keeps the mount invisible to the rest of the machine
and makes it vanish with this process, even if it is killed.

    python _small_disk.py store DIR          the blockstore: fill, check, grow, write again
    python _small_disk.py get DIR CID PEER OUT  ``fastswap get`` into a repo on the tmpfs
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

SMALL = "3m"  # the tmpfs: a few 256 KiB blocks fit, a 16 MiB fetch does not
LARGE = "64m"  # after "making room" (a remount)


def mount(path: Path, size: str, remount: bool = False) -> None:
    opts = f"remount,size={size}" if remount else f"size={size}"
    subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], check=True)


def store(root: Path) -> dict[str, Any]:
    from fastswap.blockstore import LMDBBlockstore
    from fastswap.cid import compute_cid
    from fastswap.errors import DiskFullError

    mount(root, SMALL)
    path = root / "blocks"
    s = LMDBBlockstore(path)
    stored: dict[bytes, bytes] = {}
    err: DiskFullError | None = None
    for i in range(64):  # 16 MiB: far more than fits
        data = os.urandom(256 * 1024)
        cid = compute_cid(data)
        try:
            s.put(cid, data)
        except DiskFullError as exc:
            err = exc
            break
        stored[cid] = data
    out: dict[str, Any] = {"stored": len(stored)}
    if err is None:
        return out
    out.update(message=str(err), errno=err.errno, path=err.path, free=err.free,
               needed=err.needed)
    # the failed write was rolled back: what was committed reads back whole
    out["intact"] = (len(s) == len(stored)
                     and s.size_bytes() == sum(len(d) for d in stored.values())
                     and all(s.get(c) == d for c, d in stored.items()))
    # still no room: still the same error, still nothing half-written
    data = os.urandom(256 * 1024)
    try:
        s.put(compute_cid(data), data)
        out["second"] = "stored"
    except DiskFullError as exc:
        out["second"] = type(exc).__name__
    out["intact_after_second"] = len(s) == len(stored)
    # room again: writes work, and the store reopens with everything in it
    mount(root, LARGE, remount=True)
    more = {}
    for _ in range(8):
        data = os.urandom(256 * 1024)
        more[compute_cid(data)] = data
    s.put_many(more.items())
    s.close()
    s = LMDBBlockstore(path)
    everything = {**stored, **more}
    out["after_room"] = (len(s) == len(everything)
                         and all(s.get(c) == d for c, d in everything.items()))
    s.close()
    return out


def get(root: Path, cid: str, peer: str, out_file: str) -> dict[str, Any]:
    mount(root, SMALL)

    def fastswap_get() -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if k != "FASTSWAP_HOME"}
        return subprocess.run(
            [sys.executable, "-m", "fastswap.cli", "--repo", str(root / "repo"), "get", cid,
             "--peer", peer, "-o", out_file, "--timeout", "60"],
            capture_output=True, env=env, timeout=90, check=False,
        )

    first = fastswap_get()
    mount(root, LARGE, remount=True)
    second = fastswap_get()
    return {
        "first": [first.returncode, first.stderr.decode(errors="replace")],
        "second": [second.returncode, second.stderr.decode(errors="replace")],
    }


def main() -> None:
    what, root = sys.argv[1], Path(sys.argv[2])
    root.mkdir(parents=True, exist_ok=True)
    report = store(root) if what == "store" else get(root, *sys.argv[3:6])
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
