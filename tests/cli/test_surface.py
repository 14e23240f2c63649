"""The command line as a new user and a script meet it (issue 9, "The human side" and
"Repo and configuration"): every command's ``--help`` ends with an example; every command that
prints results prints them as one JSON document with ``--json``; ``config show`` prints every
key's effective value and where it came from; the bash completion script completes commands,
actions and options; a bad key or value, wherever it was written (config.toml, a FASTSWAP_*
variable, ``config set``, a flag), is one line naming the key and what it accepts, exit 2."""

from __future__ import annotations

import argparse
import json
import re
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from fastswap import config
from fastswap.cli import build_parser
from tests.peers.fastswap_cli import Seeder, fastswap, one_line_error

pytestmark = pytest.mark.timeout(60)

#: commands whose output is data, not a result to parse: file bytes, a CAR, a shell script
DATA_COMMANDS = {"cat", "export-car", "completion"}


def _commands() -> dict[str, argparse.ArgumentParser]:
    """Every command and action (``config show``...) -> its parser."""
    out = {}

    def walk(prefix: str, parser: argparse.ArgumentParser) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    out[f"{prefix} {name}".strip()] = sub
                    walk(f"{prefix} {name}", sub)

    walk("", build_parser())
    return out


def _leaves() -> dict[str, argparse.ArgumentParser]:
    cmds = _commands()
    return {n: p for n, p in cmds.items() if not any(o.startswith(n + " ") for o in cmds)}


def test_every_commands_help_has_an_example() -> None:
    cmds = _commands()
    assert {"seed", "config set", "repo verify", "pin rm", "completion"} <= cmds.keys()
    for name, parser in cmds.items():
        text = parser.format_help()
        match = re.search(r"(?im)^examples?:\n((?:  .*\n?)+)", text)
        assert match, f"`fastswap {name} --help` has no example:\n{text}"
        # the command itself, maybe after global options (fastswap --repo DIR init)
        assert re.search(rf"fastswap (--\S+ \S+ )*{name}\b", match.group(1)), \
            (name, match.group(1))


def test_every_command_that_prints_results_takes_json(tmp_path: Path) -> None:
    leaves = _leaves()
    for name, parser in leaves.items():
        options = {o for a in parser._actions for o in a.option_strings}
        assert ("--json" in options) == (name not in DATA_COMMANDS), name

    repo = tmp_path / "repo"
    src = tmp_path / "site"
    src.mkdir()
    (src / "a.txt").write_bytes(b"fastswap\n" * 1000)
    ran: set[str] = set()

    def js(command: str, *args: str, repo_: Path = repo) -> Any:
        """``fastswap COMMAND ARGS... --json``, parsed."""
        p = fastswap(repo_, *command.split(), *args, "--json")
        assert p.returncode == 0, (command, args, p.stderr)
        ran.add(command)
        return json.loads(p.stdout)

    assert js("init")["created"] is True
    root = js("add", "-r", str(src))["root"]
    assert [e["name"] for e in js("ls", root)[root]] == ["a.txt"]
    assert fastswap(repo, "export-car", root, "-o", str(tmp_path / "a.car")).returncode == 0
    assert js("import-car", str(tmp_path / "a.car"))["roots"] == [root]
    assert js("config set", "bandwidth.peer_rate", "1000") == \
        {"key": "bandwidth.peer_rate", "value": 1000}
    assert js("config get", "bandwidth.peer_rate") == \
        {"key": "bandwidth.peer_rate", "value": 1000, "source": "file"}
    assert js("config show")["bandwidth.peer_rate"] == {"value": 1000, "source": "file"}
    assert js("pin add", root) == [{"cid": root, "pinned": True}]
    assert [p["cid"] for p in js("pin ls")] == [root]
    assert js("pin rm", root) == [{"cid": root, "unpinned": True}]
    assert js("repo gc")["removed_blocks"] >= 1
    assert js("repo stat")["pins"] == 0
    assert js("repo verify")["bad"] == []
    assert js("id")["peer_id"].startswith("12D3KooW")

    seeder = Seeder(tmp_path / "seed", str(src / "a.txt"))
    try:
        addr = seeder.addr
        leaf = seeder.info["roots"][0]["cid"]
        got = js("get", leaf, "--peer", addr, "-o", str(tmp_path / "out"),
                 repo_=tmp_path / "leech")
        assert (got["files"], got["bytes"], got["network_blocks"]) == (1, 9000, 1), got
        assert js("id", addr)["id"] == seeder.info["peer_id"]
        assert len(js("ping", addr, "-n", "1")["rtts_ms"]) == 1
        assert js("stat", repo_=tmp_path / "seed")["peer_id"] == seeder.info["peer_id"]
    finally:
        assert seeder.stop(signal.SIGTERM) == 0
    ran.add("seed")  # the Seeder reads `seed --json`'s summary
    assert ran == set(leaves) - DATA_COMMANDS, set(leaves) - DATA_COMMANDS - ran


def test_config_show_prints_every_key_its_value_and_source(tmp_path: Path) -> None:
    assert fastswap(tmp_path, "config", "set", "server.max_inflight_per_peer",
                    "3145728").returncode == 0
    p = fastswap(tmp_path, "config", "show", env={"FASTSWAP_BANDWIDTH_PEER_RATE": "5000"})
    assert p.returncode == 0, p.stderr
    lines = {line.split()[0]: line for line in p.stdout.splitlines()}
    assert lines.keys() == config.settings().keys()
    assert re.fullmatch(r"server\.max_inflight_per_peer +3145728 +\(file\)",
                        lines["server.max_inflight_per_peer"])
    assert re.fullmatch(r"bandwidth\.peer_rate +5000 +\(env\)", lines["bandwidth.peer_rate"])
    # config set wrote every key to the file; an optional key left unset is commented out
    assert re.fullmatch(r"node\.listen +\[/ip4/127\.0\.0\.1/tcp/0\] +\(file\)",
                        lines["node.listen"])
    assert re.fullmatch(r"host\.low_water +\(unset\) +\(default\)", lines["host.low_water"])
    p = fastswap(tmp_path / "empty", "config", "show")
    assert all(line.endswith("(default)") for line in p.stdout.splitlines()), p.stdout


def _complete(script: Path, words: list[str]) -> set[str]:
    """What bash completes for the command line *words* (the last one being typed)."""
    line = " ".join(words)
    prog = (f"source {script}; COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; "
            f'COMP_LINE="{line}"; COMP_POINT=${{#COMP_LINE}}; '
            "_shtab_fastswap fastswap; printf '%s\\n' \"${COMPREPLY[@]}\"")
    p = subprocess.run(["bash", "--norc", "-c", prog], capture_output=True, text=True,
                       timeout=30, check=False)
    assert p.returncode == 0, p.stderr
    return {w.strip() for w in p.stdout.splitlines() if w.strip()}


def test_bash_completion_completes_commands_actions_and_options(tmp_path: Path) -> None:
    p = fastswap(None, "completion", "bash")
    assert p.returncode == 0, p.stderr
    script = tmp_path / "fastswap.bash"
    script.write_text(p.stdout)
    assert _complete(script, ["fastswap", "con"]) == {"config"}
    assert _complete(script, ["fastswap", "config", "s"]) == {"show", "set"}
    assert _complete(script, ["fastswap", "repo", "verify", "--j"]) == {"--json"}
    assert "--reimport" in _complete(script, ["fastswap", "seed", "--"])


def test_bad_keys_and_values_are_one_line_naming_the_key(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    # init refuses a bad environment before it creates anything
    one_line_error(fastswap(repo, "init", env={"FASTSWAP_BANDWIDTH_PEER_RATE": "fast"}),
                   "bandwidth.peer_rate (environment FASTSWAP_BANDWIDTH_PEER_RATE): expected "
                   "an integer, got 'fast'", status=2)
    assert not repo.exists()
    assert fastswap(repo, "init").returncode == 0
    # config set: an unknown key (the closest named), a bad value (what is accepted)
    one_line_error(fastswap(repo, "config", "set", "bandwidth.peer_rat", "1"),
                   "bandwidth.peer_rat", "did you mean bandwidth.peer_rate?", status=2)
    one_line_error(fastswap(repo, "config", "set", "log.format", "xml"),
                   "log.format", "expected one of text, json, got 'xml'", status=2)
    # a flag
    one_line_error(fastswap(repo, "seed", "--listen", "/ip4/127.0.0.1/udp/1"),
                   "node.listen (command line): '/ip4/127.0.0.1/udp/1' is not a TCP multiaddr",
                   status=2)
    # the environment, for any command that reads the configuration
    one_line_error(fastswap(repo, "seed", env={"FASTSWAP_PEERS_ALLOW": "nobody"}),
                   "peers.allow (environment FASTSWAP_PEERS_ALLOW): 'nobody' is not a peer id",
                   status=2)
    # config.toml, edited by hand: seed and init both say which key
    cfg = repo / "config.toml"
    cfg.write_text(cfg.read_text().replace("max_connections = 1024", "max_connections = -1"))
    for args in (("seed",), ("init",), ("config", "show")):
        one_line_error(fastswap(repo, *args), "host.max_connections",
                       "expected an integer of at least 0, got -1", status=2)
