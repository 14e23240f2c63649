"""UnixFS importer settings, and the two presets whose CIDs fastswap reproduces.

What each setting means is what ``ipfs add`` (Kubo 0.22, boxo 0.11
``coreiface/options/unixfs.go``) and ``@helia/unixfs`` 8 (ipfs-unixfs-importer 17) make of it.
Where the two implementations decide differently for the same tree, ``flavor`` says whose rule
applies:

* when a directory becomes a HAMT (see :mod:`fastswap.dag.importer`);
* whether a one-chunk file under the trickle layout is its own leaf (Helia reduces it, Kubo's
  trickle builder always wraps it in a File node).

``ImportSettings.preset("kubo", **overrides)`` applies Kubo's implications the way
``UnixfsAddOptions`` does: a hash other than sha2-256 makes the CID version 1 (an explicit CIDv0
is an error), and CIDv1 turns raw leaves on unless they were set.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from .._defaults import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_INLINE_LIMIT,
    HAMT_FANOUT,
    HAMT_SHARD_THRESHOLD,
    HELIA_CHUNK_SIZE,
    HELIA_MAX_CHILDREN,
    KUBO_MAX_CHILDREN,
    MAX_CHUNK_SIZE,
    MAX_HAMT_FANOUT,
    MAX_INLINE_LIMIT,
    MAX_LINKS_PER_NODE,
)
from ..cid import BLAKE2B_256, SHA2_256, SHA2_512
from ..errors import DagError

__all__ = ["HASHES", "PRESETS", "Flavor", "ImportSettings"]

Flavor = Literal["kubo", "helia"]

#: The multihash functions the importer can build DAGs with (``ipfs add --hash``).
HASHES: dict[str, int] = {"sha2-256": SHA2_256, "sha2-512": SHA2_512, "blake2b-256": BLAKE2B_256}


@dataclass(frozen=True, slots=True)
class ImportSettings:
    """How files and directories become UnixFS DAGs. The defaults are ``ipfs add``'s."""

    cid_version: int = 0
    raw_leaves: bool = False
    chunk_size: int = DEFAULT_CHUNK_SIZE
    max_children: int = KUBO_MAX_CHILDREN
    #: multihash function name, a key of HASHES
    hash: str = "sha2-256"
    #: blocks of at most this many bytes get identity CIDs (``--inline``); None: never
    inline_limit: int | None = None
    trickle: bool = False
    #: whose rules apply where Kubo and Helia differ (sharding, trickle single chunks)
    flavor: Flavor = "kubo"
    shard_threshold: int = HAMT_SHARD_THRESHOLD
    shard_fanout: int = HAMT_FANOUT

    def __post_init__(self) -> None:
        if self.cid_version not in (0, 1):
            raise DagError(f"cid_version must be 0 or 1, not {self.cid_version!r}")
        if not isinstance(self.chunk_size, int) or not 1 <= self.chunk_size <= MAX_CHUNK_SIZE:
            raise DagError(
                f"chunk_size must be between 1 and {MAX_CHUNK_SIZE} bytes (Kubo's limit), "
                f"not {self.chunk_size!r}"
            )
        if not isinstance(self.max_children, int) or not (
            2 <= self.max_children <= MAX_LINKS_PER_NODE
        ):
            raise DagError(
                f"max_children must be between 2 and {MAX_LINKS_PER_NODE}, "
                f"not {self.max_children!r}"
            )
        if self.hash not in HASHES:
            raise DagError(
                f"unknown hash {self.hash!r}; choose one of {', '.join(sorted(HASHES))}"
            )
        if self.cid_version == 0 and self.hash != "sha2-256":
            raise DagError("CIDv0 only supports sha2-256 (as in Kubo); use CID version 1")
        if self.inline_limit is not None and not 1 <= self.inline_limit <= MAX_INLINE_LIMIT:
            raise DagError(
                f"inline_limit must be between 1 and {MAX_INLINE_LIMIT} bytes, "
                f"not {self.inline_limit!r}"
            )
        if self.flavor not in ("kubo", "helia"):
            raise DagError(f"flavor must be 'kubo' or 'helia', not {self.flavor!r}")
        if self.shard_threshold < 0:
            raise DagError("shard_threshold must not be negative")
        f = self.shard_fanout
        if not 2 <= f <= MAX_HAMT_FANOUT or f & (f - 1):
            raise DagError(
                f"shard_fanout must be a power of two between 2 and {MAX_HAMT_FANOUT}, not {f!r}"
            )

    @property
    def mh_code(self) -> int:
        return HASHES[self.hash]

    @classmethod
    def preset(cls, name: Flavor = "kubo", **overrides: Any) -> ImportSettings:
        """The *name* preset with *overrides* applied as ``ipfs add`` applies its flags.

        Overrides are the field names; ``None`` values count as not given (so parsed command
        line options can be passed as they are). ``inline=True`` turns on identity CIDs with
        ``inline_limit`` (default 32).
        """
        if name not in PRESETS:
            raise DagError(f"unknown preset {name!r}; choose 'kubo' or 'helia'")
        given = {k: v for k, v in overrides.items() if v is not None}
        inline = given.pop("inline", None)
        unknown = set(given) - set(cls.__dataclass_fields__)
        if unknown:
            raise DagError(f"unknown importer option(s): {', '.join(sorted(unknown))}")
        base = PRESETS[name]
        if inline:
            given.setdefault("inline_limit", DEFAULT_INLINE_LIMIT)
        elif inline is not None:
            given["inline_limit"] = None
        hash_name = given.get("hash", base.hash)
        if hash_name != "sha2-256" and "cid_version" not in given:
            given["cid_version"] = 1  # Kubo: a hash other than sha2-256 implies CIDv1
        if "cid_version" in given and "raw_leaves" not in given:
            # as in Kubo: choosing CIDv1 implies raw leaves unless told otherwise
            given["raw_leaves"] = given["cid_version"] == 1
        return replace(base, **given)


#: ``ipfs add`` in Kubo 0.22 and ``@helia/unixfs`` 8 ``addAll``/``addFile`` with no options.
PRESETS: dict[str, ImportSettings] = {
    "kubo": ImportSettings(),
    "helia": ImportSettings(
        cid_version=1,
        raw_leaves=True,
        chunk_size=HELIA_CHUNK_SIZE,
        max_children=HELIA_MAX_CHILDREN,
        flavor="helia",
    ),
}
