"""Naive clients: the real ClientEngine with one policy replaced by the obvious wrong one.

They are test fixtures, kept so that the swarm scenarios (tests/testing/test_swarm.py) and the
client swarm tests (tests/client/test_client_swarm.py) can show that their assertions fail when
the policy they claim to test is missing (issue 14): a metric that a naive client also passes
measures nothing about that policy. Each changes the engine through the smallest override:

* :class:`FirstPeerClient`: every want goes to the first connected peer, as many as there are
  (no queue limit): the other holders sit unused.
* :class:`BroadcastClient`: every want goes as want-block to every session peer, with no queue
  limit and no fan-out control: each holder sends everything (duplicates).
* :class:`FixedCapClient`: a fixed number of want-blocks per peer (``cap``), no control law:
  neither the additive increase / multiplicative decrease nor the time-based caps.

They override private methods of :class:`~fastswap.client.engine.ClientEngine` (``_candidates``,
``_caps``, ``_dup_sample``): white-box on purpose, since each stands for the engine with one
decision made badly, everything else (discovery, cancels, timeouts, verification) unchanged.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from fastswap.client.engine import ClientConfig, ClientEngine

__all__ = [
    "NAIVE",
    "BroadcastClient",
    "FirstPeerClient",
    "FixedCapClient",
    "naive_factory",
]

#: no queue limit at all (ClientConfig caps max_queue_limit below max_peer_wants)
_UNLIMITED = 1 << 20


class FirstPeerClient(ClientEngine):
    """Every want to the first connected peer (in connection order), with no queue limit."""

    def _candidates(self, s: Any, w: Any) -> list:
        for p in self._peers.values():
            if p.connected:
                return [p]
        return []

    def _caps(self) -> dict:
        return {k: _UNLIMITED for k, p in self._peers.items() if p.connected}


class BroadcastClient(ClientEngine):
    """want-block for every want from every session peer (every peer that said HAVE or sent a
    block), no queue limit, and a fan-out that never shrinks."""

    def new_session(self, now: float) -> int:
        sid = super().new_session(now)
        self._sessions[sid].fanout = _UNLIMITED
        return sid

    def _dup_sample(self, s: Any, x: float) -> None:
        pass  # duplicates never lower the fan-out

    def _caps(self) -> dict:
        return {k: _UNLIMITED for k, p in self._peers.items() if p.connected}


class FixedCapClient(ClientEngine):
    """At most ``cap`` want-blocks live at each peer, always: a fixed queue, no control law."""

    def __init__(self, cap: int, *, config: ClientConfig | None = None) -> None:
        # the limit cannot move: additive increase and multiplicative decrease are clamped
        super().__init__(config=replace(
            config if config is not None else ClientConfig(),
            initial_queue_limit=cap, min_queue_limit=cap, max_queue_limit=cap,
        ))
        self.cap = cap

    def _caps(self) -> dict:
        return {k: self.cap for k, p in self._peers.items() if p.connected}


#: The naive clients by name (``cap<N>`` is a FixedCapClient(N)), with the queue caps issue 14
#: names: 1 and 8 starve a fast peer, 512 floods a slow one, 16 and 24 pass a swarm of steady
#: peers and fail one whose speeds change.
NAIVE: dict[str, Callable[..., ClientEngine]] = {
    "first_peer": FirstPeerClient,
    "broadcast": BroadcastClient,
    **{f"cap{n}": (lambda config, n=n: FixedCapClient(n, config=config))
       for n in (1, 8, 16, 24, 512)},
}


def naive_factory(name: str, **config: Any) -> Callable[[], ClientEngine]:
    """A ``client_factory`` for :class:`~fastswap.testing.VirtualNetwork` building the naive
    client *name* (a key of :data:`NAIVE`), each node with its own ``order_seed`` (its index,
    as the network's default client has), so it differs from the default in its policy only."""
    make = NAIVE[name]
    index = itertools.count()
    return lambda: make(config=ClientConfig(order_seed=next(index), **config))
