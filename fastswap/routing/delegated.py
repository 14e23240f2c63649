"""Delegated content routing over HTTP: the IPFS "Delegated Routing V1 HTTP API" (ipfs/specs
``src/routing/http-routing-v1.md``), ``GET /routing/v1/providers/{cid}``.

The endpoint answers ``application/json`` (``{"Providers": [record, ...]}``) or, when asked
with ``Accept: application/x-ndjson``, one record per line as it finds them; we ask for both
and read whichever comes. 404 means no provider. A record of ``"Schema": "peer"`` carries
``ID``, ``Addrs`` and optionally ``Protocols``; the older ``"Schema": "bitswap"`` records carry
``Protocol``. Records of other schemas, of peers that do not speak Bitswap (when they say
which protocols they speak), and addresses fastswap cannot dial are skipped; what is left is
returned as ``/p2p/``-suffixed multiaddrs for the node to dial.

HTTP client: aiohttp (asyncio-native, so a query is cancelled with the task that runs it and
the event loop's uvloop does the socket work; streamed bodies let NDJSON be read record by
record). The endpoint is not trusted: the body is read up to ``DELEGATED_MAX_RESPONSE_BYTES``,
records and addresses per record are capped, and the whole request is bounded by ``timeout``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from .. import _defaults
from ..cid import to_str
from ..errors import DelegatedRoutingError, NetError
from ..net.keys import PeerId
from ..net.multiaddr import Multiaddr

__all__ = ["DelegatedRouting", "parse_record"]

log = logging.getLogger("fastswap.routing")

_BITSWAP = "transport-bitswap"
_ACCEPT = "application/x-ndjson, application/json;q=0.9"


def parse_record(record: Any, max_addrs: int = _defaults.ROUTING_MAX_ADDRS_PER_PROVIDER
                 ) -> list[Multiaddr]:
    """Dialable ``/p2p/`` multiaddrs of one provider record ([] if it is of no use to us)."""
    if not isinstance(record, dict):
        return []
    schema = record.get("Schema")
    if schema == "peer":
        protocols = record.get("Protocols")
        if isinstance(protocols, list) and protocols and _BITSWAP not in protocols:
            return []
    elif schema == "bitswap":  # the older schema: one Protocol field
        if record.get("Protocol", _BITSWAP) != _BITSWAP:
            return []
    else:
        return []
    try:
        peer = PeerId.from_string(str(record.get("ID", "")))
    except NetError:
        return []
    addrs = record.get("Addrs")
    out: list[Multiaddr] = []
    for text in addrs if isinstance(addrs, list) else []:
        if not isinstance(text, str):
            continue
        try:
            ma = Multiaddr.parse(text)
        except NetError:
            continue
        if ma.is_tcp:
            out.append(ma.with_p2p(peer))
            if len(out) >= max_addrs:
                break
    return out


class DelegatedRouting:
    """A delegated-routing endpoint, e.g. ``DelegatedRouting("http://127.0.0.1:8080")``
    (the base URL; the client adds ``/routing/v1/providers/{cid}``)."""

    def __init__(
        self,
        endpoint: str,
        *,
        timeout: float = _defaults.DELEGATED_TIMEOUT_SECONDS,
        max_bytes: int = _defaults.DELEGATED_MAX_RESPONSE_BYTES,
        max_providers: int = _defaults.ROUTING_MAX_PROVIDERS,
    ) -> None:
        if not endpoint.startswith(("http://", "https://")):
            raise DelegatedRoutingError(
                f"delegated routing endpoint {endpoint!r} must be an http:// or https:// URL")
        self.endpoint = endpoint.rstrip("/")
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.max_providers = max_providers
        self._session: Any = None

    def __repr__(self) -> str:
        return f"DelegatedRouting({self.endpoint!r})"

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> Any:
        if self._session is None:
            import aiohttp

            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout))
        return self._session

    async def find_providers(self, cid: bytes) -> list[Multiaddr]:
        """Providers of *cid* the endpoint knows ([] on 404); DelegatedRoutingError if it
        answers with an error status or a body that breaks the spec."""
        import aiohttp

        url = f"{self.endpoint}/routing/v1/providers/{to_str(cid)}"
        try:
            async with self._client().get(url, headers={"Accept": _ACCEPT}) as resp:
                if resp.status == 404:
                    return []
                if resp.status != 200:
                    raise DelegatedRoutingError(
                        f"{url} answered HTTP {resp.status}; check the endpoint")
                if resp.content_type == "application/x-ndjson":
                    return await self._read_ndjson(url, resp)
                if resp.content_type == "application/json":
                    return self._from_json(url, await self._read_body(url, resp))
                raise DelegatedRoutingError(
                    f"{url} answered {resp.content_type!r}, not JSON or NDJSON")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DelegatedRoutingError(f"delegated routing request {url} failed: "
                                        f"{exc or type(exc).__name__}") from exc

    async def _read_body(self, url: str, resp: Any) -> bytes:
        body = await resp.content.read(self.max_bytes + 1)
        if len(body) > self.max_bytes:
            raise DelegatedRoutingError(f"{url} sent more than {self.max_bytes} bytes")
        return bytes(body)

    def _from_json(self, url: str, body: bytes) -> list[Multiaddr]:
        try:
            doc = json.loads(body)
        except ValueError as exc:
            raise DelegatedRoutingError(f"{url} sent invalid JSON: {exc}") from None
        records = doc.get("Providers") if isinstance(doc, dict) else None
        if records is None:
            return []  # the spec allows null for "none"
        if not isinstance(records, list):
            raise DelegatedRoutingError(f"{url} sent Providers that is not a list")
        return self._collect(records)

    async def _read_ndjson(self, url: str, resp: Any) -> list[Multiaddr]:
        records: list[Any] = []
        budget = self.max_bytes
        buf = b""
        async for chunk in resp.content.iter_any():
            budget -= len(chunk)
            if budget < 0:
                log.info("%s: NDJSON answer cut at %d bytes", url, self.max_bytes)
                break
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                if line.strip():
                    records.append(self._ndjson_line(url, line))
            if len(records) >= self.max_providers:
                break
        else:
            if buf.strip():
                records.append(self._ndjson_line(url, buf))
        return self._collect(records)

    def _ndjson_line(self, url: str, line: bytes) -> Any:
        try:
            return json.loads(line)
        except ValueError as exc:
            raise DelegatedRoutingError(f"{url} sent an NDJSON line that is not JSON: "
                                        f"{exc}") from None

    def _collect(self, records: list[Any]) -> list[Multiaddr]:
        out: list[Multiaddr] = []
        providers = 0
        for record in records:
            addrs = parse_record(record)
            if addrs:
                out.extend(addrs)
                providers += 1
                if providers >= self.max_providers:
                    break
        return out
