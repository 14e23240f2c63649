"""mplex sans-IO session (fastswap.net._mplex_c / _mplex_py): spec messages, buffering bound, abuse.

Every test runs against both twins; the fuzz tests also check that the twins agree.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastswap import _compat
from fastswap.errors import MplexError, MuxerError, NetError, StreamClosedError
from fastswap.net._muxer_events import DataReceived, StreamEnded, StreamOpened, StreamReset
from tests.conftest import import_twin, twin_params

C, PY = "fastswap.net._mplex_c", "fastswap.net._mplex_py"
MIB = 1024 * 1024


@pytest.fixture(params=twin_params(C, PY))
def mp(request):
    return import_twin(request.param)


def _twins() -> list:
    return [import_twin(PY)] + ([] if _compat.NO_EXTENSIONS else [import_twin(C)])


def uv(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def msg(mid: int, flag: int, body: bytes = b"") -> bytes:
    return uv(mid << 3 | flag) + uv(len(body)) + body


NEW, MSG_R, MSG_I, CLOSE_R, CLOSE_I, RESET_R, RESET_I = range(7)


def out_bytes(session) -> bytes:
    return b"".join(bytes(x) for x in session.data_to_send())


def pump(a, b, chunk: int = 0) -> tuple[list, list]:
    ev_a: list = []
    ev_b: list = []
    for _ in range(10_000):
        moved = False
        for src, dst, evs in ((a, b, ev_b), (b, a, ev_a)):
            out = src.data_to_send()
            if not out:
                continue
            moved = True
            if chunk:
                blob = b"".join(bytes(x) for x in out)
                for i in range(0, len(blob), chunk):
                    evs.extend(dst.receive_data(blob[i:i + chunk]))
            else:
                for x in out:
                    evs.extend(dst.receive_data(x))
        if not moved:
            return ev_a, ev_b
    raise AssertionError("sessions never went quiet")


def data_of(events: list, handle: int) -> bytes:
    return b"".join(
        bytes(e.data) for e in events if isinstance(e, DataReceived) and e.stream_id == handle
    )


# -- known answers, built by hand from libp2p/specs mplex/README.md ------------------------------


def test_kat_sending(mp) -> None:
    c = mp.MplexSession(True)
    h = c.open_stream()
    assert h == (1 << 1) | 1
    # NewStream: header 1<<3|0 = 0x08, length 1, name "1"
    assert out_bytes(c) == bytes.fromhex("08 01 31")
    assert c.send_data(h, b"hi") == 2
    # MessageInitiator (2): 0x0a, length 2
    assert out_bytes(c) == bytes.fromhex("0a 02") + b"hi"
    c.close_stream(h)
    assert out_bytes(c) == bytes.fromhex("0c 00")  # CloseInitiator (4)
    h2 = c.open_stream(b"")
    assert out_bytes(c) == bytes.fromhex("18 00")  # id 3, empty name
    c.reset_stream(h2)
    assert out_bytes(c) == bytes.fromhex("1e 00")  # ResetInitiator (6)
    # a big id needs a multi-byte varint: id 300 -> 300<<3|2 = 2402 = 0xe2 0x12
    assert msg(300, MSG_I, b"") == bytes.fromhex("e2 12 00")


def test_kat_receiver_side_flags(mp) -> None:
    s = mp.MplexSession(False)
    ev = s.receive_data(bytes.fromhex("08 00 0a 03") + b"abc")
    assert ev == [StreamOpened(2), DataReceived(2, memoryview(b"abc"))]
    assert s.send_data(2, b"yo") == 2
    assert out_bytes(s) == bytes.fromhex("09 02") + b"yo"  # MessageReceiver (1)
    s.close_stream(2)
    assert out_bytes(s) == bytes.fromhex("0b 00")  # CloseReceiver (3)
    s.receive_data(bytes.fromhex("10 00"))  # peer's stream 2
    s.reset_stream(4)
    assert out_bytes(s) == bytes.fromhex("15 00")  # ResetReceiver (5)


def test_ids_are_scoped_by_initiator(mp) -> None:
    # both sides may use id 1: the flag says whose stream a message belongs to
    s = mp.MplexSession(True)
    mine = s.open_stream()
    assert mine == 3
    s.data_to_send()
    ev = s.receive_data(msg(1, NEW) + msg(1, MSG_I, b"theirs") + msg(1, MSG_R, b"mine"))
    assert ev == [StreamOpened(2), DataReceived(2, memoryview(b"theirs")),
                  DataReceived(3, memoryview(b"mine"))]


# -- transfer, half-close, reset ------------------------------------------------------------------


@pytest.mark.parametrize("chunk", [0, 4099])
def test_16_mib_over_several_streams(mp, chunk: int) -> None:
    c, s = mp.MplexSession(True), mp.MplexSession(False)
    payloads = {}
    for i in range(4):
        h = c.open_stream()
        payloads[h] = (hashlib.sha256(bytes([i])).digest() * (4 * MIB // 32))
    got = {h: bytearray() for h in payloads}
    ended = set()
    for h, p in payloads.items():
        view = memoryview(p)
        for off in range(0, len(p), 3 * MIB):  # writes larger than one message get split
            assert c.send_data(h, view[off:off + 3 * MIB]) == len(view[off:off + 3 * MIB])
            _, ev_s = pump(c, s, chunk)
            for e in ev_s:
                if isinstance(e, DataReceived):
                    # the receiver names the dialer's stream id<<1, the dialer id<<1|1
                    got[e.stream_id | 1] += e.data
                    s.consumed(e.stream_id, len(e.data))
                elif isinstance(e, StreamEnded):
                    ended.add(e.stream_id | 1)
        c.close_stream(h)
    _, ev_s = pump(c, s, chunk)
    ended |= {e.stream_id | 1 for e in ev_s if isinstance(e, StreamEnded)}
    assert ended == set(payloads)
    assert all(bytes(got[h]) == p for h, p in payloads.items())


def test_messages_are_at_most_1_mib(mp) -> None:
    c = mp.MplexSession(True)
    h = c.open_stream()
    c.data_to_send()
    c.send_data(h, bytes(2 * MIB + 5))
    sizes = [len(x) for x in c.data_to_send()]
    assert sizes == [4, MIB, 4, MIB, 2, 5]


def test_half_close(mp) -> None:
    c, s = mp.MplexSession(True), mp.MplexSession(False)
    h = c.open_stream()
    c.send_data(h, b"req")
    c.close_stream(h)
    _, ev_s = pump(c, s)
    peer_h = h & ~1
    assert ev_s == [StreamOpened(peer_h), DataReceived(peer_h, memoryview(b"req")),
                    StreamEnded(peer_h)]
    with pytest.raises(StreamClosedError):
        c.send_data(h, b"more")
    s.send_data(peer_h, b"resp")
    s.close_stream(peer_h)
    ev_c, _ = pump(c, s)
    assert ev_c == [DataReceived(h, memoryview(b"resp")), StreamEnded(h)]
    assert c.stream_ids() == [] and s.stream_ids() == []


def test_reset(mp) -> None:
    c, s = mp.MplexSession(True), mp.MplexSession(False)
    h = c.open_stream()
    pump(c, s)
    s.reset_stream(h & ~1)
    ev_c, _ = pump(c, s)
    assert ev_c == [StreamReset(h)]
    with pytest.raises(StreamClosedError):
        c.send_data(h, b"x")
    # data still in flight for a reset stream is dropped quietly
    assert c.receive_data(msg(1, MSG_R, b"late")) == []
    assert out_bytes(c) == b""


# -- hostile input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "blob, match",
    [
        (uv(1 << 3 | 7) + b"\x00", "unknown flag"),
        (b"\xff" * 9 + b"\x01", "varint"),
        (uv(1 << 3 | 2) + b"\xff" * 12, "varint"),
        (uv(1 << 3 | 2) + uv(MIB + 1), "limit"),  # refused at the length, before any payload
        (uv(1 << 3 | 0) + uv(0xFFFFFFFF), "limit"),
    ],
)
def test_protocol_errors(mp, blob: bytes, match: str) -> None:
    s = mp.MplexSession(False)
    with pytest.raises(MplexError, match=match) as exc:
        s.receive_data(blob)
    assert isinstance(exc.value, MuxerError) and isinstance(exc.value, NetError)
    with pytest.raises(MplexError):  # dead for good
        s.receive_data(msg(1, NEW))
    with pytest.raises(MplexError):
        s.open_stream()


def test_duplicate_new_stream(mp) -> None:
    s = mp.MplexSession(False)
    s.receive_data(msg(5, NEW))
    with pytest.raises(MplexError, match="already opened"):
        s.receive_data(msg(5, NEW))


def test_overflowing_a_slow_reader_resets_the_stream(mp) -> None:
    s = mp.MplexSession(False, max_buffered_per_stream=2 * MIB)
    ev = s.receive_data(msg(1, NEW) + msg(1, MSG_I, bytes(MIB)) + msg(1, MSG_I, bytes(MIB)))
    assert [type(e) for e in ev] == [StreamOpened, DataReceived, DataReceived]
    s.consumed(2, 100)  # the reader took a little: 100 bytes of room
    ev = s.receive_data(msg(1, MSG_I, bytes(100)))
    assert [type(e) for e in ev] == [DataReceived]
    ev = s.receive_data(msg(1, MSG_I, b"x") + msg(9, NEW))
    assert ev == [StreamReset(2), StreamOpened(18)]  # the payload was skipped, parsing goes on
    assert out_bytes(s) == msg(1, RESET_R)
    assert s.stream_ids() == [18]


def test_data_after_close_resets(mp) -> None:
    s = mp.MplexSession(False)
    s.receive_data(msg(1, NEW) + msg(1, CLOSE_I))
    ev = s.receive_data(msg(1, MSG_I, b"bad"))
    assert ev == [StreamReset(2)]
    assert out_bytes(s) == msg(1, RESET_R)


def test_too_many_streams_are_reset(mp) -> None:
    s = mp.MplexSession(False, max_streams=2)
    ev = s.receive_data(msg(1, NEW) + msg(2, NEW) + msg(3, NEW, b"name") + msg(3, MSG_I, b"d"))
    assert ev == [StreamOpened(2), StreamOpened(4)]
    assert out_bytes(s) == msg(3, RESET_R)


def test_refusals_are_capped_until_written(mp) -> None:
    s = mp.MplexSession(False, max_streams=1, max_pending_replies=2)
    ev = s.receive_data(b"".join(msg(i, NEW) for i in range(1, 7)))
    assert ev == [StreamOpened(2)]
    assert out_bytes(s) == msg(2, RESET_R) + msg(3, RESET_R)
    assert (s.replies_dropped, s.junk_frames) == (3, 5)
    # data for a stream we do not know is dropped, counted, and never answered
    assert s.receive_data(msg(40, MSG_I, b"zz")) == []
    assert out_bytes(s) == b""
    assert s.junk_frames == 6
    s.receive_data(msg(7, NEW))
    assert out_bytes(s) == msg(7, RESET_R)


def test_misuse(mp) -> None:
    with pytest.raises(NetError):
        mp.MplexSession(True, max_buffered_per_stream=10)
    c = mp.MplexSession(True)
    with pytest.raises(StreamClosedError):
        c.send_data(7, b"x")
    h = c.open_stream()
    with pytest.raises(NetError, match="consumed"):
        c.consumed(h, 1)


# -- fuzz ------------------------------------------------------------------------------------


def _run(mod, blob: bytes, cuts: list[int]) -> tuple:
    s = mod.MplexSession(False, max_streams=3, max_message_size=64, max_buffered_per_stream=128)
    events: list = []
    err = None
    pos = 0
    try:
        for cut in [*cuts, len(blob)]:
            if cut < pos:
                continue
            events.extend(s.receive_data(blob[pos:cut]))
            pos = cut
    except MplexError as exc:
        err = str(exc)
    norm = [(type(e).__name__, e._key()) for e in events]
    return norm, err, out_bytes(s), sorted(s.stream_ids())


VALID = (msg(1, NEW, b"a") + msg(1, MSG_I, b"hello") + msg(2, NEW) + msg(2, MSG_I, bytes(60))
         + msg(1, CLOSE_I) + msg(2, RESET_I) + msg(7, NEW) + msg(7, MSG_I, b"x" * 64))
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=200), st.lists(st.integers(0, 200), max_size=5))
def test_fuzz_random_bytes(blob: bytes, cuts: list[int]) -> None:
    results = [_run(m, blob, sorted(cuts)) for m in _twins()]
    assert all(r == results[0] for r in results)


@FUZZ
@given(
    st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), max_size=6),
    st.lists(st.integers(0, len(VALID)), max_size=6),
)
def test_fuzz_mutated_valid_stream(mutations: list, cuts: list[int]) -> None:
    blob = bytearray(VALID)
    for i, v in mutations:
        blob[i] = v
    results = [_run(m, bytes(blob), sorted(cuts)) for m in _twins()]
    assert all(r == results[0] for r in results)
    if not mutations:
        assert results[0][1] is None
