"""yamux sans-IO session (fastswap.net._yamux_c / _yamux_py): spec frames, flow control, abuse.

Every test runs against both twins; the fuzz tests also check that the twins agree.
"""

from __future__ import annotations

import hashlib
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastswap import _compat
from fastswap.errors import MuxerError, NetError, StreamClosedError, YamuxError
from fastswap.net._muxer_events import (
    DataReceived,
    GoAwayReceived,
    PingReceived,
    PongReceived,
    StreamEnded,
    StreamOpened,
    StreamReset,
    WindowUpdated,
)
from tests.conftest import import_twin, twin_params

C, PY = "fastswap.net._yamux_c", "fastswap.net._yamux_py"
KIB = 1024
MIB = 1024 * 1024
WIN = 256 * KIB


@pytest.fixture(params=twin_params(C, PY))
def ym(request):
    return import_twin(request.param)


def _twins() -> list:
    return [import_twin(PY)] + ([] if _compat.NO_EXTENSIONS else [import_twin(C)])


def hdr(typ: int, flags: int, sid: int, length: int, version: int = 0) -> bytes:
    return struct.pack(">BBHII", version, typ, flags, sid, length)


DATA, WUP, PING, GOAWAY = 0, 1, 2, 3
SYN, ACK, FIN, RST = 1, 2, 4, 8


def out_bytes(session) -> bytes:
    return b"".join(bytes(x) for x in session.data_to_send())


def feed(session, data: bytes) -> list:
    return session.receive_data(data)


def pump(a, b, chunk: int = 0) -> tuple[list, list]:
    """Move bytes both ways until both sessions are quiet; return (events at a, events at b).

    With *chunk*, the bytes are re-cut into pieces of that size (headers split across reads).
    """
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


def data_of(events: list, sid: int) -> bytes:
    return b"".join(bytes(e.data) for e in events if isinstance(e, DataReceived) and e.stream_id == sid)


# -- known-answer frames, built by hand from hashicorp/yamux spec.md ----------------------------


def test_kat_open_stream_is_window_update_syn(ym) -> None:
    c = ym.YamuxSession(True)
    assert c.open_stream() == 1
    assert c.open_stream() == 3
    assert out_bytes(c) == bytes.fromhex("00 01 0001 00000001 00000000 00 01 0001 00000003 00000000")
    s = ym.YamuxSession(False, initial_window=512 * KIB)
    assert s.open_stream() == 2
    # a larger window is announced in the SYN itself: 512 KiB - 256 KiB = 0x40000
    assert out_bytes(s) == bytes.fromhex("00 01 0001 00000002 00040000")


def test_kat_data_fin_rst_ping_goaway(ym) -> None:
    c = ym.YamuxSession(True)
    sid = c.open_stream()
    c.data_to_send()
    assert c.send_data(sid, b"hello") == 5
    assert out_bytes(c) == bytes.fromhex("00 00 0000 00000001 00000005") + b"hello"
    c.close_stream(sid)
    assert out_bytes(c) == bytes.fromhex("00 01 0004 00000001 00000000")
    sid2 = c.open_stream()
    c.data_to_send()
    c.reset_stream(sid2)
    assert out_bytes(c) == bytes.fromhex("00 01 0008 00000003 00000000")
    assert c.ping(7) == 7
    assert out_bytes(c) == bytes.fromhex("00 02 0001 00000000 00000007")
    c.go_away(0)
    assert out_bytes(c) == bytes.fromhex("00 03 0000 00000000 00000000")


def test_kat_receive_syn_with_data_acks(ym) -> None:
    c = ym.YamuxSession(True)
    ev = feed(c, bytes.fromhex("00 00 0001 00000002 00000003") + b"abc")
    assert ev == [StreamOpened(2), DataReceived(2, memoryview(b"abc"))]
    assert out_bytes(c) == bytes.fromhex("00 01 0002 00000002 00000000")


def test_kat_ping_answered_with_ack(ym) -> None:
    s = ym.YamuxSession(False)
    assert feed(s, bytes.fromhex("00 02 0001 00000000 deadbeef")) == [PingReceived(0xDEADBEEF)]
    assert out_bytes(s) == bytes.fromhex("00 02 0002 00000000 deadbeef")
    assert feed(s, bytes.fromhex("00 02 0002 00000000 00000009")) == [PongReceived(9)]
    assert out_bytes(s) == b""


def test_kat_window_update_and_goaway_received(ym) -> None:
    c = ym.YamuxSession(True)
    sid = c.open_stream()
    c.data_to_send()
    assert feed(c, bytes.fromhex("00 01 0002 00000001 00010000")) == [WindowUpdated(1, 0x10000)]
    assert c.send_window(sid) == WIN + 0x10000
    assert feed(c, bytes.fromhex("00 03 0000 00000000 00000002")) == [GoAwayReceived(2)]


# -- flow control ------------------------------------------------------------------------------


def test_sender_stalls_exactly_at_window_and_resumes_after_consumed(ym) -> None:
    c, s = ym.YamuxSession(True), ym.YamuxSession(False)
    sid = c.open_stream()
    payload = bytes(range(256)) * (4 * KIB)  # 1 MiB
    assert c.send_data(sid, payload) == WIN  # exactly the spec's initial window
    assert c.send_window(sid) == 0
    assert c.send_data(sid, payload[WIN:]) == 0  # stalled
    _, ev_s = pump(c, s)
    assert ev_s[0] == StreamOpened(sid)
    assert data_of(ev_s, sid) == payload[:WIN]
    # batching: no window update until half the window has been consumed
    s.consumed(sid, WIN // 2 - 1)
    assert s.data_to_send() == []
    s.consumed(sid, 1)
    upd = out_bytes(s)
    assert upd == hdr(WUP, 0, sid, WIN // 2)
    assert feed(c, upd) == [WindowUpdated(sid, WIN // 2)]
    assert c.send_data(sid, payload[WIN:]) == WIN // 2  # resumes, exactly by the grant
    assert c.send_data(sid, payload[WIN + WIN // 2:]) == 0


def test_slow_reader_bounds_buffered_bytes(ym) -> None:
    c, s = ym.YamuxSession(True), ym.YamuxSession(False)
    sid = c.open_stream()
    total = 0
    for _ in range(20):  # a writer that keeps trying while nobody reads
        total += c.send_data(sid, b"x" * 100_000)
        pump(c, s)
    assert total == WIN  # what the reader buffers never exceeds the window it granted


def test_window_auto_tunes_up_to_max_window(ym) -> None:
    c, s = ym.YamuxSession(True), ym.YamuxSession(False, max_window=1 * MIB)
    sid = c.open_stream()
    pump(c, s)
    grants = []
    for _ in range(12):
        taken = c.send_data(sid, b"y" * (4 * MIB))
        _, ev_s = pump(c, s)
        # the reader keeps up: it consumes everything as soon as it arrives
        for e in ev_s:
            if isinstance(e, DataReceived):
                s.consumed(sid, len(e.data))
        ev_c, _ = pump(c, s)
        grants.append((taken, sum(e.delta for e in ev_c if isinstance(e, WindowUpdated))))
    assert grants[0][0] == WIN
    assert max(t for t, _ in grants) == 1 * MIB  # grew, but never beyond max_window
    assert c.send_window(sid) <= 1 * MIB


@pytest.mark.parametrize("chunk", [0, 7919])
def test_16_mib_over_several_streams(ym, chunk: int) -> None:
    c, s = ym.YamuxSession(True), ym.YamuxSession(False, max_window=2 * MIB)
    n_streams = 4
    per = 4 * MIB
    payloads = {}
    for i in range(n_streams):
        sid = c.open_stream()
        seed = hashlib.sha256(bytes([i])).digest()
        payloads[sid] = (seed * (per // 32 + 1))[:per]
    sent = dict.fromkeys(payloads, 0)
    got = {sid: bytearray() for sid in payloads}
    ended = set()
    for _ in range(2000):
        for sid, p in payloads.items():
            if sent[sid] < per:
                window = c.send_window(sid)
                taken = c.send_data(sid, memoryview(p)[sent[sid]:])
                assert taken == min(window, per - sent[sid])  # never over the window
                sent[sid] += taken
                if sent[sid] == per:
                    c.close_stream(sid)
        _, ev_s = pump(c, s, chunk)
        for e in ev_s:
            if isinstance(e, DataReceived):
                got[e.stream_id] += e.data
                s.consumed(e.stream_id, len(e.data))
            elif isinstance(e, StreamEnded):
                ended.add(e.stream_id)
        pump(c, s, chunk)
        if len(ended) == n_streams:
            break
    assert ended == set(payloads)
    for sid, p in payloads.items():
        assert bytes(got[sid]) == p
    # the receiver half-closed nothing yet: the streams live on, half-closed
    assert sorted(s.stream_ids()) == sorted(payloads)
    for sid in payloads:
        s.close_stream(sid)
    ev_c, _ = pump(c, s)
    assert [e for e in ev_c if isinstance(e, StreamEnded)] == [StreamEnded(i) for i in payloads]
    assert c.stream_ids() == [] and s.stream_ids() == []


def test_byte_by_byte_feeding_gives_the_same_stream(ym) -> None:
    c = ym.YamuxSession(True)
    sid = c.open_stream()
    c.send_data(sid, b"0123456789" * 5)
    c.close_stream(sid)
    c.ping(3)
    blob = out_bytes(c)
    whole = ym.YamuxSession(False)
    ev_whole = feed(whole, blob)
    split = ym.YamuxSession(False)
    ev_split = []
    for i in range(len(blob)):
        ev_split.extend(split.receive_data(blob[i:i + 1]))
    assert [type(e) for e in ev_whole] == [StreamOpened, DataReceived, StreamEnded, PingReceived]
    assert data_of(ev_split, sid) == b"0123456789" * 5
    assert [e for e in ev_split if not isinstance(e, DataReceived)] == [
        e for e in ev_whole if not isinstance(e, DataReceived)
    ]
    assert out_bytes(split) == out_bytes(whole)


def test_fin_on_data_frame_comes_after_its_payload(ym) -> None:
    s = ym.YamuxSession(False)
    blob = hdr(DATA, SYN | FIN, 1, 6) + b"abcdef"
    ev = feed(s, blob[:15]) + feed(s, blob[15:])
    assert [type(e) for e in ev] == [StreamOpened, DataReceived, DataReceived, StreamEnded]
    assert data_of(ev, 1) == b"abcdef"


# -- half-close, reset, ping, go-away ------------------------------------------------------------


def test_half_close_semantics(ym) -> None:
    c, s = ym.YamuxSession(True), ym.YamuxSession(False)
    sid = c.open_stream()
    c.send_data(sid, b"request")
    c.close_stream(sid)
    _, ev_s = pump(c, s)
    assert ev_s[-1] == StreamEnded(sid) and data_of(ev_s, sid) == b"request"
    with pytest.raises(StreamClosedError):
        c.send_data(sid, b"more")
    # the other direction is still open
    assert s.send_data(sid, b"response") == 8
    s.close_stream(sid)
    ev_c, _ = pump(c, s)
    assert data_of(ev_c, sid) == b"response" and ev_c[-1] == StreamEnded(sid)
    assert c.stream_ids() == [] and s.stream_ids() == []


def test_reset(ym) -> None:
    c, s = ym.YamuxSession(True), ym.YamuxSession(False)
    sid = c.open_stream()
    c.send_data(sid, b"abc")
    pump(c, s)
    c.reset_stream(sid)
    _, ev_s = pump(c, s)
    assert ev_s == [StreamReset(sid)]
    assert s.stream_ids() == [] and c.stream_ids() == []
    with pytest.raises(StreamClosedError):
        s.send_data(sid, b"late")
    with pytest.raises(StreamClosedError):
        c.send_data(sid, b"late")


def test_reset_mid_payload_drops_the_rest(ym) -> None:
    s = ym.YamuxSession(False)
    blob = hdr(DATA, SYN | FIN, 1, 10) + b"0123456789" + hdr(PING, SYN, 0, 1)
    ev = feed(s, blob[:16])
    s.reset_stream(1)
    ev2 = feed(s, blob[16:])
    assert data_of(ev, 1) == b"0123"
    assert ev2 == [PingReceived(1)]  # no data, no StreamEnded for the reset stream


def test_ping_round_trip(ym) -> None:
    c, s = ym.YamuxSession(True), ym.YamuxSession(False)
    opaque = c.ping()
    ev_c, ev_s = pump(c, s)
    assert ev_s == [PingReceived(opaque)] and ev_c == [PongReceived(opaque)]
    assert c.ping() != opaque


def test_go_away(ym) -> None:
    c, s = ym.YamuxSession(True), ym.YamuxSession(False)
    sid = c.open_stream()
    pump(c, s)
    s.go_away()
    ev_c, _ = pump(c, s)
    assert ev_c == [GoAwayReceived(0)]
    with pytest.raises(StreamClosedError):
        c.open_stream()
    with pytest.raises(StreamClosedError):
        s.open_stream()
    # existing streams keep working
    assert c.send_data(sid, b"still here") == 10
    _, ev_s = pump(c, s)
    assert data_of(ev_s, sid) == b"still here"
    # a SYN arriving after our go-away is refused with RST
    assert feed(s, hdr(WUP, SYN, 5, 0)) == []
    assert out_bytes(s) == hdr(WUP, RST, 5, 0)


# -- hostile input ---------------------------------------------------------------------------


def _assert_dead(session, err: YamuxError) -> None:
    # a GoAway(protocol error) is queued for the peer, and the session stays dead
    assert out_bytes(session).endswith(hdr(GOAWAY, 0, 0, 1))
    with pytest.raises(YamuxError):
        session.receive_data(hdr(PING, SYN, 0, 1))
    with pytest.raises(YamuxError):
        session.open_stream()
    assert isinstance(err, MuxerError) and isinstance(err, NetError)


@pytest.mark.parametrize(
    "frame, match",
    [
        (hdr(PING, SYN, 0, 1, version=1), "version"),
        (hdr(4, 0, 0, 0), "unknown type"),
        (hdr(0xFF, 0, 1, 0), "unknown type"),
        (hdr(DATA, 0, 0, 0), "stream 0"),
        (hdr(PING, SYN, 3, 0), "ping on stream"),
        (hdr(PING, 0, 0, 0), "neither SYN nor ACK"),
        (hdr(GOAWAY, 0, 9, 0), "go-away on stream"),
        (hdr(WUP, SYN, 1, 0), "parity"),  # the client's own parity
        (hdr(DATA, 0, 7, 0xFFFFFFFF), "exceeds any window"),  # unknown stream, huge length
    ],
)
def test_protocol_errors(ym, frame: bytes, match: str) -> None:
    c = ym.YamuxSession(True)
    with pytest.raises(YamuxError, match=match) as exc:
        c.receive_data(frame)
    _assert_dead(c, exc.value)


def test_syn_for_existing_stream(ym) -> None:
    c = ym.YamuxSession(True)
    feed(c, hdr(WUP, SYN, 2, 0))
    c.data_to_send()
    with pytest.raises(YamuxError, match="already open") as exc:
        feed(c, hdr(WUP, SYN, 2, 0))
    _assert_dead(c, exc.value)


def test_window_overflow_is_a_session_error_before_any_payload(ym) -> None:
    s = ym.YamuxSession(False)
    feed(s, hdr(WUP, SYN, 1, 0))
    s.data_to_send()
    # only the header: the error comes before a byte of payload is read or allocated
    with pytest.raises(YamuxError, match="window") as exc:
        feed(s, hdr(DATA, 0, 1, WIN + 1))
    _assert_dead(s, exc.value)


def test_window_overflow_counts_across_frames(ym) -> None:
    s = ym.YamuxSession(False)
    feed(s, hdr(DATA, SYN, 1, WIN - 10) + b"z" * (WIN - 10))
    feed(s, hdr(DATA, 0, 1, 10) + b"z" * 10)  # exactly the window: fine
    with pytest.raises(YamuxError, match="window"):
        feed(s, hdr(DATA, 0, 1, 1) + b"z")


def test_huge_length_on_known_stream(ym) -> None:
    s = ym.YamuxSession(False)
    feed(s, hdr(WUP, SYN, 1, 0))
    with pytest.raises(YamuxError):
        feed(s, hdr(DATA, 0, 1, 0xFFFFFFFF))


def test_window_update_overflow(ym) -> None:
    c = ym.YamuxSession(True)
    c.open_stream()
    with pytest.raises(YamuxError, match="overflows"):
        feed(c, hdr(WUP, 0, 1, 0xFFFFFFFF))


def test_data_for_unknown_stream_is_skipped_without_reply(ym) -> None:
    c = ym.YamuxSession(True)
    ev = feed(c, hdr(DATA, 0, 4, 5) + b"xxxxx" + hdr(PING, SYN, 0, 2))
    assert ev == [PingReceived(2)]  # the payload was skipped, the next frame parsed
    # no RST for the data (go-yamux drains it silently): a peer cannot make us write at will
    assert out_bytes(c) == hdr(PING, ACK, 0, 2)
    assert feed(c, hdr(DATA, RST, 4, 0)) == []
    assert out_bytes(c) == b""
    assert c.junk_frames == 2  # the data frame and the ping


def test_forced_replies_are_capped_until_written(ym) -> None:
    s = ym.YamuxSession(False, max_streams=1, max_pending_replies=3)
    pings = b"".join(hdr(PING, SYN, 0, i) for i in range(10))
    ev = feed(s, pings)
    assert ev == [PingReceived(0), PingReceived(1), PingReceived(2)]
    assert out_bytes(s) == b"".join(hdr(PING, ACK, 0, i) for i in range(3))
    assert s.replies_dropped == 7
    # written: the budget is back; refused SYNs share it
    ev = feed(s, hdr(WUP, SYN, 1, 0) + b"".join(hdr(WUP, SYN, 3 + 2 * i, 0) for i in range(5)))
    assert ev == [StreamOpened(1)]
    assert out_bytes(s) == hdr(WUP, ACK, 1, 0) + b"".join(
        hdr(WUP, RST, 3 + 2 * i, 0) for i in range(3))
    assert s.replies_dropped == 9
    assert s.junk_frames == 15


def test_data_after_fin_resets_the_stream(ym) -> None:
    s = ym.YamuxSession(False)
    feed(s, hdr(WUP, SYN | FIN, 1, 0))
    s.data_to_send()
    ev = feed(s, hdr(DATA, 0, 1, 3) + b"bad" + hdr(PING, SYN, 0, 1))
    assert ev == [StreamReset(1), PingReceived(1)]
    assert out_bytes(s) == hdr(WUP, RST, 1, 0) + hdr(PING, ACK, 0, 1)
    assert s.stream_ids() == []


def test_too_many_streams_are_refused_with_rst(ym) -> None:
    s = ym.YamuxSession(False, max_streams=2)
    ev = feed(s, hdr(WUP, SYN, 1, 0) + hdr(WUP, SYN, 3, 0))
    assert ev == [StreamOpened(1), StreamOpened(3)]
    s.data_to_send()
    ev = feed(s, hdr(DATA, SYN, 5, 4) + b"data" + hdr(PING, SYN, 0, 8))
    assert ev == [PingReceived(8)]
    assert out_bytes(s) == hdr(WUP, RST, 5, 0) + hdr(PING, ACK, 0, 8)
    assert sorted(s.stream_ids()) == [1, 3]


def test_max_buffered_per_stream_caps_the_window(ym) -> None:
    s = ym.YamuxSession(False, max_buffered_per_stream=300 * KIB)
    assert s.max_window == 300 * KIB
    with pytest.raises(NetError):
        ym.YamuxSession(False, max_buffered_per_stream=100 * KIB)  # below the spec's window


def test_misuse_raises_named_errors(ym) -> None:
    with pytest.raises(NetError):
        ym.YamuxSession(True, initial_window=1024)  # below the spec's 256 KiB
    c = ym.YamuxSession(True)
    with pytest.raises(StreamClosedError):
        c.send_data(99, b"x")
    sid = c.open_stream()
    with pytest.raises(NetError, match="consumed"):
        c.consumed(sid, 1)


# -- fuzz: only YamuxError escapes, and both twins agree ------------------------------------------


def _norm(events: list) -> list:
    return [(type(e).__name__, e._key()) for e in events]


def _run(mod, blob: bytes, cuts: list[int], is_client: bool) -> tuple:
    s = mod.YamuxSession(is_client, max_streams=4, max_window=512 * KIB)
    events: list = []
    err = None
    pos = 0
    try:
        for cut in [*cuts, len(blob)]:
            if cut < pos:
                continue
            new = s.receive_data(blob[pos:cut])
            events.extend(new)
            for e in new:  # a reader that keeps up: window updates go out too
                if isinstance(e, DataReceived):
                    s.consumed(e.stream_id, len(e.data))
            pos = cut
    except YamuxError as exc:
        err = str(exc)
    return _norm(events), err, out_bytes(s), sorted(s.stream_ids())


def _valid_transcript() -> bytes:
    mod = import_twin(PY)
    s = mod.YamuxSession(False)
    a = s.open_stream()
    b = s.open_stream()
    s.send_data(a, b"hello world")
    s.ping(5)
    s.send_data(b, bytes(300))
    s.close_stream(a)
    s.reset_stream(b)
    s.go_away(0)
    return out_bytes(s) + hdr(WUP, ACK, 2, 100) + hdr(DATA, FIN, 2, 2) + b"ok"


VALID = _valid_transcript()
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=200), st.lists(st.integers(0, 200), max_size=5), st.booleans())
def test_fuzz_random_bytes(blob: bytes, cuts: list[int], is_client: bool) -> None:
    results = [_run(m, blob, sorted(cuts), is_client) for m in _twins()]
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
    results = [_run(m, bytes(blob), sorted(cuts), True) for m in _twins()]
    assert all(r == results[0] for r in results)
    if not mutations:
        assert results[0][1] is None  # the unmutated transcript is valid
