"""The Bitswap message model, shared by both codec twins (msgpack's shared-types pattern).

Spec: ipfs/specs bitswap-protocol, "Message" (1.0.0 wantlist and ``blocks``; 1.1.0 ``payload``
with a CID prefix; 1.2.0 ``wantType``, ``sendDontHave``, ``blockPresences``, ``pendingBytes``).

These are plain Python classes with ``__slots__``. :class:`Entry` and :class:`BlockPresence`
have compiled twins in ``_codec_c.pyx`` with the same constructor, attributes, equality and
repr: a wantlist can carry thousands of entries, and when the compiled decoder built these
``__slots__`` instances, allocating, freeing and GC-tracking them took about half the decode
time (perf, 1000-entry wantlist), so the compiled codec builds its own freelisted objects. The compiled classes register as virtual subclasses of
these, so ``isinstance(e, model.Entry)`` holds for entries from either twin, and entries of
either kind compare equal by content. ``fastswap.message.Entry`` is the selected twin's class.

Blocks are ``(prefix, data)`` tuples:

* ``prefix is None``: a 1.0.0 block (message field 2, raw data; the CID is implied: CIDv0,
  sha2-256 of the data);
* ``prefix`` bytes: a 1.1.0+ ``payload`` (field 3) whose prefix is four varints (CID version,
  codec, multihash code, digest length).

Protobuf serializes field 2 before field 3, so the relative order of the two kinds does not
survive a round trip; :meth:`Message.__eq__` therefore compares each kind's sequence separately.
"""

from __future__ import annotations

import hashlib
from abc import ABCMeta
from collections.abc import Iterable, Iterator
from typing import Any

from .. import cid as _cid
from ..errors import CIDError

__all__ = [
    "DONT_HAVE",
    "HAVE",
    "WANT_BLOCK",
    "WANT_HAVE",
    "ZEROCOPY_MIN",
    "BlockPresence",
    "BytesLike",
    "Entry",
    "Message",
    "WireBlock",
    "block_cid",
    "wire_block",
]

BytesLike = bytes | bytearray | memoryview
#: a block as carried on the wire: (prefix or None for a 1.0.0 block, data)
WireBlock = tuple[bytes | None, BytesLike]

# Wantlist.WantType (1.2.0); 1.0.0/1.1.0 peers only know want-block, the default (0).
WANT_BLOCK = 0
WANT_HAVE = 1
# BlockPresenceType (1.2.0)
HAVE = 0
DONT_HAVE = 1

#: encode_message_parts hands block data of at least this many bytes to the caller as its own
#: segment (zero copy); smaller data is copied next to the field headers, where one small copy is
#: cheaper than another segment for writelines/encryption to handle.
ZEROCOPY_MIN = 1024


def entry_key(e: Any) -> tuple:
    """What entry equality compares (shared by both twins' Entry classes)."""
    return (bytes(e.cid), e.priority, bool(e.cancel), e.want_type, bool(e.send_dont_have))


def entry_repr(e: Any) -> str:
    kind = "have" if e.want_type == WANT_HAVE else (
        "block" if e.want_type == WANT_BLOCK else str(e.want_type))
    flags = (" cancel" if e.cancel else "") + (" send_dont_have" if e.send_dont_have else "")
    return f"Entry({_cid.to_str(e.cid)}, want-{kind}, priority={e.priority}{flags})"


def presence_repr(p: Any) -> str:
    kind = {HAVE: "HAVE", DONT_HAVE: "DONT_HAVE"}.get(p.type, str(p.type))
    return f"BlockPresence({_cid.to_str(p.cid)}, {kind})"


class Entry(metaclass=ABCMeta):
    """One wantlist entry: want (or cancel) the block named by ``cid``.

    Defaults are boxo's for a new want: priority 1, want-block, no DONT_HAVE. A decoded entry
    whose field was absent on the wire has protobuf's default instead (priority 0).
    """

    __slots__ = ("cancel", "cid", "priority", "send_dont_have", "want_type")

    cid: bytes
    priority: int
    cancel: bool
    want_type: int
    send_dont_have: bool

    def __init__(
        self,
        cid: bytes,
        priority: int = 1,
        cancel: bool = False,
        want_type: int = WANT_BLOCK,
        send_dont_have: bool = False,
    ) -> None:
        self.cid = cid
        self.priority = priority
        self.cancel = cancel
        self.want_type = want_type
        self.send_dont_have = send_dont_have

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Entry):
            return NotImplemented
        return entry_key(self) == entry_key(other)

    __hash__ = None  # type: ignore[assignment]  # mutable

    __repr__ = entry_repr


class BlockPresence(metaclass=ABCMeta):
    """A 1.2.0 answer to a want-have: ``type`` is HAVE or DONT_HAVE for ``cid``."""

    __slots__ = ("cid", "type")

    cid: bytes
    type: int

    def __init__(self, cid: bytes, type: int = HAVE) -> None:
        self.cid = cid
        self.type = type

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BlockPresence):
            return NotImplemented
        return bytes(self.cid) == bytes(other.cid) and self.type == other.type

    __hash__ = None  # type: ignore[assignment]

    __repr__ = presence_repr


class Message:
    """A whole Bitswap message.

    ``entries`` and ``full`` are the wantlist (``full``: it replaces the receiver's copy);
    ``blocks`` are :data:`WireBlock` tuples (see the module docstring); ``presences`` are
    :class:`BlockPresence`; ``pending_bytes`` is the sender's queued data for us (an int32).
    Decoded block data are zero-copy ``memoryview`` slices of the decoded buffer.
    """

    __slots__ = ("blocks", "entries", "full", "pending_bytes", "presences")

    entries: list[Entry]
    full: bool
    blocks: list[WireBlock]
    presences: list[BlockPresence]
    pending_bytes: int

    def __init__(
        self,
        entries: Iterable[Entry] = (),
        full: bool = False,
        blocks: Iterable[WireBlock] = (),
        presences: Iterable[BlockPresence] = (),
        pending_bytes: int = 0,
    ) -> None:
        self.entries = list(entries)
        self.full = full
        self.blocks = list(blocks)
        self.presences = list(presences)
        self.pending_bytes = pending_bytes

    def _block_key(self) -> tuple[list, list]:
        raw = [bytes(d) for p, d in self.blocks if p is None]
        payload = [(bytes(p), bytes(d)) for p, d in self.blocks if p is not None]
        return raw, payload

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return (
            self.entries == other.entries
            and bool(self.full) == bool(other.full)
            and self.presences == other.presences
            and self.pending_bytes == other.pending_bytes
            and self._block_key() == other._block_key()
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        size = sum(len(d) for _, d in self.blocks)
        return (
            f"Message({len(self.entries)} entries{' (full)' if self.full else ''}, "
            f"{len(self.blocks)} blocks ({size} bytes), {len(self.presences)} presences, "
            f"pending_bytes={self.pending_bytes})"
        )

    def iter_blocks(self) -> Iterator[tuple[bytes, Any]]:
        """Yield ``(cid, data)`` for every block, hashing each one to name it (see block_cid).

        Naming a block by hashing it is also its verification: the CID comes from the data, so
        the caller only has to check that it wanted that CID.
        """
        for prefix, data in self.blocks:
            yield block_cid(prefix, data), data


def block_cid(prefix: bytes | memoryview | None, data: BytesLike) -> bytes:
    """The CID of a received block: from its 1.1.0 prefix, or CIDv0 for a 1.0.0 block.

    Raises CIDError (or UnsupportedHashError) for a prefix that is malformed, empty (py-libp2p
    sends one for CIDv0 blocks: refuse rather than guess) or names an unknown hash.
    """
    if prefix is None:
        return b"\x12\x20" + hashlib.sha256(data).digest()
    return _cid.cid_from_prefix(prefix, data)


def wire_block(cid: bytes, data: BytesLike, *, legacy: bool = False) -> WireBlock:
    """The ``(prefix, data)`` tuple to send *data* named *cid*.

    ``legacy=True`` makes a 1.0.0 block (field 2), which can only carry CIDv0 blocks: the
    receiver assumes CIDv0/sha2-256. Raises CIDError if *cid* is invalid or not CIDv0 there.
    """
    if legacy:
        if _cid.decode_cid(cid)[0] != 0:
            raise CIDError(
                "Bitswap 1.0.0 can only carry CIDv0 blocks; send this one with 1.1.0+ (payload)"
            )
        return (None, data)
    return (_cid.cid_prefix(cid), data)
