"""A drop-in for py-libp2p 0.8.1's ``libp2p.bitswap``: same public names and call shapes,
fastswap's engines underneath (ipfs/specs bitswap-protocol 1.0.0, 1.1.0, 1.2.0).

Change the import and nothing else::

    from libp2p.bitswap import BitswapClient, MemoryBlockStore, MerkleDag      # before
    from fastswap.compat.libp2p import BitswapClient, MemoryBlockStore, MerkleDag  # after

The submodules mirror py-libp2p's (``fastswap.compat.libp2p.cid``, ``.client``, ``.dag``,
``.block_store``, ``.messages``, ``.wantlist``, ``.config``, ``.errors``, ``.pb.bitswap_pb2``,
...), so ``from libp2p.bitswap.dag import MerkleDag`` becomes
``from fastswap.compat.libp2p.dag import MerkleDag``. py-libp2p 0.7's
``BitswapClient.get_block``/``get_blocks_batch`` are there too.

Two hosts, the same engines and driver core as ``fastswap.Node``:

* a py-libp2p host (``libp2p.new_host()``, trio): ``BitswapClient(host)`` runs the engines in
  fastswap's trio driver (``fastswap.compat._trio``) on py-libp2p's streams;
* fastswap's own host: change the host construction too, ``from fastswap.compat.libp2p import
  new_host`` (:mod:`.host`: py-libp2p's host API, the part Bitswap programs use); the engines
  then run in ``fastswap.Node`` on fastswap's asyncio libp2p stack, on a uvloop loop in a
  thread of its own, and the calls stay trio calls. This is the fast one. Its block store must
  be one of the drop-in's own (``MemoryBlockStore``, ``FilesystemBlockStore``,
  ``LmdbBlockStore``), and content routing is the peers the program connected to (a py-libp2p
  ``provider_query_manager`` needs a py-libp2p host).

Where py-libp2p departs from the Bitswap spec, the drop-in follows the spec:

1. WANT_HAVE is answered with HAVE (or the block itself only when it is at most 1 KiB, boxo's
   rule), not with every block; DONT_HAVE only when ``sendDontHave`` is set;
2. ``have_block`` sends only want-have and is True only on a HAVE (or a local block), never
   merely because a want was sent;
3. a DONT_HAVE is an answer: the want moves to another peer at once, and when every connected
   peer has said DONT_HAVE, ``get_block`` raises ``BlockUnavailableError`` instead of waiting
   out its timeout;
4. CIDv0 blocks carry their prefix ``00 70 12 20`` (py-libp2p sends an empty one; the drop-in
   still reads an empty prefix as CIDv0, so py-libp2p peers are understood);
5. blocks up to 2 MiB are sent and accepted (``MAX_BLOCK_SIZE``; py-libp2p refuses over
   512 KiB);
6. answers go on a stream we open to the requester, never back on the requester's stream (which
   Kubo and Helia ignore); py-libp2p's answers on our stream are still read.

Also different, and not py-libp2p defects: ``get_blocks_batch`` keeps every want in flight
instead of 32 at a time; ``want_block(want_type=0)`` really asks peers until the block arrives.
Memory (glibc): the import puts every thread on one malloc arena and ``new_host`` keeps freed
heap memory for reuse (its host trims when quiet), so a program that makes a host, store and
client per task reuses the last task's memory instead of faulting in fresh pages; malloc
settings in the environment win (``fastswap.net.resources``).
Not offered: the payment extension (1.3.0) and py-libp2p's internals (presence and peer
managers, message queues).
"""

from __future__ import annotations

try:  # the drop-in's own dependencies (the "libp2p" extra), named when one is missing
    import cid as _cid  # noqa: F401  (py-cid)
    import trio as _trio  # noqa: F401
except ModuleNotFoundError as _exc:
    raise ModuleNotFoundError(
        f"fastswap.compat.libp2p needs {_exc.name!r}, from fastswap's 'libp2p' extra: "
        "pip install 'fastswap[libp2p]' (beside py-libp2p: pip install . libp2p==0.8.1)",
        name=_exc.name,
    ) from None

from ...net.resources import one_malloc_arena
from .block_service import BlockService
from .block_store import BlockStore, FilesystemBlockStore, LmdbBlockStore, MemoryBlockStore
from .cid import (
    CID_V0,
    CID_V1,
    CODEC_DAG_PB,
    CODEC_RAW,
    CIDInput,
    CIDObject,
    cid_to_bytes,
    cid_to_text,
    compute_cid,
    compute_cid_obj,
    compute_cid_v0,
    compute_cid_v0_obj,
    compute_cid_v1,
    compute_cid_v1_obj,
    format_cid_for_display,
    get_cid_prefix,
    parse_cid,
    parse_cid_codec,
    reconstruct_cid_from_prefix_and_data,
    verify_cid,
)
from .client import BitswapClient
from .dag import MerkleDag
from .errors import (
    BitswapError,
    BlockNotFoundError,
    BlockTooLargeError,
    BlockUnavailableError,
    InvalidBlockError,
    InvalidCIDError,
    MessageTooLargeError,
    TimeoutError,
)
from .host import new_host
from .session import BitswapSession
from .wantlist import (
    BitswapMessage,
    BlockPresence,
    BlockPresenceType,
    Wantlist,
    WantlistEntry,
    WantType,
)

# before the drop-in starts a thread: every thread's memory in one glibc heap, reused from one
# host, store and client to the next (see one_malloc_arena; MALLOC_ARENA_MAX overrides it)
one_malloc_arena()

__all__ = [
    "CID_V0",
    "CID_V1",
    "CODEC_DAG_PB",
    "CODEC_RAW",
    "BitswapClient",
    "BitswapError",
    "BitswapMessage",
    "BitswapSession",
    "BlockNotFoundError",
    "BlockPresence",
    "BlockPresenceType",
    "BlockService",
    "BlockStore",
    "BlockTooLargeError",
    "BlockUnavailableError",
    "CIDInput",
    "CIDObject",
    "FilesystemBlockStore",
    "InvalidBlockError",
    "InvalidCIDError",
    "LmdbBlockStore",
    "MemoryBlockStore",
    "MerkleDag",
    "MessageTooLargeError",
    "TimeoutError",
    "WantType",
    "Wantlist",
    "WantlistEntry",
    "cid_to_bytes",
    "cid_to_text",
    "compute_cid",
    "compute_cid_obj",
    "compute_cid_v0",
    "compute_cid_v0_obj",
    "compute_cid_v1",
    "compute_cid_v1_obj",
    "format_cid_for_display",
    "get_cid_prefix",
    "new_host",
    "parse_cid",
    "parse_cid_codec",
    "reconstruct_cid_from_prefix_and_data",
    "verify_cid",
]

_PAYMENT = ("BitswapPaymentClient_1_3", "PaymentGatedDecisionEngine", "PaymentLedger",
            "BlockPricingEngine")


def __getattr__(name: str) -> object:
    if name in _PAYMENT:
        raise AttributeError(
            f"{name} belongs to the Bitswap payment extension (1.3.0), which fastswap's drop-in "
            "does not offer; import it from libp2p.bitswap"
        )
    raise AttributeError(f"module 'fastswap.compat.libp2p' has no attribute {name!r}")
