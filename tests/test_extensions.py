"""Guard: the compiled twins really loaded (unless FASTSWAP_NO_EXTENSIONS=1 asks otherwise)."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

import pytest

import fastswap
from fastswap import _compat


@pytest.mark.parametrize("compiled", sorted(_compat.TWINS))
def test_compiled_twin_loaded(compiled: str) -> None:
    if _compat.NO_EXTENSIONS:
        pytest.skip("FASTSWAP_NO_EXTENSIONS=1: the pure twins are asked for")
    mod = importlib.import_module(compiled)
    assert _compat.is_compiled(mod), f"{compiled} is not a compiled extension: {mod.__file__}"


def test_has_extensions_reflects_build() -> None:
    assert fastswap.HAS_EXTENSIONS is (not _compat.NO_EXTENSIONS)


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    e = {k: v for k, v in os.environ.items() if not k.startswith("FASTSWAP_")}
    e.update(env)
    return subprocess.run(
        [sys.executable, "-W", "always", "-c", code], env=e, capture_output=True, text=True,
        timeout=120, check=False,  # the callers assert on returncode and stderr
    )


def test_no_extensions_switch_selects_pure_twins() -> None:
    r = _run(
        "import fastswap; from fastswap import _compat; "
        "print(fastswap.HAS_EXTENSIONS, sorted(set(_compat.loaded_twins.values())))",
        FASTSWAP_NO_EXTENSIONS="1",
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "[False]"]
    assert "did not load" not in r.stderr  # asked for: no warning


_BREAK_ONE = (
    "import sys, importlib.abc\n"
    "class Block(importlib.abc.MetaPathFinder):\n"
    "    def find_spec(self, name, path, target=None):\n"
    "        if name == %r: raise ImportError('blocked by test')\n"
    "sys.meta_path.insert(0, Block())\n"
)


def test_missing_extension_warns_once_and_falls_back() -> None:
    first, _second = sorted(_compat.TWINS)[:2]
    code = (_BREAK_ONE % first) + (
        "import warnings\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    import fastswap\n"
        "    has = fastswap.HAS_EXTENSIONS\n"
        "print(has, len([x for x in w if 'did not load' in str(x.message)]))\n"
    )
    r = _run(code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "1"]


def test_require_extensions_makes_missing_extension_an_error() -> None:
    first = min(_compat.TWINS)
    code = (_BREAK_ONE % first) + "import fastswap\nfastswap.HAS_EXTENSIONS\n"
    r = _run(code, FASTSWAP_REQUIRE_EXTENSIONS="1")
    assert r.returncode != 0
    assert "ExtensionMissingError" in r.stderr and first in r.stderr
