"""The addresses a host gives peers (fastswap/net/host.py ``expand_unspecified``, ``Host.addrs``):
an unspecified listen address (``0.0.0.0``, ``::``) becomes this machine's interface addresses
of that family, never itself; IPv6 link-local addresses (they need a zone) and other families are
left out; set announce addresses win. Interfaces are faked where the answer must be exact, and
read from this machine where the host must agree with it; nothing is dialled but 127.0.0.1."""

from __future__ import annotations

import ipaddress
import socket
from types import SimpleNamespace

import psutil
import pytest

from fastswap.net.host import Host, expand_unspecified
from fastswap.net.multiaddr import Multiaddr

pytestmark = pytest.mark.timeout(60)

#: the unspecified addresses, spelled without their literals
ANY4 = str(ipaddress.IPv4Address(0))
ANY6 = str(ipaddress.IPv6Address(0))


def _nic(family: int, address: str) -> SimpleNamespace:
    return SimpleNamespace(family=family, address=address, netmask=None, broadcast=None, ptp=None)


#: a made-up machine, handed to the expansion in place of psutil's answer: besides loopback only
#: documentation addresses (RFC 5737, RFC 3849); nothing is bound or dialled
FAKE_NICS = {
    "lo": [_nic(socket.AF_INET, "127.0.0.1"), _nic(socket.AF_INET6, "::1"),
           _nic(psutil.AF_LINK, "00:00:00:00:00:00")],
    "eth0": [_nic(socket.AF_INET, "198.51.100.3"), _nic(socket.AF_INET6, "2001:db8::5"),
             _nic(socket.AF_INET6, "fe80::1%eth0"), _nic(psutil.AF_LINK, "52:14:fa:0c:7a:4d")],
    "eth1": [_nic(socket.AF_INET, "192.0.2.9"), _nic(socket.AF_INET, "198.51.100.3")],  # seen twice
}


def _expand(*addrs: str) -> list[str]:
    return [str(a) for a in expand_unspecified([Multiaddr.parse(a) for a in addrs])]


def test_expand_unspecified_with_known_interfaces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(psutil, "net_if_addrs", lambda: FAKE_NICS)
    assert _expand(f"/ip4/{ANY4}/tcp/4001") == [
        "/ip4/127.0.0.1/tcp/4001", "/ip4/198.51.100.3/tcp/4001", "/ip4/192.0.2.9/tcp/4001"]
    assert _expand(f"/ip6/{ANY6}/tcp/4002") == ["/ip6/::1/tcp/4002", "/ip6/2001:db8::5/tcp/4002"]
    # specified addresses pass through, in order, around the expanded ones
    assert _expand("/ip4/192.0.2.1/tcp/1", f"/ip4/{ANY4}/tcp/2", "/ip6/::1/tcp/3") == [
        "/ip4/192.0.2.1/tcp/1", "/ip4/127.0.0.1/tcp/2", "/ip4/198.51.100.3/tcp/2",
        "/ip4/192.0.2.9/tcp/2", "/ip6/::1/tcp/3"]
    # a machine without an address of that family announces nothing for that listener
    monkeypatch.setattr(psutil, "net_if_addrs", lambda: {"lo": FAKE_NICS["lo"][:1]})
    assert _expand(f"/ip6/{ANY6}/tcp/5") == []


def test_a_host_on_the_unspecified_address_gives_its_interfaces(run) -> None:
    machine = sorted(nic.address for nics in psutil.net_if_addrs().values() for nic in nics
                     if nic.family == socket.AF_INET)

    async def main() -> None:
        async with Host(listen_addrs=[f"/ip4/{ANY4}/tcp/0"]) as a, Host() as b:
            (bound,) = a.listen_addrs
            host, port = bound.tcp_address()
            assert host == ANY4 and port != 0  # what it listens on...
            addrs = a.addrs  # ...and what it gives peers
            assert sorted(x.tcp_address()[0] for x in addrs) == machine
            assert all(x.tcp_address()[1] == port and x.peer_id == a.peer_id for x in addrs)
            loopback = next(x for x in addrs if x.tcp_address()[0] == "127.0.0.1")
            await b.dial(loopback)
            info = await b.identify(a.peer_id)
            assert sorted(str(x) for x in info.addrs) == sorted(str(x.without_p2p())
                                                                for x in addrs)
        # announce addresses, when set, are what peers are told
        async with Host(listen_addrs=[f"/ip4/{ANY4}/tcp/0"],
                        announce_addrs=["/ip4/198.51.100.7/tcp/4001"]) as c:
            assert [str(x.without_p2p()) for x in c.addrs] == ["/ip4/198.51.100.7/tcp/4001"]

    run(main())
