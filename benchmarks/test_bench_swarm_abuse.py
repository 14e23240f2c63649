"""How much an abusive peer slows a normal leecher, and what it costs the seeder's memory
(issue 4: "a peer sending a wantlist of 100,000 entries, or one that never reads, ... does not
slow other leechers by more than a third"; issue 8: "under each attack class, the honest get
completes, at most 2.5x slower ... anonymous memory stays under 512 MB during the attack and
returns to within 64 MB of its pre-attack level within 30 s after"; ipfs/specs
bitswap-protocol, "Bitswap 1.2.0 Interaction Pattern").

One seeder process (``benchmarks/_transfer_peer.py seed``: the file, 256 KiB raw leaves, plus
100,000 small blocks), one normal leecher process fetching the whole file into a fresh repo
each time (a Node's ``fetch_dag``, what ``fastswap get`` runs, without the CLI's start-up), and
per abused fetch the attack of one class, kept up for the whole fetch:

* issue 4 (``_transfer_peer.py abuse``, a bare libp2p Host with hand-built messages that never
  reads): ``wantlist``, a 100,000-entry wantlist of blocks the seeder has; ``noread``, wants for
  every leaf of the file (connected and its wants received before the clock starts);
* issue 8 (``_hostile_peer.py``; a process that is cut off is started again with a fresh
  identity, so the pressure lasts the whole fetch): ``ping``, ``unknown``, ``syn`` (frames that
  force a reply), ``churn`` (stream churn), ``silent`` (1,100 silent sockets from 127.0.0.2),
  ``idle`` (1,030 idle upgraded peers), ``partial`` (200 streams of unfinished 4 MiB messages),
  ``malformed`` (log amplification). The lead's classes (issue 8, items 5 and 7: wantlist
  budgets filled by many identities, unsolicited block floods) plug in as entries of
  ``HOSTILE_ATTACKS`` (a ``_hostile_peer.py`` mode and its argument) or of ``ABUSE_MODES``.

Each round fetches once without an attack and once under each attack, alternating. Reported
(extra_info and printed): the median fetch time of each, the slowdown ratios ``median with /
median without``, and for the issue 8 classes the seeder's anonymous memory (RssAnon) before
the attack, at its end, and 30 s after it stopped (measured in the last round).

64 MiB, 3 rounds when measured; 16 MiB, 1 round, short recovery waits and a subset of the
attacks in the suite's smoke run. Measure with:
python -m pytest benchmarks/test_bench_swarm_abuse.py --benchmark-enable --benchmark-only -s
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time

import pytest

from benchmarks._peerproc import ROOT
from benchmarks._peerproc import PeerProc as _Proc

MEASURED = 64 * 1024 * 1024
SMOKE = 16 * 1024 * 1024
WANTLIST_ENTRIES = 100_000
ROUNDS = 3
RECOVERY_SECONDS = 30.0
HOSTILE = ROOT / "benchmarks" / "_hostile_peer.py"

#: issue 4's abusers (``_transfer_peer.py abuse MODE``)
ABUSE_MODES = ("wantlist", "noread")
#: issue 8's attack classes: name -> (``_hostile_peer.py`` mode, its argument or None)
HOSTILE_ATTACKS: dict[str, tuple[str, str | None]] = {
    "ping": ("ping", None),
    "unknown": ("unknown", None),
    "syn": ("syn", None),
    "churn": ("churn", None),
    "silent": ("silent", "1100,127.0.0.2"),
    "idle": ("idle", "1030"),
    "partial": ("partial", "200"),
    "malformed": ("malformed", "1000"),
}
#: the subset the smoke run tries (one per kind of harness)
SMOKE_ATTACKS = ("ping", "silent")

pytestmark = pytest.mark.timeout(3600)


def _wait_received(seeder: _Proc, peer: str, messages: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ledger = seeder.ask("peers")["ledgers"].get(peer)
        if ledger is not None and ledger["messages_received"] >= messages:
            return
        time.sleep(0.05)
    raise RuntimeError(f"the seeder never took the abuser's {messages} messages")


class _Attack:
    """Keeps a ``_hostile_peer.py`` attack going (a fresh process, so a fresh identity, each
    time the last one is cut off and exits) until ``stop()``."""

    def __init__(self, mode: str, addr: str, arg: str | None) -> None:
        self.argv = [sys.executable, str(HOSTILE), mode, addr, "600", *([arg] if arg else [])]
        self.env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.stopped = threading.Event()
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopped.is_set():
            self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, env=self.env,
                                         start_new_session=True)
            self.starts += 1
            while self.proc.poll() is None and not self.stopped.is_set():
                time.sleep(0.05)

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(10)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.mark.benchmark(group="swarm-abuse")
def test_bench_abusive_peer_slowdown(benchmark) -> None:
    smoke = benchmark.disabled
    size = SMOKE if smoke else MEASURED
    rounds = 1 if smoke else ROUNDS
    recovery = 3.0 if smoke else RECOVERY_SECONDS
    attacks = {k: v for k, v in HOSTILE_ATTACKS.items() if not smoke or k in SMOKE_ATTACKS}
    modes = ("none", *ABUSE_MODES, *attacks)
    # default host limits (1,024 connections): the idle attack is meant to fill them
    seeder = _Proc("seed", str(size), "--small", str(WANTLIST_ENTRIES), "--leaves")
    leecher = [_Proc("leech")]
    secs: dict[str, list[float]] = {mode: [] for mode in modes}
    failed: dict[str, list[str]] = {}
    memory: dict[str, dict[str, int]] = {}
    last_round = [False]
    try:
        info = seeder.line()
        args = {"wantlist": str(WANTLIST_ENTRIES), "noread": ",".join(info["leaves"])}

        def fetch(mode: str) -> None:
            abuser = attack = None
            before = seeder.ask("rss")["rssanon_kib"]
            try:
                if mode in ABUSE_MODES:
                    abuser = _Proc("abuse", mode, info["addr"], args[mode])
                    sent = abuser.line()
                    _wait_received(seeder, sent["peer"], sent["messages"])
                elif mode in attacks:
                    hmode, harg = attacks[mode]
                    attack = _Attack(hmode, info["addr"], harg)
                    time.sleep(2.0)  # under way (silent/idle: their sockets are open)
                try:
                    got = leecher[0].ask(f"{info['addr']} {info['root']}")
                except (RuntimeError, ValueError) as exc:
                    # the honest get failed under the attack: recorded, reported, asserted
                    failed.setdefault(mode, []).append(str(exc))
                    leecher[0].close()
                    leecher[0] = _Proc("leech")
                    return
                assert size <= got["bytes"] < size * 1.01
                if abuser is not None:
                    assert abuser.ask("status")["connected"]
                secs[mode].append(got["seconds"])
                if attack is not None and last_round[0]:
                    during = seeder.ask("rss")["rssanon_kib"]
                    attack.stop()
                    time.sleep(recovery)
                    after = seeder.ask("rss")["rssanon_kib"]
                    memory[mode] = {"before": before, "during": during, "after": after,
                                    "processes": attack.starts}
            finally:
                if abuser is not None:
                    abuser.close()
                if attack is not None:
                    attack.stop()

        done = [0]

        def one_round() -> None:
            done[0] += 1
            last_round[0] = done[0] == rounds
            for mode in modes:
                fetch(mode)

        # warm-up, not counted: the first fetch maps the seeder's LMDB pages
        leecher[0].ask(f"{info['addr']} {info['root']}")
        benchmark.pedantic(one_round, rounds=rounds)
    finally:
        leecher[0].close()
        seeder.close()
    med = {mode: statistics.median(v) if v else float("inf") for mode, v in secs.items()}
    ratios = {mode: med[mode] / med["none"] for mode in modes if mode != "none"}
    benchmark.extra_info["MB per fetch"] = size / 1e6
    for mode, m in med.items():
        benchmark.extra_info[f"median s ({mode})"] = round(m, 4)
    for mode, r in ratios.items():
        benchmark.extra_info[f"slowdown with {mode} abuser (median ratio)"] = round(r, 3)
    for mode, m in memory.items():
        benchmark.extra_info[f"seeder anon MiB before/during/30s after ({mode})"] = (
            f"{m['before'] >> 10}/{m['during'] >> 10}/{m['after'] >> 10}")
    print(f"\nnormal leecher, {size >> 20} MiB, {rounds} rounds each (alternating): median "
          + ", ".join(f"{mode} {m:.3f} s" for mode, m in med.items())
          + "; slowdown with/without: "
          + ", ".join(f"{mode} {r:.2f}x" for mode, r in ratios.items()))
    for mode, errors in failed.items():
        print(f"  {mode}: {len(errors)} honest fetches failed under the attack: {errors[0]}")
    for mode, m in memory.items():
        print(f"  {mode}: seeder anon {m['before'] >> 10} MiB before, {m['during'] >> 10} MiB "
              f"at the end of the attack, {m['after'] >> 10} MiB {recovery:.0f} s after "
              f"({m['processes']} attacker processes)")
    assert not failed, f"honest fetches failed under attack: {sorted(failed)}"


# -- issue 8 items 5 and 7: sybil budgets and inbound block floods ---------------------------------
#
# Separate from the wantlist/noread abuser above. A seeder process with the default budgets, the
# normal leecher, and per abused fetch a fresh attacker process (benchmarks/_attack_peer.py):
# ``sybil-wants``: 300 identities x 1,024 want-haves for blocks the seeder lacks (the default
# 256k-entry budget overflows); ``sybil-noread``: 1,000 identities that want every leaf of the
# file and never read (1,000 x 64 MiB against the 1 GiB queued-bytes budget); ``flood``: one
# identity writing unsolicited 2 MiB blocks as fast as the seeder reads them, redialling when
# dropped. Each round fetches once per mode, alternating, the attack established (every identity
# connected and its wants sent, or the flood running) before the leecher's clock starts.
#
# Reported: the median fetch time per mode and the ratios with/without (the issue wants <= 2.5),
# and the seeder's anonymous memory (RssAnon) before each attack, with it running (after the
# fetch) and, after the last round, 30 s after the attacker left (the issue: under 512 MB
# during, back within 64 MB of before). Two "befores": ``before`` is the first round's, before
# any attack of this test (so ``30s_after - before`` also holds what the other attacks and
# rounds left: a drift), ``last_before`` is the level just before the attack whose recovery is
# measured (that attack's own pre-attack level; in the last round every attack starts 30 s
# after what came before it). Smoke run: 16 MiB, 20 identities, one round,
# no wait.

ATTACKS = {"sybil-wants": (300, 20), "sybil-noread": (1000, 20)}  # identities: measured, smoke


def _attack_args(mode: str, info: dict, smoke: bool) -> list[str]:
    if mode == "flood":
        return [mode, info["addr"]]
    n = str(ATTACKS[mode][1 if smoke else 0])
    if mode == "sybil-wants":
        return [mode, info["addr"], n, "1024"]
    return [mode, info["addr"], n, ",".join(info["leaves"])]


def _wait_attack(seeder: _Proc, attacker: _Proc, mode: str, first: dict) -> None:
    if mode != "flood":
        return  # the identities printed once every wantlist was written
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the flood is on, and the seeder has been hit
        if seeder.ask("stat")["scores"]["bytes_unsolicited"] > 0:
            return
        time.sleep(0.05)
    raise RuntimeError(f"the flood never reached the seeder: {first}")


@pytest.mark.benchmark(group="swarm-abuse-issue-8")
def test_bench_sybil_and_flood_slowdown(benchmark) -> None:
    from benchmarks._peerproc import ATTACK

    smoke = benchmark.disabled
    size = SMOKE if smoke else MEASURED
    rounds = 1 if smoke else ROUNDS
    modes = ("sybil-wants", "sybil-noread", "flood")
    seeder = _Proc("seed", str(size), "--pattern", "--leaves")
    leecher = _Proc("leech")
    secs: dict[str, list[float]] = {m: [] for m in ("none", *modes)}
    anon: dict[str, dict[str, int]] = {}
    try:
        info = seeder.line()

        def fetch(mode: str, last: bool) -> None:
            attacker = None
            if last and mode == modes[0] and not smoke:
                time.sleep(30)  # settled after the last round's earlier fetches (last_before)
            before = seeder.ask("rss")["rssanon_kib"]
            try:
                if mode != "none":
                    attacker = _Proc(*_attack_args(mode, info, smoke), script=ATTACK)
                    _wait_attack(seeder, attacker, mode, attacker.line())
                got = leecher.ask(f"{info['addr']} {info['root']}")
                assert size <= got["bytes"] < size * 1.01
                secs[mode].append(got["seconds"])
                during = seeder.ask("rss")["rssanon_kib"]
            finally:
                if attacker is not None:
                    attacker.close()
            if mode != "none":
                rec = anon.setdefault(mode, {"before_kib": before, "during_max_kib": 0})
                rec["during_max_kib"] = max(rec["during_max_kib"], during)
                if last and not smoke:
                    rec["last_before_kib"] = before
                    time.sleep(30)
                    rec["30s_after_kib"] = seeder.ask("rss")["rssanon_kib"]

        leecher.ask(f"{info['addr']} {info['root']}")  # warm-up: maps the seeder's LMDB pages
        done = [0]

        def one_round() -> None:
            done[0] += 1
            for mode in ("none", *modes):
                fetch(mode, done[0] == rounds)

        benchmark.pedantic(one_round, rounds=rounds)
        stat = seeder.ask("stat")
    finally:
        leecher.close()
        seeder.close()
    med = {mode: statistics.median(v) for mode, v in secs.items()}
    ratios = {mode: med[mode] / med["none"] for mode in modes}
    benchmark.extra_info["MB per fetch"] = size / 1e6
    for mode, m in med.items():
        benchmark.extra_info[f"median s ({mode})"] = round(m, 4)
    for mode, r in ratios.items():
        benchmark.extra_info[f"slowdown with {mode} (median ratio)"] = round(r, 3)
    for mode, rec in anon.items():
        for k, v in rec.items():
            benchmark.extra_info[f"seeder RssAnon MiB {mode} {k[:-4]}"] = round(v / 1024, 1)
    print(f"\nnormal leecher, {size >> 20} MiB, {rounds} rounds each (alternating): median "
          + ", ".join(f"{mode} {m:.3f} s" for mode, m in med.items())
          + "; slowdown with/without: "
          + ", ".join(f"{mode} {r:.2f}x" for mode, r in ratios.items())
          + "; seeder RssAnon MiB: "
          + "; ".join(f"{mode} " + ", ".join(f"{k[:-4]} {v / 1024:.0f}" for k, v in rec.items())
                      for mode, rec in anon.items())
          + f"; seeder scores {stat['scores']}, disconnected {stat['peers_disconnected']}, "
          f"refused {stat['connections_refused']}")
