"""Helpers shared by the DAG tests (a module name of its own: tests/ has no packages)."""

from __future__ import annotations

import hashlib

_BASE = b"".join(hashlib.sha256(b"fastswap-kat-%d" % i).digest() for i in range(2049))[:65537]


def kat_content(n: int) -> bytes:
    """Deterministic bytes for known-answer tests: a 65537-byte pseudo-random pattern repeated.

    The odd period makes every 256 KiB chunk different. The same function made the files whose
    CIDs the reference importer (ipfs-unixfs-importer 17.1.1, which Helia uses and which agrees
    with Kubo 0.22 for the same settings) computed for the tables in the tests.
    """
    return (_BASE * (n // len(_BASE) + 1))[:n]
