"""Progress of long commands (add, get, import-car, export-car) on standard error: a ``rich``
bar when standard error is a terminal (bytes, blocks, rate, time left when the total is known),
a plain line every few seconds otherwise (logs and CI), nothing with ``-q``.

Updates may come from any thread (the importer's writer thread, the event loop): counters are
plain integers and rich refreshes the bar from its own thread.
"""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType
from typing import Any, Self

__all__ = ["CountingStore", "Progress"]

#: seconds between plain progress lines when standard error is not a terminal
PLAIN_INTERVAL = 5.0


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    raise AssertionError  # pragma: no cover


class Progress:
    """``with Progress("adding", total=bytes) as p: p.update(nbytes, blocks)``."""

    def __init__(self, label: str, *, total: int | None = None, enabled: bool = True) -> None:
        self.label = label
        self.total = total
        self.enabled = enabled
        self.bytes = 0
        self.blocks = 0
        self._lock = threading.Lock()
        self._bar: Any = None
        self._task: Any = None
        self._t0 = time.monotonic()
        self._last_line = self._t0

    def __enter__(self) -> Self:
        if self.enabled and sys.stderr.isatty():
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )
            from rich.progress import (
                Progress as Bar,
            )

            self._bar = Bar(
                TextColumn("{task.description}"), BarColumn(), DownloadColumn(binary_units=True),
                TransferSpeedColumn(), TextColumn("{task.fields[blocks]} blocks"),
                TimeRemainingColumn(), transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=self.total, blocks=0)
        return self

    def update(self, nbytes: int = 0, blocks: int = 0) -> None:
        with self._lock:
            self.bytes += nbytes
            self.blocks += blocks
            if self._bar is not None:
                self._bar.update(self._task, completed=self.bytes, blocks=self.blocks)
                return
            if not self.enabled:
                return
            now = time.monotonic()
            if now - self._last_line >= PLAIN_INTERVAL:
                self._last_line = now
                self._line(now)

    def _line(self, now: float) -> None:
        elapsed = max(now - self._t0, 1e-9)
        of = f" of {_human(self.total)}" if self.total else ""
        print(f"fastswap: {self.label}: {_human(self.bytes)}{of}, {self.blocks} blocks, "
              f"{self.bytes / elapsed / 1e6:.1f} MB/s", file=sys.stderr, flush=True)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.stop()


class CountingStore:
    """A blockstore proxy that reports the blocks and bytes written through it to a Progress
    (what an import or a CAR import stores); everything else passes through."""

    def __init__(self, store: Any, progress: Progress) -> None:
        self._store = store
        self._progress = progress

    def put(self, cid: bytes, data: Any) -> None:
        self._store.put(cid, data)
        self._progress.update(len(data), 1)

    def put_many(self, blocks: Any) -> Any:
        blocks = list(blocks)
        result = self._store.put_many(blocks)
        self._progress.update(sum(len(d) for _, d in blocks), len(blocks))
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def __len__(self) -> int:
        return len(self._store)
