"""Memory per connection (issue 8, item 4: "1,000 idle upgraded connections cost under 64 KiB
each"): a seeder process (``benchmarks/_transfer_peer.py seed``) takes 1,000 idle upgraded
connections from the hostile peer process (each its own identity); its anonymous resident
memory grows by less than 64 KiB per connection. Receive and encrypt buffers are lent by the
host's pools and given back while a connection is quiet (``Connection.release_buffers``), and
the heap is trimmed after the handshake churn (``resources.trim_heap``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from benchmarks._peerproc import PeerProc
from tests.abuse.conftest import HOSTILE, ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

CONNECTIONS = 1000
BOUND_KIB = 64


def test_idle_connections_cost_under_64_kib_each() -> None:
    seeder = PeerProc("seed", str(1 << 20), "--max-connections", str(2 * CONNECTIONS))
    attacker = None
    try:
        info = seeder.line()
        time.sleep(1.5)
        before = seeder.ask("rss")["rssanon_kib"]
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        attacker = subprocess.Popen(
            [sys.executable, str(HOSTILE), "idle", info["addr"], "60", str(CONNECTIONS)],
            stdout=subprocess.PIPE, env=env,
        )
        assert attacker.stdout is not None
        report = json.loads(attacker.stdout.readline())
        assert report["sent"] == CONNECTIONS, report
        time.sleep(3)  # a few housekeeping passes: quiet connections give their buffers back
        after = seeder.ask("rss")["rssanon_kib"]
        per_conn = (after - before) / CONNECTIONS
        print(f"\nseeder anon memory: {before} KiB before, {after} KiB with {CONNECTIONS} idle "
              f"connections: {per_conn:.1f} KiB each")
        assert per_conn < BOUND_KIB, f"{per_conn:.1f} KiB per idle connection"
    finally:
        if attacker is not None:
            attacker.kill()
            attacker.wait(10)
        seeder.close()


NOREAD_PEERS = 300
NOREAD_BOUND_KIB = 256


def test_peers_that_want_and_never_read_pin_no_responses() -> None:
    """Issue 8, item 5 (1,000 identities that want blocks and never read; the seeder held
    1.7 GB): each of 300 identities wants every 256 KiB leaf of a 64 MiB file and never reads.
    The seeder builds a response only when the peer's window has room, and keeps no reference
    to what it handed the stream, so what a peer pins is its wantlist and its connection, not
    the 1 MiB responses it was sent (then ~1.6 MB a peer; with one 256 KiB response each,
    ~400 KiB). Nor do they cost the seeder work while they wait: their answers are not
    refilled."""
    from benchmarks._peerproc import ATTACK

    seeder = PeerProc("seed", str(64 << 20), "--pattern", "--leaves")
    attacker = None
    try:
        info = seeder.line()
        time.sleep(1.5)
        before = seeder.ask("rss")["rssanon_kib"]
        attacker = PeerProc("sybil-noread", info["addr"], str(NOREAD_PEERS),
                            ",".join(info["leaves"]), script=ATTACK)
        assert attacker.line()["entries"] == NOREAD_PEERS * len(info["leaves"])
        time.sleep(2)
        stats = seeder.ask("peers")["server"]
        after = seeder.ask("rss")["rssanon_kib"]
        per_peer = (after - before) / NOREAD_PEERS
        print(f"\nseeder anon memory: {before} KiB before, {after} KiB with {NOREAD_PEERS} "
              f"peers that never read: {per_peer:.1f} KiB each; server {stats}")
        assert stats["peers"] == NOREAD_PEERS, stats  # they are served, not refused
        assert stats["responses"] >= NOREAD_PEERS, stats
        # each has a writer waiting on its window: its levelled answers are not queued again
        # on every pass (refused and evicted again at once: 1,079 refills here before)
        assert stats["tasks_refilled"] < NOREAD_PEERS // 3, stats
        assert per_peer < NOREAD_BOUND_KIB, f"{per_peer:.1f} KiB per peer that never reads"
    finally:
        if attacker is not None:
            attacker.close()
        seeder.close()


SYBIL_WANTS = 300
#: what the burst may add while it lasts: 84 MiB when stream readers kept the bytes as chunks
#: and joined them (most of it freed, but fragmenting the heap), 31-32 MiB since the stream
#: feeds each message straight into a buffer of its own size (Stream.frame)
LOAD_BOUND_MIB = 48
#: the issue's bound is 64 MiB back within 30 s; the C allocator with the host's trim gives
#: back all but 17 MiB (pymalloc, before the receive path changed: all but 71-76 MiB)
RECOVERY_BOUND_MIB = 40


def test_memory_comes_back_after_a_sybil_want_burst() -> None:
    """Issue 8 ("anonymous memory stays under 512 MB during the attack and returns to within
    64 MB of its pre-attack level within 30 s after"): 300 identities each send 1,024
    want-haves for blocks the seeder lacks, then leave. What the burst costs is bounded (the
    wantlist budgets keep 64k entries; a message's bytes are copied once, into a buffer of
    their own), and it comes back once they are gone: the wants and the objects made for them
    are freed, and the seeder runs Python's objects on the C allocator (as ``fastswap seed``
    does: ``resources.reexec_with_system_allocator``), whose free pages the host's trim
    returns."""
    from benchmarks._peerproc import ATTACK

    env = {k: v for k, v in os.environ.items() if k != "PYTHONMALLOC"}
    seeder = PeerProc("seed", str(16 << 20), "--pattern", "--leaves", env=env)
    attacker = None
    try:
        info = seeder.line()
        time.sleep(1.5)
        before = seeder.ask("rss")["rssanon_kib"] >> 10
        attacker = PeerProc("sybil-wants", info["addr"], str(SYBIL_WANTS), "1024", script=ATTACK)
        attacker.line()  # every identity connected and its wants sent
        time.sleep(2)
        during = seeder.ask("rss")["rssanon_kib"] >> 10
        stats = seeder.ask("peers")["server"]
        attacker.close()
        attacker = None
        deadline = time.monotonic() + 30
        while True:
            time.sleep(2)
            after = seeder.ask("rss")["rssanon_kib"] >> 10
            if after - before < RECOVERY_BOUND_MIB or time.monotonic() > deadline:
                break
        print(f"\nseeder anon memory: {before} MiB before, {during} MiB during the burst, "
              f"{after} MiB after")
        assert stats["peers"] >= SYBIL_WANTS, stats  # the burst reached the seeder
        assert during - before < LOAD_BOUND_MIB, (before, during, after)
        assert after - before < RECOVERY_BOUND_MIB, (before, during, after)
    finally:
        if attacker is not None:
            attacker.close()
        seeder.close()
