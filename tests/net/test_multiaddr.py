"""Multiaddr text/binary forms (multiformats/multiaddr)."""

from __future__ import annotations

import pytest

from fastswap.errors import MultiaddrError
from fastswap.net.keys import PeerId
from fastswap.net.multiaddr import Multiaddr, parse_multiaddr

PID = "12D3KooWGDMwwqrpcYKpKCgxuKT2NfqPqa94QnknTyFFXx6i6DiB"


@pytest.mark.parametrize(
    "text, hexbin",
    [
        ("/ip4/127.0.0.1/tcp/4001", "047f000001060fa1"),
        ("/ip6/::1/tcp/1", "2900000000000000000000000000000001060001"),
        ("/dns4/localhost/tcp/5", "36096c6f63616c686f7374060005"),
        ("/ip4/1.2.3.4/udp/1/quic-v1", "040102030491020001cd03"),
        (
            f"/ip4/127.0.0.1/tcp/4001/p2p/{PID}",
            (
                "047f000001060fa1a503260024080112205f0a3b0d2ce987909743b3c152d0808273c0"
                "34bd2d63fc4d34a4b201d27c5a3c"
            ),
        ),
    ],
)
def test_text_and_binary_roundtrip(text: str, hexbin: str) -> None:
    ma = Multiaddr.parse(text)
    assert str(ma) == text
    assert bytes(ma).hex() == hexbin
    assert Multiaddr.from_bytes(bytes.fromhex(hexbin)) == ma


def test_dial_helpers() -> None:
    ma = parse_multiaddr(f"/ip4/127.0.0.1/tcp/4001/p2p/{PID}")
    assert ma.peer_id == PeerId.from_string(PID)
    assert ma.tcp_address() == ("127.0.0.1", 4001)
    assert str(ma.without_p2p()) == "/ip4/127.0.0.1/tcp/4001"
    assert ma.without_p2p().with_p2p(ma.peer_id) == ma
    assert parse_multiaddr("/dns6/example.test/tcp/80").tcp_address() == ("example.test", 80)
    # the old /ipfs name parses and prints as /p2p
    assert str(Multiaddr.parse(f"/ipfs/{PID}")) == f"/p2p/{PID}"
    assert not Multiaddr.parse("/ip4/1.2.3.4/udp/1/quic-v1").is_tcp
    with pytest.raises(MultiaddrError, match="not a TCP address"):
        Multiaddr.parse("/ip4/1.2.3.4/udp/1/quic-v1").tcp_address()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "ip4/1.2.3.4",
        "/ip4/1.2.3",
        "/ip4/1.2.3.4/tcp/70000",
        "/ip4/1.2.3.4/tcp/-1",
        "/ip4/1.2.3.4/tcp",
        "/unix/tmp/sock",
        "/ip4/1.2.3.4/tcp/1/p2p/notapeerid",
        "/" + "a" * 2000,
    ],
)
def test_bad_text_raises(text: str) -> None:
    with pytest.raises(MultiaddrError):
        Multiaddr.parse(text)


def test_unsupported_protocol_is_named() -> None:
    with pytest.raises(MultiaddrError, match="/garlic64"):
        Multiaddr.parse("/garlic64/abc")


@pytest.mark.parametrize(
    "raw",
    [b"", b"\x04\x7f\x00", b"\xff\xff\xff\xff\x0f", b"\x36\x20abc", b"\x90\x03\x00", b"\x36\x00"],
)
def test_bad_binary_raises(raw: bytes) -> None:
    with pytest.raises(MultiaddrError):
        Multiaddr.from_bytes(raw)
