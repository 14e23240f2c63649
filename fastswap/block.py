"""A block: CID bytes and the data they name."""

from __future__ import annotations

from . import cid as _cid


class Block:
    """An immutable (cid, data) pair. ``cid`` is binary CID bytes; ``data`` bytes-like.

    Construction does not hash; call :meth:`verify` (or use :meth:`from_data`) where the data
    comes from somebody else.
    """

    __slots__ = ("cid", "data")

    def __init__(self, cid: bytes, data: bytes | memoryview) -> None:
        self.cid = cid
        self.data = data

    @classmethod
    def from_data(
        cls,
        data: bytes,
        *,
        version: int = 1,
        codec: int = _cid.RAW,
        mh_code: int = _cid.SHA2_256,
    ) -> Block:
        return cls(_cid.compute_cid(data, version=version, codec=codec, mh_code=mh_code), data)

    def verify(self) -> None:
        """Raise BadBlockError unless the data hashes to the CID."""
        _cid.verify_block(self.cid, self.data)

    def __len__(self) -> int:
        return len(self.data)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Block):
            return NotImplemented
        return self.cid == other.cid and bytes(self.data) == bytes(other.data)

    def __hash__(self) -> int:
        return hash(self.cid)

    def __repr__(self) -> str:
        return f"Block({_cid.to_str(self.cid)}, {len(self.data)} bytes)"
