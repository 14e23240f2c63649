"""The Node's receive pipeline: received Bitswap messages to the driver core, with their blocks
verified (hashed: ipfs/specs bitswap-protocol, a block is named by hashing it) in one verifier
thread, fairly across peers.

Spec: ipfs/specs bitswap-protocol ("Bitswap 1.2.0 Interaction Pattern": every message of a peer
is handled in the order it came). The fairness is ours: one FIFO across all peers let one peer
sending 2 MiB blocks as fast as it could make every other peer's messages wait behind its own
(an honest fetch took 45x longer, issue 8 item 7). Now::

    stream reader --> core.screen --> ReceivePipeline.submit(peer, msg, protocol)
                                        | the peer's inbox empty and the message needs no
                                        | hashing off the loop: handled at once
                                        v
                      per-peer inboxes (FIFO each) --deficit round robin--> verifier thread
                                        |                                      |
                                        +<----------- names (hashes) ----------+
                                        v
                      handle(peer, msg, protocol, names): in order, per peer

* **Per-peer order, no cross-peer order.** A peer's messages are handled in the order its
  readers delivered them (a wantlist behind a message still being hashed waits for it); another
  peer's never wait for them.
* **Fair hashing.** The verifier thread takes the next message to hash from the peers in turn,
  by deficit round robin over block bytes (``NODE_VERIFY_QUANTUM_BYTES`` a turn), so a peer
  sending 4 MiB messages gets no more of the thread than one sending 256 KiB blocks; at most
  ``NODE_VERIFY_JOBS`` messages are in the thread's hands at once (one hashed while the loop
  handles the last).
* **Per-peer backpressure.** When a peer's inbox holds ``NODE_INBOX_MESSAGES`` messages or
  ``NODE_INBOX_BYTES`` of blocks, :meth:`ReceivePipeline.submit` hands its reader an awaitable
  that completes once the inbox drained: only that peer's streams stop being read (its flow
  control windows then stop it). That does not stop a peer that opens a stream per message
  (Kubo and Helia do, honestly): each waiting reader holds one message. The count of such
  messages is not limited (Kubo sends a burst of small ones), their block bytes are: past four
  times ``NODE_INBOX_BYTES`` a message's blocks are dropped unhashed and ``on_overflow(peer,
  nbytes)`` is told (the node counts them against the peer as blocks it did not want), its
  wantlist and presences still go in order. An honest peer sends only blocks we asked for, and
  the client keeps what it asks for far below that.

Blocks from a peer we ask nothing of never get here: ``DriverCore.screen`` drops them unhashed.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import queue
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from . import _defaults
from .client.naming import name_blocks
from .message import Message

__all__ = ["ReceivePipeline"]

log = logging.getLogger("fastswap.node")

#: ``handle(peer, msg, protocol, names)``: the node's hand-off to the core (names: what
#: ``name_blocks`` returned, or None to let the engine hash). May return an awaitable (store
#: backpressure), which only a reader awaits.
Handler = Callable[[Any, Message, str, "list[Any] | None"], Any]


class _Item:
    """One received message in its peer's inbox."""

    __slots__ = ("dropped", "hash", "hashing", "msg", "names", "nbytes", "protocol")

    def __init__(self, msg: Message, protocol: str, nbytes: int, hash_it: bool) -> None:
        self.msg = msg
        self.protocol = protocol
        self.nbytes = nbytes
        self.hash = hash_it  # still to be handed to the verifier
        self.hashing = False  # in the verifier's hands
        self.dropped = False  # its peer was forgotten meanwhile
        # what name_blocks returned (None: not hashed, or the verifier failed: the engine
        # hashes on the loop instead)
        self.names: list[Any] | None = None


class _Verifier:
    """The verifier thread: names (hashes) the blocks of the messages it is given, in order,
    and hands each result back on the loop (``done(item, names)``). A thread and a queue of
    our own rather than ``run_in_executor``: per message, the executor's future, its asyncio
    twin and their chaining cost the loop more than the thread hand-off itself."""

    def __init__(self, loop: asyncio.AbstractEventLoop, max_block: int,
                 done: Callable[[Any, _Item, list[Any] | None], None]) -> None:
        self._loop = loop
        self._max_block = max_block
        self._done = done
        self._jobs: queue.SimpleQueue[tuple[Any, _Item] | None] = queue.SimpleQueue()
        # a daemon: one left running by a node never closed must not hold the interpreter
        # at exit (it only hashes)
        self._thread = threading.Thread(target=self._run, name="fastswap-verify",
                                        daemon=True)
        self._thread.start()

    def submit(self, peer: Any, item: _Item) -> None:
        self._jobs.put((peer, item))

    def _run(self) -> None:
        jobs = self._jobs
        max_block = self._max_block
        call = self._loop.call_soon_threadsafe
        done = self._done
        while True:
            job = jobs.get()
            if job is None:
                return
            peer, item = job
            try:
                names: list[Any] | None = name_blocks(item.msg.blocks, max_block)
            except Exception:
                log.exception("naming received blocks failed; the engine hashes them")
                names = None
            try:
                call(done, peer, item, names)
            except RuntimeError:  # the loop is closed: nobody waits for this any more
                return

    def close(self) -> None:
        """End the thread after the jobs queued (blocking: call it off the loop)."""
        self._jobs.put(None)
        self._thread.join()


class _Inbox:
    """One peer's received messages, in order, and its readers waiting for room."""

    __slots__ = ("bytes", "deficit", "items", "room", "unhashed")

    def __init__(self) -> None:
        self.items: deque[_Item] = deque()
        self.bytes = 0
        self.unhashed = 0  # items still to be handed to the verifier
        self.deficit = 0
        self.room: asyncio.Event | None = None


class ReceivePipeline:
    """Per-peer inboxes in front of one verifier thread (see the module docstring)."""

    def __init__(
        self,
        handle: Handler,
        *,
        offload: bool,
        max_block_size: int,
        on_overflow: Callable[[Any, int], None] | None = None,
        offload_bytes: int = _defaults.NODE_VERIFY_OFFLOAD_BYTES,
        inbox_messages: int = _defaults.NODE_INBOX_MESSAGES,
        inbox_bytes: int = _defaults.NODE_INBOX_BYTES,
        quantum: int = _defaults.NODE_VERIFY_QUANTUM_BYTES,
        jobs: int = _defaults.NODE_VERIFY_JOBS,
    ) -> None:
        self._handle = handle
        self._offload = offload
        self._max_block = max_block_size
        self._on_overflow = on_overflow
        self._offload_bytes = offload_bytes
        self._max_messages = inbox_messages
        self._max_bytes = inbox_bytes
        self._quantum = quantum
        self._jobs = jobs
        self._inboxes: dict[Any, _Inbox] = {}
        self._ring: deque[Any] = deque()  # peers with messages to hash, round-robin order
        self._hashing = 0
        self._verifier: _Verifier | None = None
        self._closed = False
        #: block bytes dropped because a peer's inbox overflowed
        self.dropped = 0

    # -- facts -----------------------------------------------------------------------------

    @property
    def verifier_started(self) -> bool:
        return self._verifier is not None

    def pending(self, peer: Any = None) -> int:
        """Messages waiting (for *peer*, or for anyone)."""
        if peer is not None:
            box = self._inboxes.get(peer)
            return 0 if box is None else len(box.items)
        return sum(len(b.items) for b in self._inboxes.values())

    # -- input -----------------------------------------------------------------------------

    def submit(self, peer: Any, msg: Message, protocol: str) -> Any:
        """A message from *peer*'s stream reader; returns an awaitable if that reader must
        wait (its inbox is full, or the handler's store backpressure), else None."""
        if self._closed:
            return None
        nbytes = 0
        for _, data in msg.blocks:
            nbytes += len(data)
        hash_it = self._offload and nbytes >= self._offload_bytes
        box = self._inboxes.get(peer)
        if box is None or not box.items:
            if not hash_it:
                return self._call(peer, msg, protocol, None)
            if box is None:
                box = self._inboxes[peer] = _Inbox()
        elif nbytes and box.bytes + nbytes > 4 * self._max_bytes:
            # only a peer writing on many streams at once gets here (each reader waits below)
            self.dropped += nbytes
            if self._on_overflow is not None:
                self._on_overflow(peer, nbytes)
            msg = Message(msg.entries, msg.full, (), msg.presences, msg.pending_bytes)
            nbytes = 0
            hash_it = False
        item = _Item(msg, protocol, nbytes, hash_it)
        box.items.append(item)
        box.bytes += nbytes
        if hash_it:
            box.unhashed += 1
            if box.unhashed == 1:
                self._ring.append(peer)
            self._dispatch()
        if len(box.items) >= self._max_messages or box.bytes >= self._max_bytes:
            return self._wait_room(box)
        return None

    def forget(self, peer: Any) -> None:
        """*peer* is gone: drop what it sent that was not handled yet."""
        box = self._inboxes.pop(peer, None)
        if box is None:
            return
        for item in box.items:
            item.dropped = True
        box.items.clear()
        box.bytes = 0
        box.unhashed = 0
        if box.room is not None:
            box.room.set()  # its readers, if any still wait, go on (to find their stream gone)
        try:
            self._ring.remove(peer)
        except ValueError:
            pass

    async def close(self) -> None:
        """Stop: drop what waits, wake the readers, end the verifier thread."""
        self._closed = True
        for peer in list(self._inboxes):
            self.forget(peer)
        self._ring.clear()
        if self._verifier is not None:
            # at most NODE_VERIFY_JOBS messages' hashing is queued: waiting for it is short
            await asyncio.to_thread(self._verifier.close)
            self._verifier = None

    # -- internals -------------------------------------------------------------------------

    async def _wait_room(self, box: _Inbox) -> None:
        while not self._closed and (len(box.items) >= self._max_messages
                                    or box.bytes >= self._max_bytes):
            if box.room is None:
                box.room = asyncio.Event()
            box.room.clear()
            await box.room.wait()

    def _call(self, peer: Any, msg: Message, protocol: str, names: list[Any] | None) -> Any:
        return self._handle(peer, msg, protocol, names)

    def _dispatch(self) -> None:
        """Hand messages to the verifier thread, peers in turn (deficit round robin)."""
        ring = self._ring
        while self._hashing < self._jobs and ring:
            peer = ring[0]
            box = self._inboxes.get(peer)
            if box is None or box.unhashed == 0:
                ring.popleft()
                continue
            item = next(i for i in box.items if i.hash)
            if box.deficit < item.nbytes:
                box.deficit += self._quantum
                ring.rotate(-1)
                continue
            box.deficit -= item.nbytes
            item.hash = False
            box.unhashed -= 1
            ring.rotate(-1)
            if box.unhashed == 0:
                ring.pop()  # (it was rotated to the end)
                box.deficit = 0
            self._start(peer, item)

    def _start(self, peer: Any, item: _Item) -> None:
        if self._verifier is None:
            self._verifier = _Verifier(asyncio.get_running_loop(), self._max_block, self._named)
        item.hashing = True
        self._hashing += 1
        self._verifier.submit(peer, item)

    def _named(self, peer: Any, item: _Item, names: list[Any] | None) -> None:
        """The verifier named *item*'s blocks (on the loop)."""
        self._hashing -= 1
        item.hashing = False
        item.names = names
        if not item.dropped:
            self._drain(peer)
        self._dispatch()

    def _drain(self, peer: Any) -> None:
        """Handle the messages at the head of *peer*'s inbox whose blocks are named."""
        box = self._inboxes.get(peer)
        if box is None:
            return
        items = box.items
        while items:
            item = items[0]
            if item.hash or item.hashing:
                return  # waits for the verifier
            names = item.names
            items.popleft()
            box.bytes -= item.nbytes
            if self._closed:
                continue
            res = self._call(peer, item.msg, item.protocol, names)
            if res is not None and inspect.iscoroutine(res):
                # the store-room wait: the peer's readers wait for it in submit instead
                res.close()
        if box.room is not None:
            box.room.set()
        if not items and box.unhashed == 0:
            del self._inboxes[peer]
