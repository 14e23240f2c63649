"""fastswap.net.resources.keep_freed_heap: a fetch window of block-sized buffers filled and
drained again and again is page-faulted in afresh each time under glibc's defaults (the drained
heap is trimmed), and reused once the heap is kept. Each case runs in a fresh interpreter: the
setting is process-wide and cannot be undone."""

from __future__ import annotations

import os
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


_THREAD_CHURN = """
import resource, sys, threading
from fastswap.net.resources import keep_freed_heap, one_malloc_arena
if "arena" in sys.argv[1]:
    assert one_malloc_arena()
if "keep" in sys.argv[1]:
    assert keep_freed_heap(256 << 20, 32 << 20)
if sys.argv[1] == "dropin":  # what a py-libp2p program using the drop-in's host does
    from fastswap.compat.libp2p import new_host
    new_host()

def task(i):  # a fresh host per task starts threads; one of them receives the task's blocks
    out = []
    def work(me):
        scratch = [bytes(1000) for _ in range(100)]  # every thread allocates: it gets an arena
        if me == i % 3:
            out.extend(bytes(range(256)) * 1024 for _ in range(512))  # 128 MiB: two heaps
    threads = [threading.Thread(target=work, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out

blocks = task(0)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for i in range(1, 9):
    blocks = None  # the caller drops the last task's blocks before the next task's arrive
    blocks = task(i)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _thread_faults(mode: str) -> int:
    """Page faults of the tasks after the first (also run by tests/compat/dropin in the drop-in
    venv, with *mode* "dropin")."""
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("MALLOC_", "GLIBC_TUNABLES"))}
    out = subprocess.run([sys.executable, "-c", _THREAD_CHURN, mode], capture_output=True,
                         text=True, timeout=60, check=True, env=clean)
    return int(out.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_one_arena_reuses_what_another_threads_blocks_freed() -> None:
    # glibc gives new threads arenas of 64 MiB heaps and unmaps a heap once wholly free,
    # whatever the trim threshold: with threads new every task, keeping the heap is not enough
    default = _thread_faults("default")
    kept = _thread_faults("keep")
    one_arena = _thread_faults("keep+arena")
    # 8 tasks of 512 buffers of 64 pages: the default faults nearly all of them in again
    assert default > 150_000, default
    assert one_arena < kept // 10, (one_arena, kept, default)
    assert one_arena < default // 100, (one_arena, kept, default)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_malloc_settings_of_the_environment_win() -> None:
    probe = ("from fastswap.net.resources import keep_freed_heap, one_malloc_arena; "
             "print(one_malloc_arena(), keep_freed_heap(1 << 28, 1 << 25))")
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("MALLOC_", "GLIBC_TUNABLES"))}
    for env, expect in [({}, "True True"), ({"MALLOC_ARENA_MAX": "4"}, "False True"),
                        ({"MALLOC_TRIM_THRESHOLD_": "1000000"}, "True False"),
                        ({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}, "False True")]:
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                             timeout=60, check=True, env={**clean, **env})
        assert out.stdout.split() == expect.split(), (env, out.stdout)
