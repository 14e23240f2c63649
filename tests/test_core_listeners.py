"""The driver core's listeners (``DriverCore.listen``): what the layer above a driver learns,
whichever driver runs the core -- every client event of a received message, peers joining and
leaving, blocks stored -- and that a listener can neither be skipped nor break the driver. The
stand-in engines keep the engines' contracts (tests/standin_engines.py)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from fastswap.blockstore import MemoryBlockstore
from fastswap.cid import compute_cid
from fastswap.core import DriverCore
from fastswap.events import (
    BlockReceived,
    BlocksStored,
    DontHave,
    Have,
    PeerJoined,
    PeerLeft,
    ServePeer,
    StoreBlocks,
)
from fastswap.message import DONT_HAVE, HAVE, BlockPresence, Entry, Message, wire_block
from tests.standin_engines import StandInClient, StandInServer

V12 = "/ipfs/bitswap/1.2.0"


def _core() -> tuple[DriverCore, list[Any]]:
    core = DriverCore(StandInServer(MemoryBlockstore()), StandInClient())
    heard: list[Any] = []
    core.listen(heard.append)
    return core, heard


def test_peers_joining_and_leaving() -> None:
    core, heard = _core()
    assert core.peer_connected("a", V12, 0.0)
    assert not core.peer_connected("a", V12, 1.0)  # already connected: nothing new
    assert core.peer_connected("b", "/ipfs/bitswap/1.1.0", 1.0)
    assert core.peer_disconnected("a", 2.0)
    assert not core.peer_disconnected("a", 3.0)
    assert heard == [PeerJoined("a", V12), PeerJoined("b", "/ipfs/bitswap/1.1.0"),
                     PeerLeft("a")]


def test_a_message_s_client_events_after_the_engines_took_them() -> None:
    """Each client event of a message reaches the listener, in order, once the engines and
    the core handled the message: its StoreBlocks is queued already, and the listener may
    drive the core (here: close the session that wanted the block)."""
    core, _ = _core()
    data = b"block data"
    cid = compute_cid(data)
    other = compute_cid(b"another block")
    sid = core.new_session(0.0)
    core.want(sid, [cid, other], 0.0)
    core.peer_connected("p", V12, 0.0)
    seen: list[tuple[Any, list[Any]]] = []

    def listener(notice: Any) -> None:
        seen.append((notice, [a for a in core._actions if isinstance(a, StoreBlocks)]))
        if isinstance(notice, DontHave):
            core.close_session(sid, 1.0)

    core.listen(listener)
    msg = Message(blocks=[wire_block(cid, data)],
                  presences=[BlockPresence(other, HAVE), BlockPresence(other, DONT_HAVE)])
    events = core.message_received("p", msg, 1.0)
    assert [n for n, _ in seen] == events == [BlockReceived(cid, data, "p"),
                                              Have("p", other), DontHave("p", other)]
    assert all(queued for _, queued in seen)  # StoreBlocks was queued before any notice
    assert core.client.closed == [sid]


def test_blocks_stored_is_told_and_served() -> None:
    core, heard = _core()
    data = b"wanted by a peer"
    cid = compute_cid(data)
    core.peer_connected("p", V12, 0.0)
    core.message_received("p", Message([Entry(cid)]), 0.0)  # p wants it; we lack it
    core.server.store.put(cid, data)
    core.blocks_stored(iter([cid]))  # any iterable: the core keeps one tuple for both uses
    assert heard[-1] == BlocksStored((cid,))
    assert ServePeer("p") in list(core.poll(1.0))


def test_a_failing_listener_is_logged_and_the_rest_go_on(
        caplog: pytest.LogCaptureFixture) -> None:
    core, heard = _core()

    def broken(notice: Any) -> None:
        raise RuntimeError("listener bug")

    core.listen(broken)
    after: list[Any] = []
    core.listen(after.append)
    with caplog.at_level(logging.ERROR, logger="fastswap.core"):
        assert core.peer_connected("a", V12, 0.0)
    assert heard == after == [PeerJoined("a", V12)]
    assert "listener of the driver core failed" in caplog.text
    assert core.is_connected("a")


def test_stop_listening() -> None:
    core, heard = _core()
    stop = core.listen(lambda n: heard.append(("second", n)))
    core.peer_connected("a", V12, 0.0)
    stop()
    stop()  # harmless twice
    core.peer_disconnected("a", 1.0)
    assert heard == [PeerJoined("a", V12), ("second", PeerJoined("a", V12)), PeerLeft("a")]
