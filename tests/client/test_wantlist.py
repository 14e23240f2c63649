"""fastswap.client wantlist (both twins): the add/remove rules, send order, diff/apply, PeerWants.

Spec: ipfs/specs bitswap-protocol "Wantlist" and go-bitswap PR #186 (want-have, send-dont-have).
Every test runs on the compiled (``c``) and pure (``py``) twins; the property tests also check the
twins against each other and against a naive model written here.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from fastswap import _compat
from fastswap._defaults import MAX_CID_SIZE
from fastswap.errors import FastswapError, WantlistError
from tests.conftest import import_twin, twin_params

_ROOT = Path(__file__).resolve().parents[2]
C, PY = "fastswap.client._wantlist_c", "fastswap.client._wantlist_py"
BLOCK, HAVE = 0, 1


@pytest.fixture(params=twin_params(C, PY))
def wl(request):
    return import_twin(request.param)


def cid(i: int) -> bytes:
    return b"\x01\x55\x12\x20" + i.to_bytes(32, "big")


A, B, D, E = cid(1), cid(2), cid(3), cid(4)


def state(w) -> dict:
    """A wantlist as plain data: cid -> (priority, want_type, send_dont_have)."""
    return {c: (e.priority, e.want_type, e.send_dont_have) for c in w
            for e in [w.get(c)]}


def flat(entries) -> list:
    return [(e.cid, e.priority, e.want_type, e.send_dont_have) for e in entries]


# -- the selector ---------------------------------------------------------------------------


def test_public_module_reexports_the_selected_twin() -> None:
    from fastswap.client import wantlist

    chosen = importlib.import_module(PY if _compat.NO_EXTENSIONS else C)
    for name in wantlist.__all__:
        assert getattr(wantlist, name) is getattr(chosen, name)
    assert (wantlist.WANT_BLOCK, wantlist.WANT_HAVE) == (0, 1)  # protobuf WantType numbers


# -- add ------------------------------------------------------------------------------------


def test_add_new_entry(wl) -> None:
    w = wl.Wantlist()
    assert len(w) == 0 and A not in w and w.get(A) is None
    assert w.add(A, 5, wl.WANT_HAVE, True) is True
    assert A in w and len(w) == 1
    e = w.get(A)
    assert (e.cid, e.priority, e.want_type, e.send_dont_have) == (A, 5, HAVE, True)
    assert isinstance(e, wl.Entry)


def test_add_defaults_to_want_block_without_dont_have(wl) -> None:
    w = wl.Wantlist()
    w.add(A, 1)
    assert state(w) == {A: (1, BLOCK, False)}


def test_re_adding_same_type_keeps_priority(wl) -> None:
    w = wl.Wantlist()
    w.add(A, 5, BLOCK)
    assert w.add(A, 9, BLOCK) is False
    assert state(w) == {A: (5, BLOCK, False)}


def test_re_adding_same_type_can_turn_send_dont_have_on_not_off(wl) -> None:
    w = wl.Wantlist()
    w.add(A, 5, HAVE, False)
    assert w.add(A, 9, HAVE, True) is True
    assert state(w) == {A: (5, HAVE, True)}  # priority kept, flag on
    assert w.add(A, 9, HAVE, False) is False
    assert state(w) == {A: (5, HAVE, True)}


def test_want_block_upgrades_want_have(wl) -> None:
    w = wl.Wantlist()
    w.add(A, 5, HAVE, True)
    assert w.add(A, 7, BLOCK, False) is True
    # the new priority; send_dont_have kept, since the have asked for it
    assert state(w) == {A: (7, BLOCK, True)}
    w.add(B, 5, HAVE, False)
    assert w.add(B, 2, BLOCK, True) is True
    assert state(w)[B] == (2, BLOCK, True)


def test_want_have_does_not_change_want_block(wl) -> None:
    w = wl.Wantlist()
    w.add(A, 5, BLOCK, False)
    assert w.add(A, 9, HAVE, True) is False
    assert state(w) == {A: (5, BLOCK, False)}


def test_priority_bounds_are_the_wire_int32(wl) -> None:
    w = wl.Wantlist()
    assert w.add(A, 2**31 - 1) and w.add(B, -(2**31))
    assert w.get(A).priority == 2**31 - 1 and w.get(B).priority == -(2**31)


@pytest.mark.parametrize(
    "args",
    [
        ("not bytes", 1, BLOCK),
        (bytearray(A), 1, BLOCK),
        (b"", 1, BLOCK),
        (b"x" * (MAX_CID_SIZE + 1), 1, BLOCK),
        (A, 2**31, BLOCK),
        (A, -(2**31) - 1, BLOCK),
        (A, 10**100, BLOCK),
        (A, 1.5, BLOCK),
        (A, "1", BLOCK),
        (A, None, BLOCK),
        (A, 1, 2),
        (A, 1, -1),
        (A, 1, 1.0),
        (A, 1, "block"),
        (A, 1, None),
    ],
)
def test_bad_input_raises_wantlist_error(wl, args) -> None:
    w = wl.Wantlist()
    with pytest.raises(WantlistError):
        w.add(*args)
    with pytest.raises(WantlistError):
        wl.PeerWants().add(*args)
    with pytest.raises(WantlistError):
        wl.Entry(*args)
    assert len(w) == 0
    assert issubclass(WantlistError, FastswapError) and issubclass(WantlistError, ValueError)


def test_error_message_says_what_to_do(wl) -> None:
    with pytest.raises(WantlistError, match="fastswap.cid.parse"):
        wl.Wantlist().add("bafy...", 1)
    with pytest.raises(WantlistError, match="int32"):
        wl.Wantlist().add(A, 2**40)


def test_cid_of_max_size_is_accepted(wl) -> None:
    w = wl.Wantlist()
    assert w.add(b"x" * MAX_CID_SIZE, 1)


# -- remove ---------------------------------------------------------------------------------


def test_remove(wl) -> None:
    w = wl.Wantlist()
    w.add(A, 1)
    assert w.remove(B) is False
    assert w.remove(A) is True
    assert A not in w and len(w) == 0
    assert w.remove(A) is False


@pytest.mark.parametrize(
    "held, removed, gone",
    [(BLOCK, HAVE, False), (HAVE, HAVE, True), (HAVE, BLOCK, True), (BLOCK, BLOCK, True)],
)
def test_remove_type(wl, held, removed, gone) -> None:
    w = wl.Wantlist()
    w.add(A, 1, held)
    assert w.remove_type(A, removed) is gone
    assert (A in w) is (not gone)


def test_remove_type_of_absent_and_bad_type(wl) -> None:
    w = wl.Wantlist()
    assert w.remove_type(A, HAVE) is False
    w.add(A, 1)
    with pytest.raises(WantlistError):
        w.remove_type(A, 7)
    with pytest.raises(WantlistError):
        wl.PeerWants().remove_type(A, "have")
    assert A in w


def test_lookups_with_foreign_keys_do_not_crash(wl) -> None:
    w = wl.Wantlist()
    w.add(A, 1)
    assert "abc" not in w and 5 not in w and w.get("abc") is None
    assert w.remove("abc") is False and w.remove_type(5, HAVE) is False


# -- send order -----------------------------------------------------------------------------


def test_entries_priority_descending_ties_in_insertion_order(wl) -> None:
    w = wl.Wantlist()
    for c, p in [(A, 1), (B, 5), (D, 1), (E, 5)]:
        w.add(c, p)
    assert [e.cid for e in w.entries()] == [B, E, A, D]
    assert list(w) == [A, B, D, E]


def test_upgrade_keeps_its_place_and_re_add_goes_last(wl) -> None:
    w = wl.Wantlist()
    for c in (A, B, D):
        w.add(c, 1, HAVE)
    w.add(A, 1, BLOCK)  # upgrade in place
    assert [e.cid for e in w.entries()] == [A, B, D]
    w.remove(B)
    w.add(B, 1, HAVE)
    assert [e.cid for e in w.entries()] == [A, D, B]


def test_entries_is_a_fresh_list_and_follows_changes(wl) -> None:
    w = wl.Wantlist()
    w.add(A, 1)
    first = w.entries()
    first.clear()
    assert len(w.entries()) == 1  # the cache was not handed out
    w.add(B, 2)
    assert [e.cid for e in w.entries()] == [B, A]
    w.remove(B)
    assert [e.cid for e in w.entries()] == [A]
    w.add(A, 3, HAVE, True)  # no change
    w.add(D, 0, HAVE, True)
    w.add(D, 9, BLOCK)  # upgrade changes priority: order must follow
    assert [e.cid for e in w.entries()] == [D, A]


def test_copy_is_independent(wl) -> None:
    w = wl.Wantlist()
    w.add(A, 1)
    w.entries()  # warm the cache, then diverge
    c = w.copy()
    assert c == w and c is not w
    c.add(B, 2)
    w.remove(A)
    assert state(c) == {A: (1, BLOCK, False), B: (2, BLOCK, False)}
    assert state(w) == {}
    assert [e.cid for e in c.entries()] == [B, A] and w.entries() == []


def test_equality(wl) -> None:
    x, y = wl.Wantlist(), wl.Wantlist()
    x.add(A, 1)
    x.add(B, 2)
    y.add(B, 2)
    y.add(A, 1)
    assert x == y  # order of insertion does not matter
    y.add(A, 1, BLOCK, True)
    assert x != y
    assert x != {A: 1} and (x == object()) is False
    with pytest.raises(TypeError):
        hash(x)  # mutable


def test_entry_value_semantics(wl) -> None:
    e = wl.Entry(A, 3, HAVE, 1)
    assert e.send_dont_have is True
    assert e == wl.Entry(A, 3, HAVE, True)
    assert e != wl.Entry(A, 4, HAVE, True) and e != wl.Entry(B, 3, HAVE, True)
    assert hash(e) == hash(wl.Entry(A, 3, HAVE, True))
    assert "have" in repr(e) and A.hex() in repr(e)
    w = wl.Wantlist()
    w.add(A, 3, HAVE, True)
    assert w.get(A) == e


def test_compiled_entries_are_read_only() -> None:
    if _compat.NO_EXTENSIONS:
        pytest.skip("FASTSWAP_NO_EXTENSIONS=1: compiled twins off")
    c = import_twin(C)
    e = c.Entry(A, 3)
    with pytest.raises(AttributeError):
        e.priority = 4


# -- diff and apply -------------------------------------------------------------------------


def test_diff_example(wl) -> None:
    old, new = wl.Wantlist(), wl.Wantlist()
    old.add(A, 1, HAVE)     # upgraded in new
    old.add(B, 2, BLOCK)    # unchanged
    old.add(D, 3, BLOCK)    # dropped
    new.add(A, 4, BLOCK)
    new.add(B, 2, BLOCK)
    new.add(E, 9, HAVE, True)  # added
    d = wl.diff(old, new)
    assert flat(d.wants) == [(E, 9, HAVE, True), (A, 4, BLOCK, False)]
    assert d.cancels == [D]
    assert len(d) == 3 and d
    old.apply(d)
    assert old == new


def test_diff_sees_priority_flag_and_downgrade_changes(wl) -> None:
    old, new = wl.Wantlist(), wl.Wantlist()
    old.add(A, 1, BLOCK)
    old.add(B, 1, HAVE)
    old.add(D, 1, HAVE)
    new.add(A, 1, HAVE)          # downgrade
    new.add(B, 2, HAVE)          # priority
    new.add(D, 1, HAVE, True)    # flag
    d = wl.diff(old, new)
    assert flat(d.wants) == [(B, 2, HAVE, False), (A, 1, HAVE, False), (D, 1, HAVE, True)]
    assert d.cancels == []
    old.apply(d)  # apply sets state: the downgrade happens
    assert old == new and old.get(A).want_type == HAVE


def test_diff_of_equal_wantlists_is_empty(wl) -> None:
    w = wl.Wantlist()
    w.add(A, 1)
    d = wl.diff(w, w.copy())
    assert d.wants == [] and d.cancels == [] and not d and len(d) == 0
    assert d == wl.WantlistDiff()


def test_apply_cancels_before_wants(wl) -> None:
    w = wl.Wantlist()
    w.add(A, 1)
    w.apply(wl.WantlistDiff([wl.Entry(A, 2, HAVE)], [A, B]))
    assert state(w) == {A: (2, HAVE, False)}


def test_diff_and_apply_reject_bad_arguments(wl) -> None:
    w = wl.Wantlist()
    w.add(A, 1)
    for bad in (None, {A: 1}, wl.PeerWants()):
        with pytest.raises(WantlistError):
            wl.diff(w, bad)
        with pytest.raises(WantlistError):
            wl.diff(bad, w)
        with pytest.raises(WantlistError):
            w.apply(bad)
    with pytest.raises(WantlistError):
        w.apply(wl.WantlistDiff([(A, 1, 0, False)]))
    assert state(w) == {A: (1, BLOCK, False)}  # a refused diff changes nothing


def test_wantlist_diff_value(wl) -> None:
    d = wl.WantlistDiff((wl.Entry(A, 1),), iter([B]))
    assert d.wants == [wl.Entry(A, 1)] and d.cancels == [B]
    assert d == wl.WantlistDiff([wl.Entry(A, 1)], [B]) and d != wl.WantlistDiff([], [B])
    assert B.hex() in repr(d)


# -- PeerWants ------------------------------------------------------------------------------


def test_peerwants_first_flush_sends_everything_in_send_order(wl) -> None:
    pw = wl.PeerWants()
    pw.add(A, 1, HAVE)
    pw.add(B, 5, BLOCK, True)
    assert pw.pending == 2 and len(pw) == 2 and A in pw and pw.get(B).send_dont_have
    d = pw.flush()
    assert flat(d.wants) == [(B, 5, BLOCK, True), (A, 1, HAVE, False)] and d.cancels == []
    assert pw.pending == 0
    assert pw.sent() == pw.wanted()
    assert not pw.flush()  # nothing changed: nothing to send


def test_peerwants_cancel_only_what_was_sent(wl) -> None:
    pw = wl.PeerWants()
    pw.add(A, 1)
    pw.flush()
    pw.add(B, 1)
    assert pw.remove(B) and pw.remove(A)
    assert not pw.remove(A)
    d = pw.flush()
    assert d.wants == [] and d.cancels == [A]  # B never reached the peer
    assert len(pw.sent()) == 0


def test_peerwants_resend_sends_a_held_want_again(wl) -> None:
    """resend: the peer dropped a want we sent; the next flush carries it again, once."""
    pw = wl.PeerWants()
    pw.add(A, 3, BLOCK, True)
    pw.add(B, 2, BLOCK)
    assert not pw.resend(A)  # not sent yet: it goes anyway
    pw.flush()
    assert pw.resend(A)
    assert not pw.resend(A)  # already queued
    assert not pw.resend(C)  # never wanted
    d = pw.flush()
    assert [(e.cid, e.priority, e.want_type, e.send_dont_have) for e in d.wants] == [
        (A, 3, BLOCK, True)] and d.cancels == []
    assert not pw.flush()
    pw.remove(B)
    assert not pw.resend(B)  # a cancel is queued: left as it is
    assert pw.flush().cancels == [B]


def test_peerwants_changed_back_sends_nothing(wl) -> None:
    pw = wl.PeerWants()
    pw.add(A, 3, BLOCK)
    pw.flush()
    pw.remove(A)
    pw.add(A, 3, BLOCK)
    assert pw.pending == 1
    assert not pw.flush() and pw.pending == 0


def test_peerwants_upgrade_and_flag(wl) -> None:
    pw = wl.PeerWants()
    pw.add(A, 1, HAVE)
    pw.add(B, 1, HAVE)
    pw.flush()
    assert pw.add(A, 8, BLOCK)
    assert pw.add(B, 1, HAVE, True)
    assert not pw.add(A, 9, HAVE)
    d = pw.flush()
    assert flat(d.wants) == [(A, 8, BLOCK, False), (B, 1, HAVE, True)] and d.cancels == []


def test_peerwants_downgrade_takes_a_cancel_then_a_want_have(wl) -> None:
    pw = wl.PeerWants()
    pw.add(A, 4, BLOCK)
    pw.flush()
    assert pw.remove_type(A, BLOCK)
    pw.add(A, 2, HAVE, True)
    first = pw.flush()
    assert first.wants == [] and first.cancels == [A]
    assert pw.pending == 1
    second = pw.flush()
    assert flat(second.wants) == [(A, 2, HAVE, True)] and second.cancels == []
    assert pw.pending == 0 and pw.sent() == pw.wanted()


def test_peerwants_remove_type_have_keeps_block(wl) -> None:
    pw = wl.PeerWants()
    pw.add(A, 1, BLOCK)
    pw.flush()
    assert pw.remove_type(A, HAVE) is False
    assert pw.pending == 0


def test_peerwants_max_entries_cancels_first_then_by_priority(wl) -> None:
    pw = wl.PeerWants()
    pw.add(A, 1)
    pw.add(B, 1)
    pw.flush()
    pw.remove(A)
    pw.remove(B)
    for c, p in [(D, 1), (E, 9), (cid(5), 5)]:
        pw.add(c, p)
    d = pw.flush(max_entries=1)
    assert d.cancels == [A] and d.wants == []
    d = pw.flush(3)
    assert d.cancels == [B] and [e.cid for e in d.wants] == [E, cid(5)]
    d = pw.flush(100)
    assert d.cancels == [] and [e.cid for e in d.wants] == [D]
    assert pw.pending == 0 and pw.sent() == pw.wanted()


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True + 1.0])
def test_peerwants_bad_max_entries(wl, bad) -> None:
    pw = wl.PeerWants()
    pw.add(A, 1)
    with pytest.raises(WantlistError):
        pw.flush(bad)
    assert pw.pending == 1


def test_peerwants_huge_max_entries_means_no_cap(wl) -> None:
    pw = wl.PeerWants()
    pw.add(A, 1)
    assert len(pw.flush(10**30)) == 1


def test_peerwants_full_and_reset(wl) -> None:
    pw = wl.PeerWants()
    pw.add(A, 1)
    pw.add(B, 2, HAVE)
    pw.flush()
    pw.remove(A)
    pw.add(D, 3)
    d = pw.full()  # a full=True message replaces the peer's list: no cancels needed
    assert [e.cid for e in d.wants] == [D, B] and d.cancels == []
    assert pw.pending == 0 and pw.sent() == pw.wanted()
    pw.reset()  # the peer disconnected and forgot
    assert len(pw.sent()) == 0 and pw.pending == 2
    d = pw.flush()
    assert [e.cid for e in d.wants] == [D, B] and d.cancels == []


def test_peerwants_views_are_copies(wl) -> None:
    pw = wl.PeerWants()
    pw.add(A, 1)
    pw.wanted().add(B, 1)
    pw.flush()
    pw.sent().remove(A)
    assert B not in pw and pw.sent() == pw.wanted() and "pending=0" in repr(pw)


# -- properties -----------------------------------------------------------------------------

CIDS = [cid(i) for i in range(6)]
cids = st.sampled_from(CIDS)
prios = st.one_of(st.integers(-3, 3), st.sampled_from([-(2**31), 2**31 - 1]))
types = st.sampled_from([BLOCK, HAVE])
op = st.one_of(
    st.tuples(st.just("add"), cids, prios, types, st.booleans()),
    st.tuples(st.just("remove"), cids),
    st.tuples(st.just("remove_type"), cids, types),
)
ops = st.lists(op, max_size=40)
# the wl fixture only hands out a module, so sharing it between examples is harmless
FAST = settings(
    max_examples=150, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


class Model:
    """The rules written out plainly: a dict cid -> (priority, want_type, send_dont_have)."""

    def __init__(self) -> None:
        self.d: dict[bytes, tuple[int, int, bool]] = {}

    def add(self, c, p, t, s) -> bool:
        if c in self.d:
            op_, ot, os_ = self.d[c]
            if ot == t:
                if s and not os_:
                    self.d[c] = (op_, ot, True)
                    return True
                return False
            if ot == BLOCK:
                return False
            self.d[c] = (p, BLOCK, s or os_)
            return True
        self.d[c] = (p, t, s)
        return True

    def remove(self, c) -> bool:
        return self.d.pop(c, None) is not None

    def remove_type(self, c, t) -> bool:
        if c not in self.d or (self.d[c][1] == BLOCK and t == HAVE):
            return False
        del self.d[c]
        return True

    def entries(self) -> list:
        return [(c, *v) for c, v in sorted(self.d.items(), key=lambda kv: -kv[1][0])]


def run(target, o):
    return getattr(target, o[0])(*o[1:])


def model_diff(old: dict, new: dict) -> tuple[list, list]:
    wants = [(c, *v) for c, v in new.items() if old.get(c) != v]
    wants.sort(key=lambda x: -x[1])
    return wants, [c for c in old if c not in new]


def build(wl, seq):
    w = wl.Wantlist()
    for o in seq:
        run(w, o)
    return w


@FAST
@given(seq=ops)
def test_wantlist_matches_model(wl, seq) -> None:
    w, m = wl.Wantlist(), Model()
    for o in seq:
        assert run(w, o) == run(m, o), o
        assert state(w) == m.d
    assert flat(w.entries()) == m.entries()
    assert len(w) == len(m.d)


@FAST
@given(a=ops, b=ops)
def test_diff_matches_model_and_round_trips(wl, a, b) -> None:
    old, new = build(wl, a), build(wl, b)
    before = state(old)
    d = wl.diff(old, new)
    wants, cancels = model_diff(state(old), state(new))
    assert flat(d.wants) == wants and d.cancels == cancels
    assert state(old) == before  # diff reads only
    old.apply(d)
    assert old == new and state(old) == state(new)


def test_twins_behave_identically() -> None:
    if _compat.NO_EXTENSIONS:
        pytest.skip("FASTSWAP_NO_EXTENSIONS=1: compiled twins off, nothing to compare")
    c, py = import_twin(C), import_twin(PY)

    @FAST
    @given(seq=ops, other=ops, limits=st.lists(st.one_of(st.none(), st.integers(1, 4)), max_size=8))
    def check(seq, other, limits) -> None:
        wc, wp, pc, pp = c.Wantlist(), py.Wantlist(), c.PeerWants(), py.PeerWants()
        for i, o in enumerate(seq):
            assert run(wc, o) == run(wp, o) == run(pc, o) == run(pp, o), o
            if limits and i % 5 == 4:
                lim = limits[i % len(limits)]
                assert flat(pc.flush(lim).wants) == flat(pp.flush(lim).wants)
        assert flat(wc.entries()) == flat(wp.entries())
        assert flat(pc.full().wants) == flat(pp.full().wants)
        dc, dp = c.diff(wc, build(c, other)), py.diff(wp, build(py, other))
        assert flat(dc.wants) == flat(dp.wants) and dc.cancels == dp.cancels

    check()


class PeerWantsMachine(RuleBasedStateMachine):
    """Random changes and flushes; a simulated peer applies each flush with the server's rules
    (a want-have never replaces a want-block it holds) and must end up holding what we want."""

    twin = None  # set per twin below

    def __init__(self) -> None:
        super().__init__()
        self.pw = self.twin.PeerWants()
        self.model = Model()
        self.peer: dict[bytes, tuple[int, int, bool]] = {}

    @rule(c=cids, p=prios, t=types, s=st.booleans())
    def add(self, c, p, t, s) -> None:
        assert self.pw.add(c, p, t, s) == self.model.add(c, p, t, s)

    @rule(c=cids)
    def remove(self, c) -> None:
        assert self.pw.remove(c) == self.model.remove(c)

    @rule(c=cids, t=types)
    def remove_type(self, c, t) -> None:
        assert self.pw.remove_type(c, t) == self.model.remove_type(c, t)

    def _deliver(self, d) -> None:
        for c in d.cancels:
            assert c in self.peer, "cancel for a want the peer does not hold"
            del self.peer[c]
        prios_sent = [e.priority for e in d.wants]
        assert prios_sent == sorted(prios_sent, reverse=True), "wants out of send order"
        for e in d.wants:
            held = self.peer.get(e.cid)
            new = (e.priority, e.want_type, e.send_dont_have)
            assert held != new, "want re-sent unchanged"
            assert not (held and held[1] == BLOCK and e.want_type == HAVE), "ignored downgrade"
            self.peer[e.cid] = new
        assert len({e.cid for e in d.wants} | set(d.cancels)) == len(d)  # one entry per CID

    @rule(limit=st.one_of(st.none(), st.integers(1, 3)))
    def flush(self, limit) -> None:
        pending = self.pw.pending
        d = self.pw.flush(limit)
        assert len(d) <= pending and (limit is None or len(d) <= limit)
        self._deliver(d)

    @precondition(lambda self: True)
    @rule()
    def reconnect(self) -> None:
        self.pw.reset()
        self.peer = {}

    @invariant()
    def consistent(self) -> None:
        assert state(self.pw.wanted()) == self.model.d
        assert state(self.pw.sent()) == self.peer

    def teardown(self) -> None:
        for _ in range(3):  # a downgrade needs two flushes
            self._deliver(self.pw.flush())
        assert self.pw.pending == 0
        assert self.peer == self.model.d


@pytest.mark.parametrize("name", twin_params(C, PY))
def test_peerwants_state_machine(name) -> None:
    machine = type("M", (PeerWantsMachine,), {"twin": import_twin(name)})
    machine.TestCase.settings = settings(
        max_examples=100, stateful_step_count=30, deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    machine.TestCase().runTest()


big_prios = st.lists(st.integers(-5, 5) | st.integers(-(2**31), 2**31 - 1), max_size=300)


@FAST
@given(prios=big_prios)
def test_send_order_of_many_entries_is_a_stable_sort(wl, prios) -> None:
    # long enough to take the compiled twin's merge sort past its insertion-sorted runs
    w, pw = wl.Wantlist(), wl.PeerWants()
    for i, p in enumerate(prios):
        w.add(cid(i), p)
        pw.add(cid(i), p, HAVE)
    expect = [cid(i) for i, _ in sorted(enumerate(prios), key=lambda ip: -ip[1])]
    assert [e.cid for e in w.entries()] == expect
    assert [e.cid for e in wl.diff(wl.Wantlist(), w).wants] == expect
    assert [e.cid for e in pw.full().wants] == expect
    pw.reset()
    assert [e.cid for e in pw.flush().wants] == expect


def test_pure_twin_runs_without_cython(tmp_path) -> None:
    # Cython is a build requirement only: the pure twin falls back to fastswap._cython_shim
    code = (
        "import sys, importlib.abc\n"
        "class NoCython(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name == 'cython' or name.startswith(('cython.', 'Cython')):\n"
        "            raise ImportError('no Cython here')\n"
        "sys.meta_path.insert(0, NoCython())\n"
        "sys.modules.pop('cython', None)\n"
        "from fastswap.client import _wantlist_py as w\n"
        "pw = w.PeerWants()\n"
        "for i in range(40): pw.add(bytes([1, i]), i % 7, i % 2)\n"
        "print(len(pw.flush().wants), w.cython.compiled, 'cython' in sys.modules)\n"
    )
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True,
                       timeout=120, cwd=str(tmp_path), env={"PYTHONPATH": str(_ROOT), "PATH": ""})
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["40", "False", "False"]
