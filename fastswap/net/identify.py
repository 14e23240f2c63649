"""libp2p identify: libp2p/specs ``identify/README.md`` (``/ipfs/id/1.0.0`` and
``/ipfs/id/push/1.0.0``).

When a connection comes up, each side opens an identify stream; the answering side writes one
varint-length-prefixed ``Identify`` protobuf (``proto/identify.proto``) and closes the stream.
Our answer is truthful, because peers act on it: Helia opens Bitswap streams only to peers whose
``protocols`` list Bitswap, so the list is exactly the host's registered stream handlers. It
also carries our listen addresses, the address we see the peer at (``observedAddr``), our public
key, ``protocolVersion`` ``ipfs/0.1.0`` and ``agentVersion`` ``fastswap/<version>``.

What a peer tells us goes into the host's ``PeerStore`` (protocols, addresses, agent). A public
key that does not belong to the peer id the Noise handshake authenticated is refused. Push
messages (sent when our handlers change) replace only the fields they carry, as the spec says.
Messages are bounded (``MAX_IDENTIFY_MESSAGE``, at most ``_MAX_MESSAGES`` per stream).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from google.protobuf.message import DecodeError

from .. import _defaults, varint
from .._version import __version__
from ..errors import (
    IdentifyError,
    InvalidKeyError,
    NetError,
    TruncatedVarintError,
    VarintError,
)
from .keys import PeerId, PublicKey
from .multiaddr import Multiaddr

if TYPE_CHECKING:
    from ._connection import Connection
    from ._streams import Stream
    from .host import Host

__all__ = [
    "AGENT_VERSION",
    "PROTOCOL_ID",
    "PROTOCOL_VERSION",
    "PUSH_PROTOCOL_ID",
    "PeerInfo",
    "PeerStore",
    "build_identify",
    "parse_identify",
]

PROTOCOL_ID = "/ipfs/id/1.0.0"
PUSH_PROTOCOL_ID = "/ipfs/id/push/1.0.0"
PROTOCOL_VERSION = "ipfs/0.1.0"
AGENT_VERSION = f"fastswap/{__version__}"
#: go-libp2p reads at most 10 messages per identify stream (it splits large answers)
_MAX_MESSAGES = 10
_MAX_PROTOCOLS = 1024
_MAX_ADDRS = 256


def _pb() -> Any:
    from .._proto import identify_pb2

    return identify_pb2


@dataclass
class PeerInfo:
    """What identify told us about a peer."""

    peer_id: PeerId
    protocols: list[str] = field(default_factory=list)
    addrs: list[Multiaddr] = field(default_factory=list)
    agent_version: str | None = None
    protocol_version: str | None = None
    public_key: PublicKey | None = None
    #: our address as the peer sees it
    observed_addr: Multiaddr | None = None
    #: listen addresses in a form we could not parse (kept as binary, e.g. /quic-v1)
    unparsed_addrs: int = 0

    def supports(self, protocol: str) -> bool:
        return protocol in self.protocols

    def to_json(self) -> dict[str, Any]:
        return {
            "id": str(self.peer_id),
            "agentVersion": self.agent_version,
            "protocolVersion": self.protocol_version,
            "protocols": list(self.protocols),
            "addrs": [str(a) for a in self.addrs],
            "observedAddr": str(self.observed_addr) if self.observed_addr else None,
        }


class PeerStore:
    """Identify results by peer id: every connected peer's, and those of the
    ``max_disconnected`` peers that left most recently (replaced on the next identify). Without
    the bound, a seeder that meets a new identity per connection (sybils, or weeks of churn)
    would keep them all; go-libp2p's peerstore ages addresses out with TTLs instead."""

    def __init__(self, max_disconnected: int = _defaults.PEERSTORE_MAX_DISCONNECTED) -> None:
        self._peers: dict[PeerId, PeerInfo] = {}
        self._gone: OrderedDict[PeerId, None] = OrderedDict()  # left, oldest first
        self.max_disconnected = max_disconnected

    def get(self, peer: PeerId) -> PeerInfo | None:
        return self._peers.get(peer)

    def __contains__(self, peer: object) -> bool:
        return peer in self._peers

    def __len__(self) -> int:
        return len(self._peers)

    def peers(self) -> list[PeerId]:
        return list(self._peers)

    def supports(self, peer: PeerId, protocol: str) -> bool:
        info = self._peers.get(peer)
        return info is not None and protocol in info.protocols

    def put(self, info: PeerInfo) -> None:
        self._peers[info.peer_id] = info

    def connected(self, peer: PeerId) -> None:
        """*peer* is connected again: its entry is kept while it is."""
        self._gone.pop(peer, None)

    def disconnected(self, peer: PeerId) -> None:
        """*peer*'s last connection closed: its entry goes once ``max_disconnected`` peers
        left after it."""
        if peer not in self._peers:
            return
        self._gone[peer] = None
        self._gone.move_to_end(peer)
        while len(self._gone) > self.max_disconnected:
            old, _ = self._gone.popitem(last=False)
            self._peers.pop(old, None)


# -- the message -------------------------------------------------------------------------------


def build_identify(host: Host, conn: Connection | None, *, push: bool = False) -> bytes:
    """Our Identify message for the peer of *conn* (serialized, without the length prefix)."""
    pb = _pb()
    msg = pb.Identify(
        protocolVersion=PROTOCOL_VERSION,
        agentVersion=host.agent_version,
        publicKey=host.identity.public_key.to_protobuf(),
    )
    msg.protocols.extend(host.protocols)
    msg.listenAddrs.extend(bytes(a.without_p2p()) for a in host.addrs)
    if conn is not None and conn.remote_addr is not None and not push:
        msg.observedAddr = bytes(conn.remote_addr)
    return msg.SerializeToString()


def _parse_addr(raw: bytes) -> Multiaddr | None:
    try:
        return Multiaddr.from_bytes(raw)
    except NetError:
        return None


def parse_identify(raw: bytes, peer: PeerId, base: PeerInfo | None = None) -> PeerInfo:
    """Decode and check one (merged) Identify message from *peer*; fields it lacks keep the
    values of *base* (identify push semantics)."""
    pb = _pb()
    msg = pb.Identify()
    try:
        msg.ParseFromString(raw)
    except DecodeError as exc:
        raise IdentifyError(f"{peer} sent an identify message that is not valid protobuf: {exc}")
    info = PeerInfo(peer) if base is None else PeerInfo(**base.__dict__)
    if msg.HasField("publicKey"):
        try:
            key = PublicKey.from_protobuf(msg.publicKey)
        except InvalidKeyError as exc:
            raise IdentifyError(f"{peer} sent an unusable public key in identify: {exc}")
        if PeerId.from_public_key(key) != peer:
            raise IdentifyError(
                f"{peer} sent the public key of another peer in identify; ignoring its answer"
            )
        info.public_key = key
    if msg.HasField("protocolVersion"):
        info.protocol_version = msg.protocolVersion[:256]
    if msg.HasField("agentVersion"):
        info.agent_version = msg.agentVersion[:256]
    if len(msg.protocols) or base is None:
        info.protocols = list(dict.fromkeys(msg.protocols[:_MAX_PROTOCOLS]))
    if len(msg.listenAddrs) or base is None:
        addrs = [_parse_addr(a) for a in msg.listenAddrs[:_MAX_ADDRS]]
        info.addrs = [a for a in addrs if a is not None]
        info.unparsed_addrs = len(addrs) - len(info.addrs)
    if msg.HasField("observedAddr"):
        info.observed_addr = _parse_addr(msg.observedAddr)
    return info


async def _read_messages(stream: Stream) -> bytes:
    """Every length-prefixed message on *stream* until EOF, concatenated (protobuf merges
    concatenated encodings of one message, which is how split identify answers combine)."""
    limit = _defaults.MAX_IDENTIFY_MESSAGE
    buf = bytearray()
    out = bytearray()
    count = 0
    eof = False
    while True:
        # parse what we have
        while buf:
            try:
                length, pos = varint.decode(buf, 0)
            except TruncatedVarintError:
                if not eof:
                    break  # the varint is not complete yet
                raise IdentifyError(f"{stream.remote_peer} ended its identify answer inside a "
                                    "length prefix") from None
            except VarintError:
                raise IdentifyError(
                    f"{stream.remote_peer} sent a bad identify length prefix"
                ) from None
            if length > limit:
                raise IdentifyError(
                    f"{stream.remote_peer} sent an identify message of {length} bytes (limit "
                    f"{limit})"
                )
            if len(buf) - pos < length:
                break
            out += buf[pos : pos + length]
            del buf[: pos + length]
            count += 1
            if count > _MAX_MESSAGES:
                raise IdentifyError(f"{stream.remote_peer} sent over {_MAX_MESSAGES} messages")
        if eof:
            if buf:
                raise IdentifyError(f"{stream.remote_peer} ended identify mid-message")
            return bytes(out)
        chunk = await stream.read(limit + 10 - len(buf))
        if not chunk:
            eof = True
        buf += chunk


# -- the handlers and the requests ------------------------------------------------------------


async def handle_identify(host: Host, stream: Stream) -> None:
    """``/ipfs/id/1.0.0`` responder: write our message, close."""
    msg = build_identify(host, stream.connection)
    stream.write(varint.encode(len(msg)) + msg)
    stream.close()
    await stream.drain()


async def handle_push(host: Host, stream: Stream) -> None:
    """``/ipfs/id/push/1.0.0``: the peer tells us what changed."""
    async with asyncio.timeout(_defaults.IDENTIFY_TIMEOUT_SECONDS):
        raw = await _read_messages(stream)
    peer = stream.remote_peer
    host.peerstore.put(parse_identify(raw, peer, host.peerstore.get(peer)))
    stream.close()


async def request_identify(host: Host, conn: Connection) -> PeerInfo:
    """Ask the peer of *conn* who it is; store and return the answer."""
    stream = await host.new_stream_on(conn, [PROTOCOL_ID])
    try:
        async with asyncio.timeout(_defaults.IDENTIFY_TIMEOUT_SECONDS):
            raw = await _read_messages(stream)
    except TimeoutError:
        stream.reset()
        raise IdentifyError(
            f"{conn.remote_peer} did not answer identify within "
            f"{_defaults.IDENTIFY_TIMEOUT_SECONDS} s"
        ) from None
    except BaseException:
        stream.reset()
        raise
    stream.close()
    info = parse_identify(raw, conn.remote_peer)
    host.peerstore.put(info)
    return info


async def push_identify(host: Host, conn: Connection) -> None:
    """Tell the peer of *conn* our current protocols and addresses."""
    stream = await host.new_stream_on(conn, [PUSH_PROTOCOL_ID])
    msg = build_identify(host, conn, push=True)
    stream.write(varint.encode(len(msg)) + msg)
    stream.close()
    await stream.drain()
