"""What the matrix moves, made once per scenario and checked after every transfer.

* a file of N random bytes (``write_random_file``, shared with the transfer benchmarks), so
  every block is distinct; its sha256 is the check;
* a directory of N files (``make_tree``): a flat directory of files between 512 B and 32 KiB
  with long names (so Kubo's and Helia's importers make one plain directory node or, past
  256 KiB of links, a HAMT shard, as they would for a real folder); its check is
  ``tree_digest``: the sha256 of the sorted ``path NUL sha256`` lines of its files;
* a *block directory* (``BlockDir``): the UnixFS DAG of a file, built once by fastswap's
  importer (``_fastswap_peer.py build``: CIDv1, raw leaves, a balanced tree of 174 links, Kubo's
  layout with ``--raw-leaves``), one file per block named by its CID, plus ``manifest.json``.
  Every seeder of a file scenario loads these same blocks (its own way: ``systems.py``), so
  every system serves the same DAG -- the same block count and bytes -- and the 1 KiB-block
  and 4-seeder scenarios need no importer setting a peer lacks (Kubo's library adds only
  256 KiB chunks, and no peer can add "a quarter of a DAG").

Nothing here imports fastswap: the harness's parent process never does (``benchmarks/
_installed.py``); only the peer processes load the installed package.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from benchmarks._peerproc import file_sha256, write_random_file

__all__ = [
    "BlockDir",
    "BlockEntry",
    "dir_tree_digest",
    "file_sha256",
    "make_tree",
    "tree_digest",
    "write_random_file",
]

MANIFEST = "manifest.json"


def tree_digest(files: Iterable[tuple[str, str]]) -> str:
    """The check of a directory: sha256 over its files' ``relative/path NUL sha256hex`` lines,
    sorted by path ("/"-separated, relative to the directory itself). Directories are not
    lines of their own: the matrix's trees have no empty ones."""
    h = hashlib.sha256()
    for path, digest in sorted(files):
        h.update(f"{path}\0{digest}\n".encode())
    return h.hexdigest()


def dir_tree_digest(root: str | os.PathLike[str]) -> tuple[str, int, int]:
    """``tree_digest`` of a directory on disk; also its file count and byte count."""
    root = Path(root)
    files: list[tuple[str, str]] = []
    nbytes = 0
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            p = Path(dirpath) / name
            files.append((p.relative_to(root).as_posix(), file_sha256(p)))
            nbytes += p.stat().st_size
    return tree_digest(files), len(files), nbytes


def make_tree(root: str | os.PathLike[str], nfiles: int, seed: int = 0) -> tuple[str, int]:
    """A flat directory of *nfiles* files (512 B to 32 KiB each); returns (tree_digest, bytes).
    Names are long (about 60 characters), as exported photo or dataset folders have."""
    rng = random.Random(f"fastswap-matrix-tree-{seed}")
    root = Path(root)
    root.mkdir(parents=True)
    files: list[tuple[str, str]] = []
    total = 0
    for i in range(nfiles):
        name = f"sample-{i:05d}-{rng.getrandbits(128):032x}-matrix.bin"
        data = rng.randbytes(rng.randrange(512, 32 * 1024 + 1))
        (root / name).write_bytes(data)
        files.append((name, hashlib.sha256(data).hexdigest()))
        total += len(data)
    return tree_digest(files), total


@dataclass(frozen=True, slots=True)
class BlockEntry:
    cid: str  # the CID as text (base32 CIDv1)
    size: int
    leaf: bool  # a raw leaf (file bytes), else a dag-pb node


@dataclass(frozen=True, slots=True)
class BlockDir:
    """A DAG laid out as one file per block (``<dir>/<cid>``) and its manifest: the root, the
    file it was made from (size, sha256) and every block in the order the importer wrote them
    (leaves in file order, each inner node after its children)."""

    path: Path
    root: str
    size: int
    sha256: str
    blocks: tuple[BlockEntry, ...]

    @property
    def nblocks(self) -> int:
        return len(self.blocks)

    @property
    def dag_bytes(self) -> int:
        return sum(b.size for b in self.blocks)

    def block_path(self, cid: str) -> Path:
        return self.path / cid

    def parts(self, n: int) -> list[list[BlockEntry]]:
        """The blocks split among *n* seeders: the file's leaves in *n* contiguous runs (as
        equal as they divide), the root and inner nodes with the first run. Disjoint, and
        together the whole DAG."""
        leaves = [b for b in self.blocks if b.leaf]
        inner = [b for b in self.blocks if not b.leaf]
        out: list[list[BlockEntry]] = []
        for k in range(n):
            out.append(leaves[k * len(leaves) // n:(k + 1) * len(leaves) // n])
        out[0] = inner + out[0]
        return out

    def write_manifest(self) -> None:
        doc = {"root": self.root, "size": self.size, "sha256": self.sha256,
               "blocks": [[b.cid, b.size, b.leaf] for b in self.blocks]}
        (self.path / MANIFEST).write_text(json.dumps(doc))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> BlockDir:
        path = Path(path)
        doc = json.loads((path / MANIFEST).read_text())
        return cls(path, doc["root"], int(doc["size"]), doc["sha256"],
                   tuple(BlockEntry(c, int(s), bool(leaf)) for c, s, leaf in doc["blocks"]))
