"""Bitswap message builders with the names and call shapes of py-libp2p 0.8.1's
``libp2p.bitswap.messages`` (ipfs/specs bitswap-protocol, "Wire Format" 1.0.0-1.2.0). They build
protobuf ``Message`` objects of :mod:`fastswap.compat.libp2p.pb.bitswap_pb2`."""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum

from .cid import CIDInput, cid_to_bytes
from .pb.bitswap_pb2 import Message

__all__ = [
    "create_block_message_v100",
    "create_block_message_v110",
    "create_block_presence_message",
    "create_message",
    "create_wantlist_entry",
    "create_wantlist_message",
]


def create_wantlist_entry(block_cid: CIDInput, priority: int = 1, cancel: bool = False,
                          want_type: int | Enum = 0,
                          send_dont_have: bool = False) -> Message.Wantlist.Entry:
    """One wantlist entry; *want_type* 0/``WantType.Block`` or 1/``WantType.Have``."""
    return Message.Wantlist.Entry(
        block=cid_to_bytes(block_cid),
        priority=priority,
        cancel=cancel,
        wantType=want_type.value if isinstance(want_type, Enum) else want_type,
        sendDontHave=send_dont_have,
    )


def create_wantlist_message(entries: list[Message.Wantlist.Entry],
                            full: bool = False) -> Message:
    msg = Message()
    msg.wantlist.entries.extend(entries)
    msg.wantlist.full = full
    return msg


def create_block_message_v100(blocks: list[bytes]) -> Message:
    """Blocks as 1.0.0 sends them: bare data in field 2."""
    return Message(blocks=blocks)


def create_block_message_v110(blocks: list[tuple[bytes, bytes]]) -> Message:
    """Blocks as 1.1.0+ sends them: ``payload`` of (prefix, data)."""
    return Message(payload=[Message.Block(prefix=p, data=d) for p, d in blocks])


def _presences(presences: Sequence[tuple[CIDInput, bool]]) -> list[Message.BlockPresence]:
    return [Message.BlockPresence(cid=cid_to_bytes(c), type=Message.Have if has else
                                  Message.DontHave) for c, has in presences]


def create_block_presence_message(presences: Sequence[tuple[CIDInput, bool]]) -> Message:
    """HAVE (True) / DONT_HAVE (False) presences (1.2.0)."""
    return Message(blockPresences=_presences(presences))


def create_message(
    wantlist_entries: list[Message.Wantlist.Entry] | None = None,
    blocks_v100: list[bytes] | None = None,
    blocks_v110: list[tuple[bytes, bytes]] | None = None,
    block_presences: Sequence[tuple[CIDInput, bool]] | None = None,
    pending_bytes: int = 0,
    full_wantlist: bool = False,
) -> Message:
    """Any combination of the parts; ValueError for blocks in both the 1.0.0 and the 1.1.0
    form (a message carries one or the other)."""
    if blocks_v100 and blocks_v110:
        raise ValueError(
            "give blocks_v100 (1.0.0's 'blocks' field) or blocks_v110 (1.1.0+'s 'payload'), "
            "not both"
        )
    msg = Message()
    if wantlist_entries:
        msg.wantlist.entries.extend(wantlist_entries)
        msg.wantlist.full = full_wantlist
    if blocks_v100:
        msg.blocks.extend(blocks_v100)
    if blocks_v110:
        msg.payload.extend(Message.Block(prefix=p, data=d) for p, d in blocks_v110)
    if block_presences:
        msg.blockPresences.extend(_presences(block_presences))
    if pending_bytes > 0:
        msg.pendingBytes = pending_bytes
    return msg
