"""fastswap.net.resources.keep_freed_heap: a fetch window of block-sized buffers filled and
drained again and again is page-faulted in afresh each time under glibc's defaults (the drained
heap is trimmed), and reused once the heap is kept. Each case runs in a fresh interpreter: the
setting is process-wide and cannot be undone."""

from __future__ import annotations

import subprocess
import sys

import pytest

_CHURN = """
import resource, sys
from fastswap.net.resources import keep_freed_heap
if sys.argv[1] == "keep":
    assert keep_freed_heap(256 << 20, 32 << 20)

def burst():  # a fetch window filling up with 256 KiB block copies, then drained
    window = [bytes(range(256)) * 1024 for _ in range(128)]
    del window

burst()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    burst()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", _CHURN, mode], capture_output=True, text=True,
                         timeout=60, check=True)
    return int(out.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_kept_heap_reuses_freed_block_buffers() -> None:
    default, kept = _faults("default"), _faults("keep")
    # 20 bursts of 128 buffers of 64 pages: the default faults most of them in again
    assert default > 50_000, default
    assert kept < default // 10, (kept, default)
