"""Hostile peers for the abuse tests and benchmarks of issue 8 items 5 and 7 (ipfs/specs
bitswap-protocol messages, hand-built, on fastswap's own libp2p Host), one process each so the
attack costs the attacker's core, not the seeder's.

``sybil-wants ADDR N WANTS``: N identities (one Host each), each sending one wantlist of WANTS
want-haves (with sendDontHave) for blocks nobody has. ``sybil-noread ADDR N CID,CID,...``: N
identities each wanting those blocks (want-block) and never reading what the seeder sends.
Both print ``{"peers": [peer ids], "entries": total sent}`` once every identity sent, then answer
``status`` on stdin with ``{"connected": identities still connected}``; EOF ends them.

``flood ADDR``: one identity writing unsolicited 2 MiB blocks (random data, never asked for) on a
Bitswap stream as fast as the seeder reads them; when the seeder drops it, it redials every
0.2 s. Prints ``{"peer"}`` once flooding, then answers ``status`` with ``{"bytes_sent",
"disconnects", "redials", "refused", "flooding"}``: ``refused`` counts redials the seeder
dropped within a second (a refusal), ``flooding`` whether a connection is up now.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable
from typing import Any

BLOCK = 2 * 1024 * 1024


async def _stdin_lines() -> Any:
    loop = asyncio.get_running_loop()
    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
        if not line:
            return
        yield line


async def _never_read(stream: Any) -> None:
    await asyncio.Event().wait()  # holds the stream the seeder opened, reads nothing


async def sybils(addr: str, n: int, cids_of: Callable[[int], list[bytes]],
                 want_have: bool) -> None:
    """N identities; identity i wants ``cids_of(i)``."""
    from fastswap.message import (
        WANT_BLOCK,
        WANT_HAVE,
        Entry,
        Message,
        encode_message,
        frame_length_prefix,
    )
    from fastswap.net.bitswap import BITSWAP_1_2_0, BITSWAP_PROTOCOLS
    from fastswap.net.host import Host

    kind = WANT_HAVE if want_have else WANT_BLOCK
    hosts: list[Host] = []
    streams: list[Any] = []
    gate = asyncio.Semaphore(16)

    async def one(i: int) -> None:
        host = Host()
        for proto in BITSWAP_PROTOCOLS:
            host.set_stream_handler(proto, _never_read)
        await host.start()
        hosts.append(host)
        async with gate:
            conn = await host.dial(addr)
            stream = await host.new_stream_on(conn, [BITSWAP_1_2_0])
        body = encode_message(Message(
            [Entry(c, 1, False, kind, want_have) for c in cids_of(i)], full=True))
        stream.write(frame_length_prefix(len(body)) + body)
        await stream.drain()
        streams.append(stream)

    try:
        await asyncio.gather(*(one(i) for i in range(n)))
        total = sum(len(cids_of(i)) for i in range(n))
        print(json.dumps({"peers": [str(h.peer_id) for h in hosts], "entries": total}),
              flush=True)
        async for _ in _stdin_lines():
            print(json.dumps({"connected": sum(
                1 for h in hosts if any(not c.is_closed for c in h.connections))}), flush=True)
    finally:
        await asyncio.gather(*(h.stop() for h in hosts), return_exceptions=True)


async def flood(addr: str) -> None:
    from fastswap.cid import cid_prefix, compute_cid
    from fastswap.errors import NetError
    from fastswap.message import Message, encode_message, frame_length_prefix
    from fastswap.net.bitswap import BITSWAP_1_2_0
    from fastswap.net.host import Host

    frames = []
    for _ in range(4):  # a few distinct 2 MiB blocks, nobody's wants
        data = os.urandom(BLOCK - 64)
        body = encode_message(Message(blocks=[(cid_prefix(compute_cid(data)), data)]))
        frames.append(frame_length_prefix(len(body)) + body)
    st = {"bytes_sent": 0, "disconnects": 0, "redials": 0, "refused": 0, "flooding": False}
    loop = asyncio.get_running_loop()

    async def run(host: Host) -> None:
        first = True
        while True:
            t0 = loop.time()
            try:
                if not first:
                    st["redials"] += 1
                conn = await host.dial(addr)
                stream = await host.new_stream_on(conn, [BITSWAP_1_2_0])
                st["flooding"] = True
                if first:
                    print(json.dumps({"peer": str(host.peer_id)}), flush=True)
                    first = False
                i = 0
                while True:
                    stream.write(frames[i & 3])
                    await stream.drain()
                    st["bytes_sent"] += len(frames[i & 3])
                    i += 1
            except (NetError, OSError, asyncio.IncompleteReadError):
                pass
            if st["flooding"]:
                st["disconnects"] += 1
            elif loop.time() - t0 < 1.0 and st["redials"]:
                st["refused"] += 1
            st["flooding"] = False
            if first:
                print(json.dumps({"peer": str(host.peer_id), "error": "could not connect"}),
                      flush=True)
                first = False
            await asyncio.sleep(0.2)

    async with Host() as host:
        task = asyncio.ensure_future(run(host))
        try:
            async for _ in _stdin_lines():
                print(json.dumps(st), flush=True)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def main() -> None:
    import uvloop

    mode, addr, *rest = sys.argv[1:]
    if mode == "sybil-wants":
        n, wants = int(rest[0]), int(rest[1])
        salt = os.urandom(8)

        def lacking(i: int) -> list[bytes]:
            from fastswap.cid import compute_cid
            return [compute_cid(salt + i.to_bytes(4, "big") + k.to_bytes(4, "big"))
                    for k in range(wants)]

        uvloop.run(sybils(addr, n, lacking, want_have=True))
    elif mode == "sybil-noread":
        from fastswap.cid import parse

        cids = [parse(c) for c in rest[1].split(",")]
        uvloop.run(sybils(addr, int(rest[0]), lambda i: cids, want_have=False))
    elif mode == "flood":
        uvloop.run(flood(addr))
    else:
        raise SystemExit(f"unknown mode {mode!r}: sybil-wants, sybil-noread or flood")


if __name__ == "__main__":
    main()
