"""Abusive peers against a seeding Node (ipfs/specs bitswap-protocol, "Bitswap 1.2.0 Interaction
Pattern", and the server's limits in fastswap/server: boxo's decision engine caps per-peer
wantlists and bytes in flight for the same reason).

Three processes: a seeder Node (``benchmarks/_transfer_peer.py seed``: a 128 MiB file of
256 KiB raw leaves plus 100,000 small blocks), a hostile peer (``... abuse``: a bare libp2p Host
sending hand-built wantlists and never reading anything the seeder sends), and a normal leecher
Node fetching the file. Two abuses:

* ``wantlist``: a 100,000-entry wantlist (four messages under the 4 MiB limit) of blocks the
  seeder has, want-block + sendDontHave;
* ``noread``: want-block for every leaf of the file (128 MiB), then never read.

What is asserted: the seeder's peak RSS (VmHWM, reset just before the abuse starts; after a first
unabused fetch has mapped the file's LMDB pages, which count as resident) grows by less than
``RSS_BOUND_KIB`` while the abuser is connected and a normal leecher fetches the whole
file (which must arrive with the right sha256); the abuser's wantlist is cut to the per-peer
cap (the rest counted as dropped); what the seeder holds for it in flight stays under its
per-peer cap (plus one message); and it received at most one flow-control window. The slowdown
the abuser causes is measured, not asserted: ``benchmarks/test_bench_swarm_abuse.py``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from benchmarks._peerproc import PeerProc as _Proc
from fastswap import _defaults

FILE_SIZE = 128 * 1024 * 1024
WANTLIST_ENTRIES = 100_000
#: the most the seeder's peak resident set may grow while being abused (and serving a normal
#: leecher the whole 128 MiB file at the same time): well below what buffering the abuser's
#: wants (128 MiB of blocks for ``noread``) would cost.
RSS_BOUND_KIB = 40 * 1024

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def seeder() -> Iterator[tuple[_Proc, dict[str, Any]]]:
    proc = _Proc("seed", str(FILE_SIZE), "--pattern", "--small", str(WANTLIST_ENTRIES),
                 "--leaves")
    try:
        info = proc.line()
        # a first fetch without the abuser maps the file's pages of the LMDB map into the
        # seeder (file-backed, they count in its resident set): after it, peak-RSS growth is
        # what serving costs, and this run is the figure to compare the abused runs with
        base = proc.ask("reset")
        leecher = _Proc("leech")
        try:
            got = leecher.ask(f"{info['addr']} {info['root']} sha256")
        finally:
            leecher.close()
        assert got["sha256"] == info["sha256"]
        again = proc.ask("reset")
        leecher = _Proc("leech")
        try:
            leecher.ask(f"{info['addr']} {info['root']}")
        finally:
            leecher.close()
        after = proc.ask("rss")
        info["unabused_growth_kib"] = after["vmhwm_kib"] - again["vmhwm_kib"]
        print(f"\nseeder VmHWM: first fetch +{(again['vmhwm_kib'] - base['vmhwm_kib']) >> 10} "
              f"MiB (maps the file), a fetch without abuse +{info['unabused_growth_kib'] >> 10} "
              f"MiB")
        yield proc, info
    finally:
        proc.close()


def _ledger_of(seeder: _Proc, peer: str, until: Any, timeout: float = 20.0) -> dict[str, Any]:
    """The seeder's ledger for *peer* once ``until(ledger)`` holds (bounded wait)."""
    deadline = time.monotonic() + timeout
    while True:
        state = seeder.ask("peers")
        ledger = state["ledgers"].get(peer)
        if ledger is not None and until(ledger):
            return ledger
        if time.monotonic() > deadline:
            raise AssertionError(f"seeder never reached the expected state for {peer}: {state}")
        time.sleep(0.1)


def _abuse(seeder: _Proc, info: dict[str, Any], mode: str, arg: str) -> dict[str, Any]:
    """Reset the seeder's peak RSS, let the abuser in, fetch the file normally beside it;
    return the figures."""
    base = seeder.ask("reset")
    abuser = _Proc("abuse", mode, info["addr"], arg)
    leecher = _Proc("leech")
    try:
        sent = abuser.line()
        ledger = _ledger_of(seeder, sent["peer"],
                            lambda lg: lg["messages_received"] >= sent["messages"])
        got = leecher.ask(f"{info['addr']} {info['root']} sha256")
        ledger = _ledger_of(seeder, sent["peer"], lambda lg: True)
        status = abuser.ask("status")
        after = seeder.ask("rss")
        server = seeder.ask("peers")["server"]
    finally:
        leecher.close()
        abuser.close()
    return {"base": base, "after": after, "sent": sent, "ledger": ledger, "got": got,
            "status": status, "server": server}


def _check_common(r: dict[str, Any], info: dict[str, Any]) -> None:
    # the normal leecher got the whole file, intact, while the abuser was connected
    assert r["got"]["sha256"] == info["sha256"]
    assert FILE_SIZE <= r["got"]["bytes"] < FILE_SIZE * 1.01
    growth = r["after"]["vmhwm_kib"] - r["base"]["vmhwm_kib"]
    print(f"\nseeder VmHWM {r['base']['vmhwm_kib'] >> 10} -> {r['after']['vmhwm_kib'] >> 10} MiB "
          f"(+{growth / 1024:.1f} MiB; without abuse +{info['unabused_growth_kib'] / 1024:.1f} "
          f"MiB), abuser ledger {r['ledger']}, abuser {r['status']}")
    assert growth < RSS_BOUND_KIB, (
        f"seeder peak RSS grew {growth / 1024:.1f} MiB under abuse (bound "
        f"{RSS_BOUND_KIB >> 10} MiB)")
    # the seeder still holds the abuser's connection but holds little for it
    assert r["status"]["connected"]
    assert r["ledger"]["inflight_bytes"] <= (
        _defaults.SERVER_MAX_INFLIGHT_BYTES_PER_PEER + _defaults.MAX_MESSAGE_SIZE)
    # it never read: it can have been sent no more than one flow-control window
    assert r["status"]["unread_bytes"] <= _defaults.MAX_BUFFERED_PER_STREAM


def test_wantlist_of_100000_entries_costs_bounded_memory(seeder) -> None:
    proc, info = seeder
    r = _abuse(proc, info, "wantlist", str(WANTLIST_ENTRIES))
    _check_common(r, info)
    assert r["sent"]["entries"] == WANTLIST_ENTRIES and r["sent"]["messages"] > 1
    assert r["ledger"]["wants_received"] == WANTLIST_ENTRIES
    # the wantlist is cut at the per-peer cap; everything past it is dropped, not queued
    cap = _defaults.SERVER_MAX_WANTLIST_ENTRIES_PER_PEER
    assert r["ledger"]["wantlist_size"] <= cap
    # (less the entries answered meanwhile: the blocks that fitted its one window went out
    # between its messages, and each answered entry made room for a later one)
    answered = r["ledger"]["blocks_sent"]
    assert answered * 256 <= _defaults.MAX_BUFFERED_PER_STREAM
    assert r["server"]["wants_dropped"] >= WANTLIST_ENTRIES - cap - answered
    # whatever it was sent is far less than the 25 MiB of blocks it asked for
    assert r["ledger"]["bytes_sent"] <= cap * 256 + _defaults.MAX_MESSAGE_SIZE


def test_peer_that_never_reads_costs_bounded_memory(seeder) -> None:
    proc, info = seeder
    leaves = info["leaves"]
    assert len(leaves) == FILE_SIZE // (256 * 1024)
    r = _abuse(proc, info, "noread", ",".join(leaves))
    _check_common(r, info)
    # it asked for 128 MiB and got (or has written towards it) only what flow control let by
    assert r["ledger"]["bytes_sent"] <= (
        _defaults.MAX_BUFFERED_PER_STREAM + _defaults.SERVER_MAX_INFLIGHT_BYTES_PER_PEER
        + _defaults.MAX_MESSAGE_SIZE)
    assert r["ledger"]["bytes_sent"] < FILE_SIZE // 4
