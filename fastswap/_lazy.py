"""Lazy public names for a package's ``__init__`` (PEP 562 module ``__getattr__``).

A command imports the packages on its path, and an ``__init__`` that imports every submodule
makes each command pay for all of them: ``fastswap get --peer`` needs neither the DHT
(``fastswap.routing.kad``) nor the importer and CAR code of ``fastswap.dag``, which were ~10 ms
of its start. The package declares its names for type checkers under ``TYPE_CHECKING`` and
maps each to the submodule that defines it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_getattr"]


def lazy_getattr(package: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for *package* that imports ``names[name]`` (a submodule,
    relative to *package*) on first use of *name* and keeps the value in the package."""

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        setattr(importlib.import_module(package), name, value)  # once
        return value

    return __getattr__
