"""The client's wantlist, wantlist diffs and per-peer sent-want tracking.

Spec: ipfs/specs bitswap-protocol "Wantlist" and go-bitswap PR #186 (want-have, send-dont-have);
the rules and the design are in the docstring of :mod:`fastswap.client._wantlist_py`. This module
picks the compiled twin (``_wantlist_c``) or the pure one via :func:`fastswap._compat.load_twin`.
"""

from __future__ import annotations

from .._compat import load_twin

_impl = load_twin("fastswap.client._wantlist_c", "fastswap.client._wantlist_py")

WANT_BLOCK: int = _impl.WANT_BLOCK
WANT_HAVE: int = _impl.WANT_HAVE
Entry = _impl.Entry
Wantlist = _impl.Wantlist
WantlistDiff = _impl.WantlistDiff
PeerWants = _impl.PeerWants
diff = _impl.diff

__all__ = ["WANT_BLOCK", "WANT_HAVE", "Entry", "PeerWants", "Wantlist", "WantlistDiff", "diff"]
