"""Minimal engines with the issue-4 contract (tests only): they let the Node's glue be tested
while, and independently of, the real ServerEngine/ClientEngine. Deliberately naive: every
want is broadcast as want-block, the server answers in wantlist order."""

from __future__ import annotations

from collections import namedtuple

from fastswap.cid import verify_block
from fastswap.errors import BadBlockError, CIDError
from fastswap.message import WANT_BLOCK, WANT_HAVE, Entry, Message

BlockReceived = namedtuple("BlockReceived", "cid data peer duplicate")
BadBlock = namedtuple("BadBlock", "peer cid reason")
FindProviders = namedtuple("FindProviders", "cid session")


class StubResponse:
    def __init__(self, peer, blocks, haves, dont_haves, pending, nbytes):
        self.peer, self.blocks, self.haves, self.dont_haves = peer, blocks, haves, dont_haves
        self.pending_bytes, self.nbytes = pending, nbytes


class StubServer:
    def __init__(self, store):
        self.store = store
        self.wants: dict = {}  # peer -> {cid: (want_type, sdh)}

    def peer_connected(self, peer, *, version="/ipfs/bitswap/1.2.0"):
        self.wants.setdefault(peer, {})

    def peer_disconnected(self, peer):
        self.wants.pop(peer, None)

    def receive_message(self, peer, msg, now=0.0):
        wl = self.wants.setdefault(peer, {})
        if msg.full:
            wl.clear()
        for e in msg.entries:
            if e.cancel:
                wl.pop(bytes(e.cid), None)
            else:
                wl[bytes(e.cid)] = (e.want_type, e.send_dont_have)

    def blocks_added(self, cids):
        pass

    def _answerable(self, peer):
        wl = self.wants.get(peer, {})
        cids = list(wl)
        have = self.store.has_many(cids) if cids else []
        return [(c, wl[c], h) for c, h in zip(cids, have) if h or wl[c][1]]

    def peers_with_work(self):
        return [p for p in self.wants if self._answerable(p)]

    def next_response(self, peer, *, max_bytes=1 << 20):
        items = self._answerable(peer)
        if not items:
            return None
        blocks, haves, dont, nbytes = [], [], [], 0
        sizes = self.store.get_sizes([c for c, _, _ in items])
        for (c, (wt, sdh), h), size in zip(items, sizes):
            if nbytes >= max_bytes:
                break
            if not h:
                dont.append(c)
            elif wt == WANT_HAVE:
                haves.append(c)
            else:
                blocks.append(c)
                nbytes += size
            del self.wants[peer][c]
        return StubResponse(peer, blocks, haves, dont, 0, nbytes)

    def response_sent(self, peer, response):
        pass

    def ledger(self, peer):
        return {}

    def stats(self):
        return {"peers": len(self.wants)}


class StubClient:
    def __init__(self):
        self.peers: dict = {}
        self.sessions: dict = {0: set()}
        self.next_id = 1
        self.out: dict = {}
        self.received = 0
        self.finds: list = []

    def _wanted(self):
        return set().union(*self.sessions.values())

    def peer_connected(self, peer, now, *, version="/ipfs/bitswap/1.2.0"):
        self.peers[peer] = version
        wanted = self._wanted()
        if wanted:
            self.out.setdefault(peer, []).extend(Entry(c, want_type=WANT_BLOCK) for c in wanted)

    def peer_disconnected(self, peer, now):
        self.peers.pop(peer, None)
        self.out.pop(peer, None)

    def new_session(self, now):
        sid = self.next_id
        self.next_id += 1
        self.sessions[sid] = set()
        return sid

    def want(self, session, cids, now):
        self.sessions[session].update(cids)
        for p in self.peers:
            self.out.setdefault(p, []).extend(Entry(c) for c in cids)
        if not self.peers:
            self.finds.extend(FindProviders(c, session) for c in cids[:1])

    def cancel(self, session, cids, now):
        s = self.sessions.get(session, set())
        for c in cids:
            s.discard(c)
        gone = set(cids) - self._wanted()
        for p in self.peers:
            self.out.setdefault(p, []).extend(Entry(c, cancel=True) for c in gone)

    def close_session(self, session, now):
        self.cancel(session, list(self.sessions.get(session, ())), now)
        self.sessions.pop(session, None)

    def receive_message(self, peer, msg, now):
        events = []
        for prefix, data in msg.blocks:
            try:
                from fastswap.message import block_cid

                cid = block_cid(prefix, data)
            except CIDError as exc:
                events.append(BadBlock(peer, None, str(exc)))
                continue
            wanted = [s for s, w in self.sessions.items() if cid in w]
            if not wanted:
                continue  # unwanted: dropped
            try:
                verify_block(cid, data)
            except BadBlockError as exc:
                events.append(BadBlock(peer, cid, str(exc)))
                continue
            for s in wanted:
                self.sessions[s].discard(cid)
            self.received += 1
            events.append(BlockReceived(cid, data, peer, False))
            for p in self.peers:
                self.out.setdefault(p, []).append(Entry(cid, cancel=True))
        return events

    def add_peers(self, session, peers, now):
        pass

    def outgoing(self, now):
        out = [(p, Message(entries=es)) for p, es in self.out.items() if es]
        self.out = {}
        return out

    def next_deadline(self):
        return None

    def tick(self, now):
        pass

    def actions(self, now):
        a, self.finds = self.finds, []
        return a

    def stats(self):
        return {"received": self.received}


STUB_ENGINES = (StubServer, StubClient)
