"""The scenarios of the peer matrix (issue 13) and which systems play them.

Each scenario moves one piece of content from its seeders to its leechers over 127.0.0.1, with
fresh leecher processes and stores every round. Pairs name the seeding system and the
leeching system: every system with itself, and fastswap with each peer both ways (what
fastswap does for a network of other implementations, and with them). py-libp2p has no
directory import or export, so it plays no directory pair; the CLI is a leecher only.

``full()`` is what BENCHMARKS.md publishes; ``smoke()`` is the same shapes, tiny, for proving
the harness runs (``python -m benchmarks.report --smoke`` and the suite's smoke test).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

__all__ = ["Scenario", "full", "select", "smoke"]

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB

F, K, H, P, CLI = "fastswap", "kubo", "helia", "py-libp2p", "fastswap get"

#: every system with itself, and fastswap both ways with each peer
_PAIRS_ALL = ((F, F), (K, K), (H, H), (P, P), (F, K), (F, H), (F, P), (K, F), (H, F), (P, F))
#: as above without py-libp2p, which has no directories
_PAIRS_TREE = ((F, F), (K, K), (H, H), (F, K), (F, H), (K, F), (H, F))
#: one seeder, many leechers of one system: each system, and fastswap seeding Kubo and Helia
_PAIRS_SWARM = ((F, F), (K, K), (H, H), (P, P), (F, K), (F, H))
#: four seeders of one system, one leecher: each system, fastswap with Kubo and Helia
_PAIRS_QUARTERS = ((F, F), (K, K), (H, H), (P, P), (F, K), (F, H), (K, F), (H, F))
_PAIRS_CLI = ((F, F), (F, CLI))


@dataclass(frozen=True)
class Scenario:
    """One shape of transfer. ``size``: bytes of the file, or the number of files of a
    directory (``kind`` "tree"). ``chunk``: block size of the file's DAG. ``figure``: the
    headline unit of its table ("MB/s", "blocks/s" or "files/s")."""

    id: str
    title: str
    kind: str
    size: int
    chunk: int = 256 * KIB
    seeders: int = 1
    leechers: int = 1
    pairs: tuple[tuple[str, str], ...] = _PAIRS_ALL
    figure: str = "MB/s"
    note: str = field(default="", compare=False)

    @property
    def content_key(self) -> tuple[str, int, int]:
        """Scenarios with the same key share one piece of content (made once per run)."""
        return (self.kind, self.size, self.chunk)


def _size(n: int) -> str:
    return f"{n // GIB} GiB" if n >= GIB and n % GIB == 0 else (
        f"{n // MIB} MiB" if n >= MIB and n % MIB == 0 else f"{n // KIB} KiB")


def _scenarios(file_sizes: tuple[int, ...], small: int, tree_files: int, swarm: tuple[int, int],
               quarters: int, cli: int) -> list[Scenario]:
    out = [Scenario(f"1x1-{_size(s).replace(' ', '')}", f"1 -> 1, a {_size(s)} file", "file",
                    s) for s in file_sizes]
    out.append(Scenario(
        f"1x1-{_size(small).replace(' ', '')}-1KiB-blocks",
        f"1 -> 1, {_size(small)} of 1 KiB blocks", "file", small, chunk=KIB, figure="blocks/s",
        note="many small blocks: the per-block cost of each implementation"))
    out.append(Scenario(
        f"1x1-tree-{tree_files}", f"1 -> 1, a directory of {tree_files:,} files", "tree",
        tree_files, pairs=_PAIRS_TREE, figure="files/s",
        note="each seeder imports the directory itself (`ipfs add -r` defaults for Kubo and "
             "fastswap, Helia's globSource); files of 512 B to 32 KiB with 56-character names, "
             "so the directory is one plain node (its links stay under the 256 KiB sharding "
             "threshold); checked by a digest of every file's sha256"))
    for n, size in zip((4, 8), swarm):
        out.append(Scenario(
            f"1x{n}-{_size(size).replace(' ', '')}", f"1 seeder -> {n} leechers, "
            f"{_size(size)} each", "file", size, leechers=n, pairs=_PAIRS_SWARM,
            note=f"MB/s is the aggregate: {n} x the file over the round's wall time (until "
                 "the last leecher finished); leechers connect to the seeder only"))
    out.append(Scenario(
        f"4x1-{_size(quarters).replace(' ', '')}", f"4 seeders holding disjoint quarters -> "
        f"1 leecher, {_size(quarters)}", "file", quarters, seeders=4, pairs=_PAIRS_QUARTERS,
        note="each seeder holds a contiguous quarter of the file's leaves (the first also the "
             "root and inner nodes); the leecher connects to all four"))
    out.append(Scenario(
        f"cli-{_size(cli).replace(' ', '')}", f"`fastswap get` (end to end) beside the "
        f"in-process fetch, {_size(cli)}", "file", cli, pairs=_PAIRS_CLI,
        note="`fastswap get`'s clock runs from process start to the output file closed"))
    return out


def full() -> list[Scenario]:
    """What BENCHMARKS.md publishes."""
    return _scenarios((64 * MIB, 256 * MIB, GIB), 16 * MIB, 2000, (256 * MIB, 128 * MIB),
                      256 * MIB, 256 * MIB)


def smoke() -> list[Scenario]:
    """The same shapes, tiny: proves the harness end to end in a few minutes."""
    return _scenarios((2 * MIB,), 256 * KIB, 40, (MIB, MIB), 2 * MIB, 2 * MIB)


def select(scenarios: list[Scenario], *, ids: list[str] | None = None,
           systems: list[str] | None = None) -> list[Scenario]:
    """The scenarios whose id starts with one of *ids* (all if None), each keeping only the
    pairs whose systems are all in *systems* ("fastswap" covers the CLI too)."""
    out = []
    for sc in scenarios:
        if ids and not any(sc.id.startswith(i) for i in ids):
            continue
        if systems is not None:
            allowed = set(systems) | ({CLI} if F in systems else set())
            pairs = tuple(p for p in sc.pairs if p[0] in allowed and p[1] in allowed)
            if not pairs:
                continue
            sc = replace(sc, pairs=pairs)
        out.append(sc)
    return out
