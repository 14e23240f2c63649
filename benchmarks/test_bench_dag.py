"""UnixFS import and export of a 64 MiB file: Kubo and Helia presets, LMDB and memory stores.

Measure with
    python -m pytest benchmarks/test_bench_dag.py --benchmark-enable --benchmark-only
Each import round gets a fresh store (a store that already has the blocks would make the writes
no-ops); export rounds read one imported copy. ``extra_info`` carries MB/s of the median round.
Temporary repos are removed as rounds go, so disk use stays near one copy of the file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

from fastswap.blockstore import MemoryBlockstore, open_blockstore
from fastswap.dag import HELIA_DEFAULTS, KUBO_DEFAULTS, cat, import_file

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
