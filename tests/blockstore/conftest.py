"""Fixtures for the blockstore tests: stores of every kind, deterministic blocks, event loops."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import uvloop
from _bs_helpers import StoreMaker

from fastswap.blockstore import LMDBBlockstore


@pytest.fixture(params=["memory", "lmdb", "identity"])
def maker(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[StoreMaker]:
    m = StoreMaker(request.param, tmp_path)
    yield m
    m.close_all()


@pytest.fixture
def store(maker: StoreMaker) -> Any:
    return maker.open()


@pytest.fixture
def lmdb_store(tmp_path: Any) -> Iterator[LMDBBlockstore]:
    s = LMDBBlockstore(tmp_path / "blocks")
    yield s
    s.close()


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """``run(coro)`` runs a coroutine to completion on a fresh loop of the parametrized kind."""
    if request.param == "uvloop":
        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    assert ("uvloop" in type(loop).__module__) == (request.param == "uvloop")

    def run(coro: Any, timeout: float = 60.0) -> Any:
        return loop.run_until_complete(asyncio.wait_for(coro, timeout))

    yield run
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()
