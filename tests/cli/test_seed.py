"""What ``fastswap seed`` serves and what it re-reads (issue 9, "Lifecycle"): with no PATH the
repo's pins; with PATHs, a PATH whose root is pinned and whose files have the sizes and mtimes of
its last import is not read again (the summary's ``hashed`` says which were), unless
``--reimport``; a changed or unpinned PATH is. Listening on the unspecified address prints and
announces this machine's interface addresses, never the unspecified one."""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import socket
from pathlib import Path

import psutil
import pytest

from tests.peers.fastswap_cli import Seeder, fastswap, get

pytestmark = pytest.mark.timeout(90)

#: the IPv4 unspecified address, spelled without the literal
ANY4 = str(ipaddress.IPv4Address(0))


def _seed_once(repo: Path, *paths: str, extra: tuple[str, ...] = ()) -> dict:
    """Start a seeder, return its summary, stop it (SIGTERM, exit 0)."""
    s = Seeder(repo, *paths, extra=extra)
    try:
        return s.info
    finally:
        assert s.stop(signal.SIGTERM) == 0, s.log()


def _hashed(info: dict) -> list[tuple[str, bool]]:
    return [(r["cid"], r["hashed"]) for r in info["roots"]]


def test_unchanged_paths_are_not_rehashed(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    f = tmp_path / "data.bin"
    f.write_bytes(os.urandom(600_000))
    d = tmp_path / "site"
    d.mkdir()
    (d / "a.txt").write_text("a")

    first = _seed_once(repo, str(f), str(d))
    (cid, hashed), (dcid, dhashed) = _hashed(first)
    assert hashed and dhashed  # never seen: read and hashed
    # again, untouched: neither is read
    assert _hashed(_seed_once(repo, str(f), str(d))) == [(cid, False), (dcid, False)]
    # --reimport reads both again (and finds the same roots)
    assert _hashed(_seed_once(repo, str(f), str(d), extra=("--reimport",))) == \
        [(cid, True), (dcid, True)]
    # a new mtime (same bytes) is a change; a file added to the directory too
    os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 10**9))
    (d / "b.txt").write_text("b")
    (c2, h2), (d2, dh2) = _hashed(_seed_once(repo, str(f), str(d)))
    assert (c2, h2) == (cid, True) and dh2 and d2 != dcid
    # other bytes: another root
    f.write_bytes(os.urandom(600_000))
    (c3, h3), (_, dh3) = _hashed(_seed_once(repo, str(f), str(d)))
    assert h3 and c3 != cid and not dh3
    # an unpinned root is read again (its blocks may have been collected)
    assert fastswap(repo, "pin", "rm", c3).returncode == 0
    assert _hashed(_seed_once(repo, str(f)))[0] == (c3, True)
    # the text summary says it too
    s = Seeder(repo, str(f), json_summary=False)
    try:
        lines = [s.info["first_line"]] + [s.readline(10) for _ in range(3)]
        assert f"root: {c3} {f} (unchanged since its last import: not re-hashed)\n" in lines
    finally:
        assert s.stop(signal.SIGTERM) == 0


def test_seed_without_paths_serves_the_pins(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(os.urandom(700_000))
    b.write_bytes(os.urandom(300_000))
    roots = [json.loads(fastswap(repo, "add", "--json", str(p)).stdout)["root"] for p in (a, b)]
    # an unpinned DAG in the repo is not a root the seeder serves
    c = tmp_path / "c.bin"
    c.write_bytes(os.urandom(1000))
    unpinned = json.loads(fastswap(repo, "add", "--json", str(c)).stdout)["root"]
    assert fastswap(repo, "pin", "rm", unpinned).returncode == 0
    pins = {p["cid"] for p in json.loads(fastswap(repo, "pin", "ls", "--json").stdout)}
    assert pins == set(roots)

    s = Seeder(repo)
    try:
        assert {r["cid"] for r in s.info["roots"]} == pins
        assert not any(r["hashed"] for r in s.info["roots"])
        for root, src in zip(roots, (a, b)):
            out = tmp_path / f"out-{src.name}"
            p = get(tmp_path / "leech", root, s.addr, out)
            assert p.returncode == 0, p.stderr.decode()
            assert out.read_bytes() == src.read_bytes()
    finally:
        assert s.stop(signal.SIGTERM) == 0
    assert s.served()["bytes_sent"] >= 1_000_000  # from this seeder, nowhere else


def _local_ipv4() -> set[str]:
    """This machine's IPv4 interface addresses."""
    return {nic.address for nics in psutil.net_if_addrs().values() for nic in nics
            if nic.family == socket.AF_INET}


def test_unspecified_listen_address_prints_and_announces_interface_addresses(
        tmp_path: Path) -> None:
    f = tmp_path / "data.bin"
    f.write_bytes(b"x" * 1000)
    s = Seeder(tmp_path / "repo", str(f), extra=("--listen", f"/ip4/{ANY4}/tcp/0"))
    try:
        addrs = s.info["addrs"]
        ips = [a.split("/")[2] for a in addrs]
        assert ANY4 not in ips and "127.0.0.1" in ips, addrs
        assert set(ips) == _local_ipv4(), addrs  # every interface, nothing else
        port = {a.split("/")[4] for a in addrs}
        assert len(port) == 1 and port != {"0"}, addrs  # one listener, its real port
        assert all(a.endswith("/p2p/" + s.info["peer_id"]) for a in addrs)
        loopback = next(a for a in addrs if "/127.0.0.1/" in a)
        # what identify tells a peer (dialled on loopback only)
        p = fastswap(tmp_path / "other", "id", loopback, "--json", timeout=30)
        assert p.returncode == 0, p.stderr
        announced = json.loads(p.stdout)["addrs"]
        assert announced and not any(f"/{ANY4}/" in a for a in announced), announced
        assert {a.split("/p2p/")[0] for a in addrs} <= {a.split("/p2p/")[0] for a in announced}
        # and `fastswap id` on the seeder's repo asks it for the same addresses
        own = json.loads(fastswap(tmp_path / "repo", "id", "--json").stdout)
        assert own["running"] and own["addrs"] == addrs
    finally:
        assert s.stop(signal.SIGTERM) == 0
