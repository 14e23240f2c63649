"""Decoded wantlist entries stay independent values across decodes (ipfs/specs bitswap-protocol,
"Wire Format": Wantlist.Entry), for both twins.

The compiled twin recycles the entry objects, CID bytes and priority ints of entries that were
dropped (``csrc/members.h``); these tests hold it to what plain allocation gives: anything still
referenced keeps its value, and a recycled object is indistinguishable from a new one (equal
value, correct hash, correct length).
"""

from __future__ import annotations

import gc

import pytest

from fastswap._proto import bitswap_pb2 as pb
from tests.conftest import import_twin, twin_params

C = "fastswap.message._codec_c"
PY = "fastswap.message._codec_py"


@pytest.fixture(params=twin_params(C, PY))
def codec(request):
    return import_twin(request.param)


def _wantlist(seed: int, n: int = 50, cid_len: int = 36) -> tuple[bytes, list[tuple]]:
    m = pb.Message()
    expected = []
    for i in range(n):
        cid = bytes([(seed * 31 + i * 7 + k) % 256 for k in range(cid_len)])
        prio = (2**31 - 1 - i) if seed % 2 else -(2**31) + i * 1000 + seed  # 1 and 2 digits
        if i % 5 == 0:
            prio = 2**20 + seed + i  # a one-digit int outside the small-int cache
        e = m.wantlist.entries.add(block=cid, priority=prio, wantType=i % 2)
        e.sendDontHave = bool(i % 3)
        expected.append((cid, prio, i % 2, bool(i % 3)))
    return m.SerializeToString(), expected


def _values(msg) -> list[tuple]:
    return [(e.cid, e.priority, e.want_type, e.send_dont_have) for e in msg.entries]


def test_dropped_entries_then_new_values(codec) -> None:
    for seed in range(6):
        data, expected = _wantlist(seed)
        msg = codec.decode_message(data)
        assert _values(msg) == expected
        # hashes computed on one round must not leak into the next round's objects
        assert [hash(e.cid) for e in msg.entries] == [hash(bytes(c)) for c, *_ in expected]
        assert [hash(e.priority) for e in msg.entries] == [hash(p) for _, p, *_ in expected]
        del msg
        gc.collect()


def test_kept_fields_survive_later_decodes(codec) -> None:
    data1, expected1 = _wantlist(1)
    msg = codec.decode_message(data1)
    cids = [e.cid for e in msg.entries]
    prios = [e.priority for e in msg.entries]
    by_cid = {e.cid: e.priority for e in msg.entries}
    del msg  # the entries go, but their cid and priority objects are still referenced here
    for seed in (2, 3, 4):
        data, expected = _wantlist(seed)
        assert _values(codec.decode_message(data)) == expected
    assert cids == [c for c, *_ in expected1]
    assert prios == [p for _, p, *_ in expected1]
    assert by_cid == {c: p for c, p, *_ in expected1}
    assert all(type(c) is bytes and len(c) == 36 for c in cids)


def test_kept_entries_survive_later_decodes(codec) -> None:
    data1, expected1 = _wantlist(5)
    kept = codec.decode_message(data1).entries
    for seed in (6, 7):
        data, expected = _wantlist(seed)
        assert _values(codec.decode_message(data)) == expected
    assert [(e.cid, e.priority, e.want_type, e.send_dont_have) for e in kept] == expected1


def test_cid_lengths_mix(codec) -> None:
    # entries of several CID lengths released together, then decoded in another mix
    for round_, lengths in enumerate(((34, 36, 8, 64, 65), (36, 34, 65, 8), (9, 36))):
        m = pb.Message()
        expected = []
        for i, n in enumerate(lengths * 4):
            cid = bytes([(round_ + i + k) % 256 for k in range(n)])
            m.wantlist.entries.add(block=cid, priority=300 + i)
            expected.append((cid, 300 + i))
        msg = codec.decode_message(m.SerializeToString())
        assert [(e.cid, e.priority) for e in msg.entries] == expected
        assert [len(e.cid) for e in msg.entries] == [len(c) for c, _ in expected]
        del msg


def test_release_freelists_frees_what_is_kept_and_decoding_goes_on(codec) -> None:
    """A host trimming memory after a burst empties the kept objects (csrc/members.h
    fs_free_kept): they were made during the burst and would each keep a pymalloc arena."""
    codec.release_freelists()
    data, expected = _wantlist(8, n=200)
    for _ in range(3):
        msg = codec.decode_message(data)
        assert _values(msg) == expected
        del msg
    kept = codec.release_freelists()
    if codec.__name__ == C:
        # 200 entries, their 200 CIDs and priorities outside the small-int cache came back
        assert kept >= 400, kept
    else:
        assert kept == 0  # the pure twin keeps nothing
    assert codec.release_freelists() == 0  # nothing left
    for seed in (9, 10):  # and decoding, on empty lists, allocates afresh
        data, expected = _wantlist(seed, n=200)
        assert _values(codec.decode_message(data)) == expected
