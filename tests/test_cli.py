"""The fastswap command line, run as a subprocess (what a user types)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

HELLO = b"hello world\n"
HELLO_V0 = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
HELLO_RAW = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"


def run(
    *args: str, home: Path | None = None, stdin: bytes = b"", cwd: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "FASTSWAP_HOME"}
    if home is not None:
        env["FASTSWAP_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "fastswap.cli", *args],
        check=False,
        input=stdin,
        capture_output=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )


def ok(p: subprocess.CompletedProcess[bytes]) -> str:
    assert p.returncode == 0, p.stderr.decode()
    return p.stdout.decode()


def fails(p: subprocess.CompletedProcess[bytes], what: str) -> None:
    err = p.stderr.decode()
    assert p.returncode != 0
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fastswap: error: "), err
    assert what in lines[0], err


@pytest.fixture
def hello(tmp_path: Path) -> Path:
    f = tmp_path / "hello.txt"
    f.write_bytes(HELLO)
    return f


def test_add_and_cat_with_fastswap_home(tmp_path: Path, hello: Path) -> None:
    home = tmp_path / "home"
    assert ok(run("add", str(hello), home=home)).strip() == HELLO_V0  # Kubo's `ipfs add`
    assert (home / "blocks").is_dir()
    assert run("cat", HELLO_V0, home=home).stdout == HELLO


def test_add_options(tmp_path: Path, hello: Path) -> None:
    home = tmp_path / "home"
    assert ok(run("add", "--cid-version", "1", str(hello), home=home)).strip() == HELLO_RAW
    out = ok(run("add", "--cid-version", "1", "--no-raw-leaves", str(hello), home=home)).strip()
    assert out.startswith("bafybei")
    assert ok(run("add", "--raw-leaves", str(hello), home=home)).strip() == HELLO_RAW
    assert ok(run("add", "--preset", "helia", str(hello), home=home)).strip() == HELLO_RAW
    big = tmp_path / "big"
    data = os.urandom(10_000)
    big.write_bytes(data)
    root = ok(
        run("add", "--chunk-size", "1000", "--max-children", "3", str(big), home=home)
    ).strip()
    assert root.startswith("Qm")
    assert run("cat", root, home=home).stdout == data
    # standard input
    assert ok(run("add", "-", home=home, stdin=HELLO)).strip() == HELLO_V0


def test_help_documents_the_defaults() -> None:
    out = ok(run("add", "--help"))
    assert "Kubo" in out and "CIDv0" in out and "174" in out
    top = ok(run("--help"))
    for name in ("add", "cat", "import-car", "export-car"):
        assert name in top


def test_repo_overrides_fastswap_home(tmp_path: Path, hello: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    ok(run("--repo", str(b), "add", str(hello), home=a))
    assert not (a / "blocks").exists()
    assert run("--repo", str(b), "cat", HELLO_V0, home=a).stdout == HELLO
    fails(run("cat", HELLO_V0, home=a), "not found")


def test_export_and_import_car(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    data = os.urandom(5000)
    src = tmp_path / "data"
    src.write_bytes(data)
    root = ok(run("add", "--chunk-size", "1000", "--max-children", "2", str(src), home=a)).strip()
    car = tmp_path / "out.car"
    ok(run("export-car", root, "-o", str(car), home=a))
    assert car.stat().st_size > 5000
    assert ok(run("import-car", str(car), home=b)).split() == [root]
    assert run("cat", root, home=b).stdout == data
    # to standard output and back from standard input
    piped = run("export-car", root, home=a).stdout
    assert piped == car.read_bytes()
    c = tmp_path / "c"
    assert ok(run("import-car", "-", home=c, stdin=piped)).split() == [root]


def test_errors_are_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    fails(run("add", str(tmp_path / "missing"), home=home), "No such file")
    fails(run("add", str(tmp_path), home=home), "is a directory")
    fails(run("cat", "not-a-cid", home=home), "not a CID")
    fails(run("cat", HELLO_V0, home=home), "not found")
    fails(run("export-car", HELLO_V0, "-o", str(tmp_path / "x.car"), home=home), "not found")
    assert not (tmp_path / "x.car").exists()
    bad = tmp_path / "bad.car"
    bad.write_bytes(b"\x05hello")
    fails(run("import-car", str(bad), home=home), "CAR")
    fails(run("import-car", str(tmp_path / "nope.car"), home=home), "No such file")
    # a file in the way of the repo
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    fails(run("--repo", str(blocker), "cat", HELLO_V0), "not a directory")


def test_usage_errors_exit_2(hello: Path, tmp_path: Any) -> None:
    p = run("add", "--cid-version", "7", str(hello), home=tmp_path)
    assert p.returncode == 2 and b"Traceback" not in p.stderr
    p = run("add", "--chunk-size", "0", str(hello), home=tmp_path)
    assert p.returncode == 2
    p = run(home=tmp_path)
    assert p.returncode == 2
    # settings the importer refuses are one-line errors too
    fails(run("add", "--chunk-size", "9999999", str(hello), home=tmp_path), "chunk_size")


def test_console_script_entry_point() -> None:
    from fastswap import cli

    assert callable(cli.main) and set(cli.COMMANDS) >= {"add", "cat", "import-car", "export-car"}
