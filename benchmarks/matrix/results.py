"""Results of the matrix: rounds per (scenario, seeder, leecher), their medians, and the
pytest-benchmark JSON they are saved as.

Each pair of a scenario is one pytest-benchmark entry: ``group`` the scenario id, ``name``
"SEEDER -> LEECHER", ``stats`` over the rounds' wall times (``pytest_benchmark.stats.Stats``,
so ``pytest-benchmark compare`` reads the file too), and ``extra_info`` with the medians the
report shows (MB/s, blocks/s, files/s, CPU s/GB and peak RSS of each side, duplicates,
messages), each round's raw figures, and why a pair failed or did not run. The document's
``matrix`` key keeps the run's set-up: scenarios, versions, machine, command.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["PairResult", "Round", "from_benchmark_json", "summarize", "to_benchmark_json"]


@dataclass
class Round:
    """One round of one pair. Seconds are the harness's clock (see ``systems.CLOCKS``):
    ``seconds`` until the last leecher finished, ``leecher_seconds`` each one's. CPU seconds
    and peak RSS (KiB) are summed (CPU) or maxed (RSS) over the processes of each side.
    Counters are None where a system does not report them."""

    seconds: float
    leecher_seconds: list[float]
    cpu_seeders: float
    cpu_leechers: float
    rss_seeder_kib: int
    rss_leecher_kib: int
    duplicates: int | None = None
    messages_seeders: int | None = None
    messages_leechers: int | None = None


@dataclass
class PairResult:
    scenario: str
    seeder: str
    leecher: str
    #: payload bytes, blocks and files that one round delivers (all leechers together)
    bytes_per_round: int
    blocks_per_round: int | None
    files_per_round: int | None
    rounds: list[Round] = field(default_factory=list)
    #: why the pair stopped (an error, a timeout, a failed check), or why it never ran
    failure: str | None = None
    not_run: str | None = None

    @property
    def name(self) -> str:
        return f"{self.seeder} -> {self.leecher}"


def _median(values: list[float | int | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def summarize(r: PairResult) -> dict[str, Any]:
    """The medians the report shows (None where there is no figure)."""
    if not r.rounds:
        return {}
    secs = statistics.median(x.seconds for x in r.rounds)
    gb = r.bytes_per_round / 1e9
    out: dict[str, Any] = {
        "seconds": secs,
        "MB/s": r.bytes_per_round / secs / 1e6,
        "blocks/s": None if r.blocks_per_round is None else r.blocks_per_round / secs,
        "files/s": None if r.files_per_round is None else r.files_per_round / secs,
        "slowest leecher s": _median([max(x.leecher_seconds) for x in r.rounds]),
        "seeder CPU s/GB": _median([x.cpu_seeders / gb for x in r.rounds]),
        "leecher CPU s/GB": _median([x.cpu_leechers / gb for x in r.rounds]),
        "seeder peak RSS MiB": _median([x.rss_seeder_kib / 1024 for x in r.rounds]),
        "leecher peak RSS MiB": _median([x.rss_leecher_kib / 1024 for x in r.rounds]),
        "duplicate blocks": _median([x.duplicates for x in r.rounds]),
        "seeder messages sent": _median([x.messages_seeders for x in r.rounds]),
        "leecher messages sent": _median([x.messages_leechers for x in r.rounds]),
    }
    return out


def to_benchmark_json(results: list[PairResult], *, machine_info: dict[str, Any],
                      commit_info: dict[str, Any], matrix: dict[str, Any],
                      datetime: str) -> dict[str, Any]:
    """A pytest-benchmark JSON document (version 5 layout) of the results. Pairs without a
    measured round (they failed at once, or cannot run) are not benchmarks: they are listed
    under ``matrix["unmeasured"]``, with the reason."""
    from pytest_benchmark import __version__
    from pytest_benchmark.stats import Stats

    benches = []
    unmeasured = []
    for r in results:
        entry: dict[str, Any] = {
            "group": r.scenario,
            "name": r.name,
            "fullname": f"benchmarks/matrix::{r.scenario}::{r.name}",
            "params": {"seeder": r.seeder, "leecher": r.leecher},
            "param": f"{r.seeder}-{r.leecher}",
            "extra_info": {
                **summarize(r),
                "bytes per round": r.bytes_per_round,
                "blocks per round": r.blocks_per_round,
                "files per round": r.files_per_round,
                "rounds": [asdict(x) for x in r.rounds],
                "failure": r.failure,
                "not run": r.not_run,
            },
            "options": {"timer": "perf_counter (the harness's, around the fetch)",
                        "rounds": len(r.rounds), "warmup": False},
        }
        if not r.rounds:
            unmeasured.append(entry)
            continue
        st = Stats()
        for x in r.rounds:
            st.update(x.seconds)
        entry["stats"] = {**st.as_dict(), "iterations": 1, "data": list(st.data)}
        benches.append(entry)
    return {"machine_info": machine_info, "commit_info": commit_info, "benchmarks": benches,
            "datetime": datetime, "version": __version__,
            "matrix": {**matrix, "unmeasured": unmeasured}}


def from_benchmark_json(doc: dict[str, Any]) -> list[PairResult]:
    """The results back from a document written by ``to_benchmark_json``, in its order
    (measured pairs, then the unmeasured ones)."""
    out = []
    for b in [*doc["benchmarks"], *doc.get("matrix", {}).get("unmeasured", [])]:
        ei = b["extra_info"]
        out.append(PairResult(
            scenario=b["group"], seeder=b["params"]["seeder"], leecher=b["params"]["leecher"],
            bytes_per_round=ei["bytes per round"], blocks_per_round=ei["blocks per round"],
            files_per_round=ei["files per round"],
            rounds=[Round(**x) for x in ei["rounds"]], failure=ei["failure"],
            not_run=ei["not run"]))
    return out
