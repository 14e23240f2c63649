"""asyncio glue for the security upgrade: libp2p/specs ``connections/README.md`` ("Upgrading
Connections"): multistream-select ``/noise`` on the raw TCP stream, then the Noise XX handshake
(``noise.py``), giving a ``SecureConnection`` that reads and writes plaintext.

The protocol logic lives in the sans-IO cores (``multistream.py``, ``noise.py``); this module only
moves their bytes over an ``asyncio.StreamReader``/``StreamWriter`` pair, with a deadline on the
whole upgrade so a silent or slow peer cannot hold a connection open. It works on any asyncio
loop (stock or uvloop). The next layer (multistream ``/yamux/1.0.0`` then yamux) runs on top of
``SecureConnection``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence

from ..errors import HandshakeError, NetError, NoiseError
from .keys import Ed25519KeyPair, PeerId, PublicKey
from .multistream import MultistreamDialer, MultistreamListener
from .noise import PROTOCOL_ID as NOISE_PROTOCOL_ID
from .noise import NoiseHandshake, NoiseSession

__all__ = [
    "DEFAULT_UPGRADE_TIMEOUT",
    "SecureConnection",
    "negotiate_inbound",
    "negotiate_outbound",
    "secure_inbound",
    "secure_outbound",
]

#: Seconds for multistream + Noise handshake together (go-libp2p allows 15 s for the upgrade).
DEFAULT_UPGRADE_TIMEOUT = 15.0
#: Bytes asked of the socket per read.
READ_SIZE = 256 * 1024


async def _read_some(reader: asyncio.StreamReader, what: str) -> bytes:
    data = await reader.read(READ_SIZE)
    if not data:
        raise NetError(f"the peer closed the connection during {what}")
    return data


async def _negotiate(
    side: MultistreamDialer | MultistreamListener,
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
) -> tuple[str, bytes]:
    writer.write(side.initiate())
    while not side.done:
        out = side.receive_data(await _read_some(reader, "protocol negotiation"))
        if out:
            writer.write(out)
    assert side.selected is not None
    return side.selected, side.unused


async def negotiate_outbound(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, protocols: Sequence[str]
) -> tuple[str, bytes]:
    """Propose *protocols* (multistream-select dialer); return (selected, bytes read past it)."""
    return await _negotiate(MultistreamDialer(protocols), reader, writer)


async def negotiate_inbound(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, supported: Collection[str]
) -> tuple[str, bytes]:
    """Answer proposals (multistream-select listener); return (selected, bytes read past it)."""
    return await _negotiate(MultistreamListener(supported), reader, writer)


class SecureConnection:
    """A Noise-secured connection: ``read()`` returns plaintext, ``write()`` encrypts."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        session: NoiseSession,
        handshake: NoiseHandshake,
        early: bytes,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self.session = session
        assert handshake.remote_peer is not None and handshake.remote_public_key is not None
        self.remote_peer: PeerId = handshake.remote_peer
        self.remote_public_key: PublicKey = handshake.remote_public_key
        self.local_peer: PeerId = handshake.identity.peer_id
        self.remote_stream_muxers = handshake.remote_stream_muxers
        # ciphertext that arrived with the last handshake message
        self._early = early
        self._eof = False

    async def read(self) -> bytes:
        """The next plaintext available (at least one byte), or b"" at a clean end of stream."""
        while True:
            if self._early:
                data, self._early = self._early, b""
            else:
                if self._eof:
                    return b""
                data = await self._reader.read(READ_SIZE)
                if not data:
                    self._eof = True
                    if self.session.pending:
                        raise NoiseError(
                            "the peer closed the connection in the middle of a Noise frame"
                        )
                    return b""
            plain = self.session.decrypt(data)
            if len(plain):
                return bytes(plain)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if len(data):
            self._writer.write(self.session.encrypt(data))

    def writelines(self, chunks: Sequence[bytes | bytearray | memoryview]) -> None:
        """Encrypt several chunks together, so small muxer frames share Noise frames."""
        self.write(b"".join(chunks))

    async def drain(self) -> None:
        await self._writer.drain()

    def close(self) -> None:
        self._writer.close()

    async def wait_closed(self) -> None:
        try:
            await self._writer.wait_closed()
        except (ConnectionError, OSError):
            pass

    def get_extra_info(self, name: str, default: object = None) -> object:
        return self._writer.get_extra_info(name, default)


async def _handshake(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    hs: NoiseHandshake,
    early: bytes,
) -> SecureConnection:
    out = hs.initiate()
    if out:
        writer.write(out)
    data = early
    while not hs.complete:
        if not data:
            data = await _read_some(reader, "the Noise handshake")
        out = hs.receive_data(data)
        data = b""
        if out:
            writer.write(out)
    await writer.drain()
    return SecureConnection(reader, writer, hs.session(), hs, hs.unused)


async def secure_outbound(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    local_key: Ed25519KeyPair,
    expected_peer: PeerId | None = None,
    *,
    timeout: float = DEFAULT_UPGRADE_TIMEOUT,
) -> SecureConnection:
    """Dialer side: negotiate ``/noise`` and run the handshake as initiator.

    ``expected_peer`` (from the address's ``/p2p/`` part) makes any other authenticated peer a
    ``PeerIdMismatchError``. Raises ``NegotiationError``, ``HandshakeError`` (also on timeout) or
    ``NetError`` (connection closed); the caller closes the writer on error.
    """
    try:
        async with asyncio.timeout(timeout):
            _, early = await negotiate_outbound(reader, writer, [NOISE_PROTOCOL_ID])
            hs = NoiseHandshake(local_key, initiator=True, expected_peer=expected_peer)
            return await _handshake(reader, writer, hs, early)
    except TimeoutError:
        raise HandshakeError(
            f"security upgrade did not finish within {timeout} s; the peer is too slow or is "
            "not a libp2p node"
        ) from None
    except (ConnectionError, OSError) as exc:
        raise NetError(f"connection failed during the security upgrade: {exc}") from exc


async def secure_inbound(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    local_key: Ed25519KeyPair,
    *,
    timeout: float = DEFAULT_UPGRADE_TIMEOUT,
) -> SecureConnection:
    """Listener side: answer multistream with ``/noise`` and run the handshake as responder."""
    try:
        async with asyncio.timeout(timeout):
            _, early = await negotiate_inbound(reader, writer, {NOISE_PROTOCOL_ID})
            hs = NoiseHandshake(local_key, initiator=False)
            return await _handshake(reader, writer, hs, early)
    except TimeoutError:
        raise HandshakeError(
            f"security upgrade did not finish within {timeout} s; the peer is too slow or is "
            "not a libp2p node"
        ) from None
    except (ConnectionError, OSError) as exc:
        raise NetError(f"connection failed during the security upgrade: {exc}") from exc
