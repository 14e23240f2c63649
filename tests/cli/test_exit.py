"""How the ``fastswap`` program ends (fastswap.cli.run): without the interpreter's teardown, but
with everything it printed delivered and the exit status of each kind of ending unchanged."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from fastswap import __version__
from fastswap.cli import build_parser
from tests.peers.fastswap_cli import CLI, cli_env, fastswap, one_line_error


def _buffered_env() -> dict[str, str]:
    """The CLI's environment with standard output block-buffered on a pipe, as a user's is."""
    return {k: v for k, v in cli_env().items() if k != "PYTHONUNBUFFERED"}


def test_output_to_a_pipe_is_delivered_whole(tmp_path: Path) -> None:
    # stdout is a pipe (block-buffered): an exit that skipped the flush would lose what is
    # still in the buffer
    p = subprocess.run([*CLI, "--help"], capture_output=True, env=_buffered_env(), timeout=120,
                       check=False, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout == build_parser().format_help()
    blob = os.urandom(300_000)
    src = tmp_path / "blob.bin"
    src.write_bytes(blob)
    repo = tmp_path / "repo"
    p = fastswap(repo, "add", "-q", str(src))
    assert p.returncode == 0, p.stderr
    out = subprocess.run([*CLI, "--repo", str(repo), "cat", p.stdout.strip()], capture_output=True,
                         env=_buffered_env(), timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout == blob


def test_exit_statuses_are_kept(tmp_path: Path) -> None:
    p = fastswap(None, "--version")
    assert (p.returncode, p.stdout.strip()) == (0, f"fastswap {__version__}")
    p = fastswap(None, "no-such-command")
    assert p.returncode == 2 and "invalid choice" in p.stderr  # argparse's usage error
    one_line_error(fastswap(tmp_path / "repo", "cat", "bafynotacid"), "not a CID", status=1)


def test_a_reader_that_goes_away_is_not_an_error(tmp_path: Path) -> None:
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(4 << 20))
    repo = tmp_path / "repo"
    cid = fastswap(repo, "add", "-q", str(src)).stdout.strip()
    # `fastswap cat CID | head -c 10`: the reader closes the pipe after 10 bytes
    cat = subprocess.Popen([*CLI, "--repo", str(repo), "cat", cid], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=_buffered_env())
    assert cat.stdout is not None and cat.stderr is not None
    assert len(cat.stdout.read(10)) == 10
    cat.stdout.close()
    err = cat.stderr.read().decode()
    assert cat.wait(timeout=120) == 0, err
    assert "Traceback" not in err and "Exception ignored" not in err, err
