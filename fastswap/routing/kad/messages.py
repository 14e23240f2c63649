"""DHT wire messages: libp2p/specs kad-dht "RPC messages" (``proto/fastswap/kad.proto``).

Every message on a DHT stream is one unsigned-varint length-prefixed ``Message`` protobuf
(framing shared with Bitswap: :class:`fastswap.message.FrameDecoder`). :func:`decode` turns a
payload from the network into a :class:`KadMessage` and bounds what it keeps: the key's length,
how many closer and provider peers, how many addresses per peer and how long each is. Entries
that cannot be used (an invalid peer id, an address fastswap cannot parse) are skipped and
counted in ``KadMessage.skipped``; a payload that is not protobuf at all, or whose key is too
long, is a :class:`~fastswap.errors.KadMessageError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from google.protobuf.message import DecodeError

from ... import _defaults
from ...errors import InvalidPeerIdError, KadMessageError, NetError
from ...message import frame_length_prefix
from ...net.keys import PeerId
from ...net.multiaddr import Multiaddr

__all__ = [
    "KadMessage", "KadPeer", "MessageType", "decode", "encode", "parse_addrs", "serialize",
]


def _pb() -> Any:
    from ..._proto import kad_pb2

    return kad_pb2


class MessageType(IntEnum):
    PUT_VALUE = 0
    GET_VALUE = 1
    ADD_PROVIDER = 2
    GET_PROVIDERS = 3
    FIND_NODE = 4
    PING = 5


@dataclass(frozen=True)
class KadPeer:
    """A peer as DHT messages carry it: its id and the addresses to dial it at."""

    peer: PeerId
    addrs: tuple[Multiaddr, ...] = ()

    def dialable(self) -> list[Multiaddr]:
        """Its TCP addresses (what fastswap's host can dial), each ending in /p2p/<id>."""
        return [a.with_p2p(self.peer) for a in self.addrs if a.is_tcp]


@dataclass
class KadMessage:
    type: MessageType
    key: bytes = b""
    closer: list[KadPeer] = field(default_factory=list)
    providers: list[KadPeer] = field(default_factory=list)
    #: entries of the payload that were dropped (bad peer id, over a limit)
    skipped: int = 0


def _peer_pb(pb: Any, kp: KadPeer) -> Any:
    return pb.Message.Peer(
        id=kp.peer.multihash, addrs=[bytes(a.without_p2p()) for a in kp.addrs]
    )


def serialize(msg: KadMessage) -> bytes:
    """The protobuf encoding of *msg* (what :func:`decode` reads)."""
    pb = _pb()
    out = pb.Message(type=int(msg.type), key=msg.key)
    out.closerPeers.extend(_peer_pb(pb, p) for p in msg.closer)
    out.providerPeers.extend(_peer_pb(pb, p) for p in msg.providers)
    return out.SerializeToString()


def encode(msg: KadMessage) -> bytes:
    """The framed (length-prefixed) wire form of *msg*."""
    body = serialize(msg)
    return frame_length_prefix(len(body)) + body


def _peers(raw: Any, limit: int) -> tuple[list[KadPeer], int]:
    out: list[KadPeer] = []
    skipped = max(0, len(raw) - limit)
    seen: set[PeerId] = set()
    for p in raw[:limit]:
        try:
            peer = PeerId.from_bytes(p.id)
        except InvalidPeerIdError:
            skipped += 1
            continue
        if peer in seen:
            skipped += 1
            continue
        seen.add(peer)
        addrs: list[Multiaddr] = []
        for a in p.addrs[: _defaults.KAD_MAX_ADDRS_PER_PEER]:
            if len(a) > _defaults.KAD_MAX_ADDR_SIZE:
                continue
            try:
                addrs.append(Multiaddr.from_bytes(a).without_p2p())
            except NetError:
                continue  # a transport we do not speak (/quic-v1, /webtransport...)
        out.append(KadPeer(peer, tuple(dict.fromkeys(addrs))))
    return out, skipped


def decode(payload: bytes | memoryview) -> KadMessage:
    """A payload (without its length prefix) from the network, checked and bounded."""
    pb = _pb()
    msg = pb.Message()
    try:
        msg.ParseFromString(bytes(payload))
    except DecodeError as exc:
        raise KadMessageError(f"not a DHT message (protobuf: {exc})") from None
    try:
        mtype = MessageType(msg.type)
    except ValueError:
        raise KadMessageError(f"unknown DHT message type {msg.type}") from None
    if len(msg.key) > _defaults.KAD_MAX_KEY_SIZE:
        raise KadMessageError(
            f"DHT key of {len(msg.key)} bytes (limit {_defaults.KAD_MAX_KEY_SIZE})"
        )
    closer, s1 = _peers(msg.closerPeers, _defaults.KAD_MAX_CLOSER_PEERS)
    providers, s2 = _peers(msg.providerPeers, _defaults.KAD_MAX_PROVIDER_PEERS)
    return KadMessage(mtype, bytes(msg.key), closer, providers, s1 + s2)


def parse_addrs(raw: Sequence[bytes]) -> tuple[Multiaddr, ...]:
    """Binary multiaddrs (from our own store) as Multiaddrs; ones we cannot parse skipped."""
    out = []
    for a in raw:
        try:
            out.append(Multiaddr.from_bytes(a))
        except NetError:
            continue
    return tuple(out)
