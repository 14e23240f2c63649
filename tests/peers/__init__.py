"""Real IPFS peers (Kubo, Helia) installed by the project itself and run as child processes,
for interop tests and peer benchmarks: ``tests.peers.kubo``, ``tests.peers.helia``, and the
pytest fixtures in ``tests.peers.fixtures``. See shared INTEROP notes for what was learned
running them on this machine."""

from ._process import (
    PeerCommandError,
    PeerError,
    PeerExitedError,
    PeerInstallError,
    PeerProcess,
    PeerStartError,
    PeerTimeoutError,
)
from .helia import HeliaPeer, start_helia
from .kubo import KuboPeer, start_kubo

__all__ = [
    "HeliaPeer",
    "KuboPeer",
    "PeerCommandError",
    "PeerError",
    "PeerExitedError",
    "PeerInstallError",
    "PeerProcess",
    "PeerStartError",
    "PeerTimeoutError",
    "start_helia",
    "start_kubo",
]
