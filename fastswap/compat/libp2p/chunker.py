"""Fixed-size chunking with the names of py-libp2p 0.8.1's ``libp2p.bitswap.chunker`` (Kubo's
default ``size-262144`` chunker: every chunk is ``chunk_size`` bytes but the last)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

from ..._defaults import DEFAULT_CHUNK_SIZE

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "chunk_bytes",
    "chunk_file",
    "chunk_file_with_progress",
    "chunk_stream",
    "estimate_chunk_count",
    "get_file_size",
]


def chunk_bytes(data: bytes, chunk_size: int = DEFAULT_CHUNK_SIZE) -> list[bytes]:
    """*data* cut into ``chunk_size`` pieces (none for empty data)."""
    return [data[i:i + chunk_size] for i in range(0, len(data), chunk_size)]


def chunk_stream(stream: Any, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
    """Chunks read from any object with ``read(n)`` (files, BytesIO, GzipFile...), one at a
    time. A short read (a pipe, a socket) is topped up so chunk boundaries do not depend on how
    the source delivers its bytes."""
    while True:
        chunk = stream.read(chunk_size)
        if not chunk:
            return
        while len(chunk) < chunk_size:
            more = stream.read(chunk_size - len(chunk))
            if not more:
                break
            chunk += more
        yield bytes(chunk)


def get_file_size(file_path: str) -> int:
    """Size of *file_path*; FileNotFoundError if it does not exist."""
    if not os.path.exists(file_path):
        raise FileNotFoundError(f"File not found: {file_path}")
    return os.path.getsize(file_path)


def chunk_file(file_path: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
    """Chunks of a file, read one at a time; FileNotFoundError if it does not exist."""
    get_file_size(file_path)
    with open(file_path, "rb") as f:
        yield from chunk_stream(f, chunk_size)


def chunk_file_with_progress(
    file_path: str,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress_callback: Callable[[int, int, int], None] | None = None,
) -> Iterator[bytes]:
    """:func:`chunk_file`, calling ``progress_callback(bytes_read, file_size, chunk_number)``
    after each chunk."""
    total = get_file_size(file_path)
    done = 0
    for n, chunk in enumerate(chunk_file(file_path, chunk_size), 1):
        done += len(chunk)
        if progress_callback is not None:
            progress_callback(done, total, n)
        yield chunk


def estimate_chunk_count(file_size: int, chunk_size: int = DEFAULT_CHUNK_SIZE) -> int:
    """How many chunks a file of *file_size* bytes makes."""
    if file_size < 0:
        raise ValueError(f"file_size must be non-negative, got {file_size}")
    return -(-file_size // chunk_size)
