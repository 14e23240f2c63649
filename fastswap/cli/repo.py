"""``fastswap init|config|pin|repo|stat``: the repo, its configuration and pins, and asking the
node that serves it (Kubo's ``ipfs init``, ``ipfs config``, ``ipfs pin``, ``ipfs repo`` and
``ipfs stats``)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ._base import EXIT_ERROR, EXIT_OK, Context, UserError, print_json, run_loop

__all__ = ["COMMANDS"]


# -- init --------------------------------------------------------------------------------------

INIT_DESCRIPTION = """\
Create a repo: config.toml holding every setting with its default and what it does, the node's
identity (its peer id, kept in identity.key), the LMDB blockstore and the pin set. A repo that
exists keeps its identity and blocks; its config.toml is never overwritten.

Profiles: --profile server listens on every interface at TCP port 4001 (Kubo's port);
--profile public also joins the public IPFS DHT (it dials the internet's bootstrap peers).

Example:
  fastswap --repo ~/seed init --profile server && fastswap --repo ~/seed seed big.iso"""

#: profile name -> the settings it changes from the defaults
PROFILES: dict[str, dict[str, Any]] = {
    "local": {},
    "server": {"node.listen": ["/ip4/0.0.0.0/tcp/4001"]},
    "public": {"node.listen": ["/ip4/0.0.0.0/tcp/4001"], "routing.bootstrap_public": True},
}


def _setup_init(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", choices=tuple(PROFILES), default="local",
                   help="settings to start from (default: local: loopback only, nothing public)")
    p.add_argument("--json", action="store_true", help="print the repo's facts as JSON")


def _run_init(args: argparse.Namespace, ctx: Context) -> int:
    from ..config import CONFIG_FILE, init_config, load_config
    from ..net.keys import load_or_create_identity

    existed = (ctx.repo_path / CONFIG_FILE).exists()
    if not existed:
        # a bad FASTSWAP_* variable is refused before anything is created
        load_config(None)
        init_config(ctx.repo, PROFILES[args.profile])
    ctx.config()  # and a repo whose config.toml (kept as is) is bad says so
    identity = load_or_create_identity(ctx.repo)
    ctx.store  # noqa: B018 - creates the blockstore
    ctx.pins  # noqa: B018 - and the pin set
    facts = {"repo": ctx.repo, "peer_id": str(identity.peer_id),
             "config": str(ctx.repo_path / CONFIG_FILE), "created": not existed}
    if args.json:
        print_json(facts)
    elif existed:
        print(f"{ctx.repo} is a repo already (peer id {identity.peer_id}); its config.toml is "
              "kept: change it with `fastswap config set`")
    else:
        print(f"initialised a fastswap repo at {ctx.repo}")
        print(f"peer id: {identity.peer_id}")
        print(f"settings: {facts['config']} (`fastswap config show` for every value)")
    return EXIT_OK


# -- config ------------------------------------------------------------------------------------

CONFIG_DESCRIPTION = """\
Show or change the repo's settings. Every key is section.name; its value comes from, lowest
first: the built-in default, config.toml, a FASTSWAP_SECTION_NAME environment variable, a flag.

Examples:
  fastswap config show                       # every key, its value and where it came from
  fastswap config get bandwidth.peer_rate
  fastswap config set bandwidth.peer_rate 10000000
  fastswap config set node.listen /ip4/0.0.0.0/tcp/4001,/ip6/::/tcp/4001"""


def _action(sub: Any, name: str, help_: str, example: str) -> argparse.ArgumentParser:
    """A sub-action's parser whose --help ends with *example* (each command has one)."""
    return sub.add_parser(name, help=help_, description=help_, epilog=f"example:\n  {example}",
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def _setup_config(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = _action(sub, "show", "every setting, its effective value and its source",
                   "fastswap config show --json | jq '.[\"bandwidth.peer_rate\"]'")
    show.add_argument("--json", action="store_true", help="as JSON: {key: {value, source}}")
    get = _action(sub, "get", "one setting's effective value",
                  "fastswap config get bandwidth.peer_rate")
    get.add_argument("key", metavar="KEY")
    get.add_argument("--json", action="store_true", help="as JSON: {key, value, source}")
    set_ = _action(sub, "set", "write a setting to config.toml",
                   "fastswap config set bandwidth.peer_rate 10000000")
    set_.add_argument("key", metavar="KEY")
    set_.add_argument("value", metavar="VALUE")
    set_.add_argument("--json", action="store_true", help="as JSON: {key, value} as written")


def _format(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    if value is None:
        return "(unset)"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _run_config(args: argparse.Namespace, ctx: Context) -> int:
    from ..config import set_config_value, settings

    if args.action == "set":
        value = set_config_value(ctx.repo, args.key, args.value)
        if args.json:
            print_json({"key": args.key, "value": value})
        else:
            print(f"{args.key} = {_format(value)}")
        return EXIT_OK
    cfg = ctx.config()
    if args.action == "get":
        if args.json:
            print_json({"key": args.key, "value": cfg[args.key],
                        "source": cfg.source(args.key)})
        else:
            print(_format(cfg[args.key]))
        return EXIT_OK
    items = cfg.items()
    if args.json:
        print_json({k: {"value": v, "source": src} for k, v, src in items})
        return EXIT_OK
    width = max(len(k) for k in settings())
    for key, value, source in items:
        print(f"{key:<{width}}  {_format(value)}  ({source})")
    return EXIT_OK


# -- pin ---------------------------------------------------------------------------------------

PIN_DESCRIPTION = """\
The pin set: roots whose DAGs `fastswap repo gc` keeps. add, seed and get pin the roots they
import or fetch; pin add pins a root the repo holds (its whole DAG must be stored).

Examples:
  fastswap pin ls
  fastswap pin add bafy...            # keep it
  fastswap pin rm bafy... && fastswap repo gc   # and reclaim its space"""


def _setup_pin(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = _action(sub, "add", "pin roots (their DAGs must be in the repo)",
                  "fastswap pin add bafy... --name 'site, v2'")
    add.add_argument("cids", metavar="CID", nargs="+")
    add.add_argument("--name", default="", help="a note kept with the pin")
    add.add_argument("--json", action="store_true", help="as JSON: [{cid, pinned}]")
    rm = _action(sub, "rm", "unpin roots", "fastswap pin rm bafy... && fastswap repo gc")
    rm.add_argument("cids", metavar="CID", nargs="+")
    rm.add_argument("--json", action="store_true", help="as JSON: [{cid, unpinned}]")
    ls = _action(sub, "ls", "list the pinned roots", "fastswap pin ls --json")
    ls.add_argument("--json", action="store_true", help="as JSON")


def _run_pin(args: argparse.Namespace, ctx: Context) -> int:
    from ..cid import parse, to_str
    from ..repo import RepoLock, reachable

    if args.action == "ls":
        items = ctx.pins.items()
        if args.json:
            print_json([{"cid": to_str(c), **rec} for c, rec in items])
        else:
            for c, rec in items:
                print(f"{to_str(c)}{'  ' + rec['name'] if rec.get('name') else ''}")
        return EXIT_OK
    cids = [parse(c) for c in args.cids]  # bad CIDs fail before anything changes
    if args.action == "add":
        for c in cids:
            _, missing = reachable(ctx.store, [c])
            if missing:
                raise UserError(f"cannot pin {to_str(c)}: {len(missing)} blocks of its DAG are "
                                f"not in the repo (e.g. {to_str(missing[0])}); fetch it with "
                                "`fastswap get` first")
        for c in cids:
            ctx.pins.add(c, args.name)
        if args.json:
            print_json([{"cid": to_str(c), "pinned": True} for c in cids])
        else:
            for c in cids:
                print(f"pinned {to_str(c)}")
        return EXIT_OK
    with RepoLock(ctx.repo):  # never under a serving node: it may be pinning meanwhile
        done = [(c, ctx.pins.remove(c)) for c in cids]
    if args.json:
        print_json([{"cid": to_str(c), "unpinned": ok} for c, ok in done])
    for c, ok in done:
        if not args.json and ok:
            print(f"unpinned {to_str(c)}")
        elif not ok:
            print(f"fastswap: {to_str(c)} was not pinned", file=sys.stderr)
    return EXIT_OK if all(ok for _, ok in done) else EXIT_ERROR


# -- repo --------------------------------------------------------------------------------------

REPO_DESCRIPTION = """\
Look after the repo. gc deletes every block no pin reaches (an interrupted import's leftovers,
unpinned content); verify re-hashes every block and exits 1 if any does not match its CID;
stat counts blocks, bytes, pins and the disk's free space. gc and verify take the repo's lock:
stop a node serving the repo first.

Examples:
  fastswap repo stat
  fastswap repo gc --dry-run     # what would go
  fastswap repo verify --json"""


def _setup_repo(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    gc = _action(sub, "gc", "delete every block no pin reaches", "fastswap repo gc --dry-run")
    gc.add_argument("--dry-run", action="store_true", help="only count what would go")
    gc.add_argument("--json", action="store_true", help="as JSON")
    st = _action(sub, "stat", "blocks, bytes, pins, free space", "fastswap repo stat --json")
    st.add_argument("--json", action="store_true", help="as JSON")
    vf = _action(sub, "verify", "re-hash every block; exit 1 if any does not match",
                 "fastswap repo verify || echo 'the repo has bad blocks'")
    vf.add_argument("--json", action="store_true", help="as JSON")
    vf.add_argument("-q", "--quiet", action="store_true", help="no progress")


def _run_repo(args: argparse.Namespace, ctx: Context) -> int:
    from ..cid import to_str
    from ..repo import RepoLock, collect_garbage, repo_stat, verify_blocks

    if args.action == "stat":
        st = repo_stat(ctx.repo, ctx.store, ctx.pins)
        if args.json:
            print_json(st)
        else:
            for k, v in st.items():
                print(f"{k:<11} {v}")
        return EXIT_OK
    with RepoLock(ctx.repo):
        if args.action == "gc":
            res = collect_garbage(ctx.store, ctx.pins, dry_run=args.dry_run)
            out = {"removed_blocks": res.removed_blocks, "removed_bytes": res.removed_bytes,
                   "kept_blocks": res.kept_blocks, "dry_run": args.dry_run,
                   "missing": [to_str(c) for c in res.missing]}
            if args.json:
                print_json(out)
            else:
                verb = "would remove" if args.dry_run else "removed"
                print(f"{verb} {res.removed_blocks} blocks, {res.removed_bytes} bytes; kept "
                      f"{res.kept_blocks} blocks that pins reach")
                if res.missing:
                    print(f"fastswap: warning: {len(res.missing)} blocks that pinned DAGs link to "
                          "are not in the repo", file=sys.stderr)
            return EXIT_OK
        from ._progress import Progress

        with Progress("verifying", total=ctx.store.size_bytes(),
                      enabled=not (args.quiet or args.json)) as progress:
            done = [0, 0]

            def report(blocks: int, nbytes: int) -> None:
                progress.update(nbytes - done[1], blocks - done[0])
                done[:] = [blocks, nbytes]

            res = verify_blocks(ctx.store, report)
        bad = [{"cid": to_str(c), "reason": why} for c, why in res.bad]
        if args.json:
            print_json({"checked": res.checked, "bytes": res.bytes, "bad": bad})
        else:
            for b in bad:
                print(f"bad block {b['cid']}: {b['reason']}")
            print(f"checked {res.checked} blocks, {res.bytes} bytes: "
                  f"{len(bad) or 'no'} bad block{'s' if len(bad) != 1 else ''}")
        return EXIT_ERROR if bad else EXIT_OK


# -- stat (of the running node) ----------------------------------------------------------------

STAT_DESCRIPTION = """\
Ask the node serving this repo (through <repo>/control.sock) what it is doing: peers and their
ledgers, the most wanted CIDs, transfer rates, uptime.

Examples:
  fastswap stat
  fastswap stat --json | jq '.peers | length'"""


def _setup_stat(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="everything, as JSON")


def _run_stat(args: argparse.Namespace, ctx: Context) -> int:
    from ..control import request
    from ..repo import CONTROL_SOCKET

    st = run_loop(request(ctx.repo_path / CONTROL_SOCKET, "stat"))
    if args.json:
        print_json(st)
        return EXIT_OK
    rates = st.get("rates", {})
    print(f"peer id:   {st['peer_id']}")
    print(f"uptime:    {st.get('uptime', 0):.0f} s")
    print(f"peers:     {len(st['peers'])}")
    print(f"blocks:    {st['blocks']} in the repo")
    print(f"sent:      {st['server'].get('blocks_sent', 0)} blocks, "
          f"{st['server'].get('bytes_sent', 0)} bytes "
          f"({rates.get('bytes_sent_per_s', 0) / 1e6:.1f} MB/s now)")
    print(f"received:  {st['client'].get('blocks', 0)} blocks, {st['client'].get('bytes', 0)} "
          f"bytes ({rates.get('bytes_received_per_s', 0) / 1e6:.1f} MB/s now)")
    for a in st["addrs"]:
        print(f"address:   {a}")
    ledgers = st.get("ledgers", {})
    if ledgers:
        print("peer                                                   version  sent      recv")
        for peer, led in sorted(ledgers.items(), key=lambda kv: -kv[1].get("bytes_sent", 0)):
            print(f"{peer:<54} {led.get('version') or '-':<8} {led.get('bytes_sent', 0):<9} "
                  f"{led.get('bytes_received', 0)}")
    for w in st.get("top_wanted", []):
        print(f"wanted by {w['peers']} peers: {w['cid']}")
    return EXIT_OK


def _cmd(help_: str, setup: Any, run: Any, description: str) -> Any:
    from ._base import Command

    return Command(help_, setup, run, description)


COMMANDS = {
    "init": _cmd("create a repo: settings, identity, blockstore", _setup_init, _run_init,
                 INIT_DESCRIPTION),
    "config": _cmd("show or change the repo's settings", _setup_config, _run_config,
                   CONFIG_DESCRIPTION),
    "pin": _cmd("pin, unpin and list the roots gc keeps", _setup_pin, _run_pin,
                PIN_DESCRIPTION),
    "repo": _cmd("gc, verify and stat the repo", _setup_repo, _run_repo, REPO_DESCRIPTION),
    "stat": _cmd("what the node serving this repo is doing", _setup_stat, _run_stat,
                 STAT_DESCRIPTION),
}
