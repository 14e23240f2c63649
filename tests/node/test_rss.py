"""A leecher's memory does not grow with the file (ipfs/specs bitswap-protocol, "Bitswap 1.2.0
Interaction Pattern"; issue 4: "A leecher's peak RSS fetching a 1 GiB file is within 64 MiB of
its RSS fetching a 64 MiB file").

A seeder process holds a 64 MiB and a 1 GiB file (256 KiB raw leaves, CIDv1; a random 256 KiB
pattern made distinct per block, ``PatternReader`` in ``benchmarks/_transfer_peer.py``, so
nothing is written but the repo). Each file is fetched by its own fresh leecher process into a
fresh LMDB repo; each reports its peak resident set (VmHWM from /proc/self/status) when the
fetch is complete, and then the file's sha256 read back from its store (the read-back maps the
whole file's LMDB pages, which would count as resident: it is a check, not part of the fetch).
"""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks._peerproc import PeerProc

SMALL = 64 * 1024 * 1024
LARGE = 1024 * 1024 * 1024
ALLOWED_GROWTH_KIB = 64 * 1024

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def _fetch(info: dict[str, Any]) -> dict[str, Any]:
    leecher = PeerProc("leech")
    try:
        got = leecher.ask(f"{info['addr']} {info['root']} sha256")
    finally:
        leecher.close(20)
    assert got["sha256"] == info["sha256"]
    assert info["size"] <= got["bytes"] < info["size"] * 1.01
    return got


def test_leecher_peak_rss_does_not_grow_with_file_size() -> None:
    seeders = [PeerProc("seed", str(SMALL), "--pattern"),
               PeerProc("seed", str(LARGE), "--pattern")]
    try:
        small_info, large_info = (s.line() for s in seeders)
        small = _fetch(small_info)
        large = _fetch(large_info)
    finally:
        for s in seeders:
            s.close(20)
    # the peak when the fetch is done, before the test's sha256 read-back maps the whole file
    small_hwm = small["fetch_status"]["vmhwm_kib"]
    large_hwm = large["fetch_status"]["vmhwm_kib"]
    growth = large_hwm - small_hwm
    print(f"\nleecher VmHWM: 64 MiB file {small_hwm / 1024:.1f} MiB "
          f"({small['seconds']:.2f} s), 1 GiB file {large_hwm / 1024:.1f} MiB "
          f"({large['seconds']:.2f} s): +{growth / 1024:.1f} MiB")
    assert growth <= ALLOWED_GROWTH_KIB, (
        f"the leecher's peak RSS fetching 1 GiB ({large_hwm >> 10} MiB) is "
        f"{growth >> 10} MiB above its peak fetching 64 MiB ({small_hwm >> 10} MiB); "
        f"allowed: {ALLOWED_GROWTH_KIB >> 10} MiB")
