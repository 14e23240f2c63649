"""The real-peer harness itself (tests/peers): Kubo and Helia come up on loopback only, are
configured not to dial off the machine, trade a file over Bitswap with each other, and are
always cleaned up, whether they stop, crash or hang."""

from __future__ import annotations

import hashlib
import ipaddress
import os
import random
import sys
from pathlib import Path

import pytest

from tests.peers import (
    PeerCommandError,
    PeerExitedError,
    PeerProcess,
    PeerStartError,
    PeerTimeoutError,
)

pytestmark = pytest.mark.interop


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _decode_addr(hexaddr: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    raw = bytes.fromhex(hexaddr.split(":")[0])
    if len(raw) == 4:
        return ipaddress.IPv4Address(raw[::-1])
    # /proc/net/*6 stores the address as four host-order 32-bit words
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    addr = ipaddress.IPv6Address(words)
    return addr.ipv4_mapped or addr


def remote_endpoints(pid: int) -> list[str]:
    """Remote addresses of every TCP/UDP socket the process holds, from /proc (connected or
    connecting; listening sockets have no remote address)."""
    inodes = _socket_inodes(pid)
    out = []
    for table in ("tcp", "tcp6", "udp", "udp6"):
        try:
            lines = Path(f"/proc/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            remote, inode = fields[2], fields[9]
            if inode not in inodes:
                continue
            addr = _decode_addr(remote)
            if int(remote.split(":")[1], 16) == 0 and addr.is_unspecified:
                continue  # listening / unconnected
            out.append(f"{table} {addr}")
    return out


def assert_stays_on_machine(peer) -> None:
    endpoints = remote_endpoints(peer.pid)
    far = [e for e in endpoints if not ipaddress.ip_address(e.split()[1]).is_loopback]
    assert far == [], f"{peer.name} has sockets to other machines: {far}"


def _random_file(path: Path, size: int, seed: str) -> tuple[Path, str]:
    data = random.Random(seed).randbytes(size)
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


# ---- configuration -------------------------------------------------------------------------


def test_kubo_config_is_loopback_only(kubo) -> None:
    cfg = kubo.config()
    assert cfg["Bootstrap"] == []
    assert cfg["Addresses"]["Swarm"] == ["/ip4/127.0.0.1/tcp/0"]
    for key in ("Announce", "AppendAnnounce", "NoAnnounce", "API", "Gateway"):
        assert cfg["Addresses"][key] == []
    assert cfg["Discovery"]["MDNS"]["Enabled"] is False
    assert cfg["Routing"]["Type"] == "none"
    assert cfg["Swarm"]["DisableNatPortMap"] is True
    assert cfg["Swarm"]["RelayClient"]["Enabled"] is False
    assert cfg["Swarm"]["RelayService"]["Enabled"] is False
    assert cfg["Swarm"]["EnableHolePunching"] is False
    assert cfg["Swarm"]["Transports"]["Network"]["QUIC"] is False
    assert cfg["Swarm"]["Transports"]["Network"]["WebTransport"] is False
    assert cfg["Swarm"]["Transports"]["Multiplexers"]["Mplex"] is False
    assert cfg["Reprovider"]["Interval"] == "0"
    assert cfg["AutoNAT"]["ServiceMode"] == "disabled"


def test_kubo_listens_on_loopback_only(kubo) -> None:
    assert kubo.peer_id
    assert kubo.multiaddrs
    for ma in kubo.multiaddrs:
        assert ma.startswith("/ip4/127.0.0.1/tcp/"), ma
        assert ma.endswith(f"/p2p/{kubo.peer_id}")
    assert kubo.info()["peerId"] == kubo.peer_id
    assert_stays_on_machine(kubo)


def test_helia_listens_on_loopback_only_and_speaks_bitswap(helia) -> None:
    assert helia.peer_id.startswith("12D3KooW")  # Ed25519 identity
    for ma in helia.multiaddrs:
        assert ma.startswith("/ip4/127.0.0.1/tcp/"), ma
        assert ma.endswith(f"/p2p/{helia.peer_id}")
    protocols = set(helia.protocols)
    assert "/ipfs/bitswap/1.2.0" in protocols
    assert "/ipfs/id/1.0.0" in protocols
    # nothing that finds or relays peers on its own
    assert not any("kad" in p or "relay" in p or "autonat" in p for p in protocols), protocols
    assert_stays_on_machine(helia)


def test_kubo_ed25519_identity(kubo_factory) -> None:
    peer = kubo_factory(key_type="ed25519")
    assert peer.peer_id.startswith("12D3KooW")
    assert peer.info()["peerId"] == peer.peer_id


# ---- Bitswap between the two real peers ----------------------------------------------------


def test_helia_fetches_from_kubo(kubo, helia, tmp_path) -> None:
    path, digest = _random_file(tmp_path / "k.bin", 3 * 262144 + 99, "kubo-to-helia")
    cid = kubo.add(path)
    assert helia.dial(kubo.multiaddr)["peerId"] == kubo.peer_id
    got = helia.cat(cid, timeout=60)
    assert (got["sha256"], got["size"]) == (digest, path.stat().st_size)
    # yamux, not mplex: with mplex a Helia <-> Kubo transfer was seen to stall
    conns = [c for c in helia.connections() if c["peerId"] == kubo.peer_id]
    assert conns and all(c["multiplexer"] == "/yamux/1.0.0" for c in conns), conns
    assert all(c["encryption"] == "/noise" for c in conns), conns
    assert_stays_on_machine(kubo)
    assert_stays_on_machine(helia)


def test_kubo_fetches_from_helia(kubo, helia, tmp_path) -> None:
    path, digest = _random_file(tmp_path / "h.bin", 2 * 262144 + 5, "helia-to-kubo")
    cid = helia.add(path, cid_version=0, raw_leaves=False, chunk_size=262144, max_children=174)
    kubo.connect(helia.multiaddr)
    assert any(p.endswith(helia.peer_id) for p in kubo.peers())
    got = kubo.download(cid, tmp_path / "out.bin", timeout=60)
    assert got["sha256"] == digest
    assert got["size"] == path.stat().st_size
    assert (tmp_path / "out.bin").read_bytes() == path.read_bytes()


# ---- errors and cleanup --------------------------------------------------------------------


def test_command_errors_are_answers(kubo, helia) -> None:
    with pytest.raises(PeerCommandError, match="no such file"):
        kubo.add("/nonexistent/file")
    with pytest.raises(PeerCommandError, match="unknown op"):
        kubo.request("no-such-op", timeout=10)
    with pytest.raises(PeerCommandError):
        helia.cat("not-a-cid", timeout=10)
    # the peers are still usable afterwards
    assert kubo.info()["peerId"] == kubo.peer_id
    assert helia.info()["peerId"] == helia.peer_id


def test_hung_command_times_out_and_close_kills_the_group(kubo_factory, tmp_path) -> None:
    peer = kubo_factory()
    # a block nobody has: Kubo's Download waits forever (no timeout of its own)
    missing = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
    with pytest.raises(PeerTimeoutError, match="download got no answer"):
        peer.download(missing, tmp_path / "never", timeout=1.5)
    pid = peer.pid
    peer.close()
    assert not peer.alive()
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)
    with pytest.raises(PeerExitedError):
        peer.info()


def test_crashed_peer_fails_outstanding_commands(helia_factory) -> None:
    peer = helia_factory()
    fut = peer.submit("cat", cid="bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
                      timeoutMs=60_000)
    os.kill(peer.pid, 9)
    with pytest.raises(PeerExitedError, match="helia exited"):
        fut.result(timeout=15)
    peer.close()
    assert not peer.alive()


def test_peer_that_dies_at_start_reports_its_stderr() -> None:
    script = "import sys; sys.stderr.write('kaboom: cannot start\\n'); sys.exit(3)"
    proc = PeerProcess([sys.executable, "-c", script], start_timeout=30)
    with pytest.raises(PeerStartError, match="(?s)code 3.*kaboom: cannot start"):
        proc.start()
    assert not proc.alive()


def test_peer_that_never_gets_ready_is_killed() -> None:
    proc = PeerProcess([sys.executable, "-c", "import time; time.sleep(60)"], start_timeout=1)
    with pytest.raises(PeerStartError, match="no ready line"):
        proc.start()
    assert not proc.alive()  # killed, not left sleeping


def test_missing_program_is_a_start_error() -> None:
    with pytest.raises(PeerStartError, match="cannot run"):
        PeerProcess(["/nonexistent/peer-binary"]).start()
