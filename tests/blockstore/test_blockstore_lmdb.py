"""LMDBBlockstore specifics: persistence, map growth (also under concurrent readers and across
processes), view lifetimes, batching, the format marker, and open_blockstore's repo paths."""

from __future__ import annotations

import os
import pickle
import random
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import lmdb
import platformdirs
import pytest
from _bs_helpers import make_blocks

from fastswap.blockstore import (
    BLOCKS_DIR,
    LMDBBlockstore,
    default_repo_path,
    open_blockstore,
)
from fastswap.blockstore.lmdb import FORMAT
from fastswap.cid import compute_cid, verify_block
from fastswap.errors import BlockNotFoundError, BlockstoreError

KIB = 1024
MIB = 1024 * KIB


def exact_blocks(n: int, size: int, seed: int) -> list[tuple[bytes, bytes]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        data = rng.randbytes(size)
        out.append((compute_cid(data), data))
    return out


def test_size_bytes_and_blocks_across_reopen(tmp_path: Path) -> None:
    s = LMDBBlockstore(tmp_path / "b")
    blocks = make_blocks(20, 10_000, seed=9)
    s.put_many(blocks)
    s.delete(blocks[0][0])
    expected = sum(len(d) for _, d in blocks[1:])
    assert s.size_bytes() == expected
    s.close()
    with LMDBBlockstore(tmp_path / "b") as s2:
        assert s2.size_bytes() == expected
        assert len(s2) == 19
        assert set(s2.cids()) == {c for c, _ in blocks[1:]}
        for cid, data in blocks[1:]:
            assert s2.get(cid) == data
    assert s2.closed


def test_map_grows_from_64k_to_50m(tmp_path: Path) -> None:
    s = LMDBBlockstore(tmp_path / "b", map_size=64 * KIB)
    start = s.map_size
    assert start <= 64 * KIB
    blocks = make_blocks(200, 256 * KIB, seed=1)  # ~50 MiB
    for cid, data in blocks[:50]:
        s.put(cid, data)
    assert s.put_many(blocks[50:]) == 150
    total = sum(len(d) for _, d in blocks)
    assert total > 49 * MIB
    assert s.size_bytes() == total
    assert len(s) == 200
    assert s.map_size >= total > start
    for cid, data in blocks[::17]:
        assert s.get(cid) == data
    s.close()
    # Reopening with the tiny map still reads everything (LMDB keeps the used size mapped).
    with LMDBBlockstore(tmp_path / "b", map_size=64 * KIB) as s2:
        assert s2.size_bytes() == total
        for cid, _ in blocks[::13]:
            with s2.view(cid) as mv:
                verify_block(cid, mv)
        # and grows again when written to
        more = make_blocks(8, 256 * KIB, seed=2)
        assert s2.put_many(more) == 8


def test_map_growth_stops_at_max(tmp_path: Path) -> None:
    # large_batch_bytes=0: the put_many below is one transaction
    s = LMDBBlockstore(tmp_path / "b", map_size=64 * KIB, max_map_size=2 * MIB, large_batch_bytes=0)
    blocks = exact_blocks(12, 256 * KIB, seed=3)
    for cid, data in blocks[:4]:
        s.put(cid, data)
    with pytest.raises(BlockstoreError, match="full"):
        s.put_many(blocks[4:])
    # the failed batch left nothing behind (one transaction), the rest is intact
    assert len(s) == 4
    assert s.size_bytes() == 4 * 256 * KIB
    assert s.map_size == 2 * MIB
    for cid in s.cids():
        verify_block(cid, s.get(cid))
    s.close()


def test_put_many_commits_in_batches(tmp_path: Path) -> None:
    s = LMDBBlockstore(tmp_path / "b", batch_bytes=1 * MIB, large_batch_bytes=0)
    env = s._env
    before = env.info()["last_txnid"]
    # 10 blocks of 256 KiB: batches of at most 1 MiB are 4 + 4 + 2 blocks
    assert s.put_many(exact_blocks(10, 256 * KIB, seed=4)) == 10
    assert env.info()["last_txnid"] - before == 3
    # one block larger than a batch gets a transaction of its own
    before = env.info()["last_txnid"]
    big = os.urandom(3 * MIB)
    small = exact_blocks(2, 1000, seed=5)
    assert s.put_many([small[0], (compute_cid(big), big), small[1]]) == 3
    assert env.info()["last_txnid"] - before == 3
    s.close()


def test_large_values_commit_in_small_txns_without_sync(tmp_path: Path) -> None:
    """Without fsync, values over 2 KiB commit every LMDB_NOSYNC_LARGE_BATCH_BYTES (1 MiB);
    small values still share one txn; with sync=True everything batches up to batch_bytes."""

    def txns(store: LMDBBlockstore, blocks: list[tuple[bytes, bytes]]) -> int:
        before = store._env.info()["last_txnid"]
        assert store.put_many(blocks) == len(blocks)
        return store._env.info()["last_txnid"] - before

    with LMDBBlockstore(tmp_path / "a") as s:
        assert txns(s, exact_blocks(10, 256 * KIB, seed=40)) == 3  # 4 + 4 + 2
        assert txns(s, exact_blocks(10, 512 * KIB, seed=41)) == 5  # 2 + 2 + 2 + 2 + 2
        assert txns(s, exact_blocks(40, 64 * KIB, seed=44)) == 3  # 16 + 16 + 8
        assert txns(s, exact_blocks(500, 1 * KIB, seed=42)) == 1
    with LMDBBlockstore(tmp_path / "b", sync=True) as s:
        assert txns(s, exact_blocks(10, 256 * KIB, seed=43)) == 1


def test_readers_during_growth(tmp_path: Path) -> None:
    """Readers on other threads keep reading (get, view, has) while the map is remapped under
    them: no crash, no error, every read verifies."""
    s = LMDBBlockstore(tmp_path / "b", map_size=64 * KIB)
    seed_blocks = make_blocks(4, 100 * KIB, seed=6)
    s.put_many(seed_blocks)
    stop = threading.Event()
    errors: list[BaseException] = []
    reads = [0, 0, 0]

    def reader(i: int) -> None:
        try:
            while not stop.is_set():
                for cid, data in seed_blocks:
                    if i == 0:
                        assert s.get(cid) == data
                    elif i == 1:
                        with s.view(cid) as mv:
                            verify_block(cid, mv)
                    else:
                        assert s.has(cid) and s.get_size(cid) == len(data)
                        with s.view_many([cid, cid]) as views:
                            verify_block(cid, views[1])
                    reads[i] += 1
        except BaseException as exc:  # noqa: BLE001 - thread: errors fail the assert below
            errors.append(exc)

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    try:
        start = s.map_size
        for cid, data in make_blocks(120, 256 * KIB, seed=7):
            s.put(cid, data)
        grown = s.map_size
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert not errors, errors
    assert grown >= 16 * start  # at least four remaps happened under the readers
    assert all(reads), reads
    s.close()


def test_resize_refused_while_this_thread_views(tmp_path: Path) -> None:
    s = LMDBBlockstore(tmp_path / "b", map_size=64 * KIB)
    [(cid, data)] = make_blocks(1, 1000, seed=8)
    s.put(cid, data)
    big = exact_blocks(2, 256 * KIB, seed=9)
    with s.view(cid) as mv:
        # growing would remap under mv: refused at once instead of deadlocking
        with pytest.raises(BlockstoreError, match="view open"):
            s.put_many(big)
        assert bytes(mv) == data
    assert s.put_many(big) == 2
    s.close()


def test_resize_waits_for_view_on_other_thread(tmp_path: Path) -> None:
    s = LMDBBlockstore(tmp_path / "b", map_size=64 * KIB, resize_timeout=60)
    [(cid, data)] = make_blocks(1, 1000, seed=10)
    s.put(cid, data)
    holding = threading.Event()
    release = threading.Event()
    seen: list[bytes] = []

    def hold() -> None:
        with s.view(cid) as mv:
            holding.set()
            release.wait(30)
            seen.append(bytes(mv))  # still valid: the resize waited for us

    t = threading.Thread(target=hold)
    t.start()
    holding.wait(30)
    threading.Timer(0.2, release.set).start()
    assert s.put_many(exact_blocks(2, 256 * KIB, seed=11)) == 2
    assert release.is_set()  # the put could only finish after the view ended
    t.join(30)
    assert seen == [data]
    s.close()


def test_resize_gives_up_on_a_stuck_view(tmp_path: Path) -> None:
    s = LMDBBlockstore(tmp_path / "b", map_size=64 * KIB, resize_timeout=0.2)
    [(cid, data)] = make_blocks(1, 1000, seed=12)
    s.put(cid, data)
    holding = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with s.view(cid):
            holding.set()
            release.wait(30)

    t = threading.Thread(target=hold)
    t.start()
    holding.wait(30)
    try:
        with pytest.raises(BlockstoreError, match="stayed open"):
            s.put_many(exact_blocks(2, 256 * KIB, seed=13))
        assert s.get(cid) == data  # readers are not left locked out
    finally:
        release.set()
        t.join(30)
    assert s.put_many(exact_blocks(2, 256 * KIB, seed=13)) == 2
    s.close()


def test_view_export_outliving_block_is_an_error(lmdb_store: LMDBBlockstore) -> None:
    [(cid, data)] = make_blocks(1, 5000, seed=14)
    lmdb_store.put(cid, data)
    with pytest.raises(BlockstoreError, match="outlived"), lmdb_store.view(cid) as mv:
        pb = pickle.PickleBuffer(mv)  # holds a buffer export of mv
    pb.release()
    # the read txn ended anyway: the store closes without waiting
    lmdb_store.close()


def test_close_waits_for_views_and_refuses_own(tmp_path: Path) -> None:
    s = LMDBBlockstore(tmp_path / "b")
    [(cid, data)] = make_blocks(1, 5000, seed=15)
    s.put(cid, data)
    with s.view(cid), pytest.raises(BlockstoreError, match="view open"):
        s.close()
    holding = threading.Event()
    seen: list[bytes] = []

    def hold() -> None:
        with s.view(cid) as mv:
            holding.set()
            threading.Event().wait(0.2)
            seen.append(bytes(mv))

    t = threading.Thread(target=hold)
    t.start()
    holding.wait(30)
    s.close()
    t.join(30)
    assert seen == [data] and s.closed


def test_view_many_one_snapshot(lmdb_store: LMDBBlockstore) -> None:
    blocks = make_blocks(3, 70_000, seed=16)
    lmdb_store.put_many(blocks[:2])
    with lmdb_store.view_many([c for c, _ in blocks]) as views:
        # a write meanwhile is not seen by the open snapshot, and does not disturb it
        lmdb_store.put(*blocks[2])
        lmdb_store.delete(blocks[0][0])
        assert views[2] is None
        verify_block(blocks[0][0], views[0])
    assert lmdb_store.has(blocks[2][0]) and not lmdb_store.has(blocks[0][0])


def test_get_is_a_copy(lmdb_store: LMDBBlockstore) -> None:
    [(cid, data)] = make_blocks(1, 5000, seed=17)
    lmdb_store.put(cid, data)
    got = lmdb_store.get(cid)
    lmdb_store.delete(cid)
    lmdb_store.put_many(make_blocks(50, 5000, seed=18))  # reuse the freed pages
    assert got == data


def test_sync_option_and_flush(tmp_path: Path) -> None:
    with LMDBBlockstore(tmp_path / "a", sync=True) as s:
        assert s._env.flags()["sync"] is True
        s.put(*make_blocks(1, 100, seed=19)[0])
        s.flush()
    with LMDBBlockstore(tmp_path / "b") as s:
        assert s._env.flags()["sync"] is False
        s.flush()


def test_format_marker_mismatch(tmp_path: Path) -> None:
    LMDBBlockstore(tmp_path / "b").close()
    env = lmdb.open(str(tmp_path / "b"), max_dbs=3)
    with env.begin(write=True) as txn:
        meta = env.open_db(b"meta", txn=txn)
        assert txn.get(b"format", db=meta) == FORMAT
        txn.put(b"format", b"fastswap-blockstore/99", db=meta)
    env.close()
    with pytest.raises(BlockstoreError, match="fastswap-blockstore/99"):
        LMDBBlockstore(tmp_path / "b")
    # a failed open does not leave the environment open
    env = lmdb.open(str(tmp_path / "b"), max_dbs=3)
    env.close()


def test_foreign_lmdb_environment(tmp_path: Path) -> None:
    env = lmdb.open(str(tmp_path / "other"))
    with env.begin(write=True) as txn:
        txn.put(b"somebody", b"else's data")
    env.close()
    with pytest.raises(BlockstoreError, match="not a fastswap blockstore"):
        LMDBBlockstore(tmp_path / "other")


def test_not_an_lmdb_environment(tmp_path: Path) -> None:
    d = tmp_path / "junk"
    d.mkdir()
    (d / "data.mdb").write_bytes(b"this is not an LMDB file" * 1000)
    with pytest.raises(BlockstoreError, match="cannot open"):
        LMDBBlockstore(d)


def test_open_twice_in_process(lmdb_store: LMDBBlockstore) -> None:
    with pytest.raises(BlockstoreError, match="already open"):
        LMDBBlockstore(lmdb_store.path)


def test_unusable_paths(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(BlockstoreError, match="not a directory"):
        LMDBBlockstore(f)
    with pytest.raises(BlockstoreError):
        LMDBBlockstore(f / "sub")
    with pytest.raises(BlockstoreError, match="not a directory"):
        open_blockstore(f)
    with pytest.raises(BlockstoreError):
        open_blockstore(f / "repo")


def test_no_permission(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Simulated: the tests may run as root, which ignores directory modes.
    def denied(path: object, *a: object, **kw: object) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    with monkeypatch.context() as m:
        m.setattr(os, "makedirs", denied)
        with pytest.raises(BlockstoreError, match="Permission denied.*writable location"):
            open_blockstore(tmp_path / "repo")
    d = tmp_path / "ro"
    d.mkdir()
    monkeypatch.setattr(os, "access", lambda *a, **kw: False)
    with pytest.raises(BlockstoreError, match="not readable and writable"):
        LMDBBlockstore(d)


def test_open_blockstore_repo_layout(tmp_path: Path) -> None:
    repo = tmp_path / "deep" / "repo"
    with open_blockstore(repo) as s:
        assert Path(s.path) == repo / BLOCKS_DIR
        s.put(*make_blocks(1, 100, seed=20)[0])
    assert (repo / "blocks" / "data.mdb").is_file()
    with open_blockstore(str(repo)) as s:
        assert len(s) == 1


def test_default_repo_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASTSWAP_HOME", str(tmp_path / "home"))
    assert default_repo_path() == str(tmp_path / "home")
    with open_blockstore() as s:
        assert Path(s.path) == tmp_path / "home" / "blocks"
    monkeypatch.delenv("FASTSWAP_HOME")
    assert default_repo_path() == platformdirs.user_data_dir("fastswap")
    monkeypatch.setattr(platformdirs, "user_data_dir", lambda name: str(tmp_path / "pd" / name))
    with open_blockstore() as s:
        assert Path(s.path) == tmp_path / "pd" / "fastswap" / "blocks"


_GROWER = textwrap.dedent(
    """
    import os, sys
    from fastswap.blockstore import LMDBBlockstore
    from fastswap.cid import compute_cid
    s = LMDBBlockstore(sys.argv[1], map_size=64 * 1024)
    for i in range(80):
        data = os.urandom(256 * 1024)
        s.put(compute_cid(data), data)
    data = b"from the child"
    s.put(compute_cid(data), data)
    s.close()
    """
)


def test_growth_by_another_process_is_adopted(tmp_path: Path) -> None:
    s = LMDBBlockstore(tmp_path / "b", map_size=64 * KIB)
    before = s.map_size
    [(cid, data)] = make_blocks(1, 1000, seed=21)
    s.put(cid, data)
    subprocess.run(
        [sys.executable, "-c", _GROWER, str(tmp_path / "b")],
        check=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    child = compute_cid(b"from the child")
    assert s.get(child) == b"from the child"  # a read after the other process grew the map
    assert s.map_size > 16 * before
    assert len(s) == 82
    s.put(*make_blocks(1, 2000, seed=22)[0])  # and a write
    assert len(s) == 83
    with pytest.raises(BlockNotFoundError):
        s.get(compute_cid(b"nope"))
    s.close()
