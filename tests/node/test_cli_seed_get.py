"""``fastswap seed`` and ``fastswap get`` as subprocesses (what a user types): a file and a CAR
seeded by one process are fetched by another with matching sha256; SIGINT and SIGTERM stop the
seeder cleanly; user errors are one line."""

from __future__ import annotations

import hashlib
import json
import os
import selectors
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from fastswap.blockstore import MemoryBlockstore
from fastswap.cid import to_str
from fastswap.dag import HELIA_DEFAULTS, import_file, write_car

pytestmark = pytest.mark.timeout(180)


def _env() -> dict:
    return {k: v for k, v in os.environ.items() if k != "FASTSWAP_HOME"}


class Seeder:
    def __init__(self, repo: Path, *paths: str, extra: tuple[str, ...] = ()) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fastswap.cli", "--repo", str(repo), "seed", "--json",
             *extra, *paths],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(), start_new_session=True,
        )
        line = self._readline(60.0)
        self.info = json.loads(line)

    def _readline(self, timeout: float) -> str:
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            self.kill()
            raise AssertionError("the seeder printed nothing in time: "
                                 + self.proc.stderr.read().decode())
        line = self.proc.stdout.readline().decode()
        if not line:
            self.proc.wait(10)
            raise AssertionError("the seeder exited: " + self.proc.stderr.read().decode())
        return line

    def stop(self, sig: int = signal.SIGINT) -> int:
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(30)
        finally:
            self.kill()

    def served(self) -> dict:
        """After :meth:`stop`: what the seeder said it served on its way out (its last line:
        {"blocks_sent", "bytes_sent"})."""
        lines = self.proc.stdout.read().decode().splitlines()
        assert lines, "the seeder printed nothing on its way out"
        return json.loads(lines[-1])["served"]

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


def get(repo: Path, cid: str, peer: str, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fastswap.cli", "--repo", str(repo), "get", cid, "--peer", peer,
         "-o", str(out), "--timeout", "120"],
        capture_output=True, env=_env(), timeout=150, check=False,
    )


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


def _one_line_error(p: subprocess.CompletedProcess, what: str) -> None:
    err = p.stderr.decode()
    assert p.returncode != 0 and "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fastswap: error: "), err
    assert what in lines[0], err


def test_seed_directory_is_refused(tmp_path: Path) -> None:
    p = subprocess.run([sys.executable, "-m", "fastswap.cli", "--repo", str(tmp_path / "r"),
                        "seed", str(tmp_path)], capture_output=True, env=_env(), timeout=60,
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
