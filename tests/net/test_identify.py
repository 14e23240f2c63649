"""The identify message (libp2p/specs identify/README.md) without a network: what we build,
and how a peer's answer is checked and merged (push)."""

from __future__ import annotations

import pytest

from fastswap._proto import identify_pb2
from fastswap.errors import IdentifyError
from fastswap.net.host import Host
from fastswap.net.identify import (
    AGENT_VERSION,
    PROTOCOL_VERSION,
    PeerInfo,
    build_identify,
    parse_identify,
)
from fastswap.net.keys import Ed25519KeyPair, PeerId, PublicKey
from fastswap.net.multiaddr import Multiaddr
from fastswap.varint import encode as encode_varint


def _msg(key: Ed25519KeyPair, **fields) -> bytes:
    m = identify_pb2.Identify(publicKey=key.public_key.to_protobuf(), **fields)
    return m.SerializeToString()


def test_build_lists_exactly_our_handlers() -> None:
    host = Host()
    host.set_stream_handler("/ipfs/bitswap/1.2.0", lambda s: None)  # type: ignore[arg-type]
    raw = build_identify(host, None)
    m = identify_pb2.Identify.FromString(raw)
    assert list(m.protocols) == host.protocols
    assert "/ipfs/bitswap/1.2.0" in m.protocols
    assert m.agentVersion == AGENT_VERSION
    assert m.protocolVersion == PROTOCOL_VERSION
    assert PublicKey.from_protobuf(m.publicKey) == host.identity.public_key
    assert not m.HasField("observedAddr")  # no connection, nothing observed
    info = parse_identify(raw, host.peer_id)
    assert info.protocols == host.protocols


def test_parse_checks_the_key_belongs_to_the_peer() -> None:
    key, other = Ed25519KeyPair.generate(), Ed25519KeyPair.generate()
    raw = _msg(key, protocols=["/a/1"])
    assert parse_identify(raw, key.peer_id).protocols == ["/a/1"]
    with pytest.raises(IdentifyError, match="another peer"):
        parse_identify(raw, other.peer_id)
    with pytest.raises(IdentifyError):
        parse_identify(b"\xff\xff\xff", key.peer_id)
    bad_key = identify_pb2.Identify(publicKey=b"\x08\x01\x12\x03abc").SerializeToString()
    with pytest.raises(IdentifyError):
        parse_identify(bad_key, key.peer_id)


def test_parse_addresses_and_push_merge() -> None:
    key = Ed25519KeyPair.generate()
    addr = Multiaddr.parse("/ip4/127.0.0.1/tcp/4001")
    quic = bytes.fromhex("047f000001") + encode_varint(0x0111) + b"\x0f\xa1"  # /udp/4001 raw
    raw = _msg(
        key,
        protocols=["/a/1", "/b/1", "/a/1"],
        listenAddrs=[bytes(addr), quic, b"\xff"],
        observedAddr=bytes(Multiaddr.parse("/ip4/127.0.0.1/tcp/5555")),
        agentVersion="x" * 1000,
    )
    info = parse_identify(raw, key.peer_id)
    assert info.protocols == ["/a/1", "/b/1"]  # duplicates dropped, order kept
    assert addr in info.addrs
    assert info.unparsed_addrs >= 1
    assert str(info.observed_addr) == "/ip4/127.0.0.1/tcp/5555"
    assert len(info.agent_version or "") == 256
    # a push that only carries protocols keeps the rest
    pushed = parse_identify(
        identify_pb2.Identify(protocols=["/c/1"]).SerializeToString(), key.peer_id, info
    )
    assert pushed.protocols == ["/c/1"]
    assert pushed.addrs == info.addrs
    assert pushed.agent_version == info.agent_version
    assert isinstance(pushed, PeerInfo) and pushed.peer_id == key.peer_id
    assert PeerId.from_public_key(pushed.public_key) == key.peer_id  # type: ignore[arg-type]


def test_peerstore_keeps_connected_peers_and_the_latest_leavers() -> None:
    from fastswap.net.identify import PeerStore

    ids = [PeerId.from_public_key(Ed25519KeyPair.generate().public_key) for _ in range(5)]
    store = PeerStore(max_disconnected=2)
    for p in ids:
        store.put(PeerInfo(p))
    store.disconnected(ids[0])
    store.disconnected(ids[1])
    store.connected(ids[0])  # back: kept while connected, and leaves the queue of leavers
    store.disconnected(ids[2])
    store.disconnected(ids[3])  # three leavers, two kept: ids[1] (the oldest) goes
    assert [p in store for p in ids] == [True, False, True, True, True]
    store.disconnected(ids[2])  # leaving again makes it the newest
    store.disconnected(ids[4])
    assert [p in store for p in ids] == [True, False, True, False, True]
