"""A 1,000-peer load on the driver core, for profiling the per-peer accounting (issue 8 item 8).

Every peer keeps a wantlist at a seeder's core: each round it sends a message of want-blocks and
want-haves (half for blocks the seeder has), cancels for some earlier wants, and the seeder
answers everyone (responses packed and reported sent). No sockets: this is the sans-IO part of
what a seeder does per message, which is where the ledger's accounting runs.

Profile with
    python benchmarks/_ledger_load.py --profile      (pyinstrument, printed)
or time it with
    python benchmarks/_ledger_load.py
"""

from __future__ import annotations

import argparse
import hashlib
import time

from fastswap.blockstore.memory import MemoryBlockstore
from fastswap.client.engine import ClientEngine
from fastswap.core import DriverCore
from fastswap.events import ServePeer
from fastswap.message.model import WANT_BLOCK, WANT_HAVE, Entry, Message
from fastswap.server import ServerEngine

PEERS = 1000
ROUNDS = 20
WANTS_PER_MESSAGE = 32


def cid_of(i: int) -> bytes:
    return b"\x01\x55\x12\x20" + hashlib.sha256(i.to_bytes(8, "big")).digest()


def build(peers: int = PEERS, held: int = 4096) -> tuple[DriverCore, list[bytes]]:
    store = MemoryBlockstore()
    cids = [cid_of(i) for i in range(2 * held)]
    for c in cids[:held]:
        store.put(c, bytes(1024))
    core = DriverCore(ServerEngine(store), ClientEngine())
    for p in range(peers):
        core.peer_connected(p, "/ipfs/bitswap/1.2.0", 0.0)
    return core, cids


def messages(cids: list[bytes], peers: int = PEERS, rounds: int = ROUNDS
             ) -> list[list[Message]]:
    """Per round, one message per peer (built before the clock starts)."""
    n = len(cids)
    out = []
    for r in range(rounds):
        msgs = []
        for p in range(peers):
            base = (p * 7919 + r * WANTS_PER_MESSAGE) % n
            entries = [Entry(cids[(base + k) % n], 1000 - k, False,
                             WANT_BLOCK if k % 2 else WANT_HAVE, True)
                       for k in range(WANTS_PER_MESSAGE)]
            # cancel some of what this peer wanted two rounds ago
            old = (p * 7919 + (r - 2) * WANTS_PER_MESSAGE) % n
            entries += [Entry(cids[(old + k) % n], 0, True) for k in range(8)]
            msgs.append(Message(entries))
        out.append(msgs)
    return out


def run(core: DriverCore, rounds: list[list[Message]]) -> int:
    served = 0
    now = 0.0
    for msgs in rounds:
        for p, msg in enumerate(msgs):
            now += 1e-5
            core.message_received(p, msg, now)
        for action in core.poll(now):
            if isinstance(action, ServePeer):
                while (resp := core.next_response(action.peer)) is not None:
                    served += len(resp.blocks) + len(resp.haves) + len(resp.dont_haves)
                    core.response_sent(action.peer, resp, now)
    return served


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--peers", type=int, default=PEERS)
    ap.add_argument("--rounds", type=int, default=ROUNDS)
    a = ap.parse_args()
    core, cids = build(a.peers)
    rounds = messages(cids, a.peers, a.rounds)
    if a.profile:
        from pyinstrument import Profiler

        prof = Profiler(interval=0.0005)
        prof.start()
        served = run(core, rounds)
        prof.stop()
        print(prof.output_text(unicode=False, color=False, show_all=False))
    else:
        t0 = time.perf_counter()
        served = run(core, rounds)
        dt = time.perf_counter() - t0
        msgs = a.peers * a.rounds
        print(f"{msgs} messages, {served} answers in {dt:.3f} s: {dt / msgs * 1e6:.1f} us/message")


if __name__ == "__main__":
    main()
