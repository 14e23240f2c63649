"""The ``fastswap`` command line.

Each subcommand is one entry in :data:`COMMANDS` (name -> help, argument setup, runner), defined
in the module of its family: :mod:`.files` (add, cat, ls, get, import-car, export-car),
:mod:`.seed`, :mod:`.repo` (init, config, pin, repo, stat), :mod:`.net` (id, ping) and
:mod:`.completion`. Runners take the parsed arguments and a
:class:`~fastswap.cli._base.Context` that opens the repo's store on demand, and return an exit
status. User errors (missing file, bad CID, block not found, bad CAR, a bad setting) print one
line, ``fastswap: error: ...``, on stderr and exit non-zero; no traceback. The exit status says
which kind (:data:`EXIT_STATUS_HELP`): 2 for how the command was asked (a bad flag, or a bad key
or value in config.toml, a FASTSWAP_* variable, ``config set`` or a flag: fix the input, retrying
will not help), 1 for anything that went wrong doing it.

The repo is ``--repo DIR`` if given, else ``$FASTSWAP_HOME``, else the per-user data directory
(``fastswap.blockstore.default_repo_path``).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from collections.abc import Sequence
from typing import NoReturn

from .._version import __version__
from ..errors import ConfigError, FastswapError
from ._base import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    Command,
    Context,
    UserError,
)
from ._logging import LEVELS, effective_level, setup_logging
from .completion import COMMANDS as COMPLETION_COMMANDS
from .files import COMMANDS as FILE_COMMANDS
from .net import COMMANDS as NET_COMMANDS
from .repo import COMMANDS as REPO_COMMANDS
from .seed import COMMANDS as SEED_COMMANDS

__all__ = ["COMMANDS", "Command", "Context", "build_parser", "main", "run"]

#: Every subcommand, in the order --help lists them.
COMMANDS: dict[str, Command] = {
    **FILE_COMMANDS, **SEED_COMMANDS, **REPO_COMMANDS, **NET_COMMANDS, **COMPLETION_COMMANDS,
}


#: What ``fastswap --help`` says about exit statuses. Kubo exits 1 for every error; we keep
#: argparse's (and POSIX tools') 2 for a usage error and give a bad setting, wherever it was
#: written, the same 2: a script can tell "fix the input" from "it failed, maybe retry".
EXIT_STATUS_HELP = """\
exit status:
  0    success
  1    the command failed (missing file or block, unreachable peer, bad CAR, repo in use...)
  2    usage or configuration error: a bad flag, or a bad key or value in config.toml, a
       FASTSWAP_* environment variable, `config set` or a flag (the message names it)
  130  interrupted (a second Ctrl-C or SIGTERM while a seeder drains)

example:
  fastswap add -r site/ && fastswap seed"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastswap",
        description="fastswap: a fast Bitswap engine for Python. `fastswap COMMAND --help` "
        "shows each command's options and examples.",
        epilog=EXIT_STATUS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"fastswap {__version__}")
    parser.add_argument(
        "--repo",
        metavar="DIR",
        help="repo directory (blockstore, pins, identity, config.toml; default: "
        "$FASTSWAP_HOME, else the user data directory)",
    )
    g = parser.add_argument_group("logging (to standard error)")
    g.add_argument("-v", "--verbose", action="count", default=0,
                   help="more log lines (repeatable)")
    g.add_argument("-q", "--quiet", dest="log_quiet", action="count", default=0,
                   help="fewer log lines (repeatable)")
    g.add_argument("--log-level", choices=LEVELS, default=None,
                   help="log level (setting log.level; default: info for seed, warning else)")
    g.add_argument("--log-format", choices=("text", "json"), default=None,
                   help="log format (setting log.format; default: text)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, cmd in COMMANDS.items():
        p = sub.add_parser(
            name,
            help=cmd.help,
            description=cmd.description or cmd.help,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        cmd.setup(p)
    return parser


def _setup_logs(args: argparse.Namespace, ctx: Context) -> None:
    """The log level and format: flag, else setting (seed), else warning/text."""
    level, fmt = args.log_level, args.log_format
    if args.command == "seed" and (level is None or fmt is None):
        from ..config import load_config

        try:
            cfg = load_config(ctx.repo)  # not ctx.config(): the command applies its flags
        except FastswapError:
            cfg = None  # the command itself reports the bad setting
        if cfg is not None:
            level = level or cfg["log.level"]
            fmt = fmt or cfg["log.format"]
    setup_logging(effective_level(level or "warning", args.verbose, args.log_quiet),
                  fmt or "text")


def _fail(message: str, status: int = EXIT_ERROR) -> NoReturn:
    # one line: newlines in messages (from nested errors) would read as several errors
    print(f"fastswap: error: {' '.join(message.split())}", file=sys.stderr)
    raise SystemExit(status)


def main(argv: Sequence[str] | None = None, *, own_process: bool = False) -> int:
    """Run one command. *own_process*: the process is the ``fastswap`` program's alone (:func:`run`),
    so a long-running command may restart it (``seed``: with the C allocator)."""
    args = build_parser().parse_args(argv)
    ctx = Context(args.repo, own_process=own_process)
    try:
        _setup_logs(args, ctx)
        return COMMANDS[args.command].run(args, ctx)
    except UserError as exc:
        _fail(str(exc))
    except ConfigError as exc:
        _fail(str(exc), EXIT_USAGE)
    except FastswapError as exc:
        _fail(str(exc))
    except BrokenPipeError:
        # the reader went away (`fastswap cat CID | head`): not an error; silence the final flush
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except OSError:
            pass
        return EXIT_OK
    except OSError as exc:
        where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
        _fail(f"{exc.strerror or exc}{where}")
    except KeyboardInterrupt:
        print("fastswap: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        ctx.close()


def run() -> NoReturn:
    """The ``fastswap`` program (console script, ``python -m fastswap.cli``): :func:`main`, then
    exit without tearing the interpreter down. By then the command has closed its repo and its
    outputs; what the interpreter's finalization would do next (destroy every module and object,
    30-50 ms: a sixth of a small ``fastswap get``) changes nothing anyone sees. Standard output
    and error are flushed and logging shut down first; while another thread still runs, or if
    *main* raised, the exit is Python's own, as before."""
    try:
        code = main(own_process=True)
    except SystemExit as exc:
        code = exc.code
    if code is None:
        status = EXIT_OK
    elif isinstance(code, int):
        status = code
    else:  # as the interpreter does with sys.exit("text")
        print(code, file=sys.stderr)
        status = EXIT_ERROR
    if threading.active_count() > 1:
        sys.exit(status)
    logging.shutdown()
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        status = 120  # what the interpreter exits with when its final flush fails
    try:
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):
        pass
    os._exit(status)
