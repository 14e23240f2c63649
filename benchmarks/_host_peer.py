"""The far end of the host benchmarks, run as a separate process (so the two hosts use two
cores): a fastswap Host on 127.0.0.1 with a sink and a source protocol.

Prints its multiaddr on stdout, then serves until stdin closes.

- ``/fastswap-bench/sink/1``: read to EOF, answer the byte count (8 bytes, big-endian).
- ``/fastswap-bench/source/1``: read an 8-byte count, write that many bytes, close.
"""

from __future__ import annotations

import asyncio
import sys

SINK = "/fastswap-bench/sink/1"
SOURCE = "/fastswap-bench/source/1"
_CHUNK = bytes(range(256)) * 4096  # 1 MiB


async def main(loop_name: str) -> None:
    from fastswap.net.host import Host

    async def sink(stream) -> None:
        total = 0
        while True:
            data = await stream.read()
            if not data:
                break
            total += len(data)
        stream.write(total.to_bytes(8, "big"))
        stream.close()
        await stream.drain()

    async def source(stream) -> None:
        left = int.from_bytes(await stream.readexactly(8), "big")
        while left:
            n = min(left, len(_CHUNK))
            stream.write(_CHUNK if n == len(_CHUNK) else _CHUNK[:n])
            await stream.drain()
            left -= n
        stream.close()

    async with Host(listen_addrs=["/ip4/127.0.0.1/tcp/0"]) as host:
        host.set_stream_handler(SINK, sink)
        host.set_stream_handler(SOURCE, source)
        print(host.addrs[0], flush=True)
        loop = asyncio.get_running_loop()
        # serve until the parent closes our stdin
        await loop.run_in_executor(None, sys.stdin.buffer.read)


if __name__ == "__main__":
    name = sys.argv[1] if len(sys.argv) > 1 else "uvloop"
    if name == "uvloop":
        import uvloop

        uvloop.run(main(name))
    else:
        asyncio.run(main(name))
