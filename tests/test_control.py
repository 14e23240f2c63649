"""fastswap.control: the node's local control socket (what `fastswap stat` talks to)."""

from __future__ import annotations

import asyncio
import stat

import pytest

from fastswap.control import ControlServer, request
from fastswap.errors import NodeError


def test_request_answer_errors_and_cleanup(run, tmp_path) -> None:
    path = tmp_path / "control.sock"
    path.write_text("a stale socket file left by a killed node")

    async def stat_handler(req):
        return {"uptime": 1.5, "echo": req.get("x")}

    async def main():
        server = ControlServer(path, {"stat": stat_handler})
        await server.start()
        try:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            assert await request(path, "stat", x=[1, 2]) == {"uptime": 1.5, "echo": [1, 2]}
            with pytest.raises(NodeError, match="unknown command 'nope'; known: stat"):
                await request(path, "nope")
            # a client that sends garbage, or too much, gets an error line and is closed
            reader, writer = await asyncio.open_unix_connection(str(path))
            writer.write(b"x" * (128 * 1024) + b"\n")
            await writer.drain()
            assert b'"ok": false' in await reader.readline()
            writer.close()
        finally:
            await server.stop()
        assert not path.exists()
        with pytest.raises(NodeError, match="no fastswap node is running"):
            await request(path, "stat")

    run(main())
