"""README.md as a new user meets it: its set-up and quick-start commands run as written against
the installed ``fastswap`` CLI, its API example runs, and every document it (or the code) points
to exists. Its Python examples pass ``mypy --strict`` in test_typing.py.

The commands are read from the README itself, not copied here: a README edit that breaks a step
breaks this test. ``CID`` and ``MULTIADDR`` are replaced by what the seeder printed, as the README
tells the reader to do; the repo is a temporary ``$FASTSWAP_HOME`` instead of the user's.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SETUP_SEED = "python -m pip install . && fastswap seed README.md"
SETUP_TESTS = ("bash scripts/install-system-deps.sh && python -m pip install -e '.[test]' "
               "&& python -m pytest")
# the console scripts of the interpreter running the tests (where `pip install` put fastswap's),
# first on PATH, so the README's bare `fastswap` is the installed CLI even without an activated venv
SCRIPTS = sysconfig.get_path("scripts")


# -- reading the README ---------------------------------------------------------------------------

def sections(text: str) -> dict[str, str]:
    """``## heading`` -> the text under it (up to the next ``## ``)."""
    parts = re.split(r"^## (.+)$", text, flags=re.MULTILINE)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts), 2)}


def blocks(text: str, lang: str) -> list[str]:
    """The fenced code blocks of *lang* in *text*, in order."""
    return re.findall(rf"^```{lang}\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def commands(block: str) -> list[str]:
    """The command lines of a sh block, without their trailing comments."""
    out = []
    for line in block.splitlines():
        line = re.sub(r"\s+#\s.*$", "", line).strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


def readme() -> str:
    return README.read_text(encoding="utf-8")


def quick_start() -> tuple[list[str], list[str]]:
    """The quick start's sh and python blocks."""
    text = sections(readme())["Quick start"]
    return blocks(text, "sh"), blocks(text, "python")


def python_examples() -> list[str]:
    """Every Python example a user may copy: the quick start's and the API section's."""
    secs = sections(readme())
    return blocks(secs["Quick start"], "python") + blocks(secs["The Python API"], "python")


# -- running them ---------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(line: str, cwd: Path, env: dict[str, str], **subs: str) -> subprocess.CompletedProcess[str]:
    """One line as the user types it, in bash (its ``&&`` and pipes as written), placeholders filled in."""
    for name, value in subs.items():
        line = re.sub(rf"\b{name}\b", value, line)
    done = subprocess.run(["bash", "-c", f"set -eo pipefail; {line}"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"failed as written: {line}\n{done.stdout}\n{done.stderr}"
    return done


class Seeder:
    """A README ``fastswap seed ...`` line in the background; what it printed, parsed."""

    def __init__(self, line: str, cwd: Path, env: dict[str, str]) -> None:
        argv = line.split()
        assert argv[:2] == ["fastswap", "seed"], line
        self.out = cwd / f"seed-{time.monotonic_ns()}.out"
        exe = shutil.which(argv[0], path=env["PATH"])
        assert exe, f"no {argv[0]} on PATH ({env['PATH']}): install fastswap (pip install .)"
        with open(self.out, "w") as out:
            self.proc = subprocess.Popen([exe, *argv[1:]], cwd=cwd, env=env, stdout=out,
                                         stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 30
        try:
            while "serving; Ctrl-C to stop" not in self.text():
                assert self.proc.poll() is None, f"the seeder exited: {self.text()}"
                assert time.monotonic() < deadline, f"the seeder did not start: {self.text()}"
                time.sleep(0.1)
        except AssertionError:
            self.proc.kill()
            self.proc.wait()
            raise
        text = self.text()
        self.multiaddr = re.search(r"^listening on: (\S+)$", text, re.MULTILINE)[1]  # type: ignore[index]
        roots = re.findall(r"^root: (\S+)", text, re.MULTILINE)
        self.cid = roots[0] if roots else ""

    def text(self) -> str:
        return self.out.read_text()

    def stop(self) -> int:
        """Ctrl-C, as the README says; the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise


@pytest.fixture
def user(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """A directory holding the README (where the reader runs the commands) and an environment
    whose default repo is a fresh one."""
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(README, work / "README.md")
    env = {**os.environ, "FASTSWAP_HOME": str(tmp_path / "home"),
           "PATH": os.pathsep.join([SCRIPTS, os.environ.get("PATH", "")])}
    for name in list(env):
        if name.startswith("FASTSWAP_") and name != "FASTSWAP_HOME":
            del env[name]  # a developer's settings must not change what the user sees
    yield work, env


# -- the tests ------------------------------------------------------------------------------------

def test_setup_commands_are_the_ones_ci_and_the_quick_start_run() -> None:
    setup = sections(readme())["Set-up: two commands"]
    assert [commands(b) for b in blocks(setup, "sh")] == [[SETUP_SEED], [SETUP_TESTS]]
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.rstrip().splitlines()[-1] == SETUP_TESTS
    sh, _ = quick_start()
    assert commands(sh[0]) == [SETUP_SEED]  # the quick start begins with the first command


def test_quick_start_as_written(user: tuple[Path, dict[str, str]]) -> None:
    work, env = user
    sh, py = quick_start()
    seed_line = commands(sh[0])[0].removeprefix("python -m pip install . && ")
    fetch, kubo, looking, stopped = (commands(b) for b in sh[1:5])
    assert [c.split()[0] for c in kubo] == ["ipfs", "ipfs"]  # Kubo's: tests/interop runs those

    seeder = Seeder(seed_line, work, env)
    try:
        assert seeder.cid.startswith("Qm"), seeder.text()  # Kubo's defaults: CIDv0
        subs = {"CID": seeder.cid, "MULTIADDR": seeder.multiaddr}
        # 2. fetch with fastswap into a repo of its own; `cmp` proves the bytes
        for line in fetch:
            run(line, work, env, **subs)
        assert "same bytes" in run(fetch[-1], work, env, **subs).stdout
        # 4. fetch from Python
        (work / "fetch.py").write_text(py[0])
        subprocess.run([sys.executable, "fetch.py", seeder.cid, seeder.multiaddr], cwd=work,
                       env=env, check=True, timeout=60)
        assert (work / "README.from-python").read_bytes() == README.read_bytes()
        # 5. the operator's commands against the running seeder
        said = {line: run(line, work, env).stdout for line in looking}
        assert seeder.multiaddr.rsplit("/", 1)[1] in said["fastswap stat"]
        assert '"peer_id"' in said["fastswap stat --json"]
        assert seeder.cid in said["fastswap pin ls"]
    finally:
        status = seeder.stop()
    assert status == 0, seeder.text()
    # ... and with it stopped: verify, gc, config set, then the seeder again, with metrics
    port = str(free_port())
    *offline, reseed = stopped
    for line in offline:
        run(line, work, env)
    first_cid = seeder.cid
    seeder = Seeder(reseed.replace("9100", port), work, env)
    try:
        assert seeder.cid == first_cid, seeder.text()  # no PATH: the repo's pinned root
        curl = readme().split("`curl -s ", 1)[1].split("`", 1)[0].replace("9100", port)
        url, _, grep = curl.partition(" | grep ")
        with urllib.request.urlopen(url, timeout=10) as r:
            metrics = r.read().decode()
        pattern = grep.strip("'")
        shown = [m for m in metrics.splitlines() if re.search(pattern, m)]
        assert any(m.startswith("fastswap_uptime_seconds ") for m in shown), metrics
    finally:
        assert seeder.stop() == 0, seeder.text()
    # `config set log.format json` took effect: the seeder's log lines are JSON objects
    logs = [json.loads(m) for m in seeder.text().splitlines() if m.startswith("{")]
    assert logs and all("level" in m and "msg" in m for m in logs), seeder.text()


def test_the_seeders_fastswap_hint_works_as_printed(user: tuple[Path, dict[str, str]]) -> None:
    # the line `fastswap seed` prints under "fetch it with:", run where a user first tries it:
    # the same machine and default repo, the seeder still running (its own node is not dialled)
    work, env = user
    seeder = Seeder("fastswap seed README.md", work, env)
    try:
        hint = re.search(r"^  fastswap:  (fastswap get .+ -o OUT)$", seeder.text(), re.MULTILINE)
        assert hint, seeder.text()
        run(hint[1], work, env)
        assert (work / "OUT").read_bytes() == README.read_bytes()
    finally:
        assert seeder.stop() == 0, seeder.text()


def test_api_example_runs(tmp_path: Path) -> None:
    api = python_examples()[1]
    (tmp_path / "api.py").write_text(api)
    done = subprocess.run([sys.executable, "api.py"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    # print(root, len(data), block.data, len(blocks), blocks stored by the fetcher)
    m = re.fullmatch(r"(Qm\w+) (\d+) b'one raw block' (\d+) (\d+)\n", done.stdout)
    assert m, done.stdout
    assert m[2] == str(len(b"hello, bitswap\n" * 100_000)) and m[3] == "1" and int(m[4]) > 1


# -- every document pointed to exists -------------------------------------------------------------

# documents of other projects the code cites by name (their specs), not files of ours
SPEC_DOCS = {"UNIXFS.md", "README.md", "spec.md", "peer-ids.md", "ping.md", "dag-pb.md",
             "http-routing-v1.md"}
# written by `python -m benchmarks.report` (a two-hour run), not kept in the repo until one is
REPORT_OUTPUTS = {"BENCHMARKS.md", "NOTES.md"}


def markdown_links(path: Path) -> Iterator[str]:
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.MULTILINE | re.DOTALL)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if not re.match(r"[a-z]+:", target) and not target.startswith("#"):
            yield target.split("#", 1)[0]


def test_every_link_in_the_docs_resolves() -> None:
    pages = [README, *sorted((ROOT / "docs").glob("*.md"))]
    links = {(page, t) for page in pages for t in markdown_links(page)}
    assert {t for page, t in links if page == README} >= {
        "docs/CONFIG.md", "docs/METRICS.md", "docs/DESIGN.md", "LICENSE"}
    missing = [f"{page.name}: {t}" for page, t in sorted(links)
               if not (page.parent / t).exists()]
    assert not missing, missing


def test_every_document_the_code_names_exists() -> None:
    named: dict[str, str] = {}
    sources = [ROOT / "setup.py", ROOT / "pyproject.toml", ROOT / ".ci" / "run"]
    for top in ("fastswap", "scripts", "benchmarks", "tests"):
        # the project's own files: not the real peers' venvs under tests/peers/.cache
        sources += sorted(p for p in (ROOT / top).rglob("*.py")
                          if not any(part.startswith(".") for part in p.relative_to(ROOT).parts))
    for src in sources:
        for doc in re.findall(r"[\w./-]*\b[\w-]+\.md\b", src.read_text(encoding="utf-8")):
            named.setdefault(doc, str(src.relative_to(ROOT)))
    assert "DESIGN.md" in named and "docs/CONFIG.md" in named
    missing = []
    for doc, src in sorted(named.items()):
        name = doc.rsplit("/", 1)[-1]
        if "..." in doc or name in SPEC_DOCS or name in REPORT_OUTPUTS:
            continue
        if not ((ROOT / doc).exists() or (ROOT / "docs" / doc).exists()):
            missing.append(f"{doc} (named in {src})")
    assert not missing, missing
