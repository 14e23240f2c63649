"""Fuzzing the Bitswap codec: random bytes and mutated frames (bit flips, truncation, splices).

Only MessageError subclasses may escape either twin; both twins must give the same answer (the
same message, or the same error class); and whatever we accept, protobuf parses to the same
content (we may refuse more than protobuf: limits, wrong wire types on known fields).
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastswap import _compat
from fastswap.errors import MessageError
from tests.conftest import import_twin
from tests.message._message_oracle import MESSAGES, PY, C, from_pb, pb_parse

FUZZ = settings(max_examples=400, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _twins() -> list:
    return [import_twin(PY)] + ([] if _compat.NO_EXTENSIONS else [import_twin(C)])


def _outcome(fn, *args):
    try:
        return "ok", fn(*args)
    except MessageError as exc:  # anything else escapes and fails the test
        return "error", type(exc)


def _check_decode(data: bytes) -> None:
    results = [_outcome(t.decode_message, data) for t in _twins()]
    assert all(r == results[0] for r in results), (data.hex(), results)
    kind, value = results[0]
    if kind == "ok":
        assert from_pb(pb_parse(data)) == value


def _check_frames(stream: bytes, cut: int) -> None:
    outcomes = []
    for t in _twins():
        dec = t.FrameDecoder()

        def run(dec=dec, t=t):
            payloads = dec.feed(stream[:cut]) + dec.feed(bytearray(stream[cut:]))
            dec.eof()
            return [bytes(p) for p in payloads]

        outcomes.append(_outcome(run))
    assert all(o == outcomes[0] for o in outcomes), (stream.hex(), outcomes)
    if outcomes[0][0] == "ok":
        for payload in outcomes[0][1]:
            _check_decode(payload)


@FUZZ
@given(data=st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    _check_decode(data)


@FUZZ
@given(data=st.binary(max_size=300), cut=st.integers(0, 300))
def test_random_frames(data: bytes, cut: int) -> None:
    _check_frames(data, min(cut, len(data)))


_MUTATION = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(0, 7)),
    st.tuples(st.just("truncate"), st.integers(0, 10**6), st.just(0)),
    st.tuples(st.just("splice"), st.integers(0, 10**6), st.integers(0, 10**6)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.integers(0, 255)),
)


def _mutate(data: bytes, other: bytes, mutations: list) -> bytes:
    buf = bytearray(data)
    for op, a, b in mutations:
        if not buf:
            break
        i = a % len(buf)
        if op == "flip":
            buf[i] ^= 1 << b
        elif op == "truncate":
            del buf[i:]
        elif op == "splice" and other:
            j = b % len(other)
            buf[i:] = other[j:]
        elif op == "insert":
            buf.insert(i, b)
    return bytes(buf)


def _frame(msg) -> bytes:
    t = import_twin(PY)
    body = t.encode_message(msg)
    return t.frame_length_prefix(len(body)) + body


@FUZZ
@given(a=MESSAGES, b=MESSAGES, mutations=st.lists(_MUTATION, min_size=1, max_size=4),
       cut=st.integers(0, 10**6))
def test_mutated_frames(a, b, mutations, cut: int) -> None:
    stream = _frame(a) + _frame(b)
    mutated = _mutate(stream, _frame(b), mutations)
    _check_frames(mutated, cut % (len(mutated) + 1))
    # and the mutated body on its own, without framing
    body = import_twin(PY).encode_message(a)
    _check_decode(_mutate(body, stream, mutations))
