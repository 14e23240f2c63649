"""Provider records: libp2p/specs kad-dht "Content routing" (ADD_PROVIDER stores, GET_PROVIDERS
reads, advertisements expire), kept in LMDB in the repo, ``<repo>/providers``.

An environment of its own (not the blockstore's): provider records are small, churn all day and
are written on behalf of other peers; the blockstore holds our content. Three databases:

* ``records``: ``len(key) | key | provider peer id`` -> expiry (ms since the epoch, 8 bytes
  big-endian). One key's providers are one contiguous range.
* ``expiry``: ``expiry | records key`` -> ``b""``: the sweep and the eviction read the
  earliest-expiring records first, without scanning the store.
* ``peers``: provider peer id -> ``count (4 bytes) | addrs``: how many records the provider holds
  (its quota) and the addresses it last announced (each varint length-prefixed).

Keys are multihashes, as go-libp2p-kad-dht stores them (a CIDv0 and a CIDv1 of the same block
share their providers). Expiry is wall-clock time (records outlive the process); every call
takes ``now`` in seconds from the caller, so the store has no clock and tests move time at will.

Bounds (``fastswap._defaults``): providers per key (the earliest-expiring one makes room),
records per provider (past it, ``add`` refuses and returns False: the caller penalises), records
in all (past it, expired ones are swept, then the earliest-expiring is evicted), addresses per
provider. The map is sized for the record bound, so the disk use is bounded too.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence

import lmdb

from ... import _defaults, varint
from ...errors import ProviderStoreError
from ...net.keys import PeerId

__all__ = ["ProviderStore", "StoredProvider"]

_U64 = struct.Struct(">Q")
_U32 = struct.Struct(">I")

StoredProvider = tuple[PeerId, list[bytes]]


def _ms(seconds: float) -> int:
    return max(0, int(seconds * 1000))


def _pack_addrs(addrs: Sequence[bytes]) -> bytes:
    return b"".join(varint.encode(len(a)) + a for a in addrs)


def _unpack_addrs(raw: bytes) -> list[bytes]:
    out = []
    pos = 0
    while pos < len(raw):
        n, pos = varint.decode(raw, pos)
        out.append(raw[pos : pos + n])
        pos += n
    return out


class ProviderStore:
    """Provider records in an LMDB environment at *path* (created if needed)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        ttl: float = _defaults.KAD_PROVIDER_TTL_SECONDS,
        max_per_key: int = _defaults.KAD_MAX_PROVIDERS_PER_KEY,
        max_per_provider: int = _defaults.KAD_MAX_RECORDS_PER_PROVIDER,
        max_records: int = _defaults.KAD_MAX_RECORDS,
        map_size: int = _defaults.KAD_STORE_MAP_SIZE,
    ) -> None:
        self.path = os.fspath(path)
        self.ttl = ttl
        self.max_per_key = max_per_key
        self.max_per_provider = max_per_provider
        self.max_records = max_records
        try:
            os.makedirs(self.path, exist_ok=True)
            self._env = lmdb.open(
                self.path, map_size=map_size, max_dbs=3, sync=_defaults.LMDB_SYNC,
                metasync=False, readahead=False,
            )
        except (OSError, lmdb.Error) as exc:
            raise ProviderStoreError(f"cannot open the provider store at {self.path}: {exc}")
        self._records = self._env.open_db(b"records")
        self._expiry = self._env.open_db(b"expiry")
        self._peers = self._env.open_db(b"peers")
        #: records refused (quota) and evicted (room), since opening
        self.refused = 0
        self.evicted = 0

    def close(self) -> None:
        self._env.close()

    def __len__(self) -> int:
        with self._env.begin() as txn:
            return int(txn.stat(self._records)["entries"])

    # -- writing ---------------------------------------------------------------------------

    def add(self, key: bytes, provider: PeerId, addrs: Sequence[bytes], now: float) -> bool:
        """Record that *provider* has *key* until ``now + ttl`` (a re-announcement extends
        it). False if refused: the provider is over its quota."""
        if not 0 < len(key) <= _defaults.KAD_MAX_KEY_SIZE:
            raise ValueError(f"provider key of {len(key)} bytes")
        pid = provider.multihash
        rkey = bytes([len(key)]) + key + pid
        expiry = _U64.pack(_ms(now + self.ttl))
        addrs = [a for a in addrs[: _defaults.KAD_MAX_ADDRS_PER_PEER]
                 if len(a) <= _defaults.KAD_MAX_ADDR_SIZE]
        try:
            with self._env.begin(write=True) as txn:
                old = txn.get(rkey, db=self._records)
                peer_raw = txn.get(pid, db=self._peers)
                count = _U32.unpack_from(peer_raw)[0] if peer_raw else 0
                if old is not None:
                    txn.delete(old + rkey, db=self._expiry)
                else:
                    if count >= self.max_per_provider:
                        self.refused += 1
                        return False
                    self._make_room_for_key(txn, rkey[: 1 + len(key)])
                    if txn.stat(self._records)["entries"] >= self.max_records:
                        self._sweep(txn, now, 1024)
                        if txn.stat(self._records)["entries"] >= self.max_records:
                            self._evict_earliest(txn)
                    # eviction may have taken one of this provider's records
                    peer_raw = txn.get(pid, db=self._peers)
                    count = (_U32.unpack_from(peer_raw)[0] if peer_raw else 0) + 1
                txn.put(rkey, expiry, db=self._records)
                txn.put(expiry + rkey, b"", db=self._expiry)
                if not addrs and peer_raw:
                    addrs = _unpack_addrs(peer_raw[4:])
                txn.put(pid, _U32.pack(count) + _pack_addrs(addrs), db=self._peers)
        except lmdb.Error as exc:
            raise ProviderStoreError(f"cannot write the provider store at {self.path}: {exc}")
        return True

    def _make_room_for_key(self, txn: lmdb.Transaction, prefix: bytes) -> None:
        """If the key has max_per_key providers, drop its earliest-expiring one."""
        n = 0
        earliest: tuple[bytes, bytes] | None = None
        cur = txn.cursor(db=self._records)
        if cur.set_range(prefix):
            for rk, exp in cur:
                if not rk.startswith(prefix):
                    break
                n += 1
                if earliest is None or exp < earliest[1]:
                    earliest = (bytes(rk), bytes(exp))
        if n >= self.max_per_key and earliest is not None:
            self._delete(txn, earliest[0], earliest[1])
            self.evicted += 1

    def _evict_earliest(self, txn: lmdb.Transaction) -> None:
        cur = txn.cursor(db=self._expiry)
        if cur.first():
            ek = bytes(cur.key())
            self._delete(txn, ek[8:], ek[:8])
            self.evicted += 1

    def _delete(self, txn: lmdb.Transaction, rkey: bytes, expiry: bytes) -> None:
        txn.delete(rkey, db=self._records)
        txn.delete(expiry + rkey, db=self._expiry)
        pid = rkey[1 + rkey[0] :]
        peer_raw = txn.get(pid, db=self._peers)
        if peer_raw is not None:
            count = _U32.unpack_from(peer_raw)[0] - 1
            if count <= 0:
                txn.delete(pid, db=self._peers)
            else:
                txn.put(pid, _U32.pack(count) + bytes(peer_raw[4:]), db=self._peers)

    def _sweep(self, txn: lmdb.Transaction, now: float, limit: int) -> int:
        cutoff = _U64.pack(_ms(now))
        doomed = []
        cur = txn.cursor(db=self._expiry)
        if cur.first():
            for ek, _ in cur:
                if ek[:8] > cutoff or len(doomed) >= limit:
                    break
                doomed.append(bytes(ek))
        for ek in doomed:
            self._delete(txn, ek[8:], ek[:8])
        return len(doomed)

    def sweep(self, now: float, limit: int = 100_000) -> int:
        """Delete up to *limit* records expired at *now*; how many were deleted."""
        try:
            with self._env.begin(write=True) as txn:
                return self._sweep(txn, now, limit)
        except lmdb.Error as exc:
            raise ProviderStoreError(f"cannot write the provider store at {self.path}: {exc}")

    # -- reading ---------------------------------------------------------------------------

    def get(self, key: bytes, now: float, limit: int | None = None) -> list[StoredProvider]:
        """Providers of *key* whose records have not expired at *now* (latest expiry first),
        each with the addresses it announced."""
        if not 0 < len(key) <= _defaults.KAD_MAX_KEY_SIZE:
            return []
        prefix = bytes([len(key)]) + key
        cutoff = _U64.pack(_ms(now))
        found: list[tuple[bytes, bytes]] = []
        with self._env.begin() as txn:
            cur = txn.cursor(db=self._records)
            if cur.set_range(prefix):
                for rk, exp in cur:
                    if not rk.startswith(prefix):
                        break
                    if exp > cutoff:
                        found.append((bytes(exp), bytes(rk[len(prefix):])))
            found.sort(reverse=True)
            if limit is not None:
                found = found[:limit]
            out: list[StoredProvider] = []
            for _, pid in found:
                raw = txn.get(pid, db=self._peers)
                out.append((PeerId(pid), _unpack_addrs(bytes(raw[4:])) if raw else []))
        return out

    def records_of(self, provider: PeerId) -> int:
        with self._env.begin() as txn:
            raw = txn.get(provider.multihash, db=self._peers)
        return _U32.unpack_from(raw)[0] if raw else 0
