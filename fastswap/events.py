"""What flows between the Bitswap engines, the driver core and the drivers: typed events,
typed actions and the engines' contracts, in one module.

Spec: ipfs/specs bitswap-protocol ("Bitswap 1.2.0 Interaction Pattern": every node serves and
fetches). The shape is aioquic's and h11's: a sans-IO core (:class:`fastswap.core.DriverCore`)
takes events in (a peer connected, a message arrived, time is ``now``) and hands typed actions
out; a driver (``fastswap.Node`` on asyncio, the virtual network on a virtual clock, the trio
driver of ``fastswap.compat``) only does I/O, and dispatches on the action's *type*::

    for action in core.poll(now):
        match action:
            case SendMessage(peer, msg): ...       # write a wantlist message to peer
            case ServePeer(peer): ...              # peer has responses: pull core.next_response
            case FindProviders(cid, session): ...  # ask routing, then core.add_peers(...)
            case StoreBlocks(peer, blocks): ...    # commit verified blocks, then blocks_stored
            case PeerMisbehaved(peer, kind, detail): ...  # count, log (rate-limited)
            case DisconnectPeer(peer, reason, secs): ...  # close its connections, refuse it
            case WantFailed(cid, session): ...     # fail the session's waiters: action.error()
            case Deadline(when): ...               # call core.tick(when) at that time

The client engine's *events* (what a received message meant: a wanted block, a duplicate, a bad
block, HAVE, DONT_HAVE) are returned by :meth:`DriverCore.message_received` for drivers that
measure them (the virtual network); the actions a driver must carry out are derived from them by
the core.

*Notices* are for whoever sits above a driver and needs to know what the core learnt, whichever
driver runs it (an application's API layer, metrics): every client event, a peer joining or
leaving, blocks stored. :meth:`DriverCore.listen` delivers them to a callback, so no driver has
to pass them on (``fastswap.compat`` reads HAVE and DONT_HAVE this way, on a trio driver and on
``fastswap.Node`` alike).

The ``Protocol`` classes at the end are the contracts of the two engines and their responses:
what the core calls, and so what a stand-in engine (tests) must provide.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .errors import BlockUnavailableError
from .message import Message

__all__ = [
    "Action",
    "BadBlock",
    "BlockReceived",
    "BlocksStored",
    "ClientAction",
    "ClientEngineContract",
    "Deadline",
    "DisconnectPeer",
    "DontHave",
    "Event",
    "FindProviders",
    "Have",
    "Listener",
    "Notice",
    "Peer",
    "PeerJoined",
    "PeerLeft",
    "PeerMisbehaved",
    "ResponseContract",
    "SendMessage",
    "ServePeer",
    "ServerEngineContract",
    "StoreBlocks",
    "WantFailed",
]

#: How the engines name a peer: any hashable key the driver chose (a PeerId, an int...).
Peer = Hashable


# -- client events: what a received message meant ---------------------------------------------


@dataclass(frozen=True, slots=True)
class BlockReceived:
    """A verified block for a CID we wanted (``duplicate``: we already had it recently)."""

    cid: bytes
    data: Any
    peer: Peer
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class BadBlock:
    """A block that could not be verified; dropped and counted against ``peer``."""

    peer: Peer
    cid: bytes | None
    reason: str


@dataclass(frozen=True, slots=True)
class Have:
    peer: Peer
    cid: bytes


@dataclass(frozen=True, slots=True)
class DontHave:
    peer: Peer
    cid: bytes


Event = BlockReceived | BadBlock | Have | DontHave


# -- actions: what a driver must do ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendMessage:
    """Send *message* (a wantlist: wants and cancels) to *peer*."""

    peer: Peer
    message: Message


@dataclass(frozen=True, slots=True)
class ServePeer:
    """The server has responses for *peer*: when the driver can write to it, it pulls them
    with :meth:`DriverCore.next_response` and reports each with ``response_sent``."""

    peer: Peer


@dataclass(frozen=True, slots=True)
class FindProviders:
    """Ask content routing who has ``cid``; answer with ``add_peers(session, peers, now)``."""

    cid: bytes
    session: int = 0


@dataclass(frozen=True, slots=True)
class StoreBlocks:
    """Verified blocks that a session wanted, received from *peer*: commit them to the store,
    then call :meth:`DriverCore.blocks_stored` (the server announces them to peers that want
    them) and hand them to whoever waits for them."""

    peer: Peer
    blocks: list[tuple[bytes, Any]]


@dataclass(frozen=True, slots=True)
class PeerMisbehaved:
    """*peer* sent something the engines refused: ``kind`` is ``"bad_block"`` (a block that
    cannot be verified) or ``"bad_message"`` (a message an engine refused); ``detail`` says
    what. The driver counts it, logs it (rate-limited) and penalises the peer."""

    peer: Peer
    kind: str
    detail: str


@dataclass(frozen=True, slots=True)
class DisconnectPeer:
    """Close every connection to *peer* now and refuse it for ``ban_seconds``. The core emits
    it when the peer's score fell below the threshold (``fastswap.core``, "Peer scores") or a
    refused peer connected again (it drops the peer's messages meanwhile and refuses
    ``peer_connected``); the client engine when the peer sent data we never asked for (a
    block that hashes to nothing it was asked, or one whose prefix is malformed), which an
    honest peer never does. ``reason`` says why, for the log (name the peer)."""

    peer: Peer
    reason: str
    ban_seconds: float = 600.0


@dataclass(frozen=True, slots=True)
class WantFailed:
    """No peer can provide ``cid`` to ``session``: every peer that could be asked said
    DONT_HAVE, did not answer, sent bad data or went away, and searching (content routing, new
    peers) found nobody else for the client's give-up time (``ClientConfig.give_up_after``).
    The client dropped the want (cancels went out as for ``cancel``); the driver fails whoever
    waits for it in that session with :meth:`error`. The peers are named by cause."""

    cid: bytes
    session: int
    dont_have: tuple[Peer, ...] = ()  # said DONT_HAVE
    timed_out: tuple[Peer, ...] = ()  # asked for the block and never answered
    bad_data: tuple[Peer, ...] = ()  # sent data we never asked for; dropped
    disconnected: tuple[Peer, ...] = ()  # asked or known to the session, then gone
    searches: int = 0  # content-routing queries made for it
    waited: float = 0.0  # seconds since the first peer said it could not help

    def error(self) -> BlockUnavailableError:
        """The error that tells the user why, naming the peers by cause."""
        from .cid import to_str

        causes = []
        for peers, what in ((self.dont_have, "said they do not have it (DONT_HAVE)"),
                            (self.timed_out, "did not answer"),
                            (self.bad_data, "sent data we never asked for and were dropped"),
                            (self.disconnected, "disconnected")):
            if peers:
                causes.append(f"{', '.join(str(p) for p in peers)} {what}")
        if not causes:
            causes.append("no peer was connected")
        return BlockUnavailableError(
            f"block {to_str(self.cid)} is not available: {'; '.join(causes)}; content routing "
            f"found no other provider in {self.waited:.0f} s ({self.searches} searches). "
            "Connect to a peer that has it and try again",
            cid=self.cid, dont_have=self.dont_have, timed_out=self.timed_out,
            bad_data=self.bad_data, disconnected=self.disconnected,
        )


@dataclass(frozen=True, slots=True)
class Deadline:
    """The core has timed work at ``when`` (driver clock): call ``tick(now)`` then, or sooner
    (an early tick is harmless). Emitted at the end of every :meth:`DriverCore.poll` that has a
    deadline; a driver re-arms its timer only when ``when`` changed."""

    when: float


Action = (SendMessage | ServePeer | FindProviders | StoreBlocks | PeerMisbehaved | DisconnectPeer
          | WantFailed | Deadline)
#: What a client engine's ``actions()`` hands out (the core passes them on in :meth:`poll`).
ClientAction = FindProviders | DisconnectPeer | WantFailed


# -- notices: what the core tells its listeners (DriverCore.listen) ---------------------------


@dataclass(frozen=True, slots=True)
class PeerJoined:
    """*peer* speaks Bitswap with us now, over ``protocol_id``."""

    peer: Peer
    protocol_id: str


@dataclass(frozen=True, slots=True)
class PeerLeft:
    """*peer*'s last Bitswap connection is gone."""

    peer: Peer


@dataclass(frozen=True, slots=True)
class BlocksStored:
    """These blocks are in the store now: received, imported or put by the application."""

    cids: tuple[bytes, ...]


#: What a listener is called with: each client :data:`Event` of a received message (after the
#: engines took it in), the core's own notices, and each :class:`WantFailed` as :meth:`poll`
#: hands it to the driver.
Notice = Event | PeerJoined | PeerLeft | BlocksStored | WantFailed
Listener = Callable[[Notice], None]


# -- the engines' contracts --------------------------------------------------------------------


class ResponseContract(Protocol):
    """One response of a server engine: which blocks to send, which presences, and how many
    block bytes stay queued for the peer after it (1.2.0 ``pendingBytes``)."""

    peer: Peer
    blocks: list[bytes]
    haves: list[bytes]
    dont_haves: list[bytes]
    pending_bytes: int


class ServerEngineContract(Protocol):
    """What the core asks of a server engine (``fastswap.server.engine.ServerEngine``)."""

    def peer_connected(self, peer: Peer, *, version: str = ...) -> None: ...

    def peer_disconnected(self, peer: Peer) -> None: ...

    def receive_message(self, peer: Peer, msg: Message, now: float = ...) -> None: ...

    def blocks_added(self, cids: Iterable[bytes], now: float | None = ...) -> None: ...

    def peers_with_work(self) -> list[Any]: ...

    def has_wants(self, peer: Peer) -> bool: ...

    def next_response(self, peer: Peer, *, max_bytes: int = ...) -> Any: ...

    def response_sent(self, peer: Peer, response: Any, *, now: float | None = ...,
                      sent: bool = ...) -> None: ...

    def stats(self) -> dict[str, Any]: ...


class ClientEngineContract(Protocol):
    """What the core asks of a client engine (``fastswap.client.engine.ClientEngine``).

    ``receive_message`` is called with ``names=`` only when the driver named (hashed) the
    message's blocks itself (see ``fastswap.client.engine.name_blocks``). ``asking(peer)``:
    whether anything is outstanding at *peer* (a want we sent it and still wait on); it must
    be cheap, the core asks it for every message with blocks before they are hashed."""

    def peer_connected(self, peer: Peer, now: float, *, version: str = ...) -> None: ...

    def peer_disconnected(self, peer: Peer, now: float) -> None: ...

    def asking(self, peer: Peer) -> bool: ...

    def receive_message(self, peer: Peer, msg: Message, now: float, **kw: Any
                        ) -> list[Event]: ...

    def new_session(self, now: float) -> int: ...

    def want(self, session: int, cids: Sequence[bytes], now: float) -> None: ...

    def cancel(self, session: int, cids: Iterable[bytes], now: float) -> None: ...

    def close_session(self, session: int, now: float) -> None: ...

    def add_peers(self, session: int, peers: Iterable[Peer], now: float) -> None: ...

    def outgoing(self, now: float) -> list[tuple[Peer, Message]]: ...

    def actions(self, now: float) -> list[ClientAction]: ...

    def next_deadline(self) -> float | None: ...

    def tick(self, now: float) -> None: ...

    def stats(self) -> dict[str, Any]: ...
