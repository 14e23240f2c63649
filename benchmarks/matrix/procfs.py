"""CPU time and peak resident set of another process, from Linux's ``/proc`` (proc(5)): the
same figures for every system, whatever its language, read by the harness from outside.

* ``cpu_seconds``: utime + stime of ``/proc/PID/stat`` (every thread of the process: Go's,
  libuv's and Python's worker threads included), in seconds;
* ``peak_rss_kib``: ``VmHWM`` of ``/proc/PID/status``, the resident set's high-water mark
  (file-backed pages count too: an LMDB map read zero-copy is resident memory);
* ``reset_peak_rss``: writing ``5`` to ``/proc/PID/clear_refs`` sets that mark to the current
  resident set, so a long-lived seeder's peak is the peak of one round.
"""

from __future__ import annotations

import os
import sys

__all__ = ["cpu_seconds", "peak_rss_kib", "reset_peak_rss"]

if not sys.platform.startswith("linux"):
    raise ImportError("the benchmark matrix measures processes through Linux's /proc")

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        # the command name (field 2) may hold spaces: count fields after its ")"
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def peak_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise ProcessLookupError(f"no VmHWM for process {pid}")


def reset_peak_rss(pid: int) -> None:
    with open(f"/proc/{pid}/clear_refs", "w") as fh:
        fh.write("5")
