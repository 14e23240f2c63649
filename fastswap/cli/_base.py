"""What every ``fastswap`` subcommand shares: the :class:`Context` (the repo's store, pins and
configuration, opened on demand), the :class:`Command` record, user errors, the event loop
runner and small argument types."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DialTimeoutError

__all__ = [
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "Command",
    "Context",
    "UserError",
    "positive_float",
    "positive_int",
    "print_json",
    "run_loop",
    "with_timeout",
]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class Context:
    """What a runner may need, opened on first use and closed by ``main``: the repo's path, its
    blockstore (identity CIDs answered from the CID, as a Node's is), its pin set and its
    configuration (config.toml, FASTSWAP_* variables and the flags a command maps to keys)."""

    def __init__(self, repo: str | None, *, own_process: bool = False) -> None:
        from ..blockstore import default_repo_path

        #: the process runs this command alone (the ``fastswap`` program, not a caller of
        #: ``main``), so the command may restart it
        self.own_process = own_process
        #: the repo directory (--repo, else $FASTSWAP_HOME, else the user data directory)
        self.repo = os.path.abspath(repo) if repo else default_repo_path()
        self.repo_path = Path(self.repo)
        self._store: Any = None
        self._pins: Any = None
        self._config: Any = None

    @property
    def store(self) -> Any:
        if self._store is None:
            from ..blockstore import open_blockstore, with_identity

            self._store = with_identity(open_blockstore(self.repo))
        return self._store

    @property
    def pins(self) -> Any:
        if self._pins is None:
            from ..blockstore.pins import PinStore

            self._pins = PinStore(self.repo)
        return self._pins

    def config(self, flags: dict[str, Any] | None = None) -> Any:
        """The repo's effective configuration (:class:`fastswap.config.NodeConfig`); *flags*
        (``key -> value``, None for "not given") apply; the first call's result is kept (a
        command asks with its flags first)."""
        if self._config is None:
            from ..config import load_config

            self._config = load_config(self.repo, flags=flags)
        return self._config

    def sync(self) -> None:
        """Make what this command stored durable, once, unless ``repo.durable`` is off: a
        command that prints a CID has its blocks on disk (not one fsync per block)."""
        if self._store is not None and self.config()["repo.durable"]:
            self._store.flush()

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
        if self._pins is not None:
            self._pins.close()
            self._pins = None


@dataclass(frozen=True)
class Command:
    help: str
    setup: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, Context], int]
    description: str | None = None



class UserError(Exception):
    """A mistake in how the command was used, reported in one line."""


def print_json(obj: Any) -> None:
    """One JSON document on standard output (``--json``)."""
    print(json.dumps(obj, indent=2, ensure_ascii=False))


def run_loop(coro: Any) -> Any:
    """Run *coro* on uvloop when it is installed, else on the stock asyncio loop."""
    from .._loop import run

    return run(coro)


async def with_timeout(coro: Any, seconds: float, what: str) -> Any:
    try:
        async with asyncio.timeout(seconds):
            return await coro
    except TimeoutError:
        raise DialTimeoutError(f"{what} took longer than {seconds} s; try --timeout") from None


def positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if n <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return n


def positive_float(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not x > 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return x


