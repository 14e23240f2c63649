"""Shared helpers of the drop-in tests (run in the drop-in venv; see ../conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import multiaddr
import trio
from libp2p import new_host
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.peer.peerinfo import info_from_p2p_addr

LOOPBACK = "/ip4/127.0.0.1/tcp/0"


@asynccontextmanager
async def pylibp2p_host() -> AsyncIterator[Any]:
    """A py-libp2p host on 127.0.0.1 (Ed25519, py-libp2p's default transports)."""
    host = new_host(key_pair=create_new_key_pair(), enable_mDNS=False, enable_upnp=False,
                    bootstrap=None)
    async with host.run([multiaddr.Multiaddr(LOOPBACK)]):
        yield host


async def connect(a: Any, b: Any) -> None:
    """Dial *b* from *a* (loopback)."""
    addr = f"{b.get_addrs()[0]}"
    if "/p2p/" not in addr:
        addr += f"/p2p/{b.get_id()}"
    await a.connect(info_from_p2p_addr(multiaddr.Multiaddr(addr)))


async def wait_for(pred: Any, timeout: float = 10.0) -> None:
    with trio.fail_after(timeout):
        while not pred():
            await trio.sleep(0.02)
