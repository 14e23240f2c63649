"""Blockstores: the Blockstore protocol, LMDB (the embedded default) and memory."""

from .base import Blockstore
from .memory import MemoryBlockstore

__all__ = ["Blockstore", "MemoryBlockstore"]
