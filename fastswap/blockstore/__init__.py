"""Blockstores: the Blockstore protocol, LMDB (the embedded default), memory, and the identity
layer every node puts on top (identity CIDs answered from the CID, never stored or fetched).

The repository layout (fastswap's own; Kubo's repo keeps blocks under ``<repo>/blocks`` too):
``<repo>/blocks`` is the LMDB environment. The repo is chosen by :func:`default_repo_path`.
"""

from __future__ import annotations

import os

from .._defaults import LMDB_INITIAL_MAP_SIZE, LMDB_SYNC
from ..errors import BlockstoreError
from .aio import AsyncBlockstore
from .base import Blockstore
from .identity import IdentityBlockstore, with_identity
from .lmdb import LMDBBlockstore
from .memory import MemoryBlockstore

__all__ = [
    "BLOCKS_DIR",
    "AsyncBlockstore",
    "Blockstore",
    "IdentityBlockstore",
    "LMDBBlockstore",
    "MemoryBlockstore",
    "default_repo_path",
    "open_blockstore",
    "with_identity",
]

#: The LMDB environment's directory inside a repo.
BLOCKS_DIR = "blocks"


def default_repo_path() -> str:
    """The repo directory when none is given: ``$FASTSWAP_HOME`` if set (and not empty), else
    the per-user data directory (``platformdirs.user_data_dir("fastswap")``, e.g.
    ``~/.local/share/fastswap`` on Linux)."""
    home = os.environ.get("FASTSWAP_HOME")
    if home:
        return os.path.abspath(os.path.expanduser(home))
    import platformdirs

    return platformdirs.user_data_dir("fastswap")


def open_blockstore(
    repo: str | os.PathLike[str] | None = None,
    *,
    map_size: int = LMDB_INITIAL_MAP_SIZE,
    sync: bool = LMDB_SYNC,
) -> LMDBBlockstore:
    """Open (creating as needed) the LMDB blockstore of a repo: *repo*, else
    :func:`default_repo_path`. Its environment lives at ``<repo>/blocks``.

    Raises BlockstoreError when the directory cannot be used (a file is in the way, no
    permission, another fastswap format, already open in this process).
    """
    root = default_repo_path() if repo is None else os.path.abspath(os.fspath(repo))
    if os.path.exists(root) and not os.path.isdir(root):
        raise BlockstoreError(
            f"the fastswap repo {root!r} exists and is not a directory; "
            "choose another location (--repo or $FASTSWAP_HOME)"
        )
    try:
        os.makedirs(root, exist_ok=True)
    except OSError as exc:
        raise BlockstoreError(
            f"cannot create the fastswap repo {root!r}: {exc.strerror or exc}; "
            "choose a writable location (--repo or $FASTSWAP_HOME)"
        ) from exc
    return LMDBBlockstore(os.path.join(root, BLOCKS_DIR), map_size=map_size, sync=sync)
