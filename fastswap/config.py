"""The repo's configuration: ``<repo>/config.toml``, ``FASTSWAP_*`` environment variables and
command-line flags, resolved into one typed :class:`NodeConfig`.

Precedence, lowest first: the built-in default (``fastswap._defaults``, where each tunable's
lineage is written), the file, the environment, a flag. :meth:`NodeConfig.source` says which one
set a key, and ``fastswap config show`` prints every key with its effective value and source.

Keys are ``section.name``. The ``server`` and ``client`` sections are the fields of
:class:`~fastswap.server.engine.ServerConfig` and :class:`~fastswap.client.config.ClientConfig`,
generated from those dataclasses (so a new tunable is configurable the day it is added; a test
checks that nothing is left out), with the comment of the ``_defaults`` constant each one
defaults to. The other sections are declared in :data:`_EXTRA`.

The environment variable of ``section.name`` is ``FASTSWAP_SECTION_NAME`` (e.g.
``FASTSWAP_SERVER_MAX_INFLIGHT_PER_PEER=4194304``); lists are comma-separated or TOML arrays.
Unknown keys in the file, and ``FASTSWAP_<SECTION>_*`` variables of a known section that name no
key, are errors that name the key and suggest the closest one; so are values of the wrong type or
out of range (the engines' own checks run on the resolved values and are reported by key).

Reading uses the standard library's ``tomllib``. Writing (``fastswap init``,
``fastswap config set``) renders the whole file from this schema: the values are only ints,
floats, bools, strings and lists of strings, whose TOML forms are one line each, so a TOML
writer library would add a dependency for ~20 lines.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import math
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import _defaults
from .errors import ConfigError

__all__ = [
    "CONFIG_FILE",
    "NodeConfig",
    "Setting",
    "init_config",
    "load_config",
    "render_config",
    "set_config_value",
    "settings",
]

#: the file in a repo
CONFIG_FILE = "config.toml"
_ENV_PREFIX = "FASTSWAP_"


@dataclass(frozen=True)
class Setting:
    """One configuration key: its section and name, type, default and what it does."""

    section: str
    name: str
    kind: str  # "int", "float", "bool", "str", "list"; "int?"/"float?": or unset (None)
    default: Any
    help: str
    #: allowed values of a "str" setting (empty: any)
    choices: tuple[str, ...] = ()
    #: further check of a value of the right type: raises ValueError saying what is accepted
    check: Callable[[Any], None] | None = None
    #: smallest value of a number (None: any)
    minimum: float | None = 0

    @property
    def key(self) -> str:
        return f"{self.section}.{self.name}"

    @property
    def env(self) -> str:
        return f"{_ENV_PREFIX}{self.section.upper()}_{self.name.upper()}"


# -- the schema ---------------------------------------------------------------------------------


def _source_of(obj: Any) -> str:
    """The source of the class or function *obj*: its module's lines from its ``class``/``def``
    line to the end of its indented body (a line that starts with ``)`` ends a signature, not
    the body). ``inspect.getsource`` does this by tokenizing the block, and for a class parses
    the whole module: that was ~10 ms of every command's start (fastswap get included), for
    three lookups, before anything of the command ran."""
    path = sys.modules[obj.__module__].__file__
    assert path is not None
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    if inspect.isclass(obj):
        head = re.compile(rf"\s*class {obj.__name__}\b")
        start = next(i for i, line in enumerate(lines) if head.match(line))
    else:
        start = obj.__code__.co_firstlineno - 1
    indent = len(lines[start]) - len(lines[start].lstrip())
    end = start + 1
    while end < len(lines):
        line = lines[end]
        stripped = line.lstrip()
        if stripped and len(line) - len(stripped) <= indent and not stripped.startswith(")"):
            break
        end += 1
    return "\n".join(lines[start:end])


@functools.cache
def _defaults_comments() -> dict[str, str]:
    """``_defaults`` constant name -> its ``#:`` comment (the lineage written beside it)."""
    out: dict[str, str] = {}
    lines: list[str] = []
    comment = ""  # applies to the run of constants right below it (no blank line between)
    with open(_defaults.__file__, encoding="utf-8") as fh:
        source = fh.read()
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith("#:"):
            lines.append(stripped[2:].strip())
            continue
        if lines:
            comment, lines = " ".join(lines), []
        m = re.match(r"([A-Z][A-Z0-9_]*)\s*=", stripped)
        if m and comment:
            out[m.group(1)] = comment
        elif not stripped or stripped.startswith("#"):
            comment = ""
    return out


#: Fields of the engines' configs whose default is not a ``_defaults`` constant.
_FIELD_HELP = {
    "client.decrease_factor": "Factor a peer's queue limit is multiplied by when its outstanding "
    "data passes high_water_bytes (multiplicative decrease; 0 < f < 1).",
    "client.dup_high": "Duplicate-block ratio (EWMA) above which a session sends each want to "
    "one peer fewer.",
    "client.dup_low": "Duplicate-block ratio below which a timeout may send a session's wants "
    "to one peer more (up to max_fanout).",
    "client.order_seed": "Seed of the random first want of each routing pass (leechers of one "
    "seeder then hold different blocks and trade); unset: strict priority order. fastswap seed "
    "and get pick a random seed when this is unset.",
    "client.order_window": "The random first want is chosen among this many most urgent waiting "
    "wants.",
}


def _dataclass_settings(section: str, cls: type) -> list[Setting]:
    """Settings for every field of the config dataclass *cls* (``name: type = D.CONSTANT``)."""
    comments = _defaults_comments()
    source = _source_of(cls)
    constants = dict(re.findall(r"^\s+(\w+):[^=\n]+=\s*D\.(\w+)", source, re.MULTILINE))
    out = []
    for f in dataclasses.fields(cls):
        key = f"{section}.{f.name}"
        help_ = _FIELD_HELP.get(key) or comments.get(constants.get(f.name, ""), "")
        if not help_:
            raise ConfigError(f"no help for {key}: add it to fastswap.config._FIELD_HELP")
        annotation = str(f.type)
        kind = {"int": "int", "float": "float", "bool": "bool", "str": "str",
                "int | None": "int?", "float | None": "float?"}.get(annotation)
        if kind is None:
            raise ConfigError(f"{key}: unsupported config type {annotation}")
        # the engines check their own ranges; an order seed may be any integer
        minimum = None if key == "client.order_seed" else 0
        out.append(Setting(section, f.name, kind, f.default, help_, minimum=minimum))
    return out


#: Host keywords that are tunables but default to None or a plain value (no _defaults constant)
_HOST_EXTRA: dict[str, tuple[str, Any, str]] = {
    "low_water": ("int?", None, ("The connection manager trims connected peers down to this many "
                  "when more than high_water are connected (unset: derived from max_connections).")),
    "high_water": ("int?", None, ("Connected peers above which the connection manager trims the "
                   "least useful ones (unset: derived from max_connections).")),
    "trim_memory": ("bool", True, ("Give freed heap memory back to the operating system after "
                    "busy spells (glibc malloc_trim).")),
}


def _signature_settings(section: str, func: Any) -> list[Setting]:
    """Settings for the keyword parameters of *func* that default to a ``_defaults`` constant
    (``name: type = _defaults.CONSTANT``), plus those in _HOST_EXTRA."""
    comments = _defaults_comments()
    source = _source_of(func)
    constants = dict(re.findall(r"^\s+(\w+):[^=\n]+=\s*_defaults\.(\w+)", source, re.MULTILINE))
    kinds = {"int": "int", "float": "float", "bool": "bool"}
    out = []
    for name, param in inspect.signature(func).parameters.items():
        if name in constants:
            kind = kinds.get(str(param.annotation))
            if kind is None:
                raise ConfigError(f"{section}.{name}: unsupported config type {param.annotation}")
            help_ = comments.get(constants[name], "")
            if not help_:
                raise ConfigError(f"no help for {section}.{name}: comment _defaults.{constants[name]}")
            out.append(Setting(section, name, kind, param.default, help_))
        elif name in _HOST_EXTRA:
            kind, default, help_ = _HOST_EXTRA[name]
            out.append(Setting(section, name, kind, default, help_))
    return out


def _tcp_multiaddrs(values: list[str]) -> None:
    from .net.multiaddr import parse_multiaddr

    for text in values:
        try:
            parse_multiaddr(text).tcp_address()
        except ValueError as exc:
            raise ValueError(f"{text!r} is not a TCP multiaddr such as /ip4/0.0.0.0/tcp/4001 "
                             f"({exc})") from None


def _peer_ids(values: list[str]) -> None:
    from .net.keys import PeerId

    for text in values:
        try:
            PeerId.from_string(text)
        except ValueError as exc:
            raise ValueError(f"{text!r} is not a peer id such as 12D3KooW... ({exc})") from None


def _metrics_listen(value: str) -> None:
    if value:
        from .metrics import parse_listen

        parse_listen(value)


def _extra_settings() -> list[Setting]:
    from .message.versions import BITSWAP_PROTOCOLS

    return [
        Setting("node", "listen", "list", ["/ip4/127.0.0.1/tcp/0"],
                "TCP multiaddrs to listen on. Port 0 picks a free port at each start; set a "
                "port (4001 is Kubo's) so peers can come back. /ip4/0.0.0.0/... listens on "
                "every interface and announces each interface's address.",
                check=_tcp_multiaddrs),
        Setting("node", "announce", "list", [],
                "Multiaddrs to announce (identify, the printed addresses) instead of the "
                "listen addresses, e.g. a public address behind port forwarding.",
                check=_tcp_multiaddrs),
        Setting("node", "protocols", "list", list(BITSWAP_PROTOCOLS),
                "Bitswap protocol ids to speak, in order of preference."),
        Setting("bandwidth", "total_rate", "int", 0,
                "Block data sent per second to all peers together, in bytes (0: unlimited). "
                "Wantlists and presences are never held back."),
        Setting("bandwidth", "total_burst", "int", 0,
                "Bytes the total limit lets through at once after a quiet spell (0: a tenth "
                "of a second's worth)."),
        Setting("bandwidth", "peer_rate", "int", 0,
                "Block data sent per second to any one peer, in bytes (0: unlimited)."),
        Setting("bandwidth", "peer_burst", "int", 0,
                "Bytes the per-peer limit lets through at once (0: a tenth of a second's "
                "worth)."),
        Setting("peers", "allow", "list", [],
                "Peer ids allowed to connect (empty: everyone not denied).", check=_peer_ids),
        Setting("peers", "deny", "list", [],
                "Peer ids refused: their connections are closed and never dialled.",
                check=_peer_ids),
        Setting("metrics", "listen", "str", "",
                "HOST:PORT (or a bare port, on 127.0.0.1) to serve Prometheus metrics on "
                "(empty: off).", check=_metrics_listen),
        Setting("log", "level", "str", "info", "Log level of fastswap seed.",
                ("debug", "info", "warning", "error")),
        Setting("log", "format", "str", "text", "Log format: text lines or one JSON object "
                "a line.", ("text", "json")),
        Setting("repo", "durable", "bool", True,
                "A command that prints a CID has made its blocks durable (one fsync at its "
                "end). false trades that for speed: a power loss may then lose them."),
        Setting("seed", "preset", "str", "kubo",
                "UnixFS importer defaults of fastswap seed/add: kubo (CIDv0, 256 KiB chunks) "
                "or helia (CIDv1, raw leaves, 1 MiB chunks).", ("kubo", "helia")),
        Setting("routing", "bootstrap", "list", [],
                "DHT peers to join through (multiaddrs ending in /p2p/<id>); seed and get "
                "run the LAN DHT with them (see routing.dht)."),
        Setting("routing", "bootstrap_public", "bool", False,
                "Also join the public IPFS (Amino) DHT through its well-known bootstrap peers. "
                "Opt-in: it dials the internet."),
        Setting("routing", "dht", "str", "auto",
                "Which DHT to run: lan (/ipfs/lan/kad/1.0.0), wan (/ipfs/kad/1.0.0), dual, or "
                "off; auto: dual with bootstrap_public, lan with bootstrap peers, else off.",
                ("auto", "off", "lan", "wan", "dual")),
        Setting("routing", "delegated", "list", [],
                "IPFS HTTP routing v1 endpoints (URLs) to ask for providers too."),
        Setting("routing", "provide_strategy", "str", "roots",
                "What a seeder announces on the DHT: each root, or every block.",
                ("roots", "all")),
        Setting("routing", "reprovide_interval", "float", _defaults.KAD_REPROVIDE_INTERVAL_SECONDS,
                _defaults_comments().get("KAD_REPROVIDE_INTERVAL_SECONDS", "")
                or "Seconds between re-announcements of what a seeder provides."),
        Setting("seed", "drain_timeout", "float", 10.0,
                "Seconds a stopping seeder (SIGINT/SIGTERM) waits for responses in flight "
                "before it exits anyway."),
    ]


_SETTINGS: dict[str, Setting] | None = None


def settings() -> dict[str, Setting]:
    """Every configuration key, in file order."""
    global _SETTINGS
    if _SETTINGS is None:
        from .client.config import ClientConfig
        from .server.engine import ServerConfig

        out: dict[str, Setting] = {}
        from .net.host import Host

        extra = _extra_settings()
        sections = list(dict.fromkeys(s.section for s in extra))  # a section's keys together
        grouped = [s for sec in sections for s in extra if s.section == sec]
        node = [s for s in grouped if s.section == "node"]
        for s in [*node, *_signature_settings("host", Host.__init__),
                  *[s for s in grouped if s.section != "node"],
                  *_dataclass_settings("server", ServerConfig),
                  *_dataclass_settings("client", ClientConfig)]:
            out[s.key] = s
        _SETTINGS = out
    return _SETTINGS


# -- values -------------------------------------------------------------------------------------


def _closest(key: str, known: Iterable[str]) -> str:
    """Where the user should look instead of *key*: the closest known name, else the list."""
    import difflib  # only to word an error

    near = difflib.get_close_matches(key, list(known), n=1)
    if near:
        return f" (did you mean {near[0]}?)"
    return " (`fastswap config show` lists every key)"


def _check(setting: Setting, value: Any, where: str) -> Any:
    """*value* (from TOML or parsed from text) as *setting*'s type, in its range and passing
    its check, or ConfigError naming the key and what it accepts."""

    def bad(expected: str) -> ConfigError:
        return ConfigError(f"{setting.key} ({where}): expected {expected}, got {value!r}")

    value = _check_type(setting, value, bad)
    if (setting.minimum is not None and type(value) in (int, float)
            and value < setting.minimum):
        number = "an integer" if setting.kind.startswith("int") else "a number"
        raise bad(f"{number} of at least {setting.minimum:g}")
    if setting.check is not None and value is not None:
        try:
            setting.check(value)
        except ValueError as exc:
            raise ConfigError(f"{setting.key} ({where}): {exc}") from None
    return value


def _check_type(setting: Setting, value: Any, bad: Callable[[str], ConfigError]) -> Any:
    kind = setting.kind
    if kind == "bool":
        if type(value) is not bool:
            raise bad("true or false")
        return value
    if value is None and kind.endswith("?"):
        return None
    if kind in ("int", "int?"):
        if type(value) is not int:
            raise bad("an integer")
        return value
    if kind in ("float", "float?"):
        if type(value) not in (int, float) or not math.isfinite(value):
            raise bad("a number")
        return float(value)
    if kind == "str":
        if type(value) is not str:
            raise bad("a string")
        if setting.choices and value not in setting.choices:
            raise bad("one of " + ", ".join(setting.choices))
        return value
    if kind == "list":
        if type(value) is not list or any(type(v) is not str for v in value):
            raise bad("a list of strings")
        return list(value)
    raise AssertionError(kind)  # pragma: no cover - the schema only uses the kinds above


def parse_text(setting: Setting, text: str, where: str) -> Any:
    """A value given as text (environment, command line): TOML syntax where it parses
    (``4194304``, ``true``, ``["a", "b"]``), else a bare string; lists also as ``a,b,c``."""
    text = text.strip()
    kind = setting.kind
    if kind.endswith("?") and text.lower() in ("", "none", "unset"):
        return None
    if kind == "bool":
        low = text.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
    if kind == "list" and not text.startswith("["):
        value: Any = [p.strip() for p in text.split(",") if p.strip()]
    else:
        import tomllib  # imported where used: most commands read no TOML at all

        try:
            value = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            value = text
    if kind in ("float", "float?") and type(value) is int:
        value = float(value)
    return _check(setting, value, where)


def _toml_value(value: Any) -> str:
    if type(value) is bool:
        return "true" if value else "false"
    if type(value) in (int, float):
        return repr(value)
    if type(value) is str:
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    if type(value) is list:
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise ConfigError(f"cannot write {value!r} to TOML")  # pragma: no cover


def _wrap(text: str, width: int = 98) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width - 2) or [""]


def render_config(values: Mapping[str, Any] | None = None) -> str:
    """The whole config.toml: every key, with its help as a comment, set to ``values[key]``
    where given, else its default. An unset optional key (``int?``) is written commented out."""
    values = values or {}
    out = ["# fastswap repo configuration. Every key is listed with its default; see",
           "# `fastswap config show` for the effective values (environment and flags win).", ""]
    section = None
    for s in settings().values():
        if s.section != section:
            section = s.section
            out += [f"[{section}]", ""]
        out += [f"# {line}" for line in _wrap(s.help)]
        if s.choices:
            out.append(f"# one of: {', '.join(s.choices)}")
        value = values.get(s.key, s.default)
        if value is None:
            out.append(f"# {s.name} = ")
        else:
            out.append(f"{s.name} = {_toml_value(value)}")
        out.append("")
    return "\n".join(out)


def _read_file(path: Path) -> dict[str, Any]:
    """The keys set in *path* (``section.name`` -> checked value); {} if it does not exist."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except NotADirectoryError:
        raise ConfigError(f"the repo {path.parent} is not a directory; give --repo a "
                          "directory") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    import tomllib  # (see parse_text)

    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    known = settings()
    sections = {s.section for s in known.values()}
    out: dict[str, Any] = {}
    for section, table in doc.items():
        if type(table) is not dict:
            raise ConfigError(
                f"{path}: {section!r} must be a [section]; sections: {', '.join(sorted(sections))}"
            )
        for name, value in table.items():
            key = f"{section}.{name}"
            s = known.get(key)
            if s is None:
                raise ConfigError(f"{path}: unknown key {key}{_closest(key, known)}")
            out[key] = _check(s, value, str(path))
    return out


def _read_env(env: Mapping[str, str]) -> dict[str, Any]:
    known = settings()
    by_env = {s.env: s for s in known.values()}
    prefixes = {f"{_ENV_PREFIX}{s.section.upper()}_" for s in known.values()}
    out: dict[str, Any] = {}
    for name, text in env.items():
        s = by_env.get(name)
        if s is not None:
            out[s.key] = parse_text(s, text, f"environment {name}")
        elif any(name.startswith(p) for p in prefixes):
            raise ConfigError(
                f"unknown setting in the environment: {name}{_closest(name, by_env)}"
            )
    return out


# -- the resolved configuration -----------------------------------------------------------------


class NodeConfig:
    """The effective configuration: ``cfg["server.max_inflight_per_peer"]``, plus the typed
    pieces the node needs (:meth:`server_config`, :meth:`client_config`, :meth:`host_options`)."""

    def __init__(self, values: dict[str, Any], sources: dict[str, str],
                 path: Path | None) -> None:
        self._values = values
        self._sources = sources
        #: the config file read (None: no repo)
        self.path = path

    def __getitem__(self, key: str) -> Any:
        try:
            return self._values[key]
        except KeyError:
            raise ConfigError(f"unknown setting {key}{_closest(key, self._values)}") from None

    def source(self, key: str) -> str:
        """Where *key*'s value came from: ``default``, ``file``, ``env`` or ``flag``."""
        self[key]
        return self._sources.get(key, "default")

    def items(self) -> list[tuple[str, Any, str]]:
        """``(key, value, source)`` for every key, in file order."""
        return [(k, v, self._sources.get(k, "default")) for k, v in self._values.items()]

    def section(self, section: str) -> dict[str, Any]:
        prefix = section + "."
        return {k[len(prefix):]: v for k, v in self._values.items() if k.startswith(prefix)}

    def server_config(self) -> Any:
        from .server.engine import ServerConfig

        return self._build(ServerConfig, "server", self.section("server"))

    def client_config(self) -> Any:
        from .client.config import ClientConfig

        values = self.section("client")
        if values.get("order_seed") is None:
            # each node orders its waiting wants from its own seed (ClientEngine, "Order within
            # a session"): leechers of one seeder then hold different blocks and trade them
            values["order_seed"] = int.from_bytes(os.urandom(8), "big")
        return self._build(ClientConfig, "client", values)

    def host_options(self) -> dict[str, Any]:
        return self.section("host")

    def _build(self, cls: Callable[..., Any], section: str, values: dict[str, Any]) -> Any:
        """``cls(**values)``, its own validation reported by key: of the keys its message names,
        the one set last (flag, then environment, then file), else the longest."""
        try:
            return cls(**values)
        except (ValueError, TypeError) as exc:
            text = str(exc)
            named = [n for n in values if re.search(rf"\b{n}\b", text)]
            rank = {"flag": 0, "env": 1, "file": 2}
            named.sort(key=lambda n: (rank.get(self._sources.get(f"{section}.{n}", ""), 3),
                                      -len(n)))
            key = f"{section}.{named[0]}" if named else f"[{section}]"
            raise ConfigError(f"{key}: {text}") from None


def load_config(repo: str | os.PathLike[str] | None, *,
                env: Mapping[str, str] | None = None,
                flags: Mapping[str, Any] | None = None) -> NodeConfig:
    """Resolve the configuration of *repo* (its config.toml, if any), the environment (default
    ``os.environ``) and *flags* (``key -> value`` already typed, None meaning "not given")."""
    known = settings()
    values = {k: s.default for k, s in known.items()}
    sources: dict[str, str] = {}
    path = None if repo is None else Path(repo) / CONFIG_FILE
    layers = [("file", _read_file(path) if path is not None else {}),
              ("env", _read_env(os.environ if env is None else env))]
    flag_values = {}
    for key, value in (flags or {}).items():
        if value is None:
            continue
        s = known.get(key)
        if s is None:
            raise ConfigError(f"unknown setting {key}{_closest(key, known)}")
        flag_values[key] = _check(s, value, "command line")
    layers.append(("flag", flag_values))
    for source, layer in layers:
        for key, value in layer.items():
            values[key] = value
            sources[key] = source
    cfg = NodeConfig(values, sources, path)
    # the engines check their own ranges: do it now, so a bad value fails at start, by key
    cfg.server_config()
    cfg.client_config()
    return cfg


def _write_atomic(path: Path, text: str) -> None:
    import tempfile  # only to write: a command that only reads the config does not pay for it

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".config.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def init_config(repo: str | os.PathLike[str], values: Mapping[str, Any] | None = None) -> Path:
    """Write ``<repo>/config.toml`` with every key (ConfigError if one exists already)."""
    path = Path(repo) / CONFIG_FILE
    if path.exists():
        raise ConfigError(f"{path} exists already; edit it, or use `fastswap config set`")
    _write_atomic(path, render_config(values))
    return path


def set_config_value(repo: str | os.PathLike[str], key: str, text: str) -> Any:
    """Set *key* to the value *text* in ``<repo>/config.toml`` (created if missing), keeping
    the file's other values; returns the typed value. Checks it as the node would at start."""
    known = settings()
    s = known.get(key)
    if s is None:
        raise ConfigError(f"unknown setting {key}{_closest(key, known)}")
    value = parse_text(s, text, "command line")
    path = Path(repo) / CONFIG_FILE
    current = _read_file(path)
    load_config(repo, env={}, flags={key: value})  # the engines' range checks, by key
    current[key] = value
    _write_atomic(path, render_config(current))
    return value
