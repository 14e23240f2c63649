"""Memory returned after load (issue 8, item 4): glibc keeps freed memory once large frames
have raised its mmap threshold, so the host asks it to trim (``resources.trim_heap``) on the
first quiet housekeeping pass after a busy spell (bytes moved, or handshakes accepted), and
not while traffic flows. The figures (the seeder's memory 30 s after each attack) are in
``benchmarks/test_bench_swarm_abuse.py``."""

from __future__ import annotations

import asyncio

import pytest

from fastswap import _defaults
from fastswap.net import host as host_module
from fastswap.net import resources
from fastswap.net.host import Host

pytestmark = pytest.mark.timeout(60)


def test_trim_after_a_busy_spell_once_quiet(run_uv, monkeypatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(host_module, "trim_heap", lambda: calls.append(1) or True)
    released: list[int] = []  # the wire decoder's kept objects go first (each pins an arena)
    monkeypatch.setattr(host_module, "release_freelists", lambda: released.append(1) or 0)

    async def main() -> None:
        async with Host(listen_addrs=["/ip4/127.0.0.1/tcp/0"]) as a, Host() as b:
            conn = await b.dial(a.addrs[0])
            a.maintain()
            assert calls == []  # nothing moved yet
            a_conn = a.connection(b.peer_id)
            # a busy pass: more than the threshold moved since the last one -> no trim yet
            a_conn.bytes_received += _defaults.HEAP_TRIM_AFTER_BYTES
            a.maintain()
            assert calls == []
            a.maintain()  # quiet now: trim once
            assert calls == [1]
            assert released == [1]
            a.maintain()
            assert calls == [1]
            assert released == [1]
            assert conn is not None

    run_uv(main())


def test_bytes_of_connections_that_closed_count(
    run_uv, monkeypatch
) -> None:
    """Partial-message attackers are reset and gone within a housekeeping interval: their
    bytes counted only while connected never reached the threshold, and the 200 MB they made
    the seeder hold stayed in its heap (free, untrimmed) until a later busy spell."""
    calls: list[int] = []
    monkeypatch.setattr(host_module, "trim_heap", lambda: calls.append(1) or True)

    async def main() -> None:
        async with Host(listen_addrs=["/ip4/127.0.0.1/tcp/0"]) as a:
            a.maintain()
            async with Host() as b:
                await b.dial(a.addrs[0])
                for _ in range(200):
                    await asyncio.sleep(0.005)
                    if a.connection(b.peer_id) is not None:
                        break
                a.connection(b.peer_id).bytes_received += _defaults.HEAP_TRIM_AFTER_BYTES
            for _ in range(200):  # b is gone before a's next pass
                await asyncio.sleep(0.005)
                if a.connection_count() == 0:
                    break
            a.maintain()  # the closed connection's bytes count: a busy spell...
            assert calls == []
            a.maintain()  # ...then a quiet pass trims
            assert calls == [1]

    run_uv(main())


def test_trim_heap_runs_here() -> None:
    # glibc on this platform: the call exists and returns
    assert resources.trim_heap() is True
