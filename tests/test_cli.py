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
    # Kubo's `ipfs add`: the same CID, printed the same way
    assert ok(run("add", str(hello), home=home)) == f"added {HELLO_V0} hello.txt\n"
    assert ok(run("add", "-q", str(hello), home=home)).strip() == HELLO_V0
    assert (home / "blocks").is_dir()
    assert run("cat", HELLO_V0, home=home).stdout == HELLO


def test_add_options(tmp_path: Path, hello: Path) -> None:
    home = tmp_path / "home"
    assert ok(run("add", "-q", "--cid-version", "1", str(hello), home=home)).strip() == HELLO_RAW
    out = ok(run("add", "-q", "--cid-version", "1", "--no-raw-leaves", str(hello),
                 home=home)).strip()
    assert out.startswith("bafybei")
    assert ok(run("add", "-q", "--raw-leaves", str(hello), home=home)).strip() == HELLO_RAW
    assert ok(run("add", "-q", "--preset", "helia", str(hello), home=home)).strip() == HELLO_RAW
    big = tmp_path / "big"
    data = os.urandom(10_000)
    big.write_bytes(data)
    root = ok(
        run("add", "-q", "--chunk-size", "1000", "--max-children", "3", str(big), home=home)
    ).strip()
    assert root.startswith("Qm")
    assert run("cat", root, home=home).stdout == data
    # standard input
    assert ok(run("add", "-q", "-", home=home, stdin=HELLO)).strip() == HELLO_V0


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
    root = ok(run("add", "-q", "--chunk-size", "1000", "--max-children", "2", str(src),
                  home=a)).strip()
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
    fails(run("add", str(tmp_path), home=home), "is a directory; use -r")
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


# -- directories ---------------------------------------------------------------------------

PLANETS = "QmWSgS32xQEcXMeqd3YPJLrNBLSdsfYCep2U7CFkyrjXwY"  # Kubo's t0040 known answer


@pytest.fixture
def planets(tmp_path: Path) -> Path:
    d = tmp_path / "planets"
    d.mkdir()
    (d / "mars.txt").write_bytes(b"Hello Mars!\n")
    (d / "venus.txt").write_bytes(b"Hello Venus!\n")
    (d / "empty moon").mkdir()
    return d


def test_add_recursive_ls_cat_get(tmp_path: Path, planets: Path) -> None:
    home = tmp_path / "home"
    out = ok(run("add", "-r", str(planets), home=home)).splitlines()
    assert out[-1].startswith("added ") and out[-1].endswith(" planets")
    assert {line.split(" ", 2)[2] for line in out} == {
        "planets", "planets/mars.txt", "planets/venus.txt", "planets/empty moon"}
    root = out[-1].split()[1]
    listing = ok(run("ls", root, home=home)).splitlines()
    assert [line.split(" ", 2)[1:] for line in listing] == [
        ["-", "empty moon/"], ["12", "mars.txt"], ["13", "venus.txt"]]
    assert run("cat", f"{root}/venus.txt", home=home).stdout == b"Hello Venus!\n"
    # get of a tree from the repo: no peer needed
    p = run("get", root, "-o", str(tmp_path / "copy"), home=home)
    assert p.returncode == 0, p.stderr.decode()
    assert b"every block was in the repo" in p.stderr
    assert (tmp_path / "copy" / "mars.txt").read_bytes() == b"Hello Mars!\n"
    assert (tmp_path / "copy" / "empty moon").is_dir()
    # several PATHs land in one directory, each under its name
    ok(run("get", f"{root}/mars.txt", f"{root}/empty moon", "-o", str(tmp_path / "m"),
           home=home))
    assert sorted(os.listdir(tmp_path / "m")) == ["empty moon", "mars.txt"]
    fails(run("get", root, "-o", str(tmp_path / "copy"), home=home), "already exists")
    fails(run("get", root, home=home), "is a directory")
    fails(run("get", f"{root}/pluto", "-o", str(tmp_path / "p"), home=home), "no entry 'pluto'")
    assert not (tmp_path / "p").exists()


def test_add_flags(tmp_path: Path, planets: Path, hello: Path) -> None:
    home = tmp_path / "home"
    (planets / "empty moon").rmdir()
    assert ok(run("add", "-rq", "-n", str(planets), home=home)).strip() == PLANETS
    assert not (home / "blocks").exists()  # --only-hash wrote nothing
    wrapped = ok(run("add", "-w", "-r", str(planets), str(hello), home=home)).splitlines()
    assert wrapped[-1].startswith("added bafy") or wrapped[-1].startswith("added Qm")
    assert len(wrapped[-1].split()) == 2  # the wrapper has no path
    names = ok(run("ls", wrapped[-1].split()[1], home=home)).split()
    assert "planets/" in names and "hello.txt" in names
    b2 = ok(run("add", "-rq", "--hash", "blake2b-256", str(planets), home=home)).strip()
    assert b2 == "bafykbzaceaptbcs7ik5mdfpot3b4ackvxlwh7loc5jcrtkayf64ukl7zyk46e"
    inl = ok(run("add", "-q", "--inline", "--raw-leaves", str(hello), home=home)).strip()
    assert inl.startswith("bafkqa")  # an identity CID
    assert run("cat", inl, home=home).stdout == HELLO
    tr = ok(run("add", "-q", "--trickle", str(hello), home=home)).strip()
    assert tr.startswith("Qm") and tr != HELLO_V0  # Kubo's trickle wraps even one chunk
    (planets / ".secret").write_bytes(b"s")
    assert ok(run("add", "-rq", "-n", str(planets), home=home)).strip() == PLANETS
    assert ok(run("add", "-rqH", "-n", str(planets), home=home)).strip() != PLANETS
    fails(run("add", "-q", "--cid-version", "0", "--hash", "sha2-512", str(hello), home=home),
          "CIDv0 only supports sha2-256")


def test_export_car_v2_of_a_directory(tmp_path: Path, planets: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    root = ok(run("add", "-rq", str(planets), home=a)).strip()
    car = tmp_path / "p.car"
    ok(run("export-car", root, "--version", "2", "-o", str(car), home=a))
    assert car.read_bytes()[:11] == b"\x0a\xa1\x67version\x02"
    assert ok(run("import-car", str(car), home=b)).split() == [root]
    ok(run("get", root, "-o", str(tmp_path / "back"), home=b))
    assert sorted(os.listdir(tmp_path / "back")) == ["empty moon", "mars.txt", "venus.txt"]
