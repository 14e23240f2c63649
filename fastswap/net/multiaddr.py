"""Multiaddrs: the text and binary forms of multiformats/multiaddr (README "Specification",
``protocols.csv``), for the subset a TCP libp2p node needs.

Why our own: ``multiformats.multiaddr`` 0.3.1 has no ``p2p`` and no ``dns``/``dns4``/``dns6``
implementations, and every address we dial or announce carries one of those.

Dialable here: ``/ip4|ip6|dns|dns4|dns6/<host>/tcp/<port>`` with an optional ``/p2p/<peer id>``.
Other common protocols (udp, quic-v1, ws, tls, p2p-circuit, ...) are understood too, so that an
identify message listing a peer's QUIC or WebSocket addresses decodes cleanly; they just are not
dialable by this stack. A protocol outside the table is a ``MultiaddrError`` naming it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from .. import varint
from ..errors import InvalidPeerIdError, MultiaddrError, VarintError
from .keys import PeerId

__all__ = ["TCP_HOST_PROTOCOLS", "Multiaddr", "parse_multiaddr"]

Value = str | int | PeerId | bytes | None

# name -> (code, size) with size in bits: >0 fixed, -1 length-prefixed, 0 no value
_PROTOCOLS: dict[str, tuple[int, int]] = {
    "ip4": (4, 32),
    "tcp": (6, 16),
    "dccp": (33, 16),
    "ip6": (41, 128),
    "dns": (53, -1),
    "dns4": (54, -1),
    "dns6": (55, -1),
    "dnsaddr": (56, -1),
    "udp": (273, 16),
    "p2p-webrtc-direct": (276, 0),
    "webrtc-direct": (280, 0),
    "webrtc": (281, 0),
    "p2p-circuit": (290, 0),
    "p2p": (421, -1),
    "tls": (448, 0),
    "sni": (449, -1),
    "noise": (454, 0),
    "quic": (460, 0),
    "quic-v1": (461, 0),
    "webtransport": (465, 0),
    "certhash": (466, -1),
    "ws": (477, 0),
    "wss": (478, 0),
    "http": (480, 0),
}
_BY_CODE = {code: (name, size) for name, (code, size) in _PROTOCOLS.items()}
_ALIASES = {"ipfs": "p2p"}  # the old name of /p2p, still seen in configs
#: Host protocols that, followed by /tcp/N, make an address this stack can dial.
TCP_HOST_PROTOCOLS = ("ip4", "ip6", "dns", "dns4", "dns6")
#: Longest multiaddr accepted (text or binary): real ones are < 300 bytes.
MAX_MULTIADDR_LENGTH = 1024


def _parse_value(name: str, text: str) -> Value:
    try:
        if name == "ip4":
            return str(ipaddress.IPv4Address(text))
        if name == "ip6":
            return str(ipaddress.IPv6Address(text))
        if name in ("tcp", "udp", "dccp"):
            if not text.isdigit():
                raise ValueError(f"port {text!r} is not a number")
            port = int(text)
            if port > 65535:
                raise ValueError(f"port {port} is over 65535")
            return port
        if name == "p2p":
            return PeerId.from_string(text)
        if name == "certhash":
            from multiformats import multibase

            return multibase.decode(text)
        if not text or "/" in text:
            raise ValueError(f"empty or invalid {name} value")
        return text  # dns names, sni
    except (ValueError, InvalidPeerIdError) as exc:
        raise MultiaddrError(f"bad /{name} value {text!r}: {exc}") from None


def _value_to_bytes(name: str, value: Value) -> bytes:
    if name in ("ip4", "ip6"):
        assert isinstance(value, str)
        return ipaddress.ip_address(value).packed
    if name in ("tcp", "udp", "dccp"):
        assert isinstance(value, int)
        return value.to_bytes(2, "big")
    if name == "p2p":
        assert isinstance(value, PeerId)
        raw = value.multihash
    elif isinstance(value, bytes):
        raw = value
    else:
        assert isinstance(value, str)
        raw = value.encode()
    return varint.encode(len(raw)) + raw


def _value_to_text(name: str, value: Value) -> str:
    if name == "certhash":
        from multiformats import multibase

        assert isinstance(value, bytes)
        return multibase.encode(value, "base64url")
    return str(value)


@dataclass(frozen=True)
class Multiaddr:
    """An immutable multiaddr: a tuple of (protocol name, value) parts.

    Values: ip4/ip6 and dns names as ``str``, ports as ``int``, ``/p2p`` as a ``PeerId``,
    certhash as ``bytes``, ``None`` for protocols without a value.
    """

    parts: tuple[tuple[str, Value], ...]

    # -- parsing -------------------------------------------------------------------------------

    @classmethod
    def parse(cls, text: str) -> Multiaddr:
        if not isinstance(text, str):
            raise MultiaddrError(f"a multiaddr string is needed, got {type(text).__name__}")
        if len(text) > MAX_MULTIADDR_LENGTH:
            raise MultiaddrError(f"multiaddr of {len(text)} characters is too long")
        if not text.startswith("/"):
            raise MultiaddrError(f"multiaddr {text!r} must start with '/'")
        tokens = text.rstrip("/").split("/")[1:]
        if not tokens:
            raise MultiaddrError("empty multiaddr")
        parts: list[tuple[str, Value]] = []
        i = 0
        while i < len(tokens):
            name = _ALIASES.get(tokens[i], tokens[i])
            if name not in _PROTOCOLS:
                raise MultiaddrError(
                    f"unsupported multiaddr protocol /{tokens[i]} in {text!r}; fastswap dials "
                    "/ip4, /ip6, /dns, /dns4, /dns6 + /tcp, optionally with /p2p"
                )
            size = _PROTOCOLS[name][1]
            if size == 0:
                parts.append((name, None))
                i += 1
                continue
            if i + 1 >= len(tokens):
                raise MultiaddrError(f"/{name} needs a value in {text!r}")
            parts.append((name, _parse_value(name, tokens[i + 1])))
            i += 2
        return cls(tuple(parts))

    @classmethod
    def from_bytes(cls, raw: bytes | bytearray | memoryview) -> Multiaddr:
        raw = bytes(raw)
        if len(raw) > MAX_MULTIADDR_LENGTH:
            raise MultiaddrError(f"binary multiaddr of {len(raw)} bytes is too long")
        if not raw:
            raise MultiaddrError("empty binary multiaddr")
        parts: list[tuple[str, Value]] = []
        pos = 0
        try:
            while pos < len(raw):
                code, pos = varint.decode(raw, pos)
                if code not in _BY_CODE:
                    raise MultiaddrError(f"unsupported multiaddr protocol code {code} (0x{code:x})")
                name, size = _BY_CODE[code]
                if size == 0:
                    parts.append((name, None))
                    continue
                if size > 0:
                    n = size // 8
                else:
                    n, pos = varint.decode(raw, pos)
                if pos + n > len(raw):
                    raise MultiaddrError(f"binary multiaddr truncated in /{name}")
                chunk = raw[pos : pos + n]
                pos += n
                value: Value
                if name in ("ip4", "ip6"):
                    value = str(ipaddress.ip_address(chunk))
                elif size == 16:
                    value = int.from_bytes(chunk, "big")
                elif name == "p2p":
                    value = PeerId.from_bytes(chunk)
                elif name == "certhash":
                    value = chunk
                else:
                    try:
                        value = chunk.decode()
                    except UnicodeDecodeError:
                        raise MultiaddrError(f"/{name} value is not UTF-8") from None
                    if not value or "/" in value:
                        raise MultiaddrError(f"bad /{name} value {value!r}")
                parts.append((name, value))
        except (VarintError, InvalidPeerIdError) as exc:
            raise MultiaddrError(f"malformed binary multiaddr: {exc}") from None
        return cls(tuple(parts))

    # -- forms ---------------------------------------------------------------------------------

    def __str__(self) -> str:
        out = []
        for name, value in self.parts:
            out.append("/" + name)
            if value is not None:
                out.append("/" + _value_to_text(name, value))
        return "".join(out)

    def __bytes__(self) -> bytes:
        out = bytearray()
        for name, value in self.parts:
            out += varint.encode(_PROTOCOLS[name][0])
            if value is not None:
                out += _value_to_bytes(name, value)
        return bytes(out)

    def to_bytes(self) -> bytes:
        return bytes(self)

    def __repr__(self) -> str:
        return f"Multiaddr({str(self)!r})"

    # -- helpers for dialing -------------------------------------------------------------------

    @property
    def peer_id(self) -> PeerId | None:
        """The trailing ``/p2p/<id>``, if any."""
        if self.parts and self.parts[-1][0] == "p2p":
            value = self.parts[-1][1]
            assert isinstance(value, PeerId)
            return value
        return None

    def without_p2p(self) -> Multiaddr:
        if self.peer_id is None:
            return self
        return Multiaddr(self.parts[:-1])

    def with_p2p(self, peer: PeerId) -> Multiaddr:
        return Multiaddr(self.without_p2p().parts + (("p2p", peer),))

    def tcp_address(self) -> tuple[str, int]:
        """``(host, port)`` to dial, for ``/<ip4|ip6|dns*>/<host>/tcp/<port>[/p2p/<id>]``."""
        parts = self.without_p2p().parts
        if (
            len(parts) != 2
            or parts[0][0] not in TCP_HOST_PROTOCOLS
            or parts[1][0] != "tcp"
        ):
            raise MultiaddrError(
                f"{self} is not a TCP address fastswap can dial; use "
                "/ip4/<addr>/tcp/<port>, /ip6/..., or /dns4/<name>/tcp/<port>"
            )
        host, port = parts[0][1], parts[1][1]
        assert isinstance(host, str) and isinstance(port, int)
        return host, port

    @property
    def is_tcp(self) -> bool:
        try:
            self.tcp_address()
        except MultiaddrError:
            return False
        return True


def parse_multiaddr(value: Multiaddr | str | bytes) -> Multiaddr:
    """A Multiaddr from text, binary bytes or a Multiaddr."""
    if isinstance(value, Multiaddr):
        return value
    if isinstance(value, str):
        return Multiaddr.parse(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return Multiaddr.from_bytes(value)
    raise MultiaddrError(f"not a multiaddr: {value!r}")
