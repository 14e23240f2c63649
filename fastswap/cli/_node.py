"""A :class:`~fastswap.node.Node` built from the repo's configuration, for the commands that run
one (seed, get, cat): every tunable of ``fastswap config`` reaches the node here, and
:func:`apply_live` is what a reload (SIGHUP) may change on a running node without dropping
healthy peers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError

__all__ = ["LIVE_KEYS", "apply_live", "bandwidth_from", "node_from_config"]


def bandwidth_from(cfg: Any) -> Any:
    from ..bandwidth import BandwidthLimiter

    return BandwidthLimiter(cfg["bandwidth.total_rate"], cfg["bandwidth.total_burst"],
                            cfg["bandwidth.peer_rate"], cfg["bandwidth.peer_burst"])


def apply_live(node: Any, cfg: Any) -> None:
    """Apply what can change while the node runs: bandwidth limits, the allow and deny lists
    (only the connections of peers they now refuse are closed) and the connection manager's
    water marks. All or nothing: everything is checked before anything changes, so a bad
    configuration leaves the running one whole (ConfigError)."""
    from ..net.keys import PeerId

    # peer ids were checked when the configuration was read
    allow = [PeerId.from_string(t) for t in cfg["peers.allow"]]
    deny = [PeerId.from_string(t) for t in cfg["peers.deny"]]
    connmgr = node.host.connmgr
    low, high = cfg["host.low_water"], cfg["host.high_water"]
    low = connmgr.low_water if low is None else low
    high = connmgr.high_water if high is None else high
    if not 0 <= low <= high:
        raise ConfigError(f"host.low_water ({low}) must not exceed host.high_water ({high})")
    bandwidth = bandwidth_from(cfg)
    node.bandwidth = bandwidth
    node.host.set_peer_filter(allow, deny)
    connmgr.low_water, connmgr.high_water = low, high


#: the settings apply_live changes on a running node; a reload reports changes to any other
LIVE_KEYS = frozenset({"bandwidth.total_rate", "bandwidth.total_burst", "bandwidth.peer_rate",
                       "bandwidth.peer_burst", "peers.allow", "peers.deny", "host.low_water",
                       "host.high_water"})


def node_from_config(repo: str, cfg: Any, *, listen: Sequence[str] | None = None,
                     routing: Any = None) -> Any:
    """A Node on *repo* with every setting of *cfg* (``listen`` overrides ``node.listen``)."""
    from ..node import Node

    host_options = {k: v for k, v in cfg.host_options().items() if v is not None}
    host_options["announce_addrs"] = cfg["node.announce"]
    node = Node(repo, listen=cfg["node.listen"] if listen is None else listen,
                protocols=cfg["node.protocols"], server_config=cfg.server_config(),
                client_config=cfg.client_config(), host_options=host_options, routing=routing,
                bandwidth=bandwidth_from(cfg))
    apply_live(node, cfg)
    return node
