"""The server's peer ledgers: wantlists, counters and the wantlist budgets across peers.

Spec: ipfs/specs bitswap-protocol ("Wantlist"); the rules are in the docstring of
:mod:`fastswap.server._ledger_py` and the policy in :mod:`fastswap.server.engine`. This module
picks the compiled twin (``_ledger_c``) or the pure one via :func:`fastswap._compat.load_twin`.
"""

from __future__ import annotations

from .._compat import load_twin

_impl = load_twin("fastswap.server._ledger_c", "fastswap.server._ledger_py")

COUNTERS: tuple[str, ...] = _impl.COUNTERS
STATS: tuple[str, ...] = _impl.STATS
Want = _impl.Want
Ledger = _impl.Ledger
LedgerBook = _impl.LedgerBook

__all__ = ["COUNTERS", "STATS", "Ledger", "LedgerBook", "Want"]
