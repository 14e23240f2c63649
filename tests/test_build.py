"""The build honours FASTSWAP_NO_EXTENSIONS: a pure-Python wheel that runs on its pure twins;
its metadata names the licence and installs uvloop only where it runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tracked_copy(dest: Path) -> None:
    """Copy what a fresh clone would hold (tracked and new, not ignored files) to *dest*."""
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.split(b"\0")
    for name in filter(None, files):
        src = ROOT / os.fsdecode(name)
        if src.is_file():
            (dest / os.fsdecode(name)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / os.fsdecode(name))


@pytest.mark.slow
def test_no_extensions_build_is_pure_and_runs(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _tracked_copy(src)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FASTSWAP_")}
    env["FASTSWAP_NO_EXTENSIONS"] = "1"
    r = subprocess.run(
        # with build isolation: the build requirements (grpcio-tools pins protobuf < 7) stay
        # out of the test environment, which runs the newest protobuf
        [sys.executable, "-m", "pip", "wheel", "--no-deps",
         "-q", "-w", str(tmp_path / "wheels"), str(src)],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    (wheel,) = (tmp_path / "wheels").glob("fastswap-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert not [n for n in names if n.endswith((".so", ".pyd"))], names
    assert "fastswap/_proto/bitswap_pb2.py" in names  # generated at build time, not committed
    # the metadata a user's pip reads: the licence (PEP 639: an SPDX expression and the file
    # itself, whose text must be the licence named) and uvloop only where it is supported
    (meta,) = [n for n in names if n.endswith(".dist-info/METADATA")]
    metadata = zipfile.ZipFile(wheel).read(meta).decode()
    assert "License-Expression: MIT\n" in metadata and "License-File: LICENSE\n" in metadata
    licence = zipfile.ZipFile(wheel).read(meta.replace("METADATA", "licenses/LICENSE")).decode()
    assert licence.startswith("MIT License") and licence == (ROOT / "LICENSE").read_text()
    uvloop = [line for line in metadata.splitlines()
              if line.startswith("Requires-Dist: uvloop") and "extra ==" not in line]
    assert uvloop == [('Requires-Dist: uvloop>=0.19; sys_platform != "win32" and '
                      'platform_python_implementation == "CPython"')], uvloop

    target = tmp_path / "site"
    r = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
         str(wheel)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    code = (
        "import fastswap, fastswap.message as m; from fastswap import _compat;"
        "print(fastswap.HAS_EXTENSIONS, m.__name__, fastswap.__file__)"
    )
    run_env = dict(env, PYTHONPATH=str(target))
    r = subprocess.run([sys.executable, "-c", code], env=run_env, capture_output=True,
                       text=True, timeout=120, cwd=tmp_path, check=False)
    assert r.returncode == 0, r.stderr
    has, _, path = r.stdout.split()
    assert has == "False" and path.startswith(str(target))
    # Without the switch, the same pure wheel still runs, but says (once) it is slower.
    del run_env["FASTSWAP_NO_EXTENSIONS"]
    r = subprocess.run([sys.executable, "-W", "always", "-c", code], env=run_env,
                       capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0] == "False"
    assert r.stderr.count("did not load") == 1, r.stderr
