"""``fastswap seed`` and ``fastswap get`` as subprocesses (what a user types): a file, a CAR and a
directory tree seeded by one process are fetched by another and written equal to the source;
get reports what was local and what crossed the network; SIGINT and SIGTERM stop the seeder
cleanly; user errors are one line."""

from __future__ import annotations

import hashlib
import os
import signal
from pathlib import Path

import pytest

from fastswap.blockstore import MemoryBlockstore
from fastswap.cid import to_str
from fastswap.dag import HELIA_DEFAULTS, import_file, write_car
from tests.peers.fastswap_cli import Seeder, get, one_line_error

pytestmark = pytest.mark.timeout(180)


def test_seed_file_and_get(tmp_path: Path) -> None:
    data = os.urandom(5 * 1024 * 1024 + 777)
    src = tmp_path / "data.bin"
    src.write_bytes(data)
    seeder = Seeder(tmp_path / "seed-repo", str(src))
    try:
        info = seeder.info
        assert info["addrs"] and all(a.endswith("/p2p/" + info["peer_id"]) for a in info["addrs"])
        (root,) = info["roots"]
        assert root["path"] == str(src)
        out = tmp_path / "out.bin"
        p = get(tmp_path / "get-repo", root["cid"], info["addrs"][0], out)
        assert p.returncode == 0, p.stderr.decode()
        assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(data).digest()
        assert b"fetched 22 blocks" in p.stderr  # 21 leaves and their parent, 5 MiB
        # again: every block is in the repo now, and nothing crosses the network
        p = get(tmp_path / "get-repo", root["cid"], info["addrs"][0], tmp_path / "again.bin")
        assert p.returncode == 0 and b"fetched 0 blocks" in p.stderr, p.stderr
        assert b"22 blocks were already in the repo" in p.stderr
    finally:
        assert seeder.stop(signal.SIGINT) == 0
    # the get process fetched from this seeder and from nothing else
    served = seeder.served()
    assert served["bytes_sent"] >= len(data) and served["blocks_sent"] >= 21, served


def test_seed_car_helia_preset_and_sigterm(tmp_path: Path) -> None:
    data = os.urandom(2 * 1024 * 1024 + 5)
    store = MemoryBlockstore()
    root = import_file(store, data, **HELIA_DEFAULTS)
    car = tmp_path / "dag.car"
    write_car(store, [root], str(car))
    plain = tmp_path / "plain.bin"
    plain.write_bytes(data)
    seeder = Seeder(tmp_path / "seed-repo", str(car), str(plain), extra=("--preset", "helia"))
    try:
        roots = [r["cid"] for r in seeder.info["roots"]]
        # the CAR's root, and the same CID again: the helia preset imports the file identically
        assert roots == [to_str(root), to_str(root)]
        out = tmp_path / "out.bin"
        p = get(tmp_path / "get-repo", roots[0], seeder.info["addrs"][0], out)
        assert p.returncode == 0, p.stderr.decode()
        assert out.read_bytes() == data
    finally:
        assert seeder.stop(signal.SIGTERM) == 0


def _tree(root: Path) -> dict[str, bytes | None]:
    """relative path -> file bytes (None for a directory), every entry of the tree."""
    out: dict[str, bytes | None] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        out[rel] = None if path.is_dir() else path.read_bytes()
    return out


def test_seed_directory_and_get_the_tree(tmp_path: Path) -> None:
    src = tmp_path / "site"
    (src / "docs" / "empty dir").mkdir(parents=True)
    (src / "docs" / "résumé.txt").write_text("non-ASCII names travel as UTF-8")
    (src / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024 + 1))
    (src / "empty").write_bytes(b"")
    seeder = Seeder(tmp_path / "seed-repo", str(src))
    try:
        (root,) = seeder.info["roots"]
        out = tmp_path / "out"
        # a --peer nobody listens at is a warning while another source remains
        dead = "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"
        p = get(tmp_path / "get-repo", root["cid"], seeder.info["addrs"][0], out, "--peer", dead)
        assert p.returncode == 0, p.stderr.decode()
        assert f"fastswap: warning: skipping --peer {dead}: ".encode() in p.stderr
        assert _tree(out) == _tree(src)
        assert b"from the network" in p.stderr and b"0 blocks were already" in p.stderr
        # a path inside the tree, to stdout-like file output; now every block is local
        one = tmp_path / "one.txt"
        p = get(tmp_path / "get-repo", f"{root['cid']}/docs/résumé.txt", None, one)
        assert p.returncode == 0 and one.read_text() == "non-ASCII names travel as UTF-8"
        assert b"every block was in the repo" in p.stderr
    finally:
        assert seeder.stop(signal.SIGINT) == 0


def test_get_errors(tmp_path: Path) -> None:
    p = get(tmp_path / "r", "not-a-cid", "/ip4/127.0.0.1/tcp/1", tmp_path / "o")
    one_line_error(p, "CID")
    # nobody listens there
    cid = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
    p = get(tmp_path / "r", cid, "/ip4/127.0.0.1/tcp/1", tmp_path / "o")
    one_line_error(p, "127.0.0.1")
    assert not (tmp_path / "o").exists()
