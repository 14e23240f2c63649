"""Typed Bitswap message values with the names of py-libp2p 0.8.1's ``libp2p.bitswap.wantlist``
(ipfs/specs bitswap-protocol, "Wire Format": wantlist entries, blocks, block presences,
pendingBytes), converted to and from the protobuf ``Message`` with ``to_proto``/``from_proto``.

``to_proto`` writes blocks in the 1.1.0+ ``payload`` form with the spec's prefix, a CIDv0's
included (``00 70 12 20``; py-libp2p leaves it empty).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from .cid import CIDInput, cid_to_bytes, get_cid_prefix, reconstruct_cid_from_prefix_and_data
from .pb.bitswap_pb2 import Message as PBMessage

__all__ = [
    "BitswapMessage",
    "BlockPresence",
    "BlockPresenceType",
    "WantType",
    "Wantlist",
    "WantlistEntry",
]


class WantType(Enum):
    """``wantType`` of a 1.2.0 entry: the block itself, or only whether the peer has it."""

    Block = 0
    Have = 1


class BlockPresenceType(Enum):
    """``type`` of a 1.2.0 block presence."""

    Have = 0
    DontHave = 1


@dataclass
class WantlistEntry:
    """One entry: binary CID, priority (higher first), cancel, want type, sendDontHave."""

    cid: bytes
    priority: int = 1
    cancel: bool = False
    want_type: WantType = WantType.Block
    send_dont_have: bool = False

    @classmethod
    def from_cid(cls, cid: CIDInput, priority: int = 1, cancel: bool = False,
                 want_type: WantType = WantType.Block,
                 send_dont_have: bool = False) -> WantlistEntry:
        return cls(cid_to_bytes(cid), priority, cancel, want_type, send_dont_have)


@dataclass
class Wantlist:
    """Entries in send order; ``full`` replaces the receiver's copy of our wantlist."""

    entries: list[WantlistEntry] = field(default_factory=list)
    full: bool = False

    def add(self, cid: CIDInput, priority: int = 1, want_type: WantType = WantType.Block,
            send_dont_have: bool = False) -> None:
        self.entries.append(WantlistEntry.from_cid(
            cid, priority=priority, want_type=want_type, send_dont_have=send_dont_have))

    def cancel(self, cid: CIDInput) -> None:
        self.entries.append(WantlistEntry.from_cid(cid, cancel=True))

    def contains(self, cid: CIDInput) -> bool:
        """True if a (non-cancel) entry wants *cid*."""
        key = cid_to_bytes(cid)
        return any(e.cid == key and not e.cancel for e in self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __bool__(self) -> bool:
        return bool(self.entries)


@dataclass
class BlockPresence:
    cid: bytes
    type: BlockPresenceType

    @classmethod
    def have(cls, cid: CIDInput) -> BlockPresence:
        return cls(cid_to_bytes(cid), BlockPresenceType.Have)

    @classmethod
    def dont_have(cls, cid: CIDInput) -> BlockPresence:
        return cls(cid_to_bytes(cid), BlockPresenceType.DontHave)


@dataclass
class BitswapMessage:
    """A whole message: optional wantlist, (cid, data) blocks, presences, pendingBytes."""

    wantlist: Wantlist | None = None
    blocks: list[tuple[bytes, bytes]] = field(default_factory=list)
    block_presences: list[BlockPresence] = field(default_factory=list)
    pending_bytes: int = 0

    @property
    def is_want(self) -> bool:
        return bool(self.wantlist)

    @property
    def has_blocks(self) -> bool:
        return bool(self.blocks)

    @property
    def has_presences(self) -> bool:
        return bool(self.block_presences)

    def _wl(self) -> Wantlist:
        if self.wantlist is None:
            self.wantlist = Wantlist()
        return self.wantlist

    def add_want(self, cid: CIDInput, priority: int = 1, want_type: WantType = WantType.Block,
                 send_dont_have: bool = False) -> None:
        self._wl().add(cid, priority=priority, want_type=want_type,
                       send_dont_have=send_dont_have)

    def cancel_want(self, cid: CIDInput) -> None:
        self._wl().cancel(cid)

    def add_block(self, cid: CIDInput, data: bytes) -> None:
        self.blocks.append((cid_to_bytes(cid), data))

    def add_have(self, cid: CIDInput) -> None:
        self.block_presences.append(BlockPresence.have(cid))

    def add_dont_have(self, cid: CIDInput) -> None:
        self.block_presences.append(BlockPresence.dont_have(cid))

    def to_proto(self) -> PBMessage:
        proto = PBMessage()
        if self.wantlist is not None:
            proto.wantlist.entries.extend(
                PBMessage.Wantlist.Entry(block=e.cid, priority=e.priority, cancel=e.cancel,
                                         wantType=e.want_type.value,
                                         sendDontHave=e.send_dont_have)
                for e in self.wantlist.entries)
            proto.wantlist.full = self.wantlist.full
        proto.payload.extend(PBMessage.Block(prefix=get_cid_prefix(c), data=d)
                             for c, d in self.blocks)
        proto.blockPresences.extend(PBMessage.BlockPresence(cid=p.cid, type=p.type.value)
                                    for p in self.block_presences)
        if self.pending_bytes:
            proto.pendingBytes = self.pending_bytes
        return proto

    @classmethod
    def from_proto(cls, proto: PBMessage) -> BitswapMessage:
        """Blocks are named by hashing their data under their prefix (1.0.0 ``blocks``: CIDv0);
        an unknown want type reads as ``Block`` (a newer peer's extension)."""
        msg = cls(pending_bytes=proto.pendingBytes)
        if proto.HasField("wantlist") and proto.wantlist.entries:
            wl = Wantlist(full=proto.wantlist.full)
            for e in proto.wantlist.entries:
                try:
                    wt = WantType(e.wantType)
                except ValueError:
                    wt = WantType.Block
                wl.entries.append(WantlistEntry(bytes(e.block), e.priority, e.cancel, wt,
                                                e.sendDontHave))
            msg.wantlist = wl
        for data in proto.blocks:
            msg.blocks.append((reconstruct_cid_from_prefix_and_data(b"", data), bytes(data)))
        for b in proto.payload:
            data = bytes(b.data)
            msg.blocks.append((reconstruct_cid_from_prefix_and_data(bytes(b.prefix), data), data))
        msg.block_presences.extend(BlockPresence(bytes(p.cid), BlockPresenceType(p.type))
                                   for p in proto.blockPresences)
        return msg
