"""Helpers shared by the DAG tests (a module name of its own: tests/ has no packages)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

_BASE = b"".join(hashlib.sha256(b"fastswap-kat-%d" % i).digest() for i in range(2049))[:65537]


def kat_content(n: int) -> bytes:
    """Deterministic bytes for known-answer tests: a 65537-byte pseudo-random pattern repeated.

    The odd period makes every 256 KiB chunk different. The same function made the files whose
    CIDs the reference importer (ipfs-unixfs-importer 17.1.1, which Helia uses and which agrees
    with Kubo 0.22 for the same settings) computed for the tables in the tests.
    """
    return (_BASE * (n // len(_BASE) + 1))[:n]


def make_tree(root: Path) -> Path:
    """A tree with everything an export must get right."""
    (root / "sub dir" / "ünïcødé").mkdir(parents=True)
    (root / "empty dir").mkdir()
    (root / "empty file").write_bytes(b"")
    (root / "a.txt").write_bytes(b"hello\n")
    (root / "sub dir" / "ünïcødé" / "big.bin").write_bytes(os.urandom(700_000))
    (root / "sub dir" / "nested empty").mkdir()
    os.symlink("a.txt", root / "link")
    return root


def snapshot(root: Path) -> dict[str, Any]:
    """name -> bytes (files), "dir" (directories) or ("link", target), relative to *root*."""
    out: dict[str, Any] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        for d in dirnames:
            p = os.path.join(dirpath, d)
            out[os.path.normpath(os.path.join(rel, d))] = (
                ("link", os.readlink(p)) if os.path.islink(p) else "dir"
            )
        for f in filenames:
            p = os.path.join(dirpath, f)
            key = os.path.normpath(os.path.join(rel, f))
            out[key] = ("link", os.readlink(p)) if os.path.islink(p) else Path(p).read_bytes()
    return out
