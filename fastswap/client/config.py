"""Tunables of the Bitswap client engine (:class:`~fastswap.client.engine.ClientEngine`); the
defaults, with their lineage, live in :mod:`fastswap._defaults` (CLIENT_*), and the policy each
one steers is written down in the engine's module docstring."""

from __future__ import annotations

from dataclasses import dataclass

from .. import _defaults as D

__all__ = ["ClientConfig"]


@dataclass
class ClientConfig:
    """Tunables of :class:`ClientEngine` (defaults in :mod:`fastswap._defaults`)."""

    initial_queue_limit: int = D.CLIENT_INITIAL_QUEUE_LIMIT
    min_queue_limit: int = D.CLIENT_MIN_QUEUE_LIMIT
    max_queue_limit: int = D.CLIENT_MAX_QUEUE_LIMIT
    low_water_bytes: int = D.CLIENT_LOW_WATER_BYTES
    high_water_bytes: int = D.CLIENT_HIGH_WATER_BYTES
    decrease_factor: float = 0.5
    want_timeout: float = D.CLIENT_WANT_TIMEOUT_SECONDS
    search_interval: float = D.CLIENT_SEARCH_INTERVAL_SECONDS
    max_search_interval: float = D.CLIENT_MAX_SEARCH_INTERVAL_SECONDS
    #: Seconds a want may stay with nobody to ask before it fails (WantFailed); None: never.
    give_up_after: float | None = D.CLIENT_GIVE_UP_SECONDS
    piggyback_max: int = D.CLIENT_PIGGYBACK_MAX
    max_fanout: int = D.CLIENT_MAX_FANOUT
    dup_high: float = 0.10
    dup_low: float = 0.02
    recent_blocks: int = D.CLIENT_RECENT_BLOCKS
    default_block_size: int = D.DEFAULT_CHUNK_SIZE
    max_message_size: int = D.MAX_MESSAGE_SIZE
    max_block_size: int = D.MAX_BLOCK_SIZE
    max_peer_wants: int = D.CLIENT_MAX_PEER_WANTS
    #: None: a session's waiting wants are routed in priority order. An int seeds the choice
    #: of a random first want among the ``order_window`` most urgent waiting ones (see the
    #: module docstring, "Order within a session"); give every node of a swarm its own seed.
    order_seed: int | None = None
    order_window: int = 32

    def __post_init__(self) -> None:
        if not 1 <= self.min_queue_limit <= self.initial_queue_limit <= self.max_queue_limit:
            raise ValueError(
                "ClientConfig needs 1 <= min_queue_limit <= initial_queue_limit <= max_queue_limit"
            )
        if not 0 < self.decrease_factor < 1:
            raise ValueError("ClientConfig.decrease_factor must be between 0 and 1 (exclusive)")
        if self.low_water_bytes >= self.high_water_bytes:
            raise ValueError("ClientConfig.low_water_bytes must be below high_water_bytes")
        if self.max_fanout < 1 or self.piggyback_max < 0 or self.recent_blocks < 0:
            raise ValueError("ClientConfig: max_fanout >= 1, piggyback_max >= 0, recent_blocks >= 0")
        if self.want_timeout <= 0 or self.search_interval <= 0:
            raise ValueError("ClientConfig: want_timeout and search_interval must be positive")
        if self.max_search_interval < self.search_interval:
            raise ValueError("ClientConfig.max_search_interval must be >= search_interval")
        if self.give_up_after is not None and not self.give_up_after > 0:
            raise ValueError("ClientConfig.give_up_after must be positive seconds, or None")
        if self.max_peer_wants <= self.max_queue_limit:
            raise ValueError("ClientConfig.max_peer_wants must exceed max_queue_limit")
        if self.order_window < 1:
            raise ValueError("ClientConfig.order_window must be at least 1")
        if self.max_message_size < 1024:
            raise ValueError("ClientConfig.max_message_size must be at least 1 KiB")
