"""``fastswap seed`` and ``fastswap get`` as subprocesses (what a user types): a file and a CAR
seeded by one process are fetched by another with matching sha256; SIGINT and SIGTERM stop the
seeder cleanly; user errors are one line."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from fastswap.blockstore import MemoryBlockstore
from fastswap.cid import to_str
from fastswap.dag import HELIA_DEFAULTS, import_file, write_car
from tests.peers.fastswap_cli import Seeder, cli_env, get

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
        assert b"fetched" in p.stderr
    finally:
        assert seeder.stop(signal.SIGINT) == 0


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


def _one_line_error(p: subprocess.CompletedProcess, what: str) -> None:
    err = p.stderr.decode()
    assert p.returncode != 0 and "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fastswap: error: "), err
    assert what in lines[0], err


def test_seed_directory_is_refused(tmp_path: Path) -> None:
    p = subprocess.run([sys.executable, "-m", "fastswap.cli", "--repo", str(tmp_path / "r"),
                        "seed", str(tmp_path)], capture_output=True, env=cli_env(), timeout=60,
                       check=False)
    _one_line_error(p, "directories are not supported")


def test_get_errors(tmp_path: Path) -> None:
    p = get(tmp_path / "r", "not-a-cid", "/ip4/127.0.0.1/tcp/1", tmp_path / "o")
    _one_line_error(p, "CID")
    # nobody listens there
    cid = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
    p = get(tmp_path / "r", cid, "/ip4/127.0.0.1/tcp/1", tmp_path / "o")
    _one_line_error(p, "127.0.0.1")
    assert not (tmp_path / "o").exists()
