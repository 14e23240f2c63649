"""The Bitswap codec against the protobuf oracle, for both twins (ipfs/specs bitswap-protocol)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastswap import _compat
from fastswap.cid import DAG_PB, compute_cid
from fastswap.message import model
from fastswap.message.model import BlockPresence, Entry, Message, block_cid, wire_block
from tests.conftest import import_twin, twin_params
from tests.message._message_oracle import (
    MESSAGES,
    PY,
    C,
    from_pb,
    pb_parse,
    to_pb,
    varint,
)

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


@pytest.fixture(params=twin_params(C, PY))
def codec(request):
    return import_twin(request.param)


def all_twins() -> list:
    return [import_twin(PY)] + ([] if _compat.NO_EXTENSIONS else [import_twin(C)])


@SETTINGS
@given(msg=MESSAGES)
def test_encode_is_byte_identical_to_protobuf(codec, msg: Message) -> None:
    ours = codec.encode_message(msg)
    assert ours == to_pb(msg).SerializeToString()
    assert from_pb(pb_parse(ours)) == msg


@SETTINGS
@given(msg=MESSAGES)
def test_decode_of_protobuf_bytes(codec, msg: Message) -> None:
    data = to_pb(msg).SerializeToString()
    got = codec.decode_message(data)
    assert got == msg
    assert type(got.pending_bytes) is int and type(got.full) is bool
    for prefix, block in got.blocks:
        assert isinstance(block, memoryview)  # zero copy
        assert prefix is None or type(prefix) is bytes
    for e in got.entries:
        assert type(e) is codec.Entry and isinstance(e, Entry) and type(e.cid) is bytes
    for p in got.presences:
        assert type(p) is codec.BlockPresence and isinstance(p, BlockPresence)


@SETTINGS
@given(msg=MESSAGES)
def test_parts_concatenate_to_encode(codec, msg: Message) -> None:
    parts = codec.encode_message_parts(msg)
    assert all(isinstance(p, (bytes, memoryview)) for p in parts)
    assert b"".join(parts) == codec.encode_message(msg)
    for _, data in msg.blocks:
        if len(data) >= model.ZEROCOPY_MIN:  # handed through, not copied
            assert any(p is data for p in parts)


@SETTINGS
@given(msg=MESSAGES)
def test_twins_cross(msg: Message) -> None:
    twins = all_twins()
    for enc in twins:
        data = enc.encode_message(msg)
        for dec in twins:
            assert dec.decode_message(data) == msg


@SETTINGS
@given(a=MESSAGES, b=MESSAGES)
def test_concatenated_messages_merge_like_protobuf(codec, a: Message, b: Message) -> None:
    # protobuf: concatenation is merge (repeated fields append, wantlist merges, last scalar wins)
    data = codec.encode_message(a) + codec.encode_message(b)
    assert codec.decode_message(data) == from_pb(pb_parse(data))


def _unknown_fields(draw_bytes: bytes) -> bytes:
    """Unknown fields 6..9 of every valid wire type, including a nested group."""
    return (
        varint(6 << 3 | 0) + varint(2**63)
        + varint(7 << 3 | 1) + b"\x01" * 8
        + varint(8 << 3 | 2) + varint(len(draw_bytes)) + draw_bytes
        + varint(9 << 3 | 5) + b"\x02" * 4
        + varint(1000 << 3 | 3) + varint(1 << 3 | 0) + b"\x05"
        + varint(1001 << 3 | 3) + varint(1001 << 3 | 4) + varint(1000 << 3 | 4)
    )


@SETTINGS
@given(msg=MESSAGES, junk=st.binary(max_size=40))
def test_unknown_fields_are_skipped(codec, msg: Message, junk: bytes) -> None:
    unknown = _unknown_fields(junk)
    data = unknown + to_pb(msg).SerializeToString() + unknown
    assert codec.decode_message(data) == msg
    assert from_pb(pb_parse(data)) == msg  # the oracle agrees they are skippable


def test_unknown_fields_inside_nested_messages(codec) -> None:
    unknown = _unknown_fields(b"xyz")
    entry = b"\x0a\x03abc" + unknown + b"\x10\x07"
    wantlist = b"\x0a" + varint(len(entry)) + entry + unknown + b"\x10\x01"
    payload = unknown + b"\x0a\x01p" + b"\x12\x02dd"
    presence = b"\x0a\x01c" + unknown + b"\x10\x01"
    data = (b"\x0a" + varint(len(wantlist)) + wantlist + b"\x1a" + varint(len(payload)) + payload
            + b"\x22" + varint(len(presence)) + presence)
    got = codec.decode_message(data)
    assert got == Message([Entry(b"abc", 7)], True, [(b"p", b"dd")], [BlockPresence(b"c", 1)])
    assert from_pb(pb_parse(data)) == got


def test_negative_int32_fields_round_trip(codec) -> None:
    msg = Message([Entry(b"c", -1, want_type=-5)], presences=[BlockPresence(b"c", -2**31)],
                  pending_bytes=-2**31)
    data = codec.encode_message(msg)
    assert data == to_pb(msg).SerializeToString()
    assert b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01" in data  # -1 as protobuf writes it
    assert codec.decode_message(data) == msg


def test_int32_takes_low_bits_and_bools_any_nonzero(codec) -> None:
    # a 64-bit varint for an int32 field keeps the low 32 bits, as protobuf does
    entry = b"\x0a\x01c" + b"\x10" + varint(2**32 + 5) + b"\x18" + varint(2**40)
    data = b"\x0a" + varint(len(entry) + 2) + b"\x0a" + varint(len(entry)) + entry
    got = codec.decode_message(data)
    assert got.entries == [Entry(b"c", 5, True, 0, False)]
    assert from_pb(pb_parse(data)) == got


def test_empty_message_and_empty_wantlist(codec) -> None:
    assert codec.encode_message(Message()) == b""
    assert codec.decode_message(b"") == Message()
    full_only = Message(full=True)
    assert codec.encode_message(full_only) == b"\x0a\x02\x10\x01"
    assert codec.decode_message(b"\x0a\x00") == Message()


def test_decode_accepts_bytes_like(codec) -> None:
    msg = Message([Entry(b"abc")], blocks=[(b"\x01\x55\x12\x20", b"data" * 400)])
    data = codec.encode_message(msg)
    for buf in (data, bytearray(data), memoryview(data), memoryview(bytearray(data))):
        got = codec.decode_message(buf)
        assert got == msg
        assert isinstance(got.blocks[0][1], memoryview)


def test_entries_from_other_classes_encode(codec) -> None:
    class Duck:
        def __init__(self) -> None:
            self.cid = memoryview(b"abc")
            self.priority = 3
            self.cancel = 0
            self.want_type = 1
            self.send_dont_have = 1

    msg = Message([Duck()])  # type: ignore[list-item]
    assert codec.decode_message(codec.encode_message(msg)) == Message([Entry(b"abc", 3, False,
                                                                             1, True)])


def test_encode_rejects_wrong_types_and_ranges(codec) -> None:
    from fastswap.errors import MalformedMessageError

    with pytest.raises(TypeError):
        codec.encode_message(Message([Entry("not bytes")]))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        codec.encode_message(Message([Entry(b"c", 1.5)]))  # type: ignore[arg-type]
    for bad in (2**31, -(2**31) - 1, 2**70):
        with pytest.raises(MalformedMessageError):
            codec.encode_message(Message([Entry(b"c", bad)]))
        with pytest.raises(MalformedMessageError):
            codec.encode_message(Message(pending_bytes=bad))


# -- the model -------------------------------------------------------------------------------------


def test_model_defaults_and_equality() -> None:
    e = Entry(b"c")
    assert (e.priority, e.cancel, e.want_type, e.send_dont_have) == (1, False, model.WANT_BLOCK,
                                                                     False)
    assert e == Entry(b"c", 1) and e != Entry(b"c", 2) and e != Entry(b"d")
    assert Message([e], blocks=[(None, b"a"), (b"p", b"b")]) == Message(
        [Entry(b"c")], blocks=[(b"p", memoryview(b"b")), (None, b"a")])
    assert Message(blocks=[(None, b"a"), (None, b"b")]) != Message(blocks=[(None, b"b"),
                                                                           (None, b"a")])
    assert "want-block" in repr(e) and "Message(1 entries" in repr(Message([e]))


def test_block_cid_for_both_versions() -> None:
    data = b"hello bitswap"
    v1 = compute_cid(data)
    v0 = compute_cid(data, version=0, codec=DAG_PB)
    assert block_cid(wire_block(v1, data)[0], data) == v1
    assert wire_block(v0, data, legacy=True) == (None, data)
    assert block_cid(None, data) == v0
    msg = Message(blocks=[wire_block(v1, data), wire_block(v0, data, legacy=True)])
    assert list(msg.iter_blocks()) == [(v1, data), (v0, data)]
    from fastswap.errors import CIDError

    with pytest.raises(CIDError):
        wire_block(v1, data, legacy=True)  # 1.0.0 only carries CIDv0
    with pytest.raises(CIDError):
        block_cid(b"", data)  # an empty prefix names nothing


def test_twin_entry_classes_share_the_model_interface(codec) -> None:
    import pickle

    e = codec.Entry(b"c")
    assert (e.cid, e.priority, e.cancel, e.want_type, e.send_dont_have) == (b"c", 1, False, 0,
                                                                            False)
    assert isinstance(e, Entry)
    assert e == Entry(b"c") and Entry(b"c") == e and not (e != Entry(b"c"))  # noqa: SIM202
    assert e != codec.Entry(b"d") and e != Entry(b"c", 2) and e != "c"
    e.priority = 9
    assert e.priority == 9 and e == Entry(b"c", 9)
    with pytest.raises(TypeError):
        hash(e)
    assert pickle.loads(pickle.dumps(e)) == e
    assert repr(e) == repr(Entry(b"c", 9))
    del e.cid
    with pytest.raises(AttributeError):
        e.cid  # noqa: B018
    with pytest.raises(AttributeError):
        codec.encode_message(Message([e]))

    p = codec.BlockPresence(b"c", model.DONT_HAVE)
    assert isinstance(p, BlockPresence) and p == BlockPresence(b"c", 1) and p != BlockPresence(b"c")
    assert BlockPresence(b"c", 1) == p and pickle.loads(pickle.dumps(p)) == p
    p.type = model.HAVE
    assert p == BlockPresence(b"c") and "HAVE" in repr(p)
