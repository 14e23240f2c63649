"""Benchmarks measure the *installed* fastswap, compiled twins and all (issue 13, "runs from an
installed package").

The checkout's ``fastswap/`` directory shadows the installed package whenever the checkout is
on ``sys.path`` -- and it always is under ``python -m`` (the working directory comes first)
and under pytest (``pythonpath = ["."]`` in pyproject.toml, which the suite needs to import
``tests`` and ``benchmarks``). After a plain ``pip install .`` that tree has no compiled
twins, so a benchmark run from it would quietly measure the pure-Python ones. Two fixes, one
per way the benchmarks run:

* peer processes (the matrix, ``benchmarks/matrix``) run with a working directory outside the
  checkout and with the checkout taken off ``PYTHONPATH`` (``clean_env``), so ``import
  fastswap`` finds the installed package; ``probe`` checks, in exactly that environment, that
  it loads with every compiled twin, and says what to do if not;
* in-process benchmarks (pytest, ``benchmarks/conftest.py``) call
  ``import_installed_fastswap`` first: it imports fastswap with the checkout off ``sys.path``
  for that one import, so every later ``import fastswap...`` gets the installed package and
  ``tests``/``benchmarks`` still import from the checkout. With an editable install (the test
  install) the installed package *is* the checkout, compiled in place: nothing changes.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = [
    "ROOT",
    "BenchmarkSetupError",
    "clean_env",
    "import_installed_fastswap",
    "probe",
    "require_compiled",
]

ROOT = Path(__file__).resolve().parent.parent


class BenchmarkSetupError(RuntimeError):
    """The benchmarks cannot measure what they must (missing install, twins, peer...)."""


def _is_checkout(entry: str) -> bool:
    try:
        return Path(entry or os.getcwd()).resolve() == ROOT
    except OSError:
        return False


def clean_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """*base* (default: this environment) with the checkout taken off ``PYTHONPATH``."""
    env = dict(os.environ if base is None else base)
    parts = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and not _is_checkout(p)]
    if parts:
        env["PYTHONPATH"] = os.pathsep.join(parts)
    else:
        env.pop("PYTHONPATH", None)
    return env


_PROBE = """
import json, fastswap
from fastswap import _compat
ok = fastswap.HAS_EXTENSIONS
print(json.dumps({"version": fastswap.__version__, "file": fastswap.__file__,
                  "has_extensions": bool(ok), "twins": _compat.loaded_twins}))
"""

_INSTALL_HINT = ("install it from the checkout with `python -m pip install .` (a C compiler "
                 "builds the compiled twins; the test install `pip install -e '.[test]'` "
                 "works too)")


def probe(python: str = sys.executable) -> dict[str, Any]:
    """Import fastswap as the benchmark's peer processes will (outside the checkout); its
    version, file and twins. BenchmarkSetupError if it is missing or lacks a compiled twin."""
    with tempfile.TemporaryDirectory(prefix="fastswap-probe-") as cwd:
        done = subprocess.run([python, "-c", _PROBE], cwd=cwd, env=clean_env(),
                              capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise BenchmarkSetupError(
            f"fastswap is not installed for {python}: {_INSTALL_HINT}.\n{done.stderr[-2000:]}")
    info = json.loads(done.stdout.strip().splitlines()[-1])
    if not info["has_extensions"]:
        missing = sorted(k for k, v in info["twins"].items() if not v)
        raise BenchmarkSetupError(
            f"the installed fastswap ({info['file']}) runs without compiled twins {missing}: "
            f"the benchmarks would measure the pure-Python ones. Re-{_INSTALL_HINT}, and check "
            "that FASTSWAP_NO_EXTENSIONS is not set.")
    return info


def import_installed_fastswap() -> ModuleType:
    """Import fastswap from where it is installed, not from the checkout (see the module
    docstring); returns the module. Already imported: returns it as it is (the caller checks
    it with ``require_compiled`` when it matters)."""
    if "fastswap" in sys.modules:
        return sys.modules["fastswap"]
    saved = list(sys.path)
    sys.path[:] = [p for p in sys.path if not _is_checkout(p)]
    try:
        return importlib.import_module("fastswap")
    except ImportError:
        # not installed at all: the checkout's tree is all there is (require_compiled says so)
        sys.path[:] = saved
        return importlib.import_module("fastswap")
    finally:
        sys.path[:] = saved


def require_compiled(module: ModuleType) -> None:
    """BenchmarkSetupError unless *module* (fastswap) loaded every compiled twin."""
    if not module.HAS_EXTENSIONS:
        from fastswap import _compat

        missing = sorted(k for k, v in _compat.loaded_twins.items() if not v)
        where = Path(module.__file__ or "?").resolve().parent
        shadow = (" It was imported from the checkout, whose tree has no compiled twins after a "
                  "plain `pip install .`: run the benchmarks on their own (`python -m pytest "
                  "benchmarks ...`), so that benchmarks/conftest.py imports the installed "
                  "package first." if where == ROOT / "fastswap" else "")
        raise BenchmarkSetupError(
            f"fastswap ({where}) runs without compiled twins {missing}: the benchmarks would "
            f"measure the pure-Python ones.{shadow} Otherwise {_INSTALL_HINT}, and check that "
            "FASTSWAP_NO_EXTENSIONS is not set.")
