"""The Bitswap wire format: message model, codec and framing.

Spec: ipfs/specs bitswap-protocol, "Wire Format" for 1.0.0 (wantlist; ``blocks``: raw CIDv0
block data), 1.1.0 (``payload``: block data with a CID prefix of four varints) and 1.2.0
(``wantType``, ``sendDontHave``, ``blockPresences``, ``pendingBytes``); messages are
unsigned-varint length-prefixed ("Protocol format"). The schema is ``proto/bitswap.proto``; the
generated ``fastswap._proto.bitswap_pb2`` is only the tests' reference oracle.

The codec has two twins with one API, selected by ``fastswap._compat``: ``_codec_c`` (compiled,
``_codec_c.pyx`` over ``csrc/varint.h``) and ``_codec_py`` (pure Python). Both build the same
model objects (:mod:`fastswap.message.model`).

    data = encode_message(Message([Entry(cid, want_type=WANT_HAVE, send_dont_have=True)]))
    stream.write(frame_length_prefix(len(data)) + data)
    for payload in FrameDecoder().feed(received):
        msg = decode_message(payload)

Limits (``fastswap._defaults``: 4 MiB messages, 2 MiB blocks, 168-byte CIDs) apply both ways;
each violation raises its own MessageError subclass.
"""

from __future__ import annotations

from .._compat import load_twin
from .model import (
    DONT_HAVE,
    HAVE,
    WANT_BLOCK,
    WANT_HAVE,
    ZEROCOPY_MIN,
    Message,
    WireBlock,
    block_cid,
    wire_block,
)

_codec = load_twin("fastswap.message._codec_c", "fastswap.message._codec_py")

decode_message = _codec.decode_message
encode_message = _codec.encode_message
encode_message_parts = _codec.encode_message_parts
frame_length_prefix = _codec.frame_length_prefix
FrameDecoder = _codec.FrameDecoder
#: the selected twin's classes (the compiled ones are virtual subclasses of model.Entry and
#: model.BlockPresence, so isinstance checks against either work)
Entry = _codec.Entry
BlockPresence = _codec.BlockPresence
release_freelists = _codec.release_freelists

__all__ = [
    "DONT_HAVE",
    "HAVE",
    "WANT_BLOCK",
    "WANT_HAVE",
    "ZEROCOPY_MIN",
    "BlockPresence",
    "Entry",
    "FrameDecoder",
    "Message",
    "WireBlock",
    "block_cid",
    "decode_message",
    "encode_message",
    "encode_message_parts",
    "frame_length_prefix",
    "release_freelists",
    "wire_block",
]
