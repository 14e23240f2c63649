"""Noise XX for libp2p (libp2p/specs noise/README.md): handshake, framing twins, hostile input.

The handshake is checked against ``noiseprotocol``, an independent implementation of the Noise
framework, in both roles, so our state machine is not only tested against itself.
"""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from noise.connection import Keypair, NoiseConnection

from fastswap._proto import noise_pb2
from fastswap.errors import HandshakeError, NoiseError, NonceExhaustedError, PeerIdMismatchError
from fastswap.net.keys import Ed25519KeyPair
from fastswap.net.noise import SIGNATURE_PREFIX, NoiseHandshake
from fastswap.net.resources import BufferPool
from tests.conftest import import_twin, twin_params


@pytest.fixture(params=twin_params("fastswap.net._noiseframe_c", "fastswap.net._noiseframe_py"))
def nf(request):
    return import_twin(request.param)


def pair(nf):
    key = os.urandom(32)
    return nf.FrameEncryptor(ChaCha20Poly1305(key)), nf.FrameDecryptor(ChaCha20Poly1305(key))


# -- framing -----------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 65518, 65519, 65520, 2 * 65519, 300_001])
def test_frame_split_and_roundtrip(nf, size: int) -> None:
    enc, dec = pair(nf)
    data = os.urandom(size)
    wire = enc.encrypt(data)
    assert len(wire) == nf.encrypted_size(size)
    # walk the frames: every length prefix is <= 65535 and the plaintext split at 65519
    pos, frames = 0, []
    while pos < len(wire):
        n = int.from_bytes(wire[pos : pos + 2], "big")
        assert 16 <= n <= 65535
        frames.append(n - 16)
        pos += 2 + n
    assert pos == len(wire) and sum(frames) == size
    assert all(f == 65519 for f in frames[:-1])
    assert bytes(dec.feed(wire)) == data
    assert enc.nonce == dec.nonce == len(frames)


@pytest.mark.parametrize("step", [1, 2, 3, 17, 65537, 100_000])
def test_feed_in_arbitrary_pieces(nf, step: int) -> None:
    enc, dec = pair(nf)
    data = os.urandom(200_000) if step > 1 else os.urandom(70_000)
    wire = bytes(enc.encrypt(data) + enc.encrypt(b"tail"))
    got = bytearray()
    for i in range(0, len(wire), step):
        got += dec.feed(wire[i : i + step])
    assert got == data + b"tail" and dec.pending == 0


def test_buffered_protocol_path(nf) -> None:
    enc, dec = pair(nf)
    data = os.urandom(500_000)
    wire = enc.encrypt(data)
    got, pos, sizes = bytearray(), 0, [1, 5000, 70000, 3, 131072]
    i = 0
    while pos < len(wire):
        buf = dec.get_buffer(-1)
        n = min(len(buf), sizes[i % len(sizes)], len(wire) - pos)
        buf[:n] = wire[pos : pos + n]
        pos += n
        i += 1
        got += dec.buffer_updated(n)
    assert got == data


@pytest.mark.parametrize("pooled", [False, True])
def test_release_between_reads_keeps_partial_frames(nf, pooled: bool) -> None:
    """release() after every read (an idle connection gives its buffers back): partial frames
    survive as copies, the buffers go back to the pool and come out again, and the plaintext
    is the same as without releasing."""
    key = os.urandom(32)
    pool = BufferPool(256 * 1024, 4) if pooled else None
    enc = nf.FrameEncryptor(ChaCha20Poly1305(key))
    dec = nf.FrameDecryptor(ChaCha20Poly1305(key), pool=pool)
    assert not dec.holds_buffers
    data = os.urandom(400_000)
    wire = enc.encrypt(data)
    got, pos, sizes = bytearray(), 0, [1, 5000, 70000, 3, 131072, 65537]
    i = 0
    while pos < len(wire):
        buf = dec.get_buffer(-1)
        assert dec.holds_buffers
        n = min(len(buf), sizes[i % len(sizes)], len(wire) - pos)
        buf[:n] = wire[pos : pos + n]
        pos += n
        i += 1
        got += dec.buffer_updated(n)
        dec.release()
        assert not dec.holds_buffers
        if pooled:
            assert pool.spare >= 1
    assert got == data and dec.pending == 0
    # feed() after a release with a partial frame held
    tail = enc.encrypt(b"x" * 1000)
    dec.feed(tail[:10])
    dec.release()
    assert dec.pending == 10
    assert bytes(dec.feed(tail[10:])) == b"x" * 1000


def test_pool_refuses_too_small_buffers(nf) -> None:
    with pytest.raises(NoiseError):
        nf.FrameDecryptor(ChaCha20Poly1305(os.urandom(32)), pool=BufferPool(1000, 1))


def test_encrypt_into_caller_buffer(nf) -> None:
    enc, dec = pair(nf)
    out = bytearray(nf.encrypted_size(1000) + 10)
    n = enc.encrypt_into(b"x" * 1000, out)
    assert n == nf.encrypted_size(1000)
    assert bytes(dec.feed(out[:n])) == b"x" * 1000
    with pytest.raises(NoiseError, match="too small"):
        enc.encrypt_into(b"x" * 1000, bytearray(100))


def test_tampered_frame_is_noise_error(nf) -> None:
    enc, dec = pair(nf)
    wire = bytearray(enc.encrypt(b"secret data"))
    wire[5] ^= 0x01
    with pytest.raises(NoiseError, match="tampered"):
        dec.feed(wire)


def test_reordered_frames_fail(nf) -> None:
    enc, dec = pair(nf)
    a, b = enc.encrypt(b"one"), enc.encrypt(b"two")
    with pytest.raises(NoiseError):
        dec.feed(b + a)


def test_short_frame_is_noise_error(nf) -> None:
    _, dec = pair(nf)
    with pytest.raises(NoiseError, match="shorter than its 16-byte tag"):
        dec.feed(b"\x00\x05hello")


def test_truncated_frame_waits_then_reports_pending(nf) -> None:
    enc, dec = pair(nf)
    wire = enc.encrypt(b"z" * 100)
    assert bytes(dec.feed(wire[:-1])) == b""
    assert dec.pending == len(wire) - 1
    assert bytes(dec.feed(wire[-1:])) == b"z" * 100


def test_nonce_exhaustion(nf) -> None:
    enc, dec = pair(nf)
    enc.nonce = 2**64 - 2
    dec.nonce = 2**64 - 2
    assert bytes(dec.feed(enc.encrypt(b"last"))) == b"last"
    with pytest.raises(NonceExhaustedError):
        enc.encrypt(b"one too many")
    with pytest.raises(NonceExhaustedError):
        dec.feed(b"\x00\x10" + bytes(16))


# -- handshake ---------------------------------------------------------------------------------


def handshake(i: NoiseHandshake, r: NoiseHandshake) -> None:
    m1 = i.initiate()
    assert r.initiate() == b""
    m2 = r.receive_data(m1)
    m3 = i.receive_data(m2)
    assert r.receive_data(m3) == b""


def test_handshake_and_session() -> None:
    a, b = Ed25519KeyPair.generate(), Ed25519KeyPair.generate()
    i = NoiseHandshake(a, initiator=True, expected_peer=b.peer_id, stream_muxers=["/yamux/1.0.0"])
    r = NoiseHandshake(b, initiator=False, stream_muxers=["/mplex/6.7.0", "/yamux/1.0.0"])
    handshake(i, r)
    assert i.complete and r.complete
    assert i.remote_peer == b.peer_id and r.remote_peer == a.peer_id
    assert i.handshake_hash == r.handshake_hash
    assert r.remote_stream_muxers == ["/yamux/1.0.0"]
    assert i.selected_muxer() == r.selected_muxer() == "/yamux/1.0.0"
    si, sr = i.session(), r.session()
    data = os.urandom(150_000)
    assert bytes(sr.decrypt(si.encrypt(data))) == data
    assert bytes(si.decrypt(sr.encrypt(b"back"))) == b"back"


def test_handshake_bytes_one_at_a_time_and_early_data() -> None:
    a, b = Ed25519KeyPair.generate(), Ed25519KeyPair.generate()
    i, r = NoiseHandshake(a, initiator=True), NoiseHandshake(b, initiator=False)
    m1 = i.initiate()
    m2 = b"".join(r.receive_data(m1[k : k + 1]) for k in range(len(m1)))
    m3 = b"".join(i.receive_data(m2[k : k + 1]) for k in range(len(m2)))
    early = i.session().encrypt(b"early")
    assert r.receive_data(m3 + early) == b""
    assert bytes(r.session().decrypt(r.unused)) == b"early"


def _libp2p_payload(identity: Ed25519KeyPair, static_pub: bytes) -> bytes:
    return noise_pb2.NoiseHandshakePayload(
        identity_key=identity.public_key.to_protobuf(),
        identity_sig=identity.sign(SIGNATURE_PREFIX + static_pub),
    ).SerializeToString()


def _oracle(initiator: bool, identity: Ed25519KeyPair):
    static = X25519PrivateKey.generate()
    raw = static.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    pub = static.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    conn = NoiseConnection.from_name(b"Noise_XX_25519_ChaChaPoly_SHA256")
    conn.set_as_initiator() if initiator else conn.set_as_responder()
    conn.set_keypair_from_private_bytes(Keypair.STATIC, raw)
    conn.start_handshake()
    return conn, _libp2p_payload(identity, pub)


def _unframe(b: bytes) -> bytes:
    assert int.from_bytes(b[:2], "big") == len(b) - 2
    return b[2:]


def _frame(b: bytes) -> bytes:
    return len(b).to_bytes(2, "big") + b


def test_our_initiator_against_independent_responder() -> None:
    ours, theirs = Ed25519KeyPair.generate(), Ed25519KeyPair.generate()
    conn, payload = _oracle(False, theirs)
    hs = NoiseHandshake(ours, initiator=True, expected_peer=theirs.peer_id)
    assert conn.read_message(_unframe(hs.initiate())) == b""
    m3 = hs.receive_data(_frame(conn.write_message(payload)))
    got = noise_pb2.NoiseHandshakePayload.FromString(conn.read_message(_unframe(m3)))
    assert conn.handshake_finished and hs.complete
    assert got.identity_key == ours.public_key.to_protobuf()
    assert hs.remote_peer == theirs.peer_id
    s = hs.session()
    assert conn.decrypt(_unframe(bytes(s.encrypt(b"ping")))) == b"ping"
    assert bytes(s.decrypt(_frame(conn.encrypt(b"pong")))) == b"pong"


def test_our_responder_against_independent_initiator() -> None:
    ours, theirs = Ed25519KeyPair.generate(), Ed25519KeyPair.generate()
    conn, payload = _oracle(True, theirs)
    hs = NoiseHandshake(ours, initiator=False)
    hs.initiate()
    m2 = hs.receive_data(_frame(conn.write_message(b"")))
    got = noise_pb2.NoiseHandshakePayload.FromString(conn.read_message(_unframe(m2)))
    assert got.identity_key == ours.public_key.to_protobuf()
    assert hs.receive_data(_frame(conn.write_message(payload))) == b""
    assert conn.handshake_finished and hs.complete and hs.remote_peer == theirs.peer_id
    s = hs.session()
    assert bytes(s.decrypt(_frame(conn.encrypt(b"hello")))) == b"hello"
    assert conn.decrypt(_unframe(bytes(s.encrypt(b"world")))) == b"world"


def test_wrong_peer_id_is_named_error() -> None:
    a, b, c = (Ed25519KeyPair.generate() for _ in range(3))
    i = NoiseHandshake(a, initiator=True, expected_peer=c.peer_id)
    r = NoiseHandshake(b, initiator=False)
    with pytest.raises(PeerIdMismatchError, match=str(b.peer_id)):
        handshake(i, r)


def test_bad_signature_is_handshake_error() -> None:
    ours, theirs = Ed25519KeyPair.generate(), Ed25519KeyPair.generate()
    conn, _ = _oracle(False, theirs)
    # signed over some other static key: the binding to the Noise key fails
    bad = _libp2p_payload(theirs, bytes(32))
    hs = NoiseHandshake(ours, initiator=True)
    conn.read_message(_unframe(hs.initiate()))
    with pytest.raises(HandshakeError, match="signature"):
        hs.receive_data(_frame(conn.write_message(bad)))
    with pytest.raises(HandshakeError, match="already failed"):
        hs.receive_data(b"\x00")


@pytest.mark.parametrize("payload", [b"", b"\xff\xff", b"\x0a\x03abc\x12\x01x"])
def test_bad_payload_is_handshake_error(payload: bytes) -> None:
    conn, _ = _oracle(False, Ed25519KeyPair.generate())
    hs = NoiseHandshake(Ed25519KeyPair.generate(), initiator=True)
    conn.read_message(_unframe(hs.initiate()))
    with pytest.raises(HandshakeError):
        hs.receive_data(_frame(conn.write_message(payload)))


@pytest.mark.parametrize("flip", [0, 40, 100, -1])
def test_tampered_handshake_message(flip: int) -> None:
    a, b = Ed25519KeyPair.generate(), Ed25519KeyPair.generate()
    i, r = NoiseHandshake(a, initiator=True), NoiseHandshake(b, initiator=False)
    m2 = bytearray(r.receive_data(i.initiate()))
    m2[2 + flip if flip >= 0 else flip] ^= 0x80
    with pytest.raises(HandshakeError):
        i.receive_data(bytes(m2))


@pytest.mark.parametrize(
    "garbage", [b"\x00\x05hello", b"\x00\x00", b"\x00\x20" + bytes(32)]
)
def test_garbage_to_initiator(garbage: bytes) -> None:
    i = NoiseHandshake(Ed25519KeyPair.generate(), initiator=True)
    i.initiate()
    with pytest.raises(HandshakeError):
        i.receive_data(garbage)


def test_garbage_to_responder() -> None:
    r = NoiseHandshake(Ed25519KeyPair.generate(), initiator=False)
    with pytest.raises(HandshakeError, match="too short"):
        r.receive_data(b"\x00\x04abcd")
    r2 = NoiseHandshake(Ed25519KeyPair.generate(), initiator=False)
    # a low-order X25519 point (all zeros) must not yield a usable session
    with pytest.raises(HandshakeError, match="invalid X25519"):
        r2.receive_data(b"\x00\x20" + bytes(32))


def test_truncated_handshake_waits() -> None:
    a, b = Ed25519KeyPair.generate(), Ed25519KeyPair.generate()
    i, r = NoiseHandshake(a, initiator=True), NoiseHandshake(b, initiator=False)
    m1 = i.initiate()
    assert r.receive_data(m1[:-1]) == b"" and not r.complete
    assert r.receive_data(m1[-1:]) != b""
