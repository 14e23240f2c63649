"""Moved to :mod:`fastswap.routing` (``fastswap.routing.static``). Kept only until
``fastswap/node.py`` imports ``StaticRouting`` from there; then delete this module."""

from __future__ import annotations

from ..routing.static import ContentRouting, StaticRouting

__all__ = ["ContentRouting", "StaticRouting"]
