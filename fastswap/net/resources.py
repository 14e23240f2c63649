"""Budgets a hostile peer cannot run through: the small accounting pieces behind the host's
defences (libp2p has no spec for these; the models are go-libp2p's resource manager
``p2p/host/resource-manager`` for scoped budgets, and go-libp2p-pubsub's decaying peer score).

* :class:`TokenBucket`: a rate with a burst (stream opens, junk frames per connection and peer).
* :class:`PeerScores`: a penalty score per peer that decays with time, and a ban list; a peer
  whose score reaches the ban threshold is banned (``Host.penalise``/``Host.ban`` use it).
* :class:`RateLimitedLog`: one log line per kind per interval, the next one saying how many were
  suppressed, so a peer that breaks the protocol a million times writes a bounded log.
* :class:`BufferPool`: reusable bytearrays, so an idle connection holds no receive or encrypt
  buffer of its own (a connection takes one while it reads or writes and gives it back).
* :func:`trim_heap`: ask glibc to hand freed heap memory back to the OS.
* :func:`keep_freed_heap`: ask glibc to keep it instead (short-lived processes, and a host
  that trims when quiet); :func:`one_malloc_arena`: one heap for every thread, so memory freed
  by one thread is reused by the next.

Everything here takes ``now`` from the caller (``time.monotonic()`` in the host), so the tests
drive the clock.
"""

from __future__ import annotations

import ctypes
import logging
import math
import os
import sys
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

__all__ = [
    "BufferPool",
    "PeerScores",
    "RateLimitedLog",
    "TokenBucket",
    "keep_freed_heap",
    "one_malloc_arena",
    "trim_heap",
]


class TokenBucket:
    """*rate* tokens a second up to *burst*; ``take(now, n)`` is False once they run out."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.stamp = now

    def take(self, now: float, n: float = 1.0) -> bool:
        tokens = self.tokens + (now - self.stamp) * self.rate
        self.stamp = now
        tokens = min(tokens, self.burst)
        tokens -= n
        self.tokens = tokens
        return tokens >= 0.0

    def give(self, n: float = 1.0) -> None:
        """Return *n* tokens taken for something that turned out to be owed (up to *burst*)."""
        self.tokens = min(self.burst, self.tokens + n)


class PeerScores:
    """Decaying penalty scores and timed bans, keyed by peer id (at most *max_peers* remembered:
    the least recently touched go first, a ban included, so an attacker with many identities
    cannot make this grow without bound)."""

    def __init__(
        self, *, half_life: float, ban_score: float, ban_seconds: float, max_peers: int
    ) -> None:
        self.half_life = half_life
        self.ban_score = ban_score
        self.ban_seconds = ban_seconds
        self.max_peers = max_peers
        self._scores: OrderedDict[Hashable, tuple[float, float]] = OrderedDict()
        self._bans: OrderedDict[Hashable, tuple[float, str]] = OrderedDict()

    def score(self, peer: Hashable, now: float) -> float:
        entry = self._scores.get(peer)
        if entry is None:
            return 0.0
        value, stamp = entry
        return value * math.pow(0.5, (now - stamp) / self.half_life)

    def penalise(self, peer: Hashable, weight: float, now: float) -> bool:
        """Add *weight*; True if the score reached the ban threshold (the caller bans)."""
        value = self.score(peer, now) + weight
        self._scores[peer] = (value, now)
        self._scores.move_to_end(peer)
        while len(self._scores) > self.max_peers:
            self._scores.popitem(last=False)
        return value >= self.ban_score

    def ban(self, peer: Hashable, seconds: float, reason: str, now: float) -> None:
        until = now + seconds
        old = self._bans.get(peer)
        if old is not None and old[0] > until:
            until = old[0]
        self._bans[peer] = (until, reason)
        self._bans.move_to_end(peer)
        while len(self._bans) > self.max_peers:
            self._bans.popitem(last=False)

    def unban(self, peer: Hashable) -> None:
        self._bans.pop(peer, None)
        self._scores.pop(peer, None)

    def ban_count(self, now: float) -> int:
        """Bans in force at *now* (at most *max_peers*: the table is bounded)."""
        return sum(1 for until, _ in self._bans.values() if until > now)

    def banned(self, peer: Hashable, now: float) -> tuple[float, str] | None:
        """``(seconds left, reason)`` while *peer* is banned, else None."""
        entry = self._bans.get(peer)
        if entry is None:
            return None
        until, reason = entry
        if until <= now:
            del self._bans[peer]
            return None
        return until - now, reason


class RateLimitedLog:
    """``log(level, kind, msg, *args)``: the first line of each *kind* goes out, the next ones
    within *interval* seconds are counted, and the first line after that says how many were
    suppressed. Kinds are message categories (not peers), so the log stays bounded whatever the
    number of peers; at most *max_kinds* are tracked."""

    def __init__(
        self,
        logger: logging.Logger,
        interval: float,
        clock: Callable[[], float],
        max_kinds: int = 256,
    ) -> None:
        self.logger = logger
        self.interval = interval
        self.clock = clock
        self.max_kinds = max_kinds
        self._kinds: OrderedDict[str, list] = OrderedDict()  # kind -> [last emitted, suppressed]

    def log(
        self, level: int, kind: str, msg: str, *args: object, exc_info: bool = False
    ) -> bool:
        """True if the line was written (call through ``warning``/``info``/``error``)."""
        if not self.logger.isEnabledFor(level):
            return False
        now = self.clock()
        state = self._kinds.get(kind)
        if state is not None and now - state[0] < self.interval:
            state[1] += 1
            return False
        suppressed = state[1] if state is not None else 0
        self._kinds[kind] = [now, 0]
        self._kinds.move_to_end(kind)
        while len(self._kinds) > self.max_kinds:
            self._kinds.popitem(last=False)
        if suppressed:
            msg += " (%d similar messages suppressed in the last %.0f s)"
            args = (*args, suppressed, self.interval)
        # stacklevel: the line names the caller of warning()/info(), not this module
        self.logger.log(level, msg, *args, exc_info=exc_info, stacklevel=3)
        return True

    def warning(self, kind: str, msg: str, *args: object) -> bool:
        return self.log(logging.WARNING, kind, msg, *args)

    def info(self, kind: str, msg: str, *args: object) -> bool:
        return self.log(logging.INFO, kind, msg, *args)

    def error(self, kind: str, msg: str, *args: object, exc_info: bool = False) -> bool:
        return self.log(logging.ERROR, kind, msg, *args, exc_info=exc_info)


class BufferPool:
    """At most *count* spare bytearrays of *size* bytes. ``take()`` hands out a spare one or a
    new one; ``give(buf)`` keeps it for the next taker (or lets it go if the pool is full or the
    buffer is not of the pool's size). Buffers are not cleared: takers overwrite before reading."""

    __slots__ = ("_spare", "count", "size")

    def __init__(self, size: int, count: int) -> None:
        self.size = size
        self.count = count
        self._spare: list[bytearray] = []

    def take(self) -> bytearray:
        spare = self._spare
        return spare.pop() if spare else bytearray(self.size)

    def give(self, buf: bytearray) -> None:
        if len(buf) == self.size and len(self._spare) < self.count:
            self._spare.append(buf)

    def clear(self) -> None:
        self._spare.clear()

    @property
    def spare(self) -> int:
        return len(self._spare)


def _load_libc(name: str, *argtypes: Any) -> Callable[..., int] | None:
    try:
        fn = getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        return None
    fn.argtypes = list(argtypes)
    fn.restype = ctypes.c_int
    return fn  # type: ignore[no-any-return]


_malloc_trim = _load_libc("malloc_trim", ctypes.c_size_t)
_mallopt = _load_libc("mallopt", ctypes.c_int, ctypes.c_int)
#: glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


def _set_by_environment(*names: str) -> bool:
    """True if the environment already tunes one of glibc's malloc *names* (``MALLOC_<NAME>_``
    or ``GLIBC_TUNABLES=glibc.malloc.<name>=``): whoever started the process decided."""
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    return any(os.environ.get(f"MALLOC_{name.upper()}") is not None
               or os.environ.get(f"MALLOC_{name.upper()}_") is not None
               or f"glibc.malloc.{name}=" in tunables for name in names)


def trim_heap() -> bool:
    """Return freed heap memory to the OS (glibc ``malloc_trim(0)``; every arena, not only the
    top of the main heap). False where the C library has no such call. Costs about a
    millisecond per few hundred MB of heap: call it when the process is quiet."""
    if _malloc_trim is None:
        return False
    _malloc_trim(0)
    return True


def system_allocator() -> bool:
    """True when Python takes its small objects from the C library's ``malloc``
    (``PYTHONMALLOC=malloc``) rather than from pymalloc's arenas: then pymalloc holds no block."""
    return sys.getallocatedblocks() == 0


def reexec_with_system_allocator() -> None:
    """Restart this process in place (``execv``: same pid, same arguments) with
    ``PYTHONMALLOC=malloc``, so that :func:`trim_heap` can give back what a burst of small
    objects left behind. Returns only when there is nothing to do: already so, the
    environment chose an allocator (``PYTHONMALLOC`` set, to any value), the C library cannot
    trim, or the interpreter's command line is unknown. Call it first thing in a long-running
    program's entry point, before it opens files, locks or threads.

    Why: pymalloc gives an arena (1 MiB) back only once every object in it is dead. A burst of
    300 identities x 1,024 wants (issue 8) leaves ~13 MB of small long-lived objects spread
    across ~97 arenas: the seeder stayed 71-76 MB above where it started. glibc's
    ``malloc_trim`` returns every free page wherever it lies: +18 MB after the same burst. The
    256 MiB transfer measured the same either way (ratio 1.002, 11 interleaved rounds)."""
    if (_malloc_trim is None or "PYTHONMALLOC" in os.environ or system_allocator()
            or not sys.executable or not getattr(sys, "orig_argv", None)):
        return
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()  # execv drops what is buffered
        except (OSError, ValueError, AttributeError):
            pass
    os.execve(sys.executable, sys.orig_argv, {**os.environ, "PYTHONMALLOC": "malloc"})


def keep_freed_heap(trim_threshold: int, mmap_threshold: int) -> bool:
    """Ask glibc to keep freed heap memory for reuse rather than give it back: the top of a
    heap is trimmed only past *trim_threshold* free bytes, and allocations below
    *mmap_threshold* come from the heap, not from a fresh ``mmap`` each. A fetch frees and
    allocates a block-sized buffer per block: with glibc's defaults, trimming and growing the
    heap again page-faults in (zeroed) memory for about half of them. For short-lived
    processes (``fastswap get``) whose peak is bounded anyway; a long-running node returns
    memory with :func:`trim_heap` instead. False where the C library has no ``mallopt``."""
    if _mallopt is None or _set_by_environment("trim_threshold", "mmap_threshold"):
        return False
    return bool(_mallopt(_M_TRIM_THRESHOLD, trim_threshold)
                and _mallopt(_M_MMAP_THRESHOLD, mmap_threshold))


def one_malloc_arena() -> bool:
    """Ask glibc to serve every thread from one heap (``M_ARENA_MAX`` 1) from now on.

    glibc gives each new thread that allocates its own arena, made of 64 MiB heaps that it
    unmaps as soon as one is wholly free, whatever the trim threshold. A program that starts
    a host (and its loop, verify and store threads) per task, as py-libp2p programs do, then
    fills a fresh arena each time and page-faults every block in again (2,000 x 256 KiB
    fetched per task: ~130,000 faults, 0.3-3.4 s of system time a task on this VM) although
    the last task freed as much. With one arena the freed memory is reused. Threads of a
    Python program take the GIL to allocate anyway, so one arena costs no parallelism.
    Only arenas created after the call are affected: call it before threads start. False
    where there is no ``mallopt`` or the environment already sets ``arena_max``."""
    if _mallopt is None or _set_by_environment("arena_max"):
        return False
    return bool(_mallopt(_M_ARENA_MAX, 1))
