"""fastswap.config: config.toml, FASTSWAP_* environment variables and flags, in that order of
precedence, with one-line errors naming bad keys and values."""

from __future__ import annotations

import dataclasses
import tomllib

import pytest

from fastswap import config
from fastswap.client.config import ClientConfig
from fastswap.errors import ConfigError
from fastswap.server.engine import ServerConfig


def test_every_engine_tunable_is_a_key_with_help() -> None:
    keys = config.settings()
    for section, cls in (("server", ServerConfig), ("client", ClientConfig)):
        for f in dataclasses.fields(cls):
            s = keys[f"{section}.{f.name}"]
            assert s.default == f.default and len(s.help) > 20, s
    assert all(s.help for s in keys.values())


def test_rendered_file_is_valid_toml_and_holds_every_default(tmp_path) -> None:
    text = config.render_config()
    doc = tomllib.loads(text)
    for key, s in config.settings().items():
        section, name = key.split(".")
        if s.default is None:
            assert name not in doc[section] and f"# {name} = " in text
        else:
            assert doc[section][name] == s.default, key
    path = config.init_config(tmp_path)
    assert path.read_text() == text
    with pytest.raises(ConfigError, match="exists already"):
        config.init_config(tmp_path)


def test_precedence_default_file_env_flag(tmp_path) -> None:
    key = "server.max_inflight_per_peer"
    assert config.load_config(tmp_path, env={}).source(key) == "default"
    config.set_config_value(tmp_path, key, "3145728")
    cfg = config.load_config(tmp_path, env={})
    assert (cfg[key], cfg.source(key)) == (3145728, "file")
    cfg = config.load_config(tmp_path, env={"FASTSWAP_SERVER_MAX_INFLIGHT_PER_PEER": "4194304"})
    assert (cfg[key], cfg.source(key)) == (4194304, "env")
    cfg = config.load_config(tmp_path, env={"FASTSWAP_SERVER_MAX_INFLIGHT_PER_PEER": "4194304"},
                             flags={key: 5242880, "node.listen": None})
    assert (cfg[key], cfg.source(key)) == (5242880, "flag")
    assert cfg.source("node.listen") == "file"  # a flag left unset (None) is not a source
    assert cfg.server_config().max_inflight_per_peer == 5242880


def test_text_values_by_type() -> None:
    s = config.settings()
    assert config.parse_text(s["node.listen"], "/ip4/1.2.3.4/tcp/1, /ip4/127.0.0.1/tcp/2",
                             "x") == ["/ip4/1.2.3.4/tcp/1", "/ip4/127.0.0.1/tcp/2"]
    assert config.parse_text(s["node.listen"], '["/ip4/127.0.0.1/tcp/1", "/ip6/::1/tcp/2"]',
                             "x") == ["/ip4/127.0.0.1/tcp/1", "/ip6/::1/tcp/2"]
    assert config.parse_text(s["repo.durable"], "no", "x") is False
    assert config.parse_text(s["client.want_timeout"], "3", "x") == 3.0
    assert config.parse_text(s["client.order_seed"], "unset", "x") is None
    assert config.parse_text(s["metrics.listen"], "127.0.0.1:9100", "x") == "127.0.0.1:9100"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FASTSWAP_SERVER_MAX_INFLIGT_PER_PEER": "1"},
         ("unknown setting in the environment: FASTSWAP_SERVER_MAX_INFLIGT_PER_PEER "
         "(did you mean FASTSWAP_SERVER_MAX_INFLIGHT_PER_PEER?)")),
        ({"FASTSWAP_SERVER_MAX_INFLIGHT_PER_PEER": "lots"},
         ("server.max_inflight_per_peer (environment FASTSWAP_SERVER_MAX_INFLIGHT_PER_PEER): "
         "expected an integer, got 'lots'")),
        ({"FASTSWAP_LOG_LEVEL": "loud"}, "expected one of debug, info, warning, error"),
        ({"FASTSWAP_CLIENT_MIN_QUEUE_LIMIT": "0"}, "client.min_queue_limit: ClientConfig needs"),
        ({"FASTSWAP_SERVER_MAX_MESSAGE_SIZE": "1000"}, "server.max_message_size: ServerConfig"),
        ({"FASTSWAP_BANDWIDTH_PEER_RATE": "-5"},
         ("bandwidth.peer_rate (environment FASTSWAP_BANDWIDTH_PEER_RATE): expected an integer "
         "of at least 0, got -5")),
        ({"FASTSWAP_NODE_LISTEN": "/ip4/127.0.0.1/tcp/1,/ip4/1.2.3.4/udp/1"},
         ("node.listen (environment FASTSWAP_NODE_LISTEN): '/ip4/1.2.3.4/udp/1' is not a TCP "
         "multiaddr such as /ip4/0.0.0.0/tcp/4001")),
        ({"FASTSWAP_PEERS_DENY": "QmNope"},
         "peers.deny (environment FASTSWAP_PEERS_DENY): 'QmNope' is not a peer id"),
        ({"FASTSWAP_METRICS_LISTEN": "nope"}, ("metrics.listen (environment FASTSWAP_METRICS_"
         "LISTEN): metrics address 'nope': expected HOST:PORT or a port number")),
    ],
)
def test_bad_environment_names_the_key(env, message) -> None:
    with pytest.raises(ConfigError) as e:
        config.load_config(None, env=env)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_unrelated_environment_is_ignored() -> None:
    cfg = config.load_config(None, env={"FASTSWAP_HOME": "/x", "FASTSWAP_NO_EXTENSIONS": "1"})
    assert all(src == "default" for _, _, src in cfg.items())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[server]\nmax_inflight_per_pear = 1\n", ("unknown key server.max_inflight_per_pear "
         "(did you mean server.max_inflight_per_peer?)")),
        ("[server]\nmax_inflight_per_peer = 1.5\n", "expected an integer, got 1.5"),
        ("[node]\nlisten = \"/ip4/1.2.3.4/tcp/1\"\n", "node.listen"),
        ("server = 3\n", "'server' must be a [section]"),
        ("[server\n", "is not valid TOML"),
        ('[peers]\nallow = ["nope"]\n', "peers.allow ("),
        ("[nod]\nlisten = []\n", "unknown key nod.listen (did you mean node.listen?)"),
        ("[zzz]\nqqq = 1\n", "unknown key zzz.qqq (`fastswap config show` lists every key)"),
    ],
)
def test_bad_file_names_the_key(tmp_path, text, message) -> None:
    (tmp_path / "config.toml").write_text(text)
    with pytest.raises(ConfigError) as e:
        config.load_config(tmp_path, env={})
    assert message in str(e.value)


def test_set_refuses_unknown_keys_and_bad_values_and_keeps_the_file(tmp_path) -> None:
    config.set_config_value(tmp_path, "bandwidth.peer_rate", "1000000")
    before = (tmp_path / "config.toml").read_text()
    with pytest.raises(ConfigError, match="did you mean bandwidth.peer_rate"):
        config.set_config_value(tmp_path, "bandwidth.peer_rat", "1")
    with pytest.raises(ConfigError, match="client.min_queue_limit"):
        config.set_config_value(tmp_path, "client.min_queue_limit", "0")
    assert (tmp_path / "config.toml").read_text() == before
    assert config.load_config(tmp_path, env={})["bandwidth.peer_rate"] == 1000000
