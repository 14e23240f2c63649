"""Every limit and every malformation of the Bitswap codec raises its named error, for both twins.

Each test here fails if the guard it names is removed (the input is otherwise decodable, or the
decoder would wait for more data).
"""

from __future__ import annotations

import pytest
from google.protobuf.message import DecodeError

from fastswap._defaults import MAX_BLOCK_SIZE, MAX_CID_SIZE, MAX_MESSAGE_SIZE
from fastswap.errors import (
    BlockTooLargeError,
    CIDTooLongError,
    MalformedMessageError,
    MessageError,
    MessageTooLargeError,
    TruncatedMessageError,
)
from fastswap.message.model import BlockPresence, Entry, Message
from tests.conftest import import_twin, twin_params
from tests.message._message_oracle import PY, C, from_pb, pb_parse, to_pb, varint


@pytest.fixture(params=twin_params(C, PY))
def codec(request):
    return import_twin(request.param)


def _two_blocks_of_total_size(total: int) -> Message:
    # two 1.0.0 blocks: 2 MiB (tag + 4 length bytes) and just under (tag + 3 length bytes)
    first = MAX_BLOCK_SIZE
    second = total - (1 + 4 + first) - (1 + 3)
    assert 2**14 <= second < 2**21
    return Message(blocks=[(None, bytes(first)), (None, b"\x01" * second)])


def test_message_exactly_at_the_size_limit(codec) -> None:
    msg = _two_blocks_of_total_size(MAX_MESSAGE_SIZE)
    data = codec.encode_message(msg)
    assert len(data) == MAX_MESSAGE_SIZE
    assert data == to_pb(msg).SerializeToString()
    assert codec.decode_message(data) == msg
    assert b"".join(codec.encode_message_parts(msg)) == data


def test_message_one_byte_over_the_size_limit(codec) -> None:
    msg = _two_blocks_of_total_size(MAX_MESSAGE_SIZE + 1)
    with pytest.raises(MessageTooLargeError):
        codec.encode_message(msg)
    with pytest.raises(MessageTooLargeError):
        codec.encode_message_parts(msg)
    data = to_pb(msg).SerializeToString()
    assert len(data) == MAX_MESSAGE_SIZE + 1
    with pytest.raises(MessageTooLargeError):
        codec.decode_message(data)
    # the limit is a parameter: a caller may raise it knowingly
    assert codec.decode_message(data, max_message_size=MAX_MESSAGE_SIZE + 1) == msg


@pytest.mark.parametrize("legacy", [True, False])
def test_block_over_the_block_limit(codec, legacy: bool) -> None:
    at_limit = Message(blocks=[(None if legacy else b"\x01\x55\x12\x20", bytes(MAX_BLOCK_SIZE))])
    assert codec.decode_message(codec.encode_message(at_limit)) == at_limit
    over = Message(blocks=[(None if legacy else b"\x01\x55\x12\x20",
                            bytes(MAX_BLOCK_SIZE + 1))])
    with pytest.raises(BlockTooLargeError):
        codec.encode_message(over)
    with pytest.raises(BlockTooLargeError):
        codec.encode_message_parts(over)
    with pytest.raises(BlockTooLargeError):
        codec.decode_message(to_pb(over).SerializeToString())


@pytest.mark.parametrize("where", ["entry", "presence", "prefix"])
def test_cid_over_the_cid_limit(codec, where: str) -> None:
    def build(n: int) -> Message:
        cid = b"\x01" * n
        if where == "entry":
            return Message([Entry(cid)])
        if where == "presence":
            return Message(presences=[BlockPresence(cid)])
        return Message(blocks=[(cid, b"data")])

    ok = build(MAX_CID_SIZE)
    assert codec.decode_message(codec.encode_message(ok)) == ok
    bad = build(MAX_CID_SIZE + 1)
    with pytest.raises(CIDTooLongError):
        codec.encode_message(bad)
    with pytest.raises(CIDTooLongError):
        codec.decode_message(to_pb(bad).SerializeToString())


SAMPLE = Message(
    [Entry(b"\x01\x55\x12\x20" + bytes(range(32)), 2**31 - 1, False, 1, True),
     Entry(b"\x12\x20" + bytes(32), -3, True)],
    True,
    [(None, b"legacy block"), (b"\x01\x55\x12\x20", b"payload data")],
    [BlockPresence(b"\x01\x55\x12\x20" + bytes(32), 1)],
    -12345,
)


def test_truncated_at_every_cut_point(codec) -> None:
    data = codec.encode_message(SAMPLE)
    truncated = 0
    for cut in range(len(data)):
        piece = data[:cut]
        try:
            expected = from_pb(pb_parse(piece))
        except DecodeError:
            truncated += 1
            with pytest.raises(TruncatedMessageError):
                codec.decode_message(piece)
        else:  # a cut between top-level fields is a shorter valid message
            assert codec.decode_message(piece) == expected
    assert truncated > len(data) - 10  # nearly every cut is inside a field


@pytest.mark.parametrize(
    "data",
    [
        b"\x0e\x00",  # field 1, wire type 6
        b"\x37",  # field 6, wire type 7
        b"\x28\x01\x36",  # field 6, wire type 6, after a valid field
        b"\x0c",  # end-group with no start
        b"\x34",  # end-group of unknown field 6 with no start
        b"\x33\x3c",  # group 6 closed by end-group 7
        b"\x08\x01",  # wantlist (a message) sent as a varint
        b"\x10\x01",  # blocks (bytes) sent as a varint
        b"\x2a\x01\x00",  # pendingBytes (int32) sent length-delimited
        b"\x0a\x04\x0a\x02\x0e\x00",  # wire type 6 inside an entry
        b"\x0a\x04\x0a\x02\x12\x00",  # entry priority sent length-delimited
        b"\x22\x02\x12\x00",  # presence type sent length-delimited
        b"\x1a\x02\x08\x00",  # payload prefix sent as a varint
        b"\x00\x00",  # field number 0
        varint(2**35) + b"\x00",  # a tag over 32 bits
        b"\x33" * 40 + b"\x34" * 40,  # groups nested deeper than the limit
    ],
)
def test_bad_wire_types_and_tags(codec, data: bytes) -> None:
    with pytest.raises(MalformedMessageError):
        codec.decode_message(data)


def test_valid_unknown_group_is_skipped(codec) -> None:
    assert codec.decode_message(b"\x33\x34\x28\x01") == Message(pending_bytes=1)
    with pytest.raises(TruncatedMessageError):  # never closed
        codec.decode_message(b"\x33\x30\x01")


@pytest.mark.parametrize(
    "data",
    [
        b"\x28" + b"\xff" * 10 + b"\x01",  # pendingBytes: an 11-byte varint
        b"\x30" + b"\x80" * 10 + b"\x00",  # unknown varint field, 11 bytes
        b"\x0a\x0d\x0a\x0b\x10" + b"\x80" * 10,  # entry priority, 11+ bytes
        b"\x80" * 10 + b"\x01",  # the tag itself
        b"\x12" + b"\x80" * 10 + b"\x00",  # a length
    ],
)
def test_overlong_varints(codec, data: bytes) -> None:
    with pytest.raises(MalformedMessageError):
        codec.decode_message(data)


def test_ten_byte_varint_is_fine(codec) -> None:
    assert codec.decode_message(b"\x28" + b"\xff" * 9 + b"\x01") == Message(pending_bytes=-1)


@pytest.mark.parametrize(
    "data",
    [
        b"\x0a\x05\x0a\x01",  # wantlist longer than the message
        b"\x0a\x03\x0a\x05abc",  # entry longer than the wantlist
        b"\x0a\x05\x0a\x03\x0a\x05x",  # entry CID longer than the entry
        b"\x12\xff\xff\xff\x7f",  # a block of 256 MiB, announced
        b"\x12" + varint(2**63) + b"x",  # a length near 2**64
        b"\x1a\x04\x12\x10ab",  # payload data past the payload
        b"\x39\x00\x00",  # unknown fixed64 cut short
        b"\x3d\x00",  # unknown fixed32 cut short
        b"\x28",  # a tag with no value
    ],
)
def test_lengths_past_the_end(codec, data: bytes) -> None:
    with pytest.raises(TruncatedMessageError):
        codec.decode_message(data)


# -- framing ---------------------------------------------------------------------------------------


def test_frame_header_of_2_62_is_refused_before_buffering(codec) -> None:
    dec = codec.FrameDecoder()
    with pytest.raises(MessageTooLargeError):
        dec.feed(varint(2**62))
    # byte by byte, too: refused at the byte that pushes the value over, nothing buffered
    dec = codec.FrameDecoder()
    header = varint(MAX_MESSAGE_SIZE + 1)
    for b in header[:-1]:
        assert dec.feed(bytes([b])) == []
    with pytest.raises(MessageTooLargeError):
        dec.feed(header[-1:] + b"x" * 100)
    assert dec.buffered <= len(header)


@pytest.mark.parametrize("room", [0, 999, 1000])
def test_frame_decoder_collects_transient_views_in_a_reserved_buffer(codec, room: int) -> None:
    """Fed views of a buffer that the next read overwrites, the decoder may take the whole
    message's buffer when its prefix arrives (``reserve_room``, here 1000 bytes fit) and copy
    each piece into place; else it collects copies and joins them. Either way only what arrived
    counts as buffered, and the payload is read-only and survives the feeder's reuse."""
    body = bytes(range(250)) * 4  # 1000 bytes
    stream = varint(len(body)) + body + varint(3) + b"end"
    scratch = bytearray(64)  # the feeder's receive buffer, reused for every read
    dec = codec.FrameDecoder()
    dec.reserve_room = room
    out = []
    for i in range(0, len(stream), 64):
        piece = stream[i:i + 64]
        scratch[:len(piece)] = piece
        out += dec.feed(memoryview(scratch)[:len(piece)])
        if i == 64:
            assert dec.reserved == (1000 if room >= 1000 else 0)
            assert dec.buffered == 128 - len(varint(1000))
    assert [bytes(p) for p in out] == [body, b"end"]
    assert out[0].readonly
    assert dec.reserved == 0 and dec.buffered == 0


def test_frame_decoder_reserves_nothing_for_immutable_bytes(codec) -> None:
    """Bytes fed as ``bytes`` are kept as views (zero copy): no buffer is reserved."""
    dec = codec.FrameDecoder()
    dec.reserve_room = 1 << 20
    assert dec.feed(varint(1000) + b"a" * 10) == []
    assert dec.reserved == 0


def test_frame_header_at_limit_is_accepted_and_waits(codec) -> None:
    dec = codec.FrameDecoder()
    assert dec.feed(varint(MAX_MESSAGE_SIZE) + b"abc") == []
    assert dec.buffered == 3  # only what arrived is held
    with pytest.raises(TruncatedMessageError):
        dec.eof()


def test_frame_header_overlong(codec) -> None:
    dec = codec.FrameDecoder(max_message_size=2**62)
    with pytest.raises(MalformedMessageError):
        dec.feed(b"\x80" * 10 + b"\x00")


def test_frame_length_prefix(codec) -> None:
    assert codec.frame_length_prefix(0) == b"\x00"
    assert codec.frame_length_prefix(300) == b"\xac\x02"
    assert codec.frame_length_prefix(MAX_MESSAGE_SIZE) == varint(MAX_MESSAGE_SIZE)
    with pytest.raises(MessageTooLargeError):
        codec.frame_length_prefix(MAX_MESSAGE_SIZE + 1)
    with pytest.raises(ValueError):
        codec.frame_length_prefix(-1)


def _frames(codec, msgs: list[Message]) -> bytes:
    out = b""
    for m in msgs:
        body = codec.encode_message(m)
        out += codec.frame_length_prefix(len(body)) + body
    return out


def test_frames_split_at_every_point(codec) -> None:
    msgs = [SAMPLE, Message(), Message([Entry(b"x")]), SAMPLE]
    stream = _frames(codec, msgs)
    for cut in range(len(stream) + 1):
        for kind in (bytes, bytearray):
            dec = codec.FrameDecoder()
            payloads = dec.feed(kind(stream[:cut])) + dec.feed(kind(stream[cut:]))
            dec.eof()
            assert [codec.decode_message(p) for p in payloads] == msgs


def test_frame_payloads_survive_buffer_reuse(codec) -> None:
    stream = _frames(codec, [SAMPLE, SAMPLE])
    buf = bytearray(stream)
    dec = codec.FrameDecoder()
    payloads = dec.feed(buf)
    buf[:] = bytes(len(buf))  # the caller reuses its receive buffer
    assert [codec.decode_message(p) for p in payloads] == [SAMPLE, SAMPLE]


def test_frame_truncated_at_every_cut_then_eof(codec) -> None:
    stream = _frames(codec, [SAMPLE])
    for cut in range(1, len(stream)):
        dec = codec.FrameDecoder()
        assert dec.feed(stream[:cut]) == []
        with pytest.raises(TruncatedMessageError):
            dec.eof()


def test_all_errors_are_message_errors() -> None:
    for cls in (MessageTooLargeError, BlockTooLargeError, CIDTooLongError,
                TruncatedMessageError, MalformedMessageError):
        assert issubclass(cls, MessageError)
