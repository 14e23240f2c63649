"""A hostile libp2p peer, run as its own process by the abuse tests (``tests/abuse``) and the
swarm-abuse benchmark
(issue 8): it speaks enough Noise and yamux (fastswap's own ``net/`` pieces) to get in, then
misbehaves at the frame level, bounded in time and count, on 127.0.0.1 only.

``python benchmarks/_hostile_peer.py MODE ADDR SECONDS [ARG]`` prints one JSON line when the attack
is over (or the seeder closed the connection), then exits::

    {"peer": id, "mode": MODE, "sent": frames/connections sent, "closed": bool,
     "closed_after": seconds or null, "redial": "ok" | "refused" | error text}

Modes (ARG in brackets):

* ``ping``: yamux pings as fast as it can write, never reading (pongs pile up on the seeder).
* ``unknown``: data frames for stream ids that were never opened, never reading.
* ``syn``: SYNs for new stream ids, never reading (streams past the limit are refused).
* ``churn``: SYN then RST for new stream ids (open-and-reset stream churn).
* ``silent`` [N, SRC_IP]: N TCP sockets from SRC_IP that never send a byte.
* ``idle`` [N]: N upgraded connections, each with its own identity, that stay idle.
* ``partial`` [STREAMS]: Bitswap streams each holding an unfinished 4 MiB message.
* ``malformed`` [N]: up to N malformed Bitswap messages, redialling after each close.
* ``noread`` [CID,...]: want-block for those blocks, then never read (the responses pile up).

``redial`` is a fresh dial with the same identity after the attack: ``refused`` when the seeder
banned it.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import sys
import time
from typing import Any

HDR = struct.Struct(">BBHII")
DATA, WUP, PING = 0, 1, 2
SYN, RST = 1, 8


def _frame(typ: int, flags: int, sid: int, length: int) -> bytes:
    return HDR.pack(0, typ, flags, sid, length)


def _write_raw(conn: Any, data: bytes) -> None:
    """Muxer bytes straight into the secure channel (bypassing our own muxer's bookkeeping)."""
    conn.transport.write(conn._session.encrypt(data))


async def _flood(conn: Any, make: Any, seconds: float, batch: int) -> tuple[int, float | None]:
    """Write batches from ``make(i)`` until *seconds* pass or the connection closes; never
    read. Returns (frames sent, seconds until closed or None)."""
    conn.transport.pause_reading()
    t0 = time.monotonic()
    sent = 0
    while time.monotonic() - t0 < seconds:
        if conn.is_closed:
            return sent, time.monotonic() - t0
        if conn.transport.get_write_buffer_size() > 4 << 20:
            await asyncio.sleep(0.01)  # the seeder stopped reading: wait, do not buffer more
            continue
        _write_raw(conn, b"".join(make(sent + i) for i in range(batch)))
        sent += batch
        await asyncio.sleep(0)
    return sent, (time.monotonic() - t0) if conn.is_closed else None


async def _redial(identity: Any, addr: str) -> str:
    from fastswap.errors import NetError
    from fastswap.net.host import Host

    async with Host(identity, identify=False) as host:
        try:
            conn = await host.dial(addr)
            # a banned peer is dropped right after its handshake: give the seeder a moment
            await asyncio.sleep(0.3)
            return "refused" if conn.is_closed else "ok"
        except NetError as exc:
            return f"error: {exc}"


async def main(mode: str, addr: str, seconds: float, arg: str | None) -> None:
    from fastswap.net.host import Host
    from fastswap.net.keys import Ed25519KeyPair

    identity = Ed25519KeyPair.generate()
    out: dict[str, Any] = {"peer": str(identity.peer_id), "mode": mode, "sent": 0,
                           "closed": False, "closed_after": None, "redial": None}
    if mode == "silent":
        n, src = int(arg.split(",")[0]), arg.split(",")[1]
        host_port = addr.split("/")
        ip, port = host_port[2], int(host_port[4])
        socks = []
        for _ in range(n):
            s = socket.socket()
            s.bind((src, 0))
            s.setblocking(False)
            try:
                s.connect((ip, port))
            except BlockingIOError:
                pass
            socks.append(s)
        out["sent"] = n
        print(json.dumps(out), flush=True)
        await asyncio.sleep(seconds)
        for s in socks:
            s.close()
        return
    if mode == "idle":
        from fastswap.errors import NetError

        hosts = []
        refused = 0
        try:
            for _ in range(int(arg or 100)):
                h = Host(identify=False)
                await h.start()
                hosts.append(h)
                try:
                    await h.dial(addr)
                except NetError:
                    refused += 1
            out["sent"] = len(hosts) - refused
            out["refused"] = refused
            print(json.dumps(out), flush=True)
            await asyncio.sleep(seconds)
            out["alive"] = sum(1 for h in hosts if h.connections)
            print(json.dumps(out), flush=True)
        finally:
            await asyncio.gather(*(h.stop() for h in hosts), return_exceptions=True)
        return
    async with Host(identity, identify=False) as host:
        conn = await host.dial(addr)
        if mode == "ping":
            sent, closed = await _flood(conn, lambda i: _frame(PING, SYN, 0, i), seconds, 2048)
        elif mode == "unknown":
            def make(i: int) -> bytes:
                return _frame(DATA, 0, 1001 + 2 * i, 1) + b"x"
            sent, closed = await _flood(conn, make, seconds, 2048)
        elif mode == "syn":
            sent, closed = await _flood(conn, lambda i: _frame(WUP, SYN, 1001 + 2 * i, 0),
                                        seconds, 512)
        elif mode == "churn":
            def make(i: int) -> bytes:
                sid = 1001 + 2 * i
                return _frame(WUP, SYN, sid, 0) + _frame(WUP, RST, sid, 0)
            sent, closed = await _flood(conn, make, seconds, 256)
        elif mode == "partial":
            sent, closed = await _partial(host, conn, int(arg or 200), seconds)
        elif mode == "malformed":
            sent, closed = await _malformed(host, conn, addr, int(arg or 100), seconds)
        elif mode == "noread":
            sent, closed = await _noread(host, conn, arg or "", seconds)
        else:
            raise SystemExit(f"unknown mode {mode!r}")
        out["sent"] = sent
        out["closed"] = closed is not None
        out["closed_after"] = closed
    out["redial"] = await _redial(identity, addr)
    print(json.dumps(out), flush=True)


async def _partial(host: Any, conn: Any, streams: int, seconds: float) -> tuple[int, Any]:
    from fastswap._defaults import MAX_MESSAGE_SIZE
    from fastswap.errors import NetError
    from fastswap.message import frame_length_prefix
    from fastswap.net.bitswap import BITSWAP_1_2_0

    t0 = time.monotonic()
    held = []
    body = b"\x00" * (1 << 20)
    for _ in range(streams):
        if conn.is_closed:
            break
        try:
            s = await host.new_stream_on(conn, [BITSWAP_1_2_0])
            # a 4 MiB message, of which most is sent and the rest never
            s.write(frame_length_prefix(MAX_MESSAGE_SIZE))
            for _ in range(3):
                s.write(body)
            held.append(s)
            await s.drain()
        except NetError:
            continue  # that stream was reset: try the next one
    while time.monotonic() - t0 < seconds and not conn.is_closed:
        await asyncio.sleep(0.05)
    return len(held), (time.monotonic() - t0) if conn.is_closed else None


async def _malformed(host: Any, conn: Any, addr: str, n: int, seconds: float) -> tuple[int, Any]:
    from fastswap.errors import NetError
    from fastswap.net.bitswap import BITSWAP_1_2_0

    t0 = time.monotonic()
    sent = 0
    closed = None
    while sent < n and time.monotonic() - t0 < seconds:
        try:
            if conn.is_closed:
                conn = await host.dial(addr)
            s = await host.new_stream_on(conn, [BITSWAP_1_2_0])
            s.write(b"\x02\x0f\x00")  # a frame with an invalid wire type
            await s.drain()
            sent += 1
            await asyncio.wait_for(conn.wait_closed(), 2)
        except (NetError, TimeoutError):
            closed = time.monotonic() - t0
            break
    return sent, closed


async def _noread(host: Any, conn: Any, cids: str, seconds: float) -> tuple[int, Any]:
    from fastswap.cid import parse
    from fastswap.message import WANT_BLOCK, Entry, Message, encode_message, frame_length_prefix
    from fastswap.net.bitswap import BITSWAP_1_2_0, BITSWAP_PROTOCOLS

    async def never_read(stream: Any) -> None:
        await asyncio.Event().wait()

    for proto in BITSWAP_PROTOCOLS:
        host.set_stream_handler(proto, never_read)
    s = await host.new_stream_on(conn, [BITSWAP_1_2_0])
    entries = [Entry(parse(c), want_type=WANT_BLOCK) for c in cids.split(",") if c]
    body = encode_message(Message(entries=entries, full=True))
    s.write(frame_length_prefix(len(body)) + body)
    await s.drain()
    conn.transport.pause_reading()
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds and not conn.is_closed:
        await asyncio.sleep(0.05)
    return len(entries), (time.monotonic() - t0) if conn.is_closed else None


if __name__ == "__main__":
    import uvloop

    args = sys.argv[1:]
    uvloop.run(main(args[0], args[1], float(args[2]), args[3] if len(args) > 3 else None))
