"""fastswap.repo and fastswap.blockstore.pins: the lock a running node holds on its repo, the
pin set, and repo care (gc, verify, stat)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from fastswap.blockstore import open_blockstore
from fastswap.blockstore.pins import PinStore
from fastswap.cid import compute_cid
from fastswap.dag import KUBO_DEFAULTS, cat, import_file
from fastswap.errors import RepoLockedError
from fastswap.repo import RepoLock, collect_garbage, reachable, repo_stat, verify_blocks

_HOLD = ("import sys, time; from fastswap.repo import RepoLock; RepoLock(sys.argv[1]).acquire();"
         " print('locked', flush=True); time.sleep(60)")


def _holder(repo):
    p = subprocess.Popen([sys.executable, "-c", _HOLD, str(repo)], stdout=subprocess.PIPE,
                         text=True)
    assert p.stdout.readline().strip() == "locked"
    return p


def test_second_holder_is_refused_with_the_first_named(tmp_path) -> None:
    p = _holder(tmp_path)
    try:
        with pytest.raises(RepoLockedError) as e:
            RepoLock(tmp_path).acquire()
        assert f"process {p.pid}" in str(e.value) and str(tmp_path) in str(e.value)
    finally:
        p.terminate()
        p.wait()


def test_lock_of_a_killed_process_is_cleared(tmp_path, caplog) -> None:
    p = _holder(tmp_path)
    p.kill()
    p.wait()
    with caplog.at_level("WARNING", logger="fastswap.repo"), RepoLock(tmp_path) as lock:
        assert lock.held
    assert f"left by process {p.pid}" in caplog.text
    assert not (tmp_path / "repo.lock").exists()  # a clean release leaves nothing


def test_pins_and_import_sources(tmp_path) -> None:
    a, b = compute_cid(b"a"), compute_cid(b"b")
    with PinStore(tmp_path) as pins:
        pins.add(a, "a.bin")
        pins.add(b)
        assert a in pins and len(pins) == 2 and set(pins) == {a, b}
        assert pins.remove(b) and not pins.remove(b) and b not in pins
        pins.record_source(tmp_path / "a.bin", a, 1, 123, {"cid_version": 0})
    with PinStore(tmp_path) as pins:  # persisted
        assert [(c, r["name"]) for c, r in pins.items()] == [(a, "a.bin")]
        assert pins.source(tmp_path / "a.bin")["size"] == 1
        assert pins.source(tmp_path / "other") is None


def test_gc_keeps_what_pins_reach_and_removes_the_rest(tmp_path) -> None:
    f1, f2 = tmp_path / "f1", tmp_path / "f2"
    f1.write_bytes(os.urandom(600_000))
    f2.write_bytes(os.urandom(300_000))
    with open_blockstore(tmp_path / "repo") as store, PinStore(tmp_path / "repo") as pins:
        r1 = import_file(store, str(f1), **KUBO_DEFAULTS)
        r2 = import_file(store, str(f2), **KUBO_DEFAULTS)
        orphan = compute_cid(b"left by an interrupted import")
        store.put(orphan, b"left by an interrupted import")
        keep1, _ = reachable(store, [r1])
        keep2, _ = reachable(store, [r2])
        pins.add(r1)
        before = len(store)
        assert collect_garbage(store, pins, dry_run=True).removed_blocks == len(keep2) + 1
        assert len(store) == before
        res = collect_garbage(store, pins)
        assert res.removed_blocks == len(keep2) + 1 and res.kept_blocks == len(keep1)
        assert set(store.cids()) == keep1
        assert b"".join(bytes(c) for c in cat(store, r1)) == f1.read_bytes()


def test_verify_finds_a_corrupted_block_and_stat_counts(tmp_path) -> None:
    good = b"good block"
    with open_blockstore(tmp_path) as store, PinStore(tmp_path) as pins:
        store.put(compute_cid(good), good)
        bad_cid = compute_cid(b"what it should be")
        store.put(bad_cid, b"what it is")  # the store trusts its caller; verify does not
        res = verify_blocks(store)
        assert res.checked == 2 and [c for c, _ in res.bad] == [bad_cid]
        st = repo_stat(tmp_path, store, pins)
        assert st["blocks"] == 2 and st["bytes"] == len(good) + len(b"what it is")
        assert st["pins"] == 0 and st["disk_free"] > 0
