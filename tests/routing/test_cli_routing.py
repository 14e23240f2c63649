"""The CLI's content-routing flags (fastswap/cli/_routing.py, the routing.* settings): nothing public is dialled unless asked,
--bootstrap picks the LAN DHT, --bootstrap-public the public one as well, and a get with no
source at all is a one-line error."""

from __future__ import annotations

from pathlib import Path

from fastswap.cli import build_parser
from fastswap.cli._routing import dht_protocols, routing_flags
from fastswap.config import load_config
from fastswap.routing import PROTOCOL_KAD, PROTOCOL_LAN_KAD, PUBLIC_BOOTSTRAP
from tests.peers.fastswap_cli import get


def _protocols(*argv: str) -> list[str]:
    args = build_parser().parse_args(["seed", "f", *argv])
    return dht_protocols(load_config(None, env={}, flags=routing_flags(args)))


def test_defaults_dial_nothing_public() -> None:
    args = build_parser().parse_args(["seed", "f"])
    assert args.bootstrap is None and not args.bootstrap_public
    assert not load_config(None, env={})["routing.bootstrap"]
    assert _protocols() == []  # a fresh seed runs no DHT at all
    assert _protocols("--bootstrap", "/ip4/127.0.0.1/tcp/1/p2p/x") == [PROTOCOL_LAN_KAD]
    assert _protocols("--bootstrap-public") == [PROTOCOL_LAN_KAD, PROTOCOL_KAD]
    assert _protocols("--bootstrap-public", "--dht", "off") == []
    assert all(a.startswith(("/dnsaddr/", "/ip4/")) for a in PUBLIC_BOOTSTRAP)


def test_get_without_any_source_is_a_one_line_error(tmp_path: Path) -> None:
    p = get(tmp_path / "r", "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4", None,
            tmp_path / "o", timeout=20)
    err = p.stderr.decode().strip().splitlines()
    assert p.returncode != 0 and len(err) == 1 and "nowhere to look for it" in err[0], err


def test_get_with_an_unreachable_bootstrap_peer_fails_fast(tmp_path: Path) -> None:
    p = get(tmp_path / "r", "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4", None,
            tmp_path / "o", "--bootstrap",
            "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA",
            timeout=60)
    err = p.stderr.decode().strip().splitlines()
    assert p.returncode != 0 and "no bootstrap peer could be reached" in err[-1], err
