"""Picks the compiled or the pure-Python twin of each hot module.

One selector for the whole package (multidict/yarl style), two switches:

* ``FASTSWAP_NO_EXTENSIONS=1``: use the pure-Python twins, even where compiled ones are installed.
* ``FASTSWAP_REQUIRE_EXTENSIONS=1``: a compiled twin that does not load is an error.

Otherwise a compiled twin that does not load falls back to its pure twin with one warning per
process (never silently: speed is a feature here). ``fastswap.HAS_EXTENSIONS`` is true only when
every compiled twin asked for so far loaded.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import os
import warnings
from types import ModuleType

from .errors import ExtensionMissingError, ExtensionMissingWarning

__all__ = [
    "NO_EXTENSIONS",
    "REQUIRE_EXTENSIONS",
    "TWINS",
    "is_compiled",
    "load_all",
    "load_twin",
    "loaded_twins",
]


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


NO_EXTENSIONS = _flag("FASTSWAP_NO_EXTENSIONS")
REQUIRE_EXTENSIONS = _flag("FASTSWAP_REQUIRE_EXTENSIONS")
if NO_EXTENSIONS and REQUIRE_EXTENSIONS:
    raise ExtensionMissingError(
        "FASTSWAP_NO_EXTENSIONS and FASTSWAP_REQUIRE_EXTENSIONS are both set; unset one"
    )

#: Every twin pair in the package: compiled module -> its pure-Python twin. A subsystem that adds
#: a twin registers it here, so the guard test and HAS_EXTENSIONS cover it.
TWINS: dict[str, str] = {
    "fastswap.message._codec_c": "fastswap.message._codec_py",
    "fastswap.client._wantlist_c": "fastswap.client._wantlist_py",
    "fastswap.server._taskqueue_c": "fastswap.server._taskqueue_py",
    "fastswap.server._ledger_c": "fastswap.server._ledger_py",
    "fastswap.net._yamux_c": "fastswap.net._yamux_py",
    "fastswap.net._mplex_c": "fastswap.net._mplex_py",
    "fastswap.net._noiseframe_c": "fastswap.net._noiseframe_py",
}

#: module name of the compiled twin -> True if it loaded, False if the pure twin stands in
loaded_twins: dict[str, bool] = {}
_warned = False
HAS_EXTENSIONS = not NO_EXTENSIONS


def is_compiled(module: ModuleType) -> bool:
    """True if *module* was loaded from a native extension (not a .py file)."""
    path = getattr(module, "__file__", None) or ""
    return path.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))


def load_twin(compiled: str, pure: str) -> ModuleType:
    """Import the compiled twin *compiled* or, per the switches above, the pure twin *pure*."""
    global _warned, HAS_EXTENSIONS
    if NO_EXTENSIONS:
        loaded_twins[compiled] = False
        HAS_EXTENSIONS = False
        return importlib.import_module(pure)
    try:
        mod = importlib.import_module(compiled)
        if not is_compiled(mod):  # pragma: no cover - a stray .py must not pass for compiled
            raise ImportError(f"{compiled} is not a compiled extension ({mod.__file__})")
    except ImportError as exc:
        if REQUIRE_EXTENSIONS:
            raise ExtensionMissingError(
                f"compiled module {compiled} did not load ({exc}); rebuild with "
                "`pip install -e .` (needs a C compiler), or unset FASTSWAP_REQUIRE_EXTENSIONS"
            ) from exc
        if not _warned:
            _warned = True
            warnings.warn(
                f"fastswap: compiled module {compiled} did not load ({exc}); using the slower "
                "pure-Python twins. Set FASTSWAP_NO_EXTENSIONS=1 to silence this.",
                ExtensionMissingWarning,
                stacklevel=3,
            )
        loaded_twins[compiled] = False
        HAS_EXTENSIONS = False
        return importlib.import_module(pure)
    loaded_twins[compiled] = True
    return mod


def load_all() -> bool:
    """Select every registered twin; True if all compiled twins loaded."""
    for compiled, pure in TWINS.items():
        if compiled not in loaded_twins:
            load_twin(compiled, pure)
    return HAS_EXTENSIONS
