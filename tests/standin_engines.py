"""Tiny stand-in engines that keep the engines' contracts (``fastswap.events``:
ServerEngineContract, ClientEngineContract) and emit the real event types, so every driver's own
behaviour -- the virtual network's timing, loss, routing and accounting, ``fastswap.Node``'s
glue -- is tested apart from the real engines' policies, through the same driver core.
Deliberately naive: the client sends want-block for everything to every connected peer (so
duplicates are easy to provoke and count), the server sends one block per response. They log
what they were told, for tests to assert on."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from fastswap.errors import CIDError
from fastswap.events import BadBlock, BlockReceived, DontHave, FindProviders, Have
from fastswap.message import WANT_BLOCK, WANT_HAVE, Entry, Message, block_cid


@dataclass
class Response:
    peer: Hashable
    blocks: list = field(default_factory=list)
    haves: list = field(default_factory=list)
    dont_haves: list = field(default_factory=list)
    pending_bytes: int = 0
    nbytes: int = 0


class StandInServer:
    """Answers want-block with the block, want-have with HAVE / DONT_HAVE (if asked), one block
    per response; remembers wants for blocks it lacks and serves them on blocks_added."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.queues: dict[Hashable, list[tuple[str, bytes]]] = {}
        self.waiting: dict[Hashable, set[bytes]] = {}
        self.versions: dict[Hashable, str] = {}
        self.log: list[tuple] = []
        self.sent: list[Response] = []
        self.given_up: list[Response] = []  # response_sent(..., sent=False)
        self.in_flight = 0

    def peer_connected(self, peer: Hashable, *, version: str = "/ipfs/bitswap/1.2.0") -> None:
        self.versions[peer] = version
        self.queues.setdefault(peer, [])
        self.waiting.setdefault(peer, set())
        self.log.append(("connected", peer, version))

    def peer_disconnected(self, peer: Hashable) -> None:
        self.queues.pop(peer, None)
        self.waiting.pop(peer, None)
        self.log.append(("disconnected", peer))

    def receive_message(self, peer: Hashable, msg: Message, now: float = 0.0) -> None:
        self.log.append(("message", peer, len(msg.entries), now))
        q = self.queues.setdefault(peer, [])
        for e in msg.entries:
            cid = bytes(e.cid)
            if e.cancel:
                q[:] = [t for t in q if t[1] != cid]
                self.waiting[peer].discard(cid)
                continue
            has = self.store.has(cid)
            if e.want_type == WANT_HAVE:
                if has:
                    q.append(("have", cid))
                elif e.send_dont_have:
                    q.append(("dont_have", cid))
            elif has:
                q.append(("block", cid))
            else:
                self.waiting[peer].add(cid)

    def blocks_added(self, cids, now=None) -> None:
        for peer, w in self.waiting.items():
            for cid in cids:
                if cid in w:
                    w.discard(cid)
                    self.queues[peer].append(("block", cid))

    def has_wants(self, peer: Hashable) -> bool:
        return bool(self.queues.get(peer)) or bool(self.waiting.get(peer))

    def peers_with_work(self) -> list:
        return [p for p, q in self.queues.items() if q]

    def next_response(self, peer: Hashable, *, max_bytes: int = 1 << 20) -> Response | None:
        self.max_bytes_seen = max_bytes
        q = self.queues.get(peer)
        if not q:
            return None
        r = Response(peer)
        # presences all at once, then at most one block
        while q and q[0][0] != "block":
            kind, cid = q.pop(0)
            (r.haves if kind == "have" else r.dont_haves).append(cid)
        if q:
            _, cid = q.pop(0)
            r.blocks.append(cid)
            r.nbytes = self.store.get_size(cid)
        r.pending_bytes = sum(self.store.get_size(c) for k, c in q if k == "block")
        self.in_flight += 1
        return r

    def response_sent(
        self, peer: Hashable, response: Response, *, now: float | None = None, sent: bool = True
    ) -> None:
        self.in_flight -= 1
        (self.sent if sent else self.given_up).append(response)

    def stats(self) -> dict:
        return {"responses": len(self.sent)}


class StandInClient:
    """Wants every block from every connected peer (want-block, or want-have first when
    ``want_have``); asks routing when it has wants and no peers; optional periodic timer."""

    def __init__(self, *, want_have: bool = False, timer_period: float | None = None) -> None:
        self.want_have = want_have
        self.timer_period = timer_period
        self.peers: dict[Hashable, set[bytes]] = {}  # peer -> cids already asked
        self.versions: dict[Hashable, str] = {}
        self.wants: dict[bytes, int] = {}  # cid -> session
        self.got: set[bytes] = set()
        self.cancels: dict[Hashable, set[bytes]] = {}
        self.sessions = 0
        self.asked_routing: set[bytes] = set()
        self.ticks: list[float] = []
        self.next_tick: float | None = None
        self.messages: list[tuple[Hashable, Message]] = []
        self.closed: list[int] = []

    def peer_connected(self, peer, now, *, version="/ipfs/bitswap/1.2.0") -> None:
        self.peers[peer] = set()
        self.versions[peer] = version

    def peer_disconnected(self, peer, now) -> None:
        self.peers.pop(peer, None)

    def asking(self, peer) -> bool:
        return peer in self.peers and bool(self.wants)

    def new_session(self, now) -> int:
        self.sessions += 1
        if self.timer_period is not None:
            self.next_tick = now + self.timer_period
        return self.sessions

    def want(self, session, cids, now) -> None:
        for c in cids:
            if c not in self.got:
                self.wants[c] = session

    def cancel(self, session, cids, now) -> None:
        for c in cids:
            self.wants.pop(c, None)

    def close_session(self, session, now) -> None:
        self.closed.append(session)

    def add_peers(self, session, peers, now) -> None:
        for p in peers:
            self.peers.setdefault(p, set())

    def receive_message(self, peer, msg, now, **kw: Any) -> list:
        # kw: names= (blocks hashed by the driver); a stand-in hashes them itself
        self.messages.append((peer, msg))
        events: list = []
        for prefix, data in msg.blocks:
            try:
                cid = block_cid(prefix, data)
            except CIDError as exc:
                events.append(BadBlock(peer, None, str(exc)))
                continue
            # (named by hashing its data: forged data names another, unwanted, block)
            dup = cid in self.got
            if not dup and cid not in self.wants:
                continue  # unwanted: dropped without an event (the contract's BlockReceived
                # is a block some session wanted, or a duplicate of one)
            self.got.add(cid)
            self.wants.pop(cid, None)
            for p, asked in self.peers.items():
                if p != peer and cid in asked:
                    self.cancels.setdefault(p, set()).add(cid)
            events.append(BlockReceived(cid, data, peer, dup))
        for pr in msg.presences:
            events.append((Have if pr.type == 0 else DontHave)(peer, bytes(pr.cid)))
            if pr.type == 0 and bytes(pr.cid) in self.wants:
                self.peers[peer].discard(bytes(pr.cid))
                self.peers[peer].add(b"block:" + bytes(pr.cid))
        return events

    def outgoing(self, now) -> list:
        out = []
        for p, asked in self.peers.items():
            entries = [Entry(c, cancel=True) for c in sorted(self.cancels.pop(p, ()))]
            for c in sorted(self.wants):
                if self.want_have:
                    if c not in asked:
                        asked.add(c)
                        entries.append(Entry(c, want_type=WANT_HAVE, send_dont_have=True))
                    elif b"block:" + c in asked:
                        asked.discard(b"block:" + c)
                        asked.add(b"sent:" + c)
                        entries.append(Entry(c, want_type=WANT_BLOCK))
                elif c not in asked:
                    asked.add(c)
                    entries.append(Entry(c, want_type=WANT_BLOCK))
            if entries:
                out.append((p, Message(entries)))
        return out

    def actions(self, now) -> list:
        if self.peers or not self.wants:
            return []
        out = []
        for c in sorted(self.wants):
            if c not in self.asked_routing:
                self.asked_routing.add(c)
                out.append(FindProviders(c, self.wants[c]))
        return out

    def next_deadline(self) -> float | None:
        return self.next_tick

    def tick(self, now) -> None:
        self.ticks.append(now)
        if self.next_tick is not None and now >= self.next_tick:
            self.next_tick = now + self.timer_period if self.wants else None

    def stats(self) -> dict:
        return {}


#: ``fastswap.Node(engines=STANDIN_ENGINES)``: (server_factory(store), client_factory())
STANDIN_ENGINES = (StandInServer, StandInClient)
