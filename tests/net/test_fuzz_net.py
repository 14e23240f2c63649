"""Fuzz the libp2p byte parsers that face the network before any peer is authenticated.

Noise transport frames (both twins), the Noise XX handshake in both roles, and
multistream-select in both roles get random bytes and mutations of valid transcripts, fed in
random pieces. Only the named NetError subclasses may escape; nothing may hang or grow without
bound (every input here is at most a few KiB, so a parser that buffers is bounded by it).
"""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastswap import _compat
from fastswap.errors import NetError
from fastswap.net.keys import Ed25519KeyPair
from fastswap.net.multistream import MultistreamDialer, MultistreamListener
from fastswap.net.noise import NoiseHandshake
from tests.conftest import import_twin, twin_params

FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
KEY = os.urandom(32)
ID_A = Ed25519KeyPair.generate()
ID_B = Ed25519KeyPair.generate()


@pytest.fixture(params=twin_params("fastswap.net._noiseframe_c", "fastswap.net._noiseframe_py"))
def nf(request):
    return import_twin(request.param)


def _pieces(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    out, last = [], 0
    for p in points + [len(data)]:
        out.append(data[last:p])
        last = p
    return out


@st.composite
def mutated(draw, valid: bytes) -> bytes:
    data = bytearray(valid)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "splice"]))
        if kind == "flip" and data:
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "cut" and data:
            del data[draw(st.integers(0, len(data) - 1)):]
        elif kind == "insert":
            i = draw(st.integers(0, len(data)))
            data[i:i] = draw(st.binary(min_size=1, max_size=8))
        else:
            i = draw(st.integers(0, len(data)))
            data[i:] = draw(st.binary(max_size=64))
    return bytes(data)


PLAINTEXT = (b"hello", os.urandom(300), b"")


def _frames() -> bytes:
    import fastswap.net._noiseframe_py as py

    enc = py.FrameEncryptor(ChaCha20Poly1305(KEY))
    return b"".join(bytes(enc.encrypt(p)) for p in PLAINTEXT)


VALID_FRAMES = _frames()


@FUZZ
@given(data=st.one_of(st.binary(max_size=2048), mutated(VALID_FRAMES)),
       cuts=st.lists(st.integers(0, 4096), max_size=6))
def test_noise_frames_fuzz(nf, data: bytes, cuts: list[int]) -> None:
    dec = nf.FrameDecryptor(ChaCha20Poly1305(KEY))
    got = bytearray()
    try:
        for piece in _pieces(data, cuts):
            got += dec.feed(piece)
    except NetError:
        return
    # Whatever was accepted must be a prefix of what was really sent: frames are authenticated,
    # so no mutation can make the decryptor yield bytes nobody encrypted.
    assert b"".join(PLAINTEXT).startswith(bytes(got))


def _decrypt_outcome(twin, data: bytes, cuts: list[int]) -> list:
    """What one twin's decryptor yields for each piece, up to its error class (if any)."""
    dec = twin.FrameDecryptor(ChaCha20Poly1305(KEY))
    out: list = []
    try:
        for piece in _pieces(data, cuts):
            out.append(bytes(dec.feed(piece)))
    except NetError as exc:
        out.append(type(exc))
    return out


@pytest.mark.skipif(_compat.NO_EXTENSIONS, reason="FASTSWAP_NO_EXTENSIONS=1: one twin only")
@FUZZ
@given(data=st.one_of(st.binary(max_size=2048), mutated(VALID_FRAMES)),
       cuts=st.lists(st.integers(0, 4096), max_size=6))
def test_noise_frame_twins_agree(data: bytes, cuts: list[int]) -> None:
    """The compiled and the pure decryptor give the same bytes piece by piece, and fail on
    the same piece with the same error: the twins cannot drift apart on hostile input."""
    c = import_twin("fastswap.net._noiseframe_c")
    py = import_twin("fastswap.net._noiseframe_py")
    assert _decrypt_outcome(c, data, cuts) == _decrypt_outcome(py, data, cuts)


def _handshake_transcript() -> tuple[bytes, bytes]:
    """The initiator's and responder's bytes of one real handshake (messages 1+3, and 2)."""
    a = NoiseHandshake(ID_A, initiator=True)
    b = NoiseHandshake(ID_B, initiator=False)
    m1 = a.initiate()
    b.initiate()
    m2 = b.receive_data(m1)
    m3 = a.receive_data(m2)
    b.receive_data(m3)
    assert a.complete and b.complete
    return m1 + m3, m2


INIT_BYTES, RESP_BYTES = _handshake_transcript()


@FUZZ
@given(data=st.one_of(st.binary(max_size=2048), mutated(INIT_BYTES)),
       cuts=st.lists(st.integers(0, 4096), max_size=6))
def test_noise_responder_fuzz(data: bytes, cuts: list[int]) -> None:
    hs = NoiseHandshake(ID_B, initiator=False)
    hs.initiate()
    try:
        for piece in _pieces(data, cuts):
            hs.receive_data(piece)
    except NetError:
        return
    # A fresh responder never completes on replayed or random bytes: message 3 must answer
    # *its own* ephemeral key, which the fuzzed input cannot know.
    assert not hs.complete


@FUZZ
@given(data=st.one_of(st.binary(max_size=2048), mutated(RESP_BYTES)),
       cuts=st.lists(st.integers(0, 4096), max_size=6))
def test_noise_initiator_fuzz(data: bytes, cuts: list[int]) -> None:
    hs = NoiseHandshake(ID_A, initiator=True)
    hs.initiate()
    try:
        for piece in _pieces(data, cuts):
            hs.receive_data(piece)
    except NetError:
        return
    assert not hs.complete


def _ms_transcripts() -> tuple[bytes, bytes]:
    d = MultistreamDialer(["/nope/1", "/ipfs/bitswap/1.2.0"])
    lis = MultistreamListener({"/ipfs/bitswap/1.2.0", "/ipfs/id/1.0.0"})
    to_listener = d.initiate()
    seen_by_dialer = bytearray()
    pending = lis.initiate()
    for _ in range(4):
        pending += lis.receive_data(to_listener)
        seen_by_dialer += pending
        to_listener = d.receive_data(pending)
        pending = b""
        if d.done:
            break
    assert d.done and d.selected == "/ipfs/bitswap/1.2.0"
    return bytes(seen_by_dialer), MultistreamDialer(["/nope/1", "/ipfs/bitswap/1.2.0"]).initiate()


DIALER_VIEW, LISTENER_VIEW = _ms_transcripts()


@FUZZ
@given(data=st.one_of(st.binary(max_size=2048), mutated(LISTENER_VIEW)),
       cuts=st.lists(st.integers(0, 4096), max_size=6))
def test_multistream_listener_fuzz(data: bytes, cuts: list[int]) -> None:
    lis = MultistreamListener({"/ipfs/bitswap/1.2.0"})
    lis.initiate()
    out = bytearray()
    try:
        for piece in _pieces(data, cuts):
            out += lis.receive_data(piece)
    except NetError:
        return
    assert len(out) <= 64 * 1024  # answers are bounded by the input, never amplified unboundedly
    if lis.done:
        assert lis.selected == "/ipfs/bitswap/1.2.0"


@FUZZ
@given(data=st.one_of(st.binary(max_size=2048), mutated(DIALER_VIEW)),
       cuts=st.lists(st.integers(0, 4096), max_size=6))
def test_multistream_dialer_fuzz(data: bytes, cuts: list[int]) -> None:
    d = MultistreamDialer(["/nope/1", "/ipfs/bitswap/1.2.0"])
    d.initiate()
    try:
        for piece in _pieces(data, cuts):
            d.receive_data(piece)
    except NetError:
        return
    if d.done:
        assert d.selected in ("/nope/1", "/ipfs/bitswap/1.2.0")
