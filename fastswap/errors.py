"""Every error fastswap raises on purpose, in one place both twins import (msgpack style)."""

from __future__ import annotations

import errno

__all__ = [
    "BadBlockError",
    "BlockNotFoundError",
    "BlockTooLargeError",
    "BlockUnavailableError",
    "BlockstoreError",
    "CIDError",
    "CIDTooLongError",
    "CarError",
    "CompatError",
    "ConfigError",
    "DagError",
    "DelegatedRoutingError",
    "DialError",
    "DialTimeoutError",
    "DiskFullError",
    "ExtensionMissingError",
    "ExtensionMissingWarning",
    "FastswapError",
    "FetchTimeoutError",
    "HandshakeError",
    "HostNotRunningError",
    "IdentifyError",
    "IncompleteReadError",
    "InvalidKeyError",
    "InvalidPeerIdError",
    "KadError",
    "KadMessageError",
    "LimitExceededError",
    "MalformedMessageError",
    "MessageError",
    "MessageTooLargeError",
    "MplexError",
    "MultiaddrError",
    "MuxerError",
    "NegotiationError",
    "NetError",
    "NodeError",
    "NoiseError",
    "NonceExhaustedError",
    "OutputExistsError",
    "PathNotFoundError",
    "PeerAbuseError",
    "PeerBannedError",
    "PeerIdMismatchError",
    "PingError",
    "ProviderStoreError",
    "RepoError",
    "RepoLockedError",
    "RoutingError",
    "SessionError",
    "SimulationError",
    "StreamClosedError",
    "StreamResetError",
    "TruncatedMessageError",
    "TruncatedVarintError",
    "UnfinishedMessageError",
    "UnsafePathError",
    "UnsupportedHashError",
    "UnsupportedOptionError",
    "VarintError",
    "WantlistError",
    "YamuxError",
]


class FastswapError(Exception):
    """Base class of every fastswap error."""


class ExtensionMissingError(FastswapError, ImportError):
    """A compiled twin did not load and FASTSWAP_REQUIRE_EXTENSIONS=1 was set."""


class ExtensionMissingWarning(RuntimeWarning):
    """A compiled twin did not load; the pure-Python twin stands in (slower)."""


# -- CIDs and blocks -------------------------------------------------------------------------


class VarintError(FastswapError, ValueError):
    """Bytes that are not a valid unsigned varint (too long, not minimal)."""


class TruncatedVarintError(VarintError):
    """The input ended inside a varint: a stream parser should wait for more bytes."""


class CIDError(FastswapError, ValueError):
    """Bytes or text that are not a valid CID (or block prefix)."""


class UnsupportedHashError(CIDError):
    """A multihash function fastswap cannot compute, so a block using it cannot be verified."""


class BadBlockError(FastswapError, ValueError):
    """A block whose data does not hash to its CID."""


# -- wire messages ---------------------------------------------------------------------------


class MessageError(FastswapError, ValueError):
    """A Bitswap message that cannot be accepted. The stream carrying it should be closed."""


class MessageTooLargeError(MessageError):
    """A message (or its length prefix) over the message size limit."""


class BlockTooLargeError(MessageError):
    """A block in a message over the block size limit."""


class CIDTooLongError(MessageError):
    """A CID in a message over the CID length limit."""


class TruncatedMessageError(MessageError):
    """Input ends in the middle of a field or a length-prefixed frame."""


class UnfinishedMessageError(MessageError):
    """A peer holds too many bytes of unfinished Bitswap messages, or takes too long to finish
    one; its stream is reset and the peer penalised."""


class MalformedMessageError(MessageError):
    """Input that is not a valid Bitswap protobuf message (bad wire type, varint, field...)."""


# -- storage and DAGs ------------------------------------------------------------------------


class BlockstoreError(FastswapError):
    """The blockstore could not complete an operation."""


class DiskFullError(BlockstoreError, OSError):
    """A write to the blockstore failed because its filesystem has no room: ``path`` (the
    store), ``free`` (bytes available then) and ``needed`` (about what the write needed). The
    write was rolled back; the store is intact and takes writes again once there is room."""

    def __init__(self, message: str, *, path: str, free: int, needed: int) -> None:
        super().__init__(message)
        self.errno = errno.ENOSPC
        self.strerror = message
        self.filename = path
        self.path = path
        self.free = free
        self.needed = needed

    def __str__(self) -> str:  # OSError would format its (errno, strerror, filename) instead
        return str(self.args[0])


class BlockNotFoundError(BlockstoreError, KeyError):
    """The block is not in the blockstore."""

    def __str__(self) -> str:  # KeyError quotes its argument; say it plainly
        return str(self.args[0]) if self.args else "block not found"


class DagError(FastswapError, ValueError):
    """A DAG node that cannot be decoded or walked (bad dag-pb, bad UnixFS, missing link)."""


class UnsafePathError(DagError):
    """A directory entry whose name is not one plain file name (empty, ``.``, ``..``, a
    separator or NUL inside, a duplicate): writing it could land outside the target."""


class PathNotFoundError(DagError, LookupError):
    """A UnixFS path (``CID/a/b``) names an entry that does not exist."""


class OutputExistsError(FastswapError, FileExistsError):
    """The export target already exists and cannot be replaced; remove it or pick another."""


class CarError(FastswapError, ValueError):
    """A CAR file that cannot be read (bad header, truncated section, bad CID)."""


# -- libp2p networking -----------------------------------------------------------------------


class NetError(FastswapError):
    """A libp2p connection failed or a peer broke the protocol."""


class MuxerError(NetError):
    """A stream multiplexer session saw a protocol violation; the connection should be closed."""


class YamuxError(MuxerError):
    """The peer broke the yamux protocol (bad frame, window overflow, bad stream id...)."""


class MplexError(MuxerError):
    """The peer broke the mplex protocol (bad varint, oversized message...)."""


class StreamClosedError(NetError):
    """The application used a muxed stream that is closed, reset or unknown."""


class StreamResetError(StreamClosedError):
    """The stream was reset (by the peer, by a limit, or because its connection closed)."""


class IncompleteReadError(StreamClosedError):
    """The stream ended before the number of bytes asked for arrived (``partial`` has them)."""

    def __init__(self, message: str, partial: bytes = b"") -> None:
        super().__init__(message)
        self.partial = partial


# -- libp2p host (fastswap/net/host.py, identify.py, ping.py) ---------------------------------


class DialError(NetError):
    """A connection to a peer could not be established (refused, unreachable, upgrade failed)."""


class DialTimeoutError(DialError):
    """Connecting and upgrading (Noise, muxer) did not finish within the connect timeout."""


class LimitExceededError(NetError):
    """A host limit (connections, streams per connection) was reached; close some first."""


class PeerBannedError(DialError):
    """The peer is banned (it broke the protocol or flooded us); wait for the ban to expire or
    lift it with ``host.unban(peer)``."""


class PeerAbuseError(NetError):
    """A peer went over a budget it controls (stream opens, pings, frames for unknown streams,
    forced replies): its connection is closed and the peer banned for a while."""


class IdentifyError(NetError):
    """The peer's identify answer was missing, malformed, or about another peer."""


class PingError(NetError):
    """A ping was not echoed correctly."""


# -- libp2p security and negotiation (fastswap/net: keys, multiaddr, multistream, noise) -------


class InvalidKeyError(NetError, ValueError):
    """A libp2p key (protobuf, raw bytes or signature input) that cannot be decoded or used."""


class InvalidPeerIdError(NetError, ValueError):
    """Bytes or text that are not a valid libp2p peer id."""


class MultiaddrError(NetError, ValueError):
    """A multiaddr that cannot be parsed, or that uses a protocol fastswap does not support."""


class NegotiationError(NetError):
    """multistream-select failed: the peer speaks none of our protocols, or broke the protocol."""


class HandshakeError(NetError):
    """A secure-channel (Noise) handshake failed: bad message, bad signature, timeout."""


class PeerIdMismatchError(HandshakeError):
    """The peer authenticated as a different peer id than the one we dialled."""


class NoiseError(NetError):
    """A Noise transport frame failed: bad length, failed authentication (tampering), closed."""


class NonceExhaustedError(NoiseError):
    """A Noise cipher used up its 2**64-1 nonces; the connection must be re-established."""


# -- client ----------------------------------------------------------------------------------


class WantlistError(FastswapError, ValueError):
    """A wantlist operation given a bad CID, priority, want type or diff."""


# -- virtual network (fastswap/testing) ------------------------------------------------------


class SimulationError(FastswapError, ValueError):
    """A virtual-network scenario that cannot run: an unknown node, a negative delay, a link
    with no bandwidth, or an event budget exhausted (an engine that never stops scheduling)."""


# -- server ----------------------------------------------------------------------------------


class ServerError(FastswapError, ValueError):
    """The server engine (fastswap.server) was given a bad task, peer or response."""


class UnknownPeerError(ServerError, KeyError):
    """The server engine has no ledger for this peer (never connected, or forgotten)."""


# -- configuration (fastswap/config.py) --------------------------------------------------------


class ConfigError(FastswapError, ValueError):
    """A configuration key or value that cannot be used: the message names the key and what is
    accepted."""


# -- repo (fastswap/repo.py, fastswap/blockstore/pins.py) ----------------------------------------


class RepoError(FastswapError):
    """The repo cannot be used as asked (locked, damaged pin set, bad layout)."""


class RepoLockedError(RepoError):
    """Another running node holds the repo; the message names its process."""


# -- node (fastswap/node.py) -------------------------------------------------------------------


class NodeError(FastswapError):
    """A Node used outside its life (not started, or stopped) or given something it cannot use."""


class FetchTimeoutError(NodeError, TimeoutError):
    """Blocks were not found within the time given; connect to a peer that has them."""


class BlockUnavailableError(NodeError):
    """No connected peer can provide a block and content routing found nobody else within the
    client's give-up time (``ClientConfig.give_up_after``). The message names the peers by
    cause (DONT_HAVE, no answer, bad data, disconnected); so do the attributes, as tuples of
    peers."""

    def __init__(self, message: str, *, cid: bytes, dont_have: tuple = (), timed_out: tuple = (),
                 bad_data: tuple = (), disconnected: tuple = ()) -> None:
        super().__init__(message)
        self.cid = cid
        self.dont_have = dont_have
        self.timed_out = timed_out
        self.bad_data = bad_data
        self.disconnected = disconnected


class SessionError(FastswapError, ValueError):
    """A client session id that was never opened or is already closed (see ClientEngine)."""


# -- the drop-ins (fastswap/compat) -------------------------------------------------------------


class CompatError(FastswapError):
    """A drop-in (``fastswap.compat``) was asked for something it cannot do as asked."""


class HostNotRunningError(CompatError, RuntimeError):
    """The host of ``fastswap.compat.libp2p.new_host()`` is not running: call it inside
    ``async with host.run(listen_addrs):``."""


class UnsupportedOptionError(CompatError, ValueError):
    """An option of py-libp2p's API that the drop-in on fastswap's host does not offer; the
    message says what to use instead."""


# -- content routing (fastswap/routing) ----------------------------------------------------------


class RoutingError(FastswapError):
    """Content routing (DHT, delegated routing, providing) could not do what was asked."""


class KadError(RoutingError, NetError):
    """A Kademlia DHT RPC failed: the peer is unreachable, timed out or answered nonsense."""


class KadMessageError(KadError, ValueError):
    """A DHT message that cannot be accepted (too large, not protobuf, bad key or peer); the
    stream carrying it is reset and its sender penalised."""


class ProviderStoreError(RoutingError):
    """The provider record store (LMDB under ``<repo>/providers``) cannot be opened or written;
    check the repo directory's permissions and free space."""


class DelegatedRoutingError(RoutingError):
    """A delegated-routing HTTP endpoint answered with an error, or with a body that does not
    follow the IPFS HTTP routing v1 spec; check the endpoint URL."""
