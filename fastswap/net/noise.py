"""Noise XX for libp2p (``/noise``), sans-IO: libp2p/specs ``noise/README.md`` over the Noise
Protocol Framework (revision 34: sections 5 "Processing rules", 7.5 pattern XX).

Handshake ``Noise_XX_25519_ChaChaPoly_SHA256``, empty prologue::

    -> e                       (payload: empty)
    <- e, ee, s, es            (payload: responder's libp2p NoiseHandshakePayload)
    -> s, se                   (payload: initiator's libp2p NoiseHandshakePayload)

Each handshake message travels as a 2-byte big-endian length then the message. The payload
(spec "The libp2p Handshake Payload") carries the sender's libp2p identity key and its signature
over ``"noise-libp2p-static-key:" + <X25519 static public key>``, binding the Noise static key to
the peer id; optional extensions may list stream muxers (parsed, never required).

``NoiseHandshake`` is the state machine (bytes in, bytes out); when ``complete`` it yields a
``NoiseSession`` whose framing (``_noiseframe_c``/``_noiseframe_py``) encrypts and decrypts the
transport messages.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from google.protobuf.message import DecodeError

from .._compat import load_twin
from ..errors import HandshakeError, InvalidKeyError, PeerIdMismatchError
from ._noiseframe_py import MAX_FRAME, MAX_PLAINTEXT, TAG_LEN  # spec constants (C twin hides its)
from .keys import Ed25519KeyPair, PeerId, PublicKey

__all__ = [
    "MAX_FRAME",
    "MAX_PLAINTEXT",
    "NOISE_PROTOCOL_NAME",
    "PROTOCOL_ID",
    "SIGNATURE_PREFIX",
    "NoiseHandshake",
    "NoiseSession",
]

_frame = load_twin("fastswap.net._noiseframe_c", "fastswap.net._noiseframe_py")
FrameEncryptor = _frame.FrameEncryptor
FrameDecryptor = _frame.FrameDecryptor
encrypted_size = _frame.encrypted_size

PROTOCOL_ID = "/noise"
NOISE_PROTOCOL_NAME = b"Noise_XX_25519_ChaChaPoly_SHA256"
SIGNATURE_PREFIX = b"noise-libp2p-static-key:"
_DHLEN = 32
_HASHLEN = 32
#: A handshake payload holds a key (<= ~1.2 KB for RSA), a signature and a few muxer names.
_MAX_PAYLOAD = 16 * 1024


def _x25519_public(key: X25519PrivateKey) -> bytes:
    return key.public_key().public_bytes_raw()


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def _hkdf2(ck: bytes, ikm: bytes) -> tuple[bytes, bytes]:
    """The Noise HKDF (section 4.3) with two outputs."""
    temp = _hmac(ck, ikm)
    out1 = _hmac(temp, b"\x01")
    out2 = _hmac(temp, out1 + b"\x02")
    return out1, out2


def _nonce(n: int) -> bytes:
    return b"\x00\x00\x00\x00" + n.to_bytes(8, "little")


class _SymmetricState:
    """Noise section 5.2: chaining key, handshake hash and the handshake CipherState."""

    def __init__(self) -> None:
        # the protocol name is exactly HASHLEN bytes, so h starts as the name itself
        assert len(NOISE_PROTOCOL_NAME) == _HASHLEN
        self.h = NOISE_PROTOCOL_NAME
        self.ck = self.h
        self._aead: ChaCha20Poly1305 | None = None
        self._n = 0

    def mix_hash(self, data: bytes) -> None:
        self.h = hashlib.sha256(self.h + data).digest()

    def mix_key(self, ikm: bytes) -> None:
        self.ck, temp_k = _hkdf2(self.ck, ikm)
        self._aead = ChaCha20Poly1305(temp_k)
        self._n = 0

    def encrypt_and_hash(self, plaintext: bytes) -> bytes:
        if self._aead is None:
            out = plaintext
        else:
            out = self._aead.encrypt(_nonce(self._n), plaintext, self.h)
            self._n += 1
        self.mix_hash(out)
        return out

    def decrypt_and_hash(self, ciphertext: bytes, what: str) -> bytes:
        if self._aead is None:
            out = ciphertext
        else:
            try:
                out = self._aead.decrypt(_nonce(self._n), ciphertext, self.h)
            except InvalidTag:
                raise HandshakeError(
                    f"Noise handshake: the peer's {what} failed authentication (corrupted "
                    "message, or not a Noise XX peer)"
                ) from None
            self._n += 1
        self.mix_hash(ciphertext)
        return out

    def split(self) -> tuple[bytes, bytes]:
        return _hkdf2(self.ck, b"")


def _dh(private: X25519PrivateKey, public: bytes) -> bytes:
    try:
        return private.exchange(X25519PublicKey.from_public_bytes(public))
    except ValueError:
        # cryptography refuses an all-zero shared secret (a low-order point): a hostile key
        raise HandshakeError("Noise handshake: the peer sent an invalid X25519 key") from None


class NoiseHandshake:
    """One side of the libp2p Noise XX handshake.

    Usage: ``out = hs.initiate()`` (the initiator's first message; empty for the responder), then
    for each chunk received ``out = hs.receive_data(chunk)``, sending ``out`` every time, until
    ``hs.complete``. Then ``hs.remote_peer`` is the authenticated peer id and
    ``hs.session()`` the transport; bytes that followed the last handshake message are in
    ``hs.unused`` (pass them to ``session.decrypt`` first).

    ``expected_peer`` (the ``/p2p/`` id a dialer asked for) makes a different authenticated peer a
    ``PeerIdMismatchError``. ``stream_muxers`` are advertised in the payload extensions;
    leave it empty unless the host applies the spec's early muxer selection
    (``selected_muxer``), since a peer that sees both lists skips multistream for the muxer.
    """

    def __init__(
        self,
        identity: Ed25519KeyPair,
        *,
        initiator: bool,
        expected_peer: PeerId | None = None,
        stream_muxers: Sequence[str] = (),
        static_key: X25519PrivateKey | None = None,
    ) -> None:
        self.identity = identity
        self.initiator = initiator
        self.expected_peer = expected_peer
        self.stream_muxers = list(stream_muxers)
        self._s = static_key or X25519PrivateKey.generate()
        self._s_pub = _x25519_public(self._s)
        self._e = X25519PrivateKey.generate()
        self._e_pub = _x25519_public(self._e)
        self._re: bytes | None = None
        self._rs: bytes | None = None
        self._ss = _SymmetricState()
        self._ss.mix_hash(b"")  # the empty prologue
        self._buf = bytearray()
        # the index of the next handshake message (0, 1, 2); 3 = done
        self._step = 0
        self._started = False
        self._failed = False
        self.remote_peer: PeerId | None = None
        self.remote_public_key: PublicKey | None = None
        self.remote_stream_muxers: list[str] = []
        self._keys: tuple[bytes, bytes] | None = None

    # -- public --------------------------------------------------------------------------------

    @property
    def complete(self) -> bool:
        return self._step == 3

    @property
    def handshake_hash(self) -> bytes:
        return self._ss.h

    @property
    def unused(self) -> bytes:
        out = bytes(self._buf)
        self._buf.clear()
        return out

    def initiate(self) -> bytes:
        if self._started:
            raise HandshakeError("initiate() was already called")
        self._started = True
        if not self.initiator:
            return b""
        # -> e (empty payload)
        self._ss.mix_hash(self._e_pub)
        msg = self._e_pub + self._ss.encrypt_and_hash(b"")
        self._step = 1
        return _frame_msg(msg)

    def receive_data(self, data: bytes | bytearray | memoryview) -> bytes:
        if not self._started:
            self.initiate()
        if self._failed:
            raise HandshakeError("the handshake already failed; close the connection")
        if self.complete:
            raise HandshakeError("the handshake is complete; give further bytes to the session")
        self._buf += data
        out = bytearray()
        try:
            while not self.complete and len(self._buf) >= 2:
                length = (self._buf[0] << 8) | self._buf[1]
                if len(self._buf) < 2 + length:
                    break
                msg = bytes(self._buf[2 : 2 + length])
                del self._buf[: 2 + length]
                out += self._on_message(msg)
        except Exception:
            self._failed = True
            raise
        return bytes(out)

    def session(self, buffer_pool: object = None) -> NoiseSession:
        """The transport; *buffer_pool* (a ``resources.BufferPool``) lends its receive buffers."""
        if self._keys is None:
            raise HandshakeError("the handshake is not complete")
        k1, k2 = self._keys
        send, recv = (k1, k2) if self.initiator else (k2, k1)
        return NoiseSession(send, recv, buffer_pool)

    def selected_muxer(self, local_preference: Sequence[str] | None = None) -> str | None:
        """Early muxer negotiation (libp2p/specs connections "Early Multiplexer Negotiation"):
        the initiator's first muxer that the responder also lists, or None."""
        ours = list(local_preference if local_preference is not None else self.stream_muxers)
        theirs = self.remote_stream_muxers
        if not ours or not theirs:
            return None
        first, second = (ours, theirs) if self.initiator else (theirs, ours)
        for m in first:
            if m in second:
                return m
        return None

    # -- the three messages --------------------------------------------------------------------

    def _on_message(self, msg: bytes) -> bytes:
        ss = self._ss
        if self.initiator:
            if self._step != 1:
                raise HandshakeError("Noise handshake: unexpected message from the responder")
            # <- e, ee, s, es
            if len(msg) < _DHLEN + _DHLEN + TAG_LEN + TAG_LEN:
                raise HandshakeError(
                    f"Noise handshake: the responder's message of {len(msg)} bytes is too short "
                    "(is it speaking /noise?)"
                )
            self._re = msg[:_DHLEN]
            ss.mix_hash(self._re)
            ss.mix_key(_dh(self._e, self._re))
            self._rs = ss.decrypt_and_hash(msg[_DHLEN : 2 * _DHLEN + TAG_LEN], "static key")
            ss.mix_key(_dh(self._e, self._rs))
            payload = ss.decrypt_and_hash(msg[2 * _DHLEN + TAG_LEN :], "handshake payload")
            self._verify_payload(payload)
            # -> s, se
            enc_s = ss.encrypt_and_hash(self._s_pub)
            ss.mix_key(_dh(self._s, self._re))
            enc_payload = ss.encrypt_and_hash(self._make_payload())
            self._keys = ss.split()
            self._step = 3
            return _frame_msg(enc_s + enc_payload)
        if self._step == 0:
            # -> e
            if len(msg) < _DHLEN:
                raise HandshakeError(
                    f"Noise handshake: the initiator's first message of {len(msg)} bytes is too "
                    "short (is it speaking /noise?)"
                )
            self._re = msg[:_DHLEN]
            ss.mix_hash(self._re)
            ss.decrypt_and_hash(msg[_DHLEN:], "first payload")  # libp2p sends it empty
            # <- e, ee, s, es
            ss.mix_hash(self._e_pub)
            ss.mix_key(_dh(self._e, self._re))
            enc_s = ss.encrypt_and_hash(self._s_pub)
            ss.mix_key(_dh(self._s, self._re))
            enc_payload = ss.encrypt_and_hash(self._make_payload())
            self._step = 2
            return _frame_msg(self._e_pub + enc_s + enc_payload)
        if self._step == 2:
            # -> s, se
            if len(msg) < _DHLEN + TAG_LEN + TAG_LEN:
                raise HandshakeError(
                    f"Noise handshake: the initiator's final message of {len(msg)} bytes is too "
                    "short"
                )
            self._rs = ss.decrypt_and_hash(msg[: _DHLEN + TAG_LEN], "static key")
            assert self._re is not None
            ss.mix_key(_dh(self._e, self._rs))
            payload = ss.decrypt_and_hash(msg[_DHLEN + TAG_LEN :], "handshake payload")
            self._verify_payload(payload)
            self._keys = ss.split()
            self._step = 3
            return b""
        raise HandshakeError("Noise handshake: unexpected message")  # pragma: no cover

    # -- the libp2p payload --------------------------------------------------------------------

    def _make_payload(self) -> bytes:
        from .._proto import noise_pb2

        msg = noise_pb2.NoiseHandshakePayload(
            identity_key=self.identity.public_key.to_protobuf(),
            identity_sig=self.identity.sign(SIGNATURE_PREFIX + self._s_pub),
        )
        if self.stream_muxers:
            msg.extensions.stream_muxers.extend(self.stream_muxers)
        return msg.SerializeToString()

    def _verify_payload(self, payload: bytes) -> None:
        from .._proto import noise_pb2

        if len(payload) > _MAX_PAYLOAD:
            raise HandshakeError(f"Noise handshake payload of {len(payload)} bytes is too large")
        msg = noise_pb2.NoiseHandshakePayload()
        try:
            msg.ParseFromString(payload)
        except DecodeError as exc:
            raise HandshakeError(f"Noise handshake payload is not a valid protobuf: {exc}") from None
        if not msg.HasField("identity_key") or not msg.HasField("identity_sig"):
            raise HandshakeError("Noise handshake payload lacks the identity key or signature")
        try:
            key = PublicKey.from_protobuf(msg.identity_key)
        except InvalidKeyError as exc:
            raise HandshakeError(f"Noise handshake: the peer's identity key is unusable: {exc}")
        assert self._rs is not None
        if not key.verify(SIGNATURE_PREFIX + self._rs, msg.identity_sig):
            raise HandshakeError(
                "Noise handshake: the peer's signature over its static key does not verify; the "
                "peer is not who its key says"
            )
        peer = PeerId.from_public_key(key)
        if self.expected_peer is not None and peer != self.expected_peer:
            raise PeerIdMismatchError(
                f"dialled {self.expected_peer} but the peer authenticated as {peer}; check the "
                "/p2p/ part of the address"
            )
        self.remote_public_key = key
        self.remote_peer = peer
        if msg.HasField("extensions"):
            self.remote_stream_muxers = [m for m in msg.extensions.stream_muxers][:64]


def _frame_msg(msg: bytes) -> bytes:
    if len(msg) > MAX_FRAME:
        raise HandshakeError(f"Noise handshake message of {len(msg)} bytes is over {MAX_FRAME}")
    return len(msg).to_bytes(2, "big") + msg


class NoiseSession:
    """The transport phase: ``encrypt`` plaintext into frames, ``decrypt`` received bytes.

    ``decrypt`` (and ``get_buffer``/``buffer_updated`` for an asyncio BufferedProtocol) return a
    memoryview that is valid only until the next receive call.
    """

    __slots__ = ("decryptor", "encryptor")

    def __init__(self, send_key: bytes, recv_key: bytes, buffer_pool: object = None) -> None:
        self.encryptor = FrameEncryptor(ChaCha20Poly1305(send_key))
        self.decryptor = FrameDecryptor(ChaCha20Poly1305(recv_key), pool=buffer_pool)

    def encrypt(self, data: bytes | bytearray | memoryview) -> bytearray:
        return self.encryptor.encrypt(data)

    def encrypt_into(self, data: bytes | bytearray | memoryview, out: bytearray) -> int:
        return self.encryptor.encrypt_into(data, out)

    def decrypt(self, data: bytes | bytearray | memoryview) -> memoryview:
        return self.decryptor.feed(data)

    def get_buffer(self, sizehint: int = -1) -> memoryview:
        return self.decryptor.get_buffer(sizehint)

    def buffer_updated(self, nbytes: int) -> memoryview:
        return self.decryptor.buffer_updated(nbytes)

    def release(self) -> None:
        """Give the receive buffers back while the connection is idle."""
        self.decryptor.release()

    @property
    def holds_buffers(self) -> bool:
        return self.decryptor.holds_buffers

    @property
    def pending(self) -> int:
        return self.decryptor.pending
