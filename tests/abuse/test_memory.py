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
