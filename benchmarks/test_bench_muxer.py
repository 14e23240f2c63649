"""yamux framing throughput: 64 MiB through two back-to-back sessions, compiled vs pure twin.

Framing only: no sockets, no copies of payloads (the sender's frames are memoryview slices and
the receiver's DataReceived views point into them). The receiver consumes every byte at once,
so window updates flow as they would for a fast reader. One group per (streams, frame size);
compare the ``c`` and ``py`` medians inside a group. A last group times the receive side alone
on 64 MiB of wire bytes cut into 64 KiB socket-sized reads (frame headers split across reads).
Measure with

    python -m pytest benchmarks/test_bench_muxer.py --benchmark-enable --benchmark-only

MB/s per round is in each benchmark's ``extra_info`` (``--benchmark-json``).
"""

from __future__ import annotations

import pytest

from fastswap.net._muxer_events import DataReceived
from tests.conftest import import_twin, twin_params

TOTAL = 64 * 1024 * 1024
PAYLOAD = memoryview(bytes(range(256)) * (TOTAL // 256))


@pytest.fixture(params=twin_params("fastswap.net._yamux_c", "fastswap.net._yamux_py"))
def ym(request):
    return import_twin(request.param)


def move(ym, n_streams: int, frame: int) -> int:
    """Send TOTAL bytes split over *n_streams* streams; returns the bytes received."""
    c = ym.YamuxSession(True, max_frame_size=frame)
    s = ym.YamuxSession(False)
    per = TOTAL // n_streams
    sids = [c.open_stream() for _ in range(n_streams)]
    parts = {sid: PAYLOAD[i * per:(i + 1) * per] for i, sid in enumerate(sids)}
    sent = dict.fromkeys(sids, 0)
    received = 0
    c_receive, s_receive, consumed = c.receive_data, s.receive_data, s.consumed
    while received < TOTAL:
        for sid in sids:
            if sent[sid] < per:
                sent[sid] += c.send_data(sid, parts[sid][sent[sid]:])
        for chunk in c.data_to_send():
            for ev in s_receive(chunk):
                if type(ev) is DataReceived:
                    n = len(ev.data)
                    received += n
                    consumed(ev.stream_id, n)
        for chunk in s.data_to_send():
            c_receive(chunk)
    return received


@pytest.mark.parametrize("frame", [16 * 1024, 256 * 1024], ids=["16KiB-frames", "256KiB-frames"])
@pytest.mark.parametrize("n_streams", [1, 8], ids=["1-stream", "8-streams"])
def test_yamux_64mib(benchmark, ym, n_streams: int, frame: int) -> None:
    benchmark.group = f"yamux 64 MiB {n_streams} stream(s) {frame // 1024} KiB frames"
    result = benchmark.pedantic(move, args=(ym, n_streams, frame), rounds=7, iterations=1)
    assert result == TOTAL
    if benchmark.stats is not None:  # None when run as a smoke test (--benchmark-disable)
        median = benchmark.stats.stats.median
        benchmark.extra_info["MB/s"] = round(TOTAL / median / 1e6, 1)


def _wire(ym, frame: int) -> bytes:
    """64 MiB on one stream as it crosses the wire (the window set large enough for all)."""
    c = ym.YamuxSession(True, max_frame_size=frame, initial_window=TOTAL, max_window=TOTAL)
    sid = c.open_stream()
    syn = b"".join(c.data_to_send())
    c.receive_data(bytes.fromhex("00 01 0002") + sid.to_bytes(4, "big")
                   + (TOTAL - 256 * 1024).to_bytes(4, "big"))  # the peer's ACK grants it all
    assert c.send_data(sid, PAYLOAD) == TOTAL
    return syn + b"".join(c.data_to_send())


def receive_wire(ym, wire: memoryview, read_size: int) -> int:
    """Parse *wire* as socket reads of *read_size* bytes (headers split across reads)."""
    s = ym.YamuxSession(False, initial_window=TOTAL, max_window=TOTAL)
    receive, consumed = s.receive_data, s.consumed
    received = 0
    for off in range(0, len(wire), read_size):
        for ev in receive(wire[off:off + read_size]):
            if type(ev) is DataReceived:
                n = len(ev.data)
                received += n
                consumed(ev.stream_id, n)
    return received


@pytest.mark.parametrize("frame", [16 * 1024], ids=["16KiB-frames"])
def test_yamux_receive_64mib_in_64kib_reads(benchmark, ym, frame: int) -> None:
    benchmark.group = "yamux receive 64 MiB wire bytes in 64 KiB reads"
    wire = memoryview(_wire(ym, frame))
    result = benchmark.pedantic(receive_wire, args=(ym, wire, 64 * 1024), rounds=7, iterations=1)
    assert result == TOTAL
    if benchmark.stats is not None:
        benchmark.extra_info["MB/s"] = round(TOTAL / benchmark.stats.stats.median / 1e6, 1)
