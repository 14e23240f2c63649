"""Fuzzing the Bitswap codec: random bytes and mutated frames (bit flips, truncation, splices).

Only MessageError subclasses may escape either twin; both twins must give the same answer (the
same message, or the same error class); and protobuf (the generated ``bitswap_pb2``) is the
oracle both ways: whatever we accept, protobuf parses to the same content, and whatever protobuf
parses but we refuse, we refuse for one of our documented reasons (``_codec_py``'s docstring:
a known field with the wrong wire type, groups nested deeper than 32; and the limits on CID,
block and message sizes), which the protobuf parse must then show.
"""

from __future__ import annotations

from google.protobuf.message import DecodeError
from google.protobuf.message import Message as PbMessage
from google.protobuf.unknown_fields import UnknownFieldSet
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastswap import _compat
from fastswap._defaults import MAX_BLOCK_SIZE, MAX_CID_SIZE, MAX_MESSAGE_SIZE
from fastswap.errors import (
    BlockTooLargeError,
    CIDTooLongError,
    MalformedMessageError,
    MessageError,
    MessageTooLargeError,
)
from tests.conftest import import_twin
from tests.message._message_oracle import MESSAGES, PY, C, from_pb, pb_parse, varint

FUZZ = settings(max_examples=400, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _twins() -> list:
    return [import_twin(PY)] + ([] if _compat.NO_EXTENSIONS else [import_twin(C)])


def _outcome(fn, *args):
    try:
        return "ok", fn(*args)
    except MessageError as exc:  # anything else escapes and fails the test
        return "error", type(exc), str(exc)


def _messages(m):
    """*m* and every message nested in it (wantlist, entries, payload, presences)."""
    yield m
    for f, v in m.ListFields():
        if f.message_type is None:
            continue
        for sub in ([v] if isinstance(v, PbMessage) else v):
            yield from _messages(sub)


def _wrong_wire_type(m) -> bool:
    """Protobuf kept some known field of some (nested) message as an unknown field: it came
    with a wire type its type does not allow."""
    for sub in _messages(m):
        known = {f.number for f in sub.DESCRIPTOR.fields}
        if any(u.field_number in known for u in UnknownFieldSet(sub)):
            return True
    return False


def _cids(m) -> list[bytes]:
    return ([e.block for e in m.wantlist.entries] + [p.prefix for p in m.payload]
            + [p.cid for p in m.blockPresences])


def _malformed(m, reason: str) -> bool:
    """The two MalformedMessageError reasons for bytes protobuf parses, each confirmed on its
    parse: a known field with a wrong wire type (protobuf keeps it as an unknown field), or
    groups nested deeper than our 32 levels (csrc/varint.h; protobuf keeps the group as an
    unknown field)."""
    if "which its type does not allow" in reason:
        return _wrong_wire_type(m)
    if "too deeply nested group" in reason:
        return any(u.wire_type == 3 for sub in _messages(m) for u in UnknownFieldSet(sub))
    return False


#: What protobuf parses and we refuse, by our error class: the check on protobuf's parse (and
#: our reason) that confirms it is a documented refusal. Anything else protobuf parses, we
#: must accept.
DOCUMENTED_REFUSALS = {
    CIDTooLongError: lambda m, data, reason: any(len(c) > MAX_CID_SIZE for c in _cids(m)),
    BlockTooLargeError: lambda m, data, reason: any(
        len(b) > MAX_BLOCK_SIZE for b in [*m.blocks, *(p.data for p in m.payload)]),
    MessageTooLargeError: lambda m, data, reason: len(data) > MAX_MESSAGE_SIZE,
    MalformedMessageError: lambda m, data, reason: _malformed(m, reason),
}


def _check_decode(data: bytes) -> None:
    results = [_outcome(t.decode_message, data) for t in _twins()]
    assert all(r[:2] == results[0][:2] for r in results), (data.hex(), results)
    try:
        ref = pb_parse(data)
    except DecodeError:
        ref = None
    if results[0][0] == "ok":
        assert ref is not None, f"we accept what protobuf refuses: {data.hex()}"
        assert from_pb(ref) == results[0][1]
    elif ref is not None:
        _, cls, reason = results[0]
        check = DOCUMENTED_REFUSALS.get(cls)
        assert check is not None and check(ref, data, reason), (
            f"protobuf parses {data.hex()} but we refuse it ({cls.__name__}: {reason})")


def _check_frames(stream: bytes, cut: int) -> None:
    outcomes = []
    for t in _twins():
        dec = t.FrameDecoder()

        def run(dec=dec, t=t):
            payloads = dec.feed(stream[:cut]) + dec.feed(bytearray(stream[cut:]))
            dec.eof()
            return [bytes(p) for p in payloads]

        outcomes.append(_outcome(run))
    assert all(o[:2] == outcomes[0][:2] for o in outcomes), (stream.hex(), outcomes)
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


# -- what protobuf accepts: valid messages merged with fields of every wire type ---------------


def _tag(number: int, wire: int) -> bytes:
    return varint(number << 3 | wire)


@st.composite
def _field(draw, depth: int = 0) -> bytes:
    """One well-formed protobuf field: a known number (1-5, maybe with a wrong wire type) or an
    unknown one, of any wire type, a group holding further fields (nested up to 40 deep once in
    a while: past our 32 levels), or a known CID field over the CID limit."""
    number = draw(st.one_of(st.integers(1, 5), st.integers(6, 40), st.integers(6, 2**29 - 1)))
    wire = draw(st.sampled_from([0, 1, 2, 3, 5]))
    if wire == 0:
        body = varint(draw(st.integers(0, 2**64 - 1)))
    elif wire == 1:
        body = draw(st.binary(min_size=8, max_size=8))
    elif wire == 5:
        body = draw(st.binary(min_size=4, max_size=4))
    elif wire == 2:
        payload = draw(st.binary(max_size=40))
        body = varint(len(payload)) + payload
    else:
        if depth < 2:
            inner = b"".join(draw(st.lists(_field(depth + 1), max_size=2)))
        else:
            inner = b""
        nest = draw(st.sampled_from([0, 0, 0, 36]))  # beyond csrc/varint.h's 32 levels
        start, end = _tag(number, 3), _tag(number, 4)
        return start * (nest + 1) + inner + end * (nest + 1)
    return _tag(number, wire) + body


def _submessage(number: int, body: bytes) -> bytes:
    return _tag(number, 2) + varint(len(body)) + body


#: an entry whose CID is over MAX_CID_SIZE, inside a wantlist (protobuf has no such limit)
_LONG_CID_WANTLIST = st.binary(min_size=MAX_CID_SIZE + 1, max_size=MAX_CID_SIZE + 40).map(
    lambda cid: _submessage(1, _submessage(1, _submessage(1, cid)))
)


@st.composite
def _protobuf_valid(draw) -> bytes:
    """Protobuf bytes: encoded messages (concatenation is a merge in protobuf), well-formed
    extra fields at the top level and inside a wantlist, in any order."""
    py = import_twin(PY)
    parts = [py.encode_message(m) for m in draw(st.lists(MESSAGES, min_size=1, max_size=2))]
    parts += draw(st.lists(_field(), max_size=3))
    inner = b"".join(draw(st.lists(_field(), min_size=1, max_size=2)))
    parts.append(_tag(1, 2) + varint(len(inner)) + inner)  # wantlist with extra fields
    if draw(st.booleans()):
        parts.append(draw(_LONG_CID_WANTLIST))
    return b"".join(draw(st.permutations(parts)))


@settings(FUZZ, max_examples=200)
@given(data=_protobuf_valid())
def test_what_protobuf_accepts_we_accept_or_refuse_for_a_documented_reason(data: bytes) -> None:
    _check_decode(data)
