"""Noise transport cipher and handshake: compiled vs pure framing twins side by side.

Measure with: python -m pytest benchmarks/test_bench_noise.py --benchmark-enable --benchmark-only
"""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from fastswap.net.keys import Ed25519KeyPair
from fastswap.net.noise import NoiseHandshake
from tests.conftest import import_twin, twin_params

BULK = 16 * 1024 * 1024
SMALL = 1024


@pytest.fixture(params=twin_params("fastswap.net._noiseframe_c", "fastswap.net._noiseframe_py"))
def nf(request):
    return import_twin(request.param)


def _pair(nf):
    key = os.urandom(32)
    return nf.FrameEncryptor(ChaCha20Poly1305(key)), nf.FrameDecryptor(ChaCha20Poly1305(key))


def test_bench_noise_bulk_16mib(benchmark, nf) -> None:
    """16 MiB encrypted into a reused buffer, then fed back in 256 KiB reads."""
    enc, dec = _pair(nf)
    data = os.urandom(BULK)
    wire = bytearray(nf.encrypted_size(BULK))
    view = memoryview(wire)
    step = 256 * 1024

    def roundtrip() -> int:
        n = enc.encrypt_into(data, wire)
        got = 0
        for i in range(0, n, step):
            got += len(dec.feed(view[i : i + step]))
        return got

    assert benchmark(roundtrip) == BULK
    benchmark.extra_info["MB"] = BULK / 1e6


def test_bench_noise_small_messages(benchmark, nf) -> None:
    """1024 writes of 1 KiB each (muxer-sized), each decrypted as it arrives."""
    enc, dec = _pair(nf)
    msg = os.urandom(SMALL)

    def roundtrip() -> int:
        got = 0
        for _ in range(1024):
            got += len(dec.feed(enc.encrypt(msg)))
        return got

    assert benchmark(roundtrip) == 1024 * SMALL


def test_bench_noise_handshake(benchmark) -> None:
    a, b = Ed25519KeyPair.generate(), Ed25519KeyPair.generate()

    def hs() -> bool:
        i, r = NoiseHandshake(a, initiator=True, expected_peer=b.peer_id), NoiseHandshake(
            b, initiator=False
        )
        r.receive_data(i.receive_data(r.receive_data(i.initiate())))
        return r.complete and i.complete

    assert benchmark(hs)
