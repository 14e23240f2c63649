"""Shared helpers of the drop-in tests (run in the drop-in venv; see ../conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import multiaddr
import trio
from libp2p import new_host
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.peer.peerinfo import info_from_p2p_addr

from fastswap.compat.libp2p import new_host as fastswap_new_host
from fastswap.message import FrameDecoder, Message, decode_message

LOOPBACK = "/ip4/127.0.0.1/tcp/0"
#: the hosts the drop-in runs on: py-libp2p's (trio driver) and fastswap's (fastswap.Node)
HOSTS = ["pylibp2p", "fastswap"]


@asynccontextmanager
async def pylibp2p_host() -> AsyncIterator[Any]:
    """A py-libp2p host on 127.0.0.1 (Ed25519, py-libp2p's default transports)."""
    host = new_host(key_pair=create_new_key_pair(), enable_mDNS=False, enable_upnp=False,
                    bootstrap=None)
    async with host.run([multiaddr.Multiaddr(LOOPBACK)]):
        yield host


@asynccontextmanager
async def fastswap_host() -> AsyncIterator[Any]:
    """fastswap's host through the drop-in's ``new_host``, constructed as a py-libp2p program
    constructs its host."""
    host = fastswap_new_host(key_pair=create_new_key_pair(), enable_mDNS=False,
                             enable_upnp=False, bootstrap=None)
    async with host.run([multiaddr.Multiaddr(LOOPBACK)]):
        yield host


def host_of(kind: str) -> Any:
    """``pylibp2p_host()`` or ``fastswap_host()``, by the name in HOSTS."""
    return {"pylibp2p": pylibp2p_host, "fastswap": fastswap_host}[kind]()


async def connect(a: Any, b: Any) -> None:
    """Dial *b* from *a* (loopback); either may be either kind of host."""
    addr = f"{b.get_addrs()[0]}"
    if "/p2p/" not in addr:
        addr += f"/p2p/{b.get_id()}"
    await a.connect(info_from_p2p_addr(multiaddr.Multiaddr(addr)))


def recorder(into: list[Message]) -> Callable[[Any], Awaitable[None]]:
    """A stream handler for a raw Bitswap listener: the messages it reads go to *into*; it
    never answers. EOF or a reset ends it."""

    async def record(stream: Any) -> None:
        decoder = FrameDecoder()
        while True:
            try:
                data = await stream.read(1 << 20)
            except Exception:  # noqa: BLE001 - EOF or reset ends the recording
                return
            if not data:
                return
            into.extend(decode_message(p) for p in decoder.feed(data))

    return record


async def wait_for(pred: Any, timeout: float = 10.0) -> None:
    with trio.fail_after(timeout):
        while not pred():
            await trio.sleep(0.02)
