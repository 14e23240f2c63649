# cython: annotation_typing=False
"""The client's wantlist, wantlist diffs and per-peer sent-want tracking (pure-Python twin).

Spec: ipfs/specs bitswap-protocol, "Wantlist" (1.2.0 entries: priority, cancel, wantType
Block|Have, sendDontHave) and go-bitswap PR #186 "Bitswap Protocol Extensions" (want-have,
send-dont-have). This one source is also compiled as ``fastswap.client._wantlist_c``:
``_wantlist_c.pxd`` beside it adds the C types (cdef classes, typed attributes and locals), so
the two twins cannot drift. The ``.pxd`` decides the C types (``annotation_typing=False`` above:
the annotations are for readers and type checkers); the class decorators (``cython.cclass``,
``final``, ``no_gc``, ``freelist``) must sit on the classes here, and are no-ops in the pure twin,
which runs without Cython installed (``fastswap._cython_shim``).

Semantics (boxo ``bitswap/client/wantlist``, written anew):

* An :class:`Entry` is (cid, priority, want_type, send_dont_have); entries are immutable, so
  copies of a :class:`Wantlist` share them.
* :meth:`Wantlist.add` only ever strengthens a want. want-block supersedes want-have: adding
  want-have to a want-block entry changes nothing; adding want-block to a want-have entry upgrades
  it (taking the new priority, and keeping send_dont_have if either asked for it). Re-adding the
  same type keeps the priority (boxo does the same) but turns send_dont_have on if asked.
  A want is weakened only by removing it (:meth:`Wantlist.remove`, or :meth:`remove_type`, where
  removing want-have leaves a want-block in place) and adding it again.
* :meth:`Wantlist.entries` is the send order: priority descending, ties in insertion order.
  Insertion order is the dict's own order (an upgrade keeps its place; a CID removed and added
  again goes to the end), so it costs no sequence counter; the sorted list is cached until the
  next change (boxo memoizes it too). The compiled twin sorts with its own merge sort over C ints
  (:func:`_sort_entries`); the pure twin with ``list.sort``.
* :func:`diff` compares two wantlists as states: ``wants`` are the entries of *new* that are
  absent from or different in *old* (priority, type or flag: upgrades and downgrades alike), in
  send order; ``cancels`` are the CIDs of *old* absent from *new*. :meth:`Wantlist.apply` sets
  state (it does not merge by the add rules), so ``old.apply(diff(old, new)) == new`` always.
  Equality of wantlists compares the entries, not their order.

:class:`PeerWants` is what one peer's message queue calls on every flush. It keeps one record
per CID that is wanted from the peer or held by it: the entry we want it to hold (``want``), the
entry it holds after the messages so far (``sent``), and whether the record is queued for the next
flush. A change (add/remove) costs one dict lookup and queues the record once; a flush walks the
queue only, comparing ``want`` with ``sent`` in place with no dict lookups (only a cancel deletes
a record), so it costs O(changes), not O(wantlist). An earlier version kept a ``sent`` dict and a
dirty-CID dict beside a Wantlist: three dict operations per changed CID on flush, and the compiled
twin was barely faster than the pure one. A flush emits the minimal message:

* wanted, never sent            -> want entry (with its type and send_dont_have)
* wanted, sent differently       -> want entry (upgrade, new priority, flag turned on)
* sent, no longer wanted         -> cancel
* added and removed between flushes, or changed back to what was sent -> nothing
* sent want-block, now only want-have (a downgrade) -> cancel now, want-have on the next flush.
  A peer keeps a want-block when it receives want-have for the same CID (boxo's server applies the
  same supersede rule), and one message cannot carry a cancel and a want for one CID (receivers
  key entries by CID), so the downgrade takes two messages; the CID stays queued in between.

``flush(max_entries)`` caps a message (cancels first: they free the peer's resources; then wants by
priority); what does not fit stays queued for the next flush. Wants come out in send order, ties
in the order of the changes. :meth:`PeerWants.full` gives the whole
wantlist for a message with ``full=True`` (a new or reconnected peer); :meth:`PeerWants.reset`
forgets what the peer held (disconnect) so that the next flush re-sends every want.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from operator import attrgetter

from .._defaults import MAX_CID_SIZE
from ..errors import WantlistError

try:
    import cython  # class decorators must sit on the class itself: a .pxd cannot carry them
except ImportError:  # pragma: no cover - Cython is a build requirement, not a runtime one
    from .._cython_shim import cython

__all__ = [
    "WANT_BLOCK",
    "WANT_HAVE",
    "Entry",
    "PeerWants",
    "Wantlist",
    "WantlistDiff",
    "diff",
]

#: Want types, numbered as in the Bitswap protobuf (``Wantlist.WantType``).
WANT_BLOCK = 0
WANT_HAVE = 1

# Module-level copies the .pxd types as C ints (the public names above stay Python objects).
_BLOCK = 0
_HAVE = 1
_MAX_CID = MAX_CID_SIZE
# priority is an int32 on the wire
_MIN_PRIORITY = -(2**31)
_MAX_PRIORITY = 2**31 - 1

_by_priority = attrgetter("priority")


def _check_cid(cid: object) -> None:
    if type(cid) is not bytes:
        raise WantlistError(
            f"a wantlist CID must be bytes (binary CID), not {type(cid).__name__}; "
            "convert text CIDs with fastswap.cid.parse()"
        )
    n = len(cid)
    if n == 0 or n > _MAX_CID:
        raise WantlistError(
            f"a wantlist CID must be 1..{_MAX_CID} bytes long, got {n} bytes; "
            "is this really a binary CID?"
        )


def _check_priority(priority: object) -> int:
    # returns the priority as an exact int (a bool or an int subclass is normalised)
    if type(priority) is not int:
        if not isinstance(priority, int):
            raise WantlistError(f"priority must be an int, not {type(priority).__name__}")
        priority = int(priority)
    if priority < _MIN_PRIORITY or priority > _MAX_PRIORITY:
        raise WantlistError(
            f"priority {priority} is outside the wire's int32 range "
            f"[{_MIN_PRIORITY}, {_MAX_PRIORITY}]"
        )
    return priority


def _check_want_type(want_type: object) -> None:
    if not isinstance(want_type, int) or (want_type != _BLOCK and want_type != _HAVE):
        raise WantlistError(
            f"want_type must be WANT_BLOCK (0) or WANT_HAVE (1), got {want_type!r}"
        )


_RUN = 16  # runs sorted by insertion before merging


def _sort_entries(a: list) -> None:
    """Sort entries into send order in place: priority descending, ties in their order (stable).

    The pure twin uses list.sort. Compiled, list.sort(key=...) would box every priority and
    look the attribute up through the type (perf showed it at over a third of a flush), so the
    compiled twin runs this merge sort over C ints instead."""
    if not cython.compiled:
        a.sort(key=_by_priority, reverse=True)
        return
    n = len(a)
    start = 0
    while start < n:
        end = start + _RUN
        _insertion_sort(a, start, min(n, end))
        start = end
    if n <= _RUN:
        return
    src = a
    dst = a[:]  # scratch of the same length
    width = _RUN
    while width < n:
        lo = 0
        while lo < n:
            mid = min(lo + width, n)
            hi = min(mid + width, n)
            i = lo
            j = mid
            k = lo
            while i < mid and j < hi:
                # cast: every item is an Entry (we built the list), so skip the type test
                x = cython.cast(Entry, src[i])
                y = cython.cast(Entry, src[j])
                if y.priority > x.priority:  # strictly: ties take the left (earlier) one
                    dst[k] = y
                    j += 1
                else:
                    dst[k] = x
                    i += 1
                k += 1
            while i < mid:
                dst[k] = src[i]
                i += 1
                k += 1
            while j < hi:
                dst[k] = src[j]
                j += 1
                k += 1
            lo = hi
        src, dst = dst, src
        width *= 2
    if src is not a:
        a[:] = src


def _insertion_sort(a: list, start: int, end: int) -> None:
    """Stable binary insertion sort of a[start:end] by priority, descending."""
    for i in range(start + 1, end):
        x = cython.cast(Entry, a[i])
        p = x.priority
        y = cython.cast(Entry, a[i - 1])
        if y.priority >= p:
            continue  # already in order (the common case: priorities handed out descending)
        lo = start
        hi = i - 1
        while lo < hi:
            m = (lo + hi) >> 1
            y = cython.cast(Entry, a[m])
            if y.priority >= p:
                lo = m + 1
            else:
                hi = m
        j = i
        while j > lo:
            a[j] = a[j - 1]
            j -= 1
        a[lo] = x


def _make_entry(cid: bytes, priority: int, want_type: int, send_dont_have: bool) -> Entry:
    # Bypasses __init__'s checks: only called with values already checked.
    e = Entry.__new__(Entry)
    e.cid = cid
    e.priority = priority
    e.want_type = want_type
    e.send_dont_have = send_dont_have
    return e


def _same(a: Entry, b: Entry) -> bool:
    return (
        a.priority == b.priority
        and a.want_type == b.want_type
        and a.send_dont_have == b.send_dont_have
    )


def _merge(
    old: Entry | None, cid: bytes, priority: int, want_type: int, send_dont_have: bool
) -> Entry | None:
    """The add rules: the entry that adding this want to *old* gives, or None if no change."""
    if old is not None:
        if old.want_type == want_type:
            if not send_dont_have or old.send_dont_have:
                return None
            priority = old.priority  # same type: only the flag can strengthen
        elif old.want_type == _BLOCK:
            return None  # want-block supersedes want-have
        else:
            send_dont_have = send_dont_have or old.send_dont_have  # have -> block upgrade
    return _make_entry(cid, priority, want_type, send_dont_have)


def _removes(old: Entry | None, want_type: int) -> bool:
    """The remove_type rule: removing want-have leaves a want-block in place."""
    return old is not None and not (old.want_type == _BLOCK and want_type == _HAVE)


# no_gc: compiled, an Entry holds an exact bytes (checked) and C values, which cannot form a
# reference cycle, so the collector need not track the thousands of them a wantlist holds (cheaper to create, and they
# do not count towards triggering collections). final: no subclasses, so no override checks.
# (cclass must be the innermost decorator for Cython to accept the others on a class.)
@cython.final
@cython.no_gc
@cython.freelist(256)
@cython.cclass
class Entry:
    """One want: a CID with its priority, want type and send-dont-have flag. Immutable."""

    def __init__(
        self, cid: bytes, priority: int, want_type: int = WANT_BLOCK, send_dont_have: bool = False
    ) -> None:
        _check_cid(cid)
        priority = _check_priority(priority)
        _check_want_type(want_type)
        self.cid = cid
        self.priority = priority
        self.want_type = want_type
        self.send_dont_have = bool(send_dont_have)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Entry):
            return NotImplemented
        return self.cid == other.cid and _same(self, other)

    def __hash__(self) -> int:
        return hash((self.cid, self.priority, self.want_type, self.send_dont_have))

    def __repr__(self) -> str:
        kind = "block" if self.want_type == _BLOCK else "have"
        return (
            f"Entry({self.cid.hex()}, priority={self.priority}, want={kind}, "
            f"send_dont_have={self.send_dont_have})"
        )


@cython.final
@cython.cclass
class WantlistDiff:
    """What turns one wantlist into another: ``wants`` (entries to set, in send order) and
    ``cancels`` (CIDs to drop). Also what :meth:`PeerWants.flush` returns: one message's entries."""

    def __init__(self, wants: Iterable[Entry] = (), cancels: Iterable[bytes] = ()) -> None:
        self.wants = list(wants)
        self.cancels = list(cancels)

    def __len__(self) -> int:
        return len(self.wants) + len(self.cancels)

    def __bool__(self) -> bool:
        return len(self.wants) > 0 or len(self.cancels) > 0

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WantlistDiff):
            return NotImplemented
        return self.wants == other.wants and self.cancels == other.cancels

    def __repr__(self) -> str:
        return f"WantlistDiff(wants={self.wants!r}, cancels={[c.hex() for c in self.cancels]!r})"


def _as_diff(d: object) -> WantlistDiff:
    if not isinstance(d, WantlistDiff):
        raise WantlistError(f"expected a WantlistDiff, got {type(d).__name__}")
    return d


def _as_wantlist(w: object) -> Wantlist:
    if not isinstance(w, Wantlist):
        raise WantlistError(f"expected a Wantlist, got {type(w).__name__}")
    return w


@cython.final
@cython.cclass
class Wantlist:
    """The CIDs we want, keyed by CID bytes (see the module docstring for the rules)."""

    def __init__(self) -> None:
        self._entries = {}  # type: dict[bytes, Entry]
        self._sorted = None  # type: list[Entry] | None

    def add(
        self, cid: bytes, priority: int, want_type: int = WANT_BLOCK, send_dont_have: bool = False
    ) -> bool:
        """Want *cid*; True if the wantlist changed (see the module docstring for the rules)."""
        _check_cid(cid)
        priority = _check_priority(priority)
        _check_want_type(want_type)
        return self._add(cid, priority, want_type, bool(send_dont_have)) is not None

    def _add(
        self, cid: bytes, priority: int, want_type: int, send_dont_have: bool
    ) -> Entry | None:
        e = _merge(self._entries.get(cid), cid, priority, want_type, send_dont_have)
        if e is not None:
            self._entries[cid] = e
            self._sorted = None
        return e

    def remove(self, cid: bytes) -> bool:
        """Stop wanting *cid*; True if it was wanted."""
        if self._entries.pop(cid, None) is None:
            return False
        self._sorted = None
        return True

    def remove_type(self, cid: bytes, want_type: int) -> bool:
        """Remove *cid* if wanted as *want_type*. Removing want-have leaves a want-block alone
        (it supersedes the want-have); removing want-block removes either. True if removed."""
        _check_want_type(want_type)
        return self._remove_type(cid, want_type)

    def _remove_type(self, cid: bytes, want_type: int) -> bool:
        if not _removes(self._entries.get(cid), want_type):
            return False
        del self._entries[cid]
        self._sorted = None
        return True

    def get(self, cid: bytes) -> Entry | None:
        """The entry for *cid*, or None."""
        return self._entries.get(cid)

    def entries(self) -> list[Entry]:
        """Every entry in send order: priority descending, ties in insertion order."""
        s = self._sorted
        if s is None:
            s = list(self._entries.values())
            # list.sort is stable with reverse=True too: ties keep insertion (dict) order
            _sort_entries(s)
            self._sorted = s
        return list(s)

    def copy(self) -> Wantlist:
        """An independent wantlist with the same entries (entries are immutable, so shared)."""
        w = Wantlist.__new__(Wantlist)
        w._entries = self._entries.copy()
        w._sorted = self._sorted
        return w

    def apply(self, d: WantlistDiff) -> None:
        """Set every entry in ``d.wants`` (as given: not merged by the add rules) and drop every
        CID in ``d.cancels`` (cancels first), so that ``old.apply(diff(old, new)) == new``."""
        dd = _as_diff(d)
        for x in dd.wants:
            if not isinstance(x, Entry):
                raise WantlistError(f"a WantlistDiff's wants must be Entry, not {type(x).__name__}")
        for cid in dd.cancels:
            self._entries.pop(cid, None)
        for e in dd.wants:
            self._entries[e.cid] = e
        self._sorted = None

    def __contains__(self, cid: object) -> bool:
        return cid in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[bytes]:
        return iter(list(self._entries))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Wantlist):
            return NotImplemented
        return self._entries == _as_wantlist(other)._entries

    def __repr__(self) -> str:
        return f"<Wantlist of {len(self._entries)} entries>"


def diff(old: Wantlist, new: Wantlist) -> WantlistDiff:
    """What to send to turn *old* into *new*: wants new or changed in send order, and cancels for
    what *new* dropped (see the module docstring). O(len(old) + len(new))."""
    o = _as_wantlist(old)
    n = _as_wantlist(new)
    olds = o._entries
    news = n._entries
    wants = []
    cancels = []
    added = 0  # entries of new that old lacks; old has len(news) - added of new's CIDs
    for cid, ne in news.items():
        oe = olds.get(cid)
        if oe is None:
            added += 1
            wants.append(ne)
        elif not _same(oe, ne):
            wants.append(ne)
    if len(olds) > len(news) - added:  # some of old's CIDs are gone from new
        for cid in olds:
            if cid not in news:
                cancels.append(cid)
    _sort_entries(wants)
    return _make_diff(wants, cancels)


def _make_diff(wants: list, cancels: list) -> WantlistDiff:
    d = WantlistDiff.__new__(WantlistDiff)
    d.wants = wants
    d.cancels = cancels
    return d


# no_gc: holds a bytes and two Entry objects, never a cycle
@cython.final
@cython.no_gc
@cython.freelist(256)
@cython.cclass
class _PeerWant:
    """One CID's state with one peer: what we want it to hold (``want``), what it holds
    (``sent``), and whether it is queued for the next flush (``queued``). Internal."""

    def __init__(self, cid: bytes) -> None:
        self.cid = cid
        self.want = None
        self.sent = None
        self.queued = False


def _new_peer_want(cid: bytes) -> _PeerWant:
    r = _PeerWant.__new__(_PeerWant)
    r.cid = cid
    r.want = None
    r.sent = None
    r.queued = False
    return r


def _queued_priority(r: _PeerWant) -> int:
    return r.want.priority


@cython.final
@cython.cclass
class PeerWants:
    """What we want one peer to hold, what we already told it, and the minimal message that
    brings it up to date (see the module docstring)."""

    def __init__(self) -> None:
        self._recs = {}  # type: dict[bytes, _PeerWant]  # wanted or sent (or both)
        self._queue = []  # type: list[_PeerWant]  # changed since the last flush, in order
        self._wanted = 0  # how many recs have a want

    def _touch(self, r: _PeerWant) -> None:
        if not r.queued:
            r.queued = True
            self._queue.append(r)

    # -- changes (each O(1)) --------------------------------------------------------------

    def add(
        self, cid: bytes, priority: int, want_type: int = WANT_BLOCK, send_dont_have: bool = False
    ) -> bool:
        """Want *cid* from this peer (the :meth:`Wantlist.add` rules); True if that changed."""
        _check_cid(cid)
        priority = _check_priority(priority)
        _check_want_type(want_type)
        r = self._recs.get(cid)
        if r is None:
            r = _new_peer_want(cid)
            self._recs[cid] = r
        e = _merge(r.want, cid, priority, want_type, bool(send_dont_have))
        if e is None:
            return False
        if r.want is None:
            self._wanted += 1
        r.want = e
        self._touch(r)
        return True

    def remove(self, cid: bytes) -> bool:
        """Stop wanting *cid* from this peer (a cancel goes out only if a want did)."""
        r = self._recs.get(cid)
        if r is None or r.want is None:
            return False
        r.want = None
        self._wanted -= 1
        self._touch(r)
        return True

    def remove_type(self, cid: bytes, want_type: int) -> bool:
        """:meth:`Wantlist.remove_type` on this peer's wants."""
        _check_want_type(want_type)
        r = self._recs.get(cid)
        if r is None or not _removes(r.want, want_type):
            return False
        r.want = None
        self._wanted -= 1
        self._touch(r)
        return True

    def resend(self, cid: bytes) -> bool:
        """Send *cid*'s want again on the next flush, as if the peer had never had it (it
        dropped it: a server's wantlist budget). True if a want had been sent and is still
        wanted; a cancel or change already queued is left as it is."""
        r = self._recs.get(cid)
        if r is None or r.want is None or r.sent is None or r.queued:
            return False
        r.sent = None
        self._touch(r)
        return True

    # -- reading --------------------------------------------------------------------------

    def __contains__(self, cid: object) -> bool:
        r = self._recs.get(cid)
        return r is not None and r.want is not None

    def __len__(self) -> int:
        return self._wanted

    def get(self, cid: bytes) -> Entry | None:
        """The wanted entry for *cid* (not necessarily sent yet), or None."""
        r = self._recs.get(cid)
        return None if r is None else r.want

    def wanted(self) -> Wantlist:
        """A copy of what we want this peer to hold."""
        w = Wantlist()
        for r in self._recs.values():
            if r.want is not None:
                w._entries[r.cid] = r.want
        return w

    def sent(self) -> Wantlist:
        """A copy of what the peer holds after every flush so far."""
        w = Wantlist()
        for r in self._recs.values():
            if r.sent is not None:
                w._entries[r.cid] = r.sent
        return w

    @property
    def pending(self) -> int:
        """CIDs changed since the last flush: an upper bound on the next flush's entries."""
        return len(self._queue)

    # -- messages -------------------------------------------------------------------------

    def flush(self, max_entries: int | None = None) -> WantlistDiff:
        """The entries of the next message, marked as sent. O(changes since the last flush).

        At most *max_entries* entries (cancels first, then wants by priority) if given; the rest
        stay pending. An empty result means there is nothing to send."""
        if max_entries is not None:
            if not isinstance(max_entries, int) or max_entries < 1:
                raise WantlistError(f"max_entries must be a positive int or None, got {max_entries!r}")
            if max_entries < len(self._queue):  # else no cap is needed (and no C overflow)
                return self._flush_capped(max_entries)
        return self._flush()

    def _flush(self) -> WantlistDiff:
        queue = self._queue
        if not queue:
            return _make_diff([], [])
        recs = self._recs
        wants = []
        cancels = []
        again = []  # type: list[_PeerWant]  # downgrades: their want-have goes next time
        for r in queue:
            d = r.want
            s = r.sent
            if d is None:
                if s is not None:
                    cancels.append(r.cid)
                del recs[r.cid]  # neither wanted nor (after this message) held
            elif s is None:
                wants.append(d)
                r.sent = d
            elif _same(d, s):
                pass
            elif s.want_type == _BLOCK and d.want_type == _HAVE:
                # the peer ignores want-have over a want-block it holds, and one message
                # cannot carry a cancel and a want for one CID: cancel now, want next time
                cancels.append(r.cid)
                r.sent = None
                again.append(r)
                continue
            else:
                wants.append(d)
                r.sent = d
            r.queued = False
        self._queue = again
        # list.sort is stable with reverse=True too: ties keep the order of the changes
        _sort_entries(wants)
        return _make_diff(wants, cancels)

    def _flush_capped(self, limit: int) -> WantlistDiff:
        # Rare (a message over its size budget), so clarity over speed: classify, pick the
        # cancels then the highest-priority wants, commit only what was picked.
        cancel_r = []
        want_r = []
        for r in self._queue:
            d = r.want
            s = r.sent
            if d is None:
                if s is not None:
                    cancel_r.append(r)
            elif s is None:
                want_r.append(r)
            elif _same(d, s):
                pass
            elif s.want_type == _BLOCK and d.want_type == _HAVE:
                cancel_r.append(r)
            else:
                want_r.append(r)
        want_r.sort(key=_queued_priority, reverse=True)
        del cancel_r[limit:]
        del want_r[max(0, limit - len(cancel_r)):]
        cancels = []
        for r in cancel_r:
            cancels.append(r.cid)
            r.sent = None
        wants = []
        for r in want_r:
            wants.append(r.want)
            r.sent = r.want
        rest = []
        for r in self._queue:
            d = r.want
            s = r.sent
            if d is None and s is None:
                del self._recs[r.cid]
                r.queued = False
            elif d is not None and s is not None and _same(d, s):
                r.queued = False
            else:
                rest.append(r)  # still to send (a downgrade's want-have, or cut off)
        self._queue = rest
        return _make_diff(wants, cancels)

    def full(self) -> WantlistDiff:
        """Every wanted entry in send order, for a message with ``full=True`` (which replaces
        the peer's wantlist): afterwards the peer holds exactly what we want."""
        recs = {}
        wants = []
        for r in self._recs.values():
            r.queued = False
            if r.want is not None:
                r.sent = r.want
                recs[r.cid] = r
                wants.append(r.want)
        self._recs = recs
        self._queue = []
        _sort_entries(wants)
        return _make_diff(wants, [])

    def reset(self) -> None:
        """The peer forgot our wants (it disconnected): the next flush re-sends all of them."""
        recs = {}
        queue = []
        for r in self._recs.values():
            r.sent = None
            if r.want is not None:
                r.queued = True
                recs[r.cid] = r
                queue.append(r)
            else:
                r.queued = False
        self._recs = recs
        self._queue = queue

    def __repr__(self) -> str:
        held = sum(1 for r in self._recs.values() if r.sent is not None)
        return f"<PeerWants wanted={self._wanted} sent={held} pending={len(self._queue)}>"
