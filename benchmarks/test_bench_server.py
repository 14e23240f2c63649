"""Server hot paths: the peer task queue and the peer ledgers (compiled and pure twins side by
side) and the decision engine (a 1000-entry wantlist received, then every response built).

Measure with
    python -m pytest benchmarks/test_bench_server.py --benchmark-enable --benchmark-only
and compare the ``c`` and ``py`` medians of the task-queue and ledger groups. The ledger's
benchmark is the per-message accounting of issue 8 item 8: 1,000 peers each sending a wantlist
of 32 wants and 8 cancels, the server sending each an answer (``benchmarks/_ledger_load.py``
profiles the same load through the whole engine).
"""

from __future__ import annotations

import hashlib

import pytest

from fastswap._defaults import MAX_CID_SIZE
from fastswap.blockstore.memory import MemoryBlockstore
from fastswap.message.model import WANT_BLOCK, WANT_HAVE, Entry, Message
from fastswap.server import ServerEngine
from tests.conftest import import_twin, twin_params

N_TASKS = 10_000
N_PEERS = 50


def _cids(n: int, salt: bytes = b"") -> list[bytes]:
    return [b"\x01\x55\x12\x20" + hashlib.sha256(salt + i.to_bytes(4, "big")).digest()
            for i in range(n)]


CIDS = _cids(N_TASKS)


@pytest.fixture(params=twin_params("fastswap.server._taskqueue_c", "fastswap.server._taskqueue_py"))
def tq(request):
    return import_twin(request.param)


def _push_pop(tq) -> int:
    q = tq.TaskQueue(max_inflight_per_peer=1 << 30)
    push = q.push
    for i, cid in enumerate(CIDS):
        push(i % N_PEERS, cid, tq.BLOCK if i % 3 else tq.HAVE, 16384, i % 97)
    popped = 0
    while len(q):
        for peer in q.peers_with_work():
            ts = q.pop(peer, 256 * 1024)
            popped += len(ts)
            q.task_done(peer, ts)
    return popped


@pytest.mark.benchmark(group="server-taskqueue-push-pop-10k-50-peers")
def test_taskqueue_push_pop(benchmark, tq):
    assert benchmark(_push_pop, tq) == N_TASKS


LEDGER_PEERS = 1000
LEDGER_CIDS = _cids(4096, b"ledger")
LEDGER_MSGS = [
    [Entry(LEDGER_CIDS[(p * 7 + k) % 4096], 100 - k, False, WANT_BLOCK if k % 2 else WANT_HAVE,
           True) for k in range(32)]
    + [Entry(LEDGER_CIDS[(p * 7 + 4000 + k) % 4096], 0, True) for k in range(8)]
    for p in range(LEDGER_PEERS)
]


@pytest.fixture(params=twin_params("fastswap.server._ledger_c", "fastswap.server._ledger_py"))
def lm(request):
    return import_twin(request.param)


def _ledger_round(lm) -> int:
    book = lm.LedgerBook(1024, 256 * 1024, 256, MAX_CID_SIZE)
    leds = [book.add(p, "/ipfs/bitswap/1.2.0", True, True, p) for p in range(LEDGER_PEERS)]
    touched = 0
    for led, entries in zip(leds, LEDGER_MSGS):
        got = book.receive(led, entries, False, (), 1.0)
        touched += len(got)
        book.sent(led, got[:8], 8 * 262144, got[8:16], [], 1.0)
    book.removed.clear()
    return touched


@pytest.mark.benchmark(group="server-ledger-1000-peers-32-wants")
def test_ledger_receive_and_sent(benchmark, lm):
    assert benchmark(_ledger_round, lm) == LEDGER_PEERS * 32


def _engine_round(store: MemoryBlockstore, msg: Message, sent_at: float | None = None) -> int:
    """*msg* received (at 1.0), every response built and reported sent at *sent_at* (None: no
    clock, so no task's wait is filed in the task-wait histogram)."""
    eng = ServerEngine(store)
    eng.receive_message("peer", msg, 1.0)
    n = 0
    while (r := eng.next_response("peer")) is not None:
        n += len(r.blocks) + len(r.haves) + len(r.dont_haves)
        eng.response_sent("peer", r, now=sent_at)
    return n


def _engine_load() -> tuple[MemoryBlockstore, Message]:
    """A 1000-entry wantlist (half want-have, all send-dont-have) of which 800 blocks are held
    (mixed sizes) and 200 missing."""
    store = MemoryBlockstore()
    cids = _cids(1000, b"engine")
    for i, c in enumerate(cids[:800]):
        store.put(c, bytes(512 if i % 4 == 0 else 8192))
    entries = [Entry(c, 1000 - i, False, WANT_HAVE if i % 2 else WANT_BLOCK, True)
               for i, c in enumerate(cids)]
    return store, Message(entries, full=True)


@pytest.mark.benchmark(group="server-engine-1000-entry-wantlist")
def test_engine_receive_and_respond(benchmark):
    assert benchmark(_engine_round, *_engine_load()) == 1000


@pytest.mark.benchmark(group="server-engine-wait-times")
@pytest.mark.parametrize("sent_at", [None, 1.001], ids=["untimed", "timed"])
def test_engine_wait_histogram_cost(benchmark, sent_at):
    """The task-wait histogram's cost (``fastswap_task_wait_seconds``): the engine round above
    with every sent response's tasks filed or not; the ratio of the two medians is its cost."""
    assert benchmark(_engine_round, *_engine_load(), sent_at) == 1000
