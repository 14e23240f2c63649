"""The Bitswap client: wantlists, per-peer message queues, sessions (sans-IO).

Spec: ipfs/specs bitswap-protocol (client side: wantlists, cancels, block presences) and
go-bitswap PR #186 "Bitswap Protocol Extensions". :mod:`.wantlist` holds the wantlist and the
per-peer sent-want tracking (compiled twin); :mod:`.engine` the :class:`ClientEngine` state
machine whose policy (discovery, live-want queues, the queue-limit control law, duplicates) is
written down in its docstring, over its records in :mod:`._state` and its tunables in
:mod:`.config`; :mod:`.naming` names (verifies) received blocks, off the loop if the driver
likes. The driver serves its ``FindProviders`` actions with :mod:`fastswap.routing`; its events
and actions live in :mod:`fastswap.events`.
"""

from __future__ import annotations

from .engine import ClientConfig, ClientEngine

__all__ = ["ClientConfig", "ClientEngine"]
