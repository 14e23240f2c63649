"""The environment of the drop-in tests: this checkout of fastswap installed *beside* py-libp2p
0.8.1 and protobuf 6.x, and py-libp2p's own Bitswap tests and example ported to the drop-in.

Why a virtualenv of its own: the suite's environment runs the newest protobuf (7.x), which
py-libp2p 0.8.1 refuses; the drop-in must be proven where its users run it, with ``libp2p`` in
the same process. ``ensure_installed()`` makes ``tests/peers/.cache/pylibp2p-dropin-venv`` with
the suite's own interpreter and installs, in ONE pip resolution, this checkout (built with build
isolation: the build requirements of pyproject.toml come from the package index), the pinned
``pylibp2p-requirements.txt`` (libp2p 0.8.1, protobuf 6.33.6, ...) and
``dropin-test-requirements.txt`` (pytest, pytest-trio): that is the ``pip install . libp2p==0.8.1``
of issue 11, and ``pip check`` must agree. Stamps keep it cached: the requirements (and the
interpreter) key the venv, a hash of fastswap's sources keys the installed fastswap, so a warm
run costs nothing and a changed source only reinstalls fastswap (``--no-deps``).

py-libp2p's tests and example come from the libp2p 0.8.1 sdist on PyPI (``pip download``,
checked against its sha256), never from this repository: ``ported_tests()`` extracts
``tests/core/bitswap`` and ``examples/bitswap`` and changes *only their imports* of
``libp2p.bitswap`` to ``fastswap.compat.libp2p`` (``port_imports``). The files among them that
construct hosts are ported a second time for fastswap's own host, where a py-libp2p program also
changes its host construction: ``from libp2p import new_host`` imports the drop-in's
``new_host`` instead (``port_to_fastswap_host``), into ``bitswap_on_fastswap_host/`` and
``examples_on_fastswap_host/``.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

from ._process import PeerInstallError
from .pylibp2p import _CACHE_DIR, _GMP_HEADERS, LIBP2P_VERSION, REQUIREMENTS, _install_lock, _run

__all__ = [
    "DROPIN_REQUIREMENTS",
    "SDIST_SHA256",
    "VENV_DIR",
    "ensure_installed",
    "port_imports",
    "port_to_fastswap_host",
    "ported_tests",
    "venv_python",
]

_HERE = Path(__file__).parent
ROOT = _HERE.parent.parent
DROPIN_REQUIREMENTS = _HERE / "dropin-test-requirements.txt"
VENV_DIR = _CACHE_DIR / "pylibp2p-dropin-venv"
_VENV_STAMP = ".fastswap-venv-stamp"
_SOURCE_STAMP = ".fastswap-source-stamp"
#: the libp2p 0.8.1 sdist on PyPI (it ships tests/ and examples/)
SDIST_NAME = f"libp2p-{LIBP2P_VERSION}.tar.gz"
SDIST_SHA256 = "3fb1493d215d10205f56095014e21c3d4eec025a9becb3e73a768d1151f27fd0"
_SDIST_DIR = _CACHE_DIR / "pylibp2p-sdist"
_PORTED_DIR = _CACHE_DIR / "pylibp2p-ported"
_INSTALL_TIMEOUT = 1500.0
# what fastswap's wheel is built from (generated *_pb2.py, .c and .so are build output)
_SOURCE_SUFFIXES = (".py", ".pyx", ".pxd", ".proto", ".h", ".toml")


def venv_python() -> Path:
    return VENV_DIR / "bin" / "python"


def _venv_key() -> str:
    h = hashlib.sha256()
    for f in (REQUIREMENTS, DROPIN_REQUIREMENTS):
        h.update(f.read_bytes())
    # fastswap's own dependencies: a source change reinstalls it --no-deps, so a new or changed
    # dependency must rebuild the venv
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    h.update(repr((project.get("dependencies"), project.get("optional-dependencies", {})
                   .get("libp2p"))).encode())
    h.update(os.path.realpath(sys.executable).encode() + b"\0" + sys.version.encode())
    return h.hexdigest()


def _source_key() -> str:
    h = hashlib.sha256()
    files = [ROOT / "setup.py", ROOT / "pyproject.toml", ROOT / "README.md"]
    for top in ("fastswap", "proto", "csrc"):
        for dirpath, dirnames, filenames in os.walk(ROOT / top):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for name in sorted(filenames):
                if name.endswith(_SOURCE_SUFFIXES) and not name.endswith("_pb2.py"):
                    files.append(Path(dirpath) / name)
    for f in files:
        h.update(str(f.relative_to(ROOT)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def _stamp_ok(name: str, key: str) -> bool:
    stamp = VENV_DIR / name
    return stamp.exists() and stamp.read_text().strip() == key and venv_python().exists()


def ensure_installed() -> bool:
    """Make the drop-in venv current (see the module docstring); True if it installed
    anything. PeerInstallError with pip's output and the fix if it cannot."""
    venv_key, source_key = _venv_key(), _source_key()
    if _stamp_ok(_VENV_STAMP, venv_key) and _stamp_ok(_SOURCE_STAMP, source_key):
        return False
    with _install_lock():
        if _stamp_ok(_VENV_STAMP, venv_key) and _stamp_ok(_SOURCE_STAMP, source_key):
            return False
        pip = [str(venv_python()), "-m", "pip", "install", "--quiet", "--no-input"]
        if not _stamp_ok(_VENV_STAMP, venv_key):
            if not any(os.path.exists(p) for p in _GMP_HEADERS):
                raise PeerInstallError(
                    "the drop-in venv needs py-libp2p, whose dependency fastecdsa==2.3.2 "
                    "compiles against the GMP headers (gmp.h), which are missing. Run "
                    "scripts/install-system-deps.sh (as root), then rerun the tests."
                )
            shutil.rmtree(VENV_DIR, ignore_errors=True)
            _run([sys.executable, "-m", "venv", str(VENV_DIR)],
                 f"creating the drop-in virtualenv {VENV_DIR}", 300.0)
            # one resolution: fastswap (this checkout) + libp2p 0.8.1 and its pins + pytest
            _run([*pip, f"{ROOT}[libp2p]", "-r", str(REQUIREMENTS), "-r", str(DROPIN_REQUIREMENTS)],
                 f"pip install . libp2p=={LIBP2P_VERSION} (+ pins) into {VENV_DIR}",
                 _INSTALL_TIMEOUT)
            (VENV_DIR / _VENV_STAMP).write_text(venv_key + "\n")
        else:
            _run([*pip, "--no-deps", "--force-reinstall", str(ROOT)],
                 f"reinstalling this checkout of fastswap into {VENV_DIR}", _INSTALL_TIMEOUT)
        _run([str(venv_python()), "-m", "pip", "check"],
             f"pip check in {VENV_DIR} (fastswap beside libp2p {LIBP2P_VERSION})", 120.0)
        probe = subprocess.run(
            [str(venv_python()), "-c",
             ("import fastswap, libp2p, libp2p.bitswap, fastswap.compat.libp2p, google.protobuf"
             " as p; print(libp2p.__version__, p.__version__, fastswap.HAS_EXTENSIONS)")],
            capture_output=True, timeout=120, stdin=subprocess.DEVNULL, check=False,
            cwd=_CACHE_DIR,  # not the checkout: the installed fastswap must be the one imported
        )
        out = probe.stdout.decode().split()
        if probe.returncode != 0 or out[:1] != [LIBP2P_VERSION] or not out[1].startswith("6."):
            raise PeerInstallError(
                f"fastswap and libp2p {LIBP2P_VERSION} on protobuf 6.x do not import together "
                f"in {VENV_DIR} (got {out!r}):\n{probe.stderr.decode(errors='replace')[-3000:]}"
            )
        (VENV_DIR / _SOURCE_STAMP).write_text(source_key + "\n")
        return True


_IMPORT = re.compile(r"^(\s*)(from|import)(\s+)libp2p\.bitswap\b", re.MULTILINE)


def port_imports(source: str) -> str:
    """py-libp2p test or example code with its ``libp2p.bitswap`` imports (``from
    libp2p.bitswap[.x] import`` and ``import libp2p.bitswap[.x]``) pointed at the drop-in, and
    nothing else changed."""
    return _IMPORT.sub(r"\1\2\3fastswap.compat.libp2p", source)


_NEW_HOST = re.compile(r"^(\s*)from(\s+)libp2p(\s+)import(\s+)new_host[ \t]*$", re.MULTILINE)


def port_to_fastswap_host(source: str) -> str:
    """:func:`port_imports`, and the host construction: ``from libp2p import new_host`` imports
    ``fastswap.compat.libp2p``'s ``new_host`` (fastswap's host) instead; nothing else
    changed."""
    return _NEW_HOST.sub(r"\1from\2fastswap.compat.libp2p\3import\4new_host",
                         port_imports(source))


def _sdist() -> Path:
    path = _SDIST_DIR / SDIST_NAME
    if path.exists() and hashlib.sha256(path.read_bytes()).hexdigest() == SDIST_SHA256:
        return path
    _SDIST_DIR.mkdir(parents=True, exist_ok=True)
    _run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary",
          ":all:", f"libp2p=={LIBP2P_VERSION}", "-d", str(_SDIST_DIR)],
         f"pip download libp2p=={LIBP2P_VERSION} (its sdist: py-libp2p's tests)", 600.0)
    digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None
    if digest != SDIST_SHA256:
        raise PeerInstallError(
            f"{path} has sha256 {digest}, not the pinned {SDIST_SHA256}: the libp2p "
            f"{LIBP2P_VERSION} sdist on the index is not the one the ported tests were checked "
            "against"
        )
    return path


def ported_tests() -> Path:
    """A directory holding ``bitswap/`` (py-libp2p 0.8.1's ``tests/core/bitswap``) and
    ``examples/bitswap.py``, imports ported to the drop-in, and ``bitswap_on_fastswap_host/``
    and ``examples_on_fastswap_host/`` with those of their files that construct a host, ported
    to fastswap's host (and the package's ``__init__.py``/``conftest.py``); rebuilt when
    missing."""
    stamp = _PORTED_DIR / ".stamp"
    key = SDIST_SHA256 + hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text().strip() == key:
        return _PORTED_DIR
    with _install_lock():
        if stamp.exists() and stamp.read_text().strip() == key:
            return _PORTED_DIR
        shutil.rmtree(_PORTED_DIR, ignore_errors=True)
        prefix = f"libp2p-{LIBP2P_VERSION}/"
        wanted = {prefix + "tests/core/bitswap/": "bitswap",
                  prefix + "examples/bitswap/": "examples"}
        with tarfile.open(_sdist()) as tar:
            for member in tar.getmembers():
                for src, dest in wanted.items():
                    if member.isfile() and member.name.startswith(src) and \
                            member.name.endswith(".py"):
                        name = member.name[len(src):]
                        f = tar.extractfile(member)
                        assert f is not None
                        source = f.read().decode()
                        _write(_PORTED_DIR / dest / name, port_imports(source))
                        if _NEW_HOST.search(source) or name in ("__init__.py", "conftest.py"):
                            _write(_PORTED_DIR / f"{dest}_on_fastswap_host" / name,
                                   port_to_fastswap_host(source))
        # py-libp2p's pytest settings for these files: trio_mode (async tests run under trio)
        (_PORTED_DIR / "pytest.ini").write_text("[pytest]\ntrio_mode = true\n")
        stamp.write_text(key + "\n")
    return _PORTED_DIR


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
