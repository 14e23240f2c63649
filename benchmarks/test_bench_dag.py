"""UnixFS import and export: a 64 MiB file, and a 2,000-file directory of 64 MiB in all (a
HAMT root): Kubo and Helia presets, LMDB and memory stores; exporting through the local walker
and through the streaming exporter (fastswap.dag.stream over the repo as a block source).

Measure with
    python -m pytest benchmarks/test_bench_dag.py --benchmark-enable --benchmark-only
Each import round gets a fresh store (a store that already has the blocks would make the writes
no-ops); export rounds read one imported copy. ``extra_info`` carries MB/s of the median round.
Temporary repos and export targets are removed as rounds go, so disk use stays near one copy.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

from fastswap.blockstore import MemoryBlockstore, open_blockstore
from fastswap.dag import (
    HELIA_DEFAULTS,
    KUBO_DEFAULTS,
    ImportSettings,
    TreeWriter,
    cat,
    import_file,
    import_path,
    walk,
)
from fastswap.dag import stream as dag_stream

MIB = 1024 * 1024
SIZE = 64 * MIB
PRESETS = {"kubo": KUBO_DEFAULTS, "helia": HELIA_DEFAULTS}
ROUNDS = 5


@pytest.fixture(scope="module")
def source() -> Iterator[str]:
    d = tempfile.mkdtemp(prefix="fastswap-bench-dag-")
    path = os.path.join(d, "src")
    with open(path, "wb") as f:
        f.writelines(os.urandom(MIB) for _ in range(SIZE // MIB))
    try:
        yield path
    finally:
        shutil.rmtree(d, ignore_errors=True)


class Stores:
    """Opens a fresh store per round and closes/removes the previous one."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.current: Any = None
        self.dir: str | None = None

    def fresh(self) -> Any:
        self.drop()
        if self.kind == "memory":
            self.current = MemoryBlockstore()
        else:
            self.dir = tempfile.mkdtemp(prefix="fastswap-bench-dag-repo-")
            self.current = open_blockstore(self.dir)
        return self.current

    def drop(self) -> None:
        if self.current is not None:
            self.current.close()
            self.current = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


@pytest.fixture(params=["lmdb", "memory"])
def stores(request: pytest.FixtureRequest) -> Iterator[Stores]:
    s = Stores(request.param)
    yield s
    s.drop()


def _mbps(benchmark: Any) -> None:
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        benchmark.extra_info["MB/s"] = round(SIZE / stats.stats.median / 1e6, 1)


@pytest.mark.parametrize("preset", list(PRESETS))
def test_import_64m(benchmark: Any, source: str, stores: Stores, preset: str) -> None:
    benchmark.group = f"dag-import-64m-{preset}"

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (stores.fresh(),), {}

    def run(store: Any) -> bytes:
        return import_file(store, source, **PRESETS[preset])

    root = benchmark.pedantic(run, setup=setup, rounds=ROUNDS, iterations=1)
    assert root and len(stores.current) > SIZE // PRESETS[preset]["chunk_size"]
    _mbps(benchmark)


@pytest.mark.parametrize("preset", list(PRESETS))
def test_export_64m(benchmark: Any, source: str, stores: Stores, preset: str) -> None:
    benchmark.group = f"dag-export-64m-{preset}"
    store = stores.fresh()
    root = import_file(store, source, **PRESETS[preset])

    def run() -> int:
        return sum(len(part) for part in cat(store, root))

    n = benchmark.pedantic(run, rounds=ROUNDS, iterations=1)
    assert n == SIZE
    _mbps(benchmark)


# -- a directory of 2,000 files ------------------------------------------------------------------

FILES = 2000
FILE_SIZE = SIZE // FILES  # 33554 bytes: one chunk each under both presets


@pytest.fixture(scope="module")
def source_dir() -> Iterator[str]:
    d = tempfile.mkdtemp(prefix="fastswap-bench-dir-")
    root = os.path.join(d, "tree")
    os.mkdir(root)
    for i in range(FILES):
        # long names: the directory's links pass the 256 KiB sharding threshold (a HAMT root)
        with open(os.path.join(root, f"file {i:04d} " + "n" * 120), "wb") as f:
            f.write(os.urandom(FILE_SIZE))
    try:
        yield root
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _dir_mbps(benchmark: Any) -> None:
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        benchmark.extra_info["MB/s"] = round(FILES * FILE_SIZE / stats.stats.median / 1e6, 1)


@pytest.mark.parametrize("preset", list(PRESETS))
def test_import_dir_2000(benchmark: Any, source_dir: str, stores: Stores, preset: str) -> None:
    benchmark.group = f"dag-import-dir-2000-{preset}"
    settings = ImportSettings.preset(preset)

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (stores.fresh(),), {}

    def run(store: Any) -> bytes:
        return import_path(store, source_dir, settings)

    root = benchmark.pedantic(run, setup=setup, rounds=ROUNDS, iterations=1)
    assert root and len(stores.current) > FILES
    _dir_mbps(benchmark)


def _export(how: str, store: Any, root: bytes, out: str) -> None:
    """Write the DAG at *root* to *out*: the local walker, or the streaming exporter reading
    the repo as its block source."""
    if how == "walker":
        with TreeWriter(out) as w:
            for ev in walk(store, root):
                w.handle(ev)
    else:
        asyncio.run(dag_stream.get(dag_stream.StoreSource(store), root, out))


@pytest.mark.parametrize("how", ["walker", "stream"])
def test_export_dir_2000(benchmark: Any, source_dir: str, how: str) -> None:
    """Write the tree to disk from an LMDB repo: the local walker, and the streaming exporter
    (the same walk behind a fetch-ahead window) reading the repo as its block source."""
    benchmark.group = "dag-export-dir-2000"
    repo = tempfile.mkdtemp(prefix="fastswap-bench-dir-repo-")
    out_parent = tempfile.mkdtemp(prefix="fastswap-bench-dir-out-")
    store = open_blockstore(repo)
    try:
        root = import_path(store, source_dir)
        out = os.path.join(out_parent, "out")

        def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
            shutil.rmtree(out, ignore_errors=True)
            return (), {}

        def run() -> None:
            _export(how, store, root, out)

        benchmark.pedantic(run, setup=setup, rounds=ROUNDS, iterations=1)
        assert len(os.listdir(out)) == FILES
        _dir_mbps(benchmark)
    finally:
        store.close()
        shutil.rmtree(repo, ignore_errors=True)
        shutil.rmtree(out_parent, ignore_errors=True)


@pytest.mark.parametrize("how", ["walker", "stream"])
def test_export_64m_to_file(benchmark: Any, source: str, how: str) -> None:
    """A 64 MiB file from an LMDB repo to disk: the local walker, and the streaming exporter."""
    benchmark.group = "dag-export-64m-to-file"
    repo = tempfile.mkdtemp(prefix="fastswap-bench-file-repo-")
    out_parent = tempfile.mkdtemp(prefix="fastswap-bench-file-out-")
    store = open_blockstore(repo)
    try:
        root = import_file(store, source, **KUBO_DEFAULTS)
        out = os.path.join(out_parent, "out")

        def run() -> None:
            _export(how, store, root, out)

        benchmark.pedantic(run, rounds=ROUNDS, iterations=1)
        assert os.path.getsize(out) == SIZE
        _mbps(benchmark)
    finally:
        store.close()
        shutil.rmtree(repo, ignore_errors=True)
        shutil.rmtree(out_parent, ignore_errors=True)
