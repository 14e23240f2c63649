"""``fastswap completion bash|zsh|tcsh``: a shell completion script for every command and
option, generated from the argument parser itself by ``shtab`` (so it never drifts from the
CLI)."""

from __future__ import annotations

import argparse

from ._base import EXIT_OK, Command, Context

_DESCRIPTION = """\
Print a completion script for your shell.

Examples:
  fastswap completion bash > ~/.local/share/bash-completion/completions/fastswap
  fastswap completion zsh > "${fpath[1]}/_fastswap\""""


def _setup(p: argparse.ArgumentParser) -> None:
    p.add_argument("shell", choices=("bash", "zsh", "tcsh"))


def _run(args: argparse.Namespace, ctx: Context) -> int:
    import shtab

    from . import build_parser

    print(shtab.complete(build_parser(), shell=args.shell))
    return EXIT_OK


COMMANDS = {
    "completion": Command("print a shell completion script", _setup, _run, _DESCRIPTION),
}
