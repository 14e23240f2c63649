"""pytest fixtures for the real peers (registered by ``pytest_plugins`` in tests/ and
benchmarks/ conftest files).

- ``kubo``, ``helia``: one node each per test session (starting them costs ~1 s and an npm ci
  the first time); tests that need a pristine node use the factories instead.
- ``kubo_factory``, ``helia_factory``: start extra nodes, all stopped when the test ends.

A peer that cannot be installed or started fails the test with the reason (never a skip):
the interop suite is only meaningful if the real peers actually ran.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ._process import PeerError
from .helia import HeliaPeer
from .kubo import KuboPeer


def _start(cls: type[KuboPeer | HeliaPeer], workdir: Any, **kwargs: Any) -> Any:
    peer = None
    try:
        peer = cls(workdir, **kwargs)
        peer.start()
        return peer
    except PeerError as exc:
        if peer is not None:
            peer.close()
        pytest.fail(f"{cls.name} peer could not be installed or started: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def kubo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KuboPeer]:
    peer = _start(KuboPeer, tmp_path_factory.mktemp("kubo"))
    try:
        yield peer
    finally:
        peer.close()


@pytest.fixture(scope="session")
def helia(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeliaPeer]:
    peer = _start(HeliaPeer, tmp_path_factory.mktemp("helia"))
    try:
        yield peer
    finally:
        peer.close()


@pytest.fixture
def kubo_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., KuboPeer]]:
    yield from _factory(KuboPeer, tmp_path_factory, "kubo")


@pytest.fixture
def helia_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., HeliaPeer]]:
    yield from _factory(HeliaPeer, tmp_path_factory, "helia")


def _factory(cls: Any, tmp_path_factory: pytest.TempPathFactory, name: str
             ) -> Iterator[Callable[..., Any]]:
    """Start peers of *cls* on demand; stop every one when the test ends."""
    started: list[Any] = []

    def factory(**kwargs: Any) -> Any:
        peer = _start(cls, tmp_path_factory.mktemp(name), **kwargs)
        started.append(peer)
        return peer

    try:
        yield factory
    finally:
        for peer in started:
            peer.close()


# ---- py-libp2p (tests/peers/pylibp2p.py: its own virtualenv, see that module) ---------------


@pytest.fixture(scope="session")
def pylibp2p(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from .pylibp2p import PyLibp2pPeer

    peer = _start(PyLibp2pPeer, tmp_path_factory.mktemp("pylibp2p"))  # type: ignore[arg-type]
    try:
        yield peer
    finally:
        peer.close()


@pytest.fixture
def pylibp2p_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Any]]:
    from .pylibp2p import PyLibp2pPeer

    yield from _factory(PyLibp2pPeer, tmp_path_factory, "pylibp2p")
