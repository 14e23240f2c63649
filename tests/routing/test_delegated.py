"""The delegated-routing client (routing/delegated.py) against a local HTTP server that speaks
the IPFS HTTP routing v1 spec (GET /routing/v1/providers/{cid}, JSON and NDJSON, 404 for
none), and that misbehaves on demand."""

from __future__ import annotations

import json

import pytest
from aiohttp import web

from fastswap.cid import compute_cid, to_str
from fastswap.errors import DelegatedRoutingError
from fastswap.net.multiaddr import Multiaddr
from fastswap.routing import DelegatedRouting
from tests.routing._kad import peer_ids

RUN_TIMEOUT = 20.0
CID = compute_cid(b"delegated")


def _records() -> list[dict]:
    a, b, c = peer_ids(3)
    return [
        {"Schema": "peer", "ID": str(a), "Protocols": ["transport-bitswap"],
         "Addrs": ["/ip4/127.0.0.1/tcp/4001", "/ip4/127.0.0.1/udp/4001/quic-v1"]},
        {"Schema": "peer", "ID": str(b), "Protocols": ["transport-ipfs-gateway-http"],
         "Addrs": ["/ip4/127.0.0.1/tcp/8080"]},  # no Bitswap: skipped
        {"Schema": "bitswap", "Protocol": "transport-bitswap", "ID": str(c),
         "Addrs": ["/ip4/127.0.0.1/tcp/4002"]},  # the older schema
        {"Schema": "unknown-future-thing", "ID": str(a)},
        {"Schema": "peer", "ID": "not a peer id", "Addrs": ["/ip4/127.0.0.1/tcp/1"]},
    ]


def _expected() -> list[Multiaddr]:
    a, _, c = peer_ids(3)
    return [Multiaddr.parse(f"/ip4/127.0.0.1/tcp/4001/p2p/{a}"),
            Multiaddr.parse(f"/ip4/127.0.0.1/tcp/4002/p2p/{c}")]


async def _server(mode: str) -> tuple[web.AppRunner, str]:
    seen: list[str] = []

    async def providers(request: web.Request) -> web.StreamResponse:
        seen.append(request.headers.get("Accept", ""))
        if request.match_info["cid"] != to_str(CID):
            return web.Response(status=404)
        if mode == "json":
            return web.json_response({"Providers": _records()})
        if mode == "ndjson":
            resp = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
            await resp.prepare(request)
            for r in _records():  # record by record, as a streaming endpoint sends them
                await resp.write(json.dumps(r).encode() + b"\n")
            await resp.write_eof()
            return resp
        if mode == "huge":
            return web.Response(body=b"[" + b" " * (2 << 20) + b"]",
                                content_type="application/json")
        if mode == "garbage":
            return web.Response(body=b"{not json", content_type="application/json")
        return web.Response(status=500)

    app = web.Application()
    app.router.add_get("/routing/v1/providers/{cid}", providers)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("mode", ["json", "ndjson"])
def test_providers_json_and_ndjson(run, mode: str) -> None:
    async def go() -> None:
        runner, url = await _server(mode)
        client = DelegatedRouting(url)
        try:
            assert await client.find_providers(CID) == _expected()
            assert await client.find_providers(compute_cid(b"nobody has it")) == []  # 404
        finally:
            await client.aclose()
            await runner.cleanup()

    run(go())


@pytest.mark.parametrize("mode", ["huge", "garbage", "error"])
def test_misbehaving_endpoint_is_an_error_not_a_crash(run, mode: str) -> None:
    async def go() -> None:
        runner, url = await _server(mode)
        client = DelegatedRouting(url)
        try:
            with pytest.raises(DelegatedRoutingError):
                await client.find_providers(CID)
        finally:
            await client.aclose()
            await runner.cleanup()

    run(go())


def test_unreachable_endpoint_and_bad_url(run) -> None:
    with pytest.raises(DelegatedRoutingError):
        DelegatedRouting("ftp://example.invalid")

    async def go() -> None:
        client = DelegatedRouting("http://127.0.0.1:1", timeout=5.0)
        try:
            with pytest.raises(DelegatedRoutingError):
                await client.find_providers(CID)
        finally:
            await client.aclose()

    run(go())
