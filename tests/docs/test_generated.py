"""The generated references (docs/CONFIG.md, docs/METRICS.md) match the code they describe.

They are rendered from ``fastswap/config.py`` and ``fastswap/metrics.py`` by
``python -m scripts.gen_docs``; a setting or a metric changed without re-running it fails here.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from scripts import gen_docs


def test_committed_references_are_current() -> None:
    stale = [str(p.relative_to(gen_docs.ROOT)) for p in gen_docs.stale()]
    assert not stale, f"{stale} out of date: run python -m scripts.gen_docs and commit the result"


def test_every_setting_and_metric_is_in_its_reference() -> None:
    from fastswap.config import settings

    config_md = gen_docs.CONFIG_MD.read_text(encoding="utf-8")
    for key, s in settings().items():
        assert f"| `{key}` |" in config_md and f"`{s.env}`" in config_md, key
    metrics_md = gen_docs.METRICS_MD.read_text(encoding="utf-8")
    families = gen_docs.metric_families()
    assert len(families) >= 15  # the list: traffic, wants, peers, queue, store, refusals
    for name, *_ in families:
        assert f"| `{name}` |" in metrics_md, name


def test_a_new_setting_makes_the_config_reference_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    import fastswap.config

    real = fastswap.config.settings()
    some = next(iter(real.values()))
    extra = dataclasses.replace(some, name="not_documented_yet")
    monkeypatch.setattr(fastswap.config, "settings", lambda: {**real, extra.key: extra})
    assert gen_docs.stale() == [gen_docs.CONFIG_MD]


def test_check_command_exits_1_naming_the_stale_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # the command as CI runs it, on a copy of the references whose CONFIG.md lost its last line
    monkeypatch.setattr(gen_docs, "CONFIG_MD", tmp_path / "CONFIG.md")
    monkeypatch.setattr(gen_docs, "METRICS_MD", tmp_path / "METRICS.md")
    assert gen_docs.main([]) == 0
    assert gen_docs.main(["--check"]) == 0
    lines = gen_docs.CONFIG_MD.read_text(encoding="utf-8").splitlines(keepends=True)
    gen_docs.CONFIG_MD.write_text("".join(lines[:-1]), encoding="utf-8")
    capsys.readouterr()
    assert gen_docs.main(["--check"]) == 1
    err = capsys.readouterr().err
    assert "CONFIG.md is out of date" in err and "METRICS.md" not in err


def test_check_command_runs_from_the_checkout() -> None:
    done = subprocess.run([sys.executable, "-m", "scripts.gen_docs", "--check"],
                          cwd=gen_docs.ROOT, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
