"""DHT wire messages (routing/kad/messages.py): the protobuf of libp2p/specs kad-dht, checked
and bounded on the way in."""

from __future__ import annotations

import pytest

from fastswap import _defaults
from fastswap._proto import kad_pb2
from fastswap.errors import KadMessageError
from fastswap.message import FrameDecoder
from fastswap.net.multiaddr import Multiaddr
from fastswap.routing.kad.messages import KadMessage, KadPeer, MessageType, decode, encode
from tests.routing._kad import kad_peer, peer_ids


def _payload(framed: bytes) -> bytes:
    (payload,) = FrameDecoder().feed(framed)
    return bytes(payload)


def test_round_trip_and_field_numbers() -> None:
    a, b = peer_ids(2)
    msg = KadMessage(MessageType.GET_PROVIDERS, b"\x12\x20" + bytes(32),
                     closer=[kad_peer(a, 1)], providers=[kad_peer(b, 2)])
    raw = _payload(encode(msg))
    pb = kad_pb2.Message.FromString(raw)  # the reference: fields as the spec numbers them
    assert pb.type == 3 and pb.key == msg.key
    assert pb.closerPeers[0].id == a.multihash
    assert Multiaddr.from_bytes(pb.providerPeers[0].addrs[0]) == Multiaddr.parse(
        "/ip4/127.0.0.1/tcp/2")
    back = decode(raw)
    assert back == KadMessage(MessageType.GET_PROVIDERS, msg.key, msg.closer, msg.providers)


def test_garbage_and_long_keys_are_refused() -> None:
    with pytest.raises(KadMessageError):
        decode(b"\xff\xff\xff\xff")
    with pytest.raises(KadMessageError):
        decode(kad_pb2.Message(type=4, key=b"k" * (_defaults.KAD_MAX_KEY_SIZE + 1))
               .SerializeToString())
    with pytest.raises(KadMessageError):
        decode(kad_pb2.Message(type=9).SerializeToString())


def test_peers_and_addresses_are_bounded_and_bad_ones_skipped() -> None:
    ids = peer_ids(_defaults.KAD_MAX_CLOSER_PEERS + 10)
    pb = kad_pb2.Message(type=4, key=b"x")
    good_addr = bytes(Multiaddr.parse("/ip4/127.0.0.1/tcp/9"))
    for p in ids:
        pb.closerPeers.add(id=p.multihash, addrs=[good_addr] * 3 + [b"\xff\xff"] +
                           [good_addr[:-1] + bytes([i]) for i in range(40)])
    pb.closerPeers.add(id=b"not a peer id")
    msg = decode(pb.SerializeToString())
    assert len(msg.closer) == _defaults.KAD_MAX_CLOSER_PEERS
    assert msg.skipped == 11  # the peers past the limit and the bad id
    for kp in msg.closer:
        assert len(kp.addrs) <= _defaults.KAD_MAX_ADDRS_PER_PEER
        assert len(set(kp.addrs)) == len(kp.addrs)  # duplicates folded


def test_dialable_addresses_carry_the_peer_id() -> None:
    (a,) = peer_ids(1)
    kp = KadPeer(a, (Multiaddr.parse("/ip4/127.0.0.1/tcp/5"),
                     Multiaddr.parse("/ip4/127.0.0.1/udp/5/quic-v1")))
    assert kp.dialable() == [Multiaddr.parse(f"/ip4/127.0.0.1/tcp/5/p2p/{a}")]
