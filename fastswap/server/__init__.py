"""The Bitswap server: the decision engine (:mod:`.engine`) and its peer task queue
(:mod:`.taskqueue`). Spec: ipfs/specs bitswap-protocol; policy in :mod:`.engine`'s docstring."""

from .engine import TARGET, Response, ServerConfig, ServerEngine

__all__ = ["TARGET", "Response", "ServerConfig", "ServerEngine"]
