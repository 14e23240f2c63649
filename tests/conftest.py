"""Shared fixtures. Twin-backed tests run against both twins (multidict's c/py fixture)."""

from __future__ import annotations

import asyncio
import importlib
import os

import pytest
import uvloop
from hypothesis import HealthCheck, settings

from fastswap import _compat

# Hypothesis profiles. "ci", the default, runs the same examples on every run and machine
# (derandomized, no example database to replay from), with no per-example deadline (a shared
# 2-core machine stalls at random) and the example counts fixed by each test's own @settings
# (100 where a test sets none): a red run can be reproduced, a green one means the same thing
# each time. "explore" draws new examples on every run (and keeps failures in the database):
# HYPOTHESIS_PROFILE=explore python -m pytest tests/message tests/dag tests/net -k fuzz
settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=100,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("explore", deadline=None, max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# real peers (Kubo, Helia) for interop tests: fixtures kubo, helia, kubo_factory, helia_factory
pytest_plugins = ["tests.peers.fixtures"]


def twin_params(compiled: str, pure: str) -> list:
    """pytest params for a twin pair: the compiled module (unless FASTSWAP_NO_EXTENSIONS) and the
    pure one. A compiled twin that fails to import is a test error here, not a skip: the guard
    test (tests/test_extensions.py) names it too."""
    params = [pytest.param(pure, id="py")]
    if _compat.NO_EXTENSIONS:
        params.insert(
            0,
            pytest.param(
                compiled,
                id="c",
                marks=pytest.mark.skip(reason="FASTSWAP_NO_EXTENSIONS=1: compiled twins off"),
            ),
        )
    else:
        params.insert(0, pytest.param(compiled, id="c"))
    return params


def import_twin(name: str):
    mod = importlib.import_module(name)
    if name.endswith("_c"):
        assert _compat.is_compiled(mod), f"{name} loaded from {mod.__file__}, not compiled"
    return mod


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request):
    """``run(coro, timeout=...)`` runs *coro* to completion on a fresh event loop: stock asyncio
    and uvloop, each test once per loop. The default timeout is the test module's
    ``RUN_TIMEOUT`` (60 s unless it sets one)."""
    factory = uvloop.new_event_loop if request.param == "uvloop" else asyncio.new_event_loop
    default = getattr(request.module, "RUN_TIMEOUT", 60.0)

    def runner(coro, timeout: float = default):
        with asyncio.Runner(loop_factory=factory) as r:
            return r.run(asyncio.wait_for(coro, timeout))

    return runner
