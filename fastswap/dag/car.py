"""CAR v1 and v2 (Content Addressable aRchives): write DAGs out, read and import them.

Specs: ipld/specs ``transport/car/carv1`` and ``carv2`` (ipld.io/specs/transport/car/). A CAR v1 is
``varint(len) header`` then sections ``varint(len) CID data``; the header is the dag-cbor map
``{"roots": [CID, ...], "version": 1}``. That minimal dag-cbor form is encoded and decoded here
(map of two text keys, an array of tag-42 byte strings holding ``0x00 + CID``, a small uint), so no
dag-cbor dependency is needed. The writer emits canonical key order ("roots" before "version":
shorter key first); the reader accepts either order but is otherwise strict: definite lengths,
minimal integer encodings, no other keys, version 1 only.

``write_car`` walks from the roots depth-first, pre-order, links in order, each block once: the
order ``ipfs dag export`` (go-car selective traversal, links visited once) writes. Identity CIDs
get no section (their data is the CID; go-car's default, ``StoreIdentityCIDs`` off).

A CAR v2 is the 11-byte pragma (a CAR v1 header ``{"version": 2}``), a 40-byte header
(16 bytes of characteristics, then little-endian uint64 data offset, data size and index
offset), the CAR v1 payload, and an optional index. The reader checks the header, skips to the
payload, reads exactly ``data size`` bytes of it as CAR v1 and ignores the index (an index from
someone else is not trusted; every block is verified anyway). The writer emits what go-car
writes by default: the payload right after the header, then a ``MultihashIndexSorted`` (0x0401)
index: per multihash code, per digest width, records of (digest, uint64 offset of the section
in the payload) sorted by digest.
"""

from __future__ import annotations

import io
import os
import shutil
import struct
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from typing import IO, Any, Union

from .. import varint
from .._defaults import MAX_BLOCK_SIZE, MAX_CAR_HEADER_SIZE, MAX_CID_SIZE
from ..cid import (
    DAG_PB,
    IDENTITY,
    RAW,
    decode_cid,
    parse,
    to_str,
    verify_block,
)
from ..errors import CarError, CIDError, DagError, VarintError
from .unixfs import iter_links

__all__ = [
    "CARV2_PRAGMA",
    "decode_header",
    "encode_header",
    "import_car",
    "read_car",
    "write_car",
]

Src = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, IO[bytes]]

#: Largest section accepted: the largest CID plus the largest block (a CAR is read from anyone).
MAX_SECTION_SIZE = MAX_CID_SIZE + MAX_BLOCK_SIZE
_IMPORT_BATCH_BYTES = 16 * 1024 * 1024


_uvarint = varint.encode


# -- the header: minimal dag-cbor --------------------------------------------------------------


def _cbor_head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes((major << 5 | n,))
    if n < 0x100:
        return bytes((major << 5 | 24, n))
    if n < 0x10000:
        return bytes((major << 5 | 25,)) + n.to_bytes(2, "big")
    if n < 0x100000000:
        return bytes((major << 5 | 26,)) + n.to_bytes(4, "big")
    return bytes((major << 5 | 27,)) + n.to_bytes(8, "big")


def encode_header(roots: Sequence[bytes], version: int = 1) -> bytes:
    """dag-cbor bytes of ``{"roots": [...], "version": version}`` (canonical key order)."""
    out = bytearray(b"\xa2")  # map(2)
    out += b"\x65roots"
    out += _cbor_head(4, len(roots))
    for root in roots:
        link = b"\x00" + bytes(root)  # tag 42 payload: the multibase identity prefix, then CID
        out += b"\xd8\x2a" + _cbor_head(2, len(link)) + link
    out += b"\x67version"
    out += _cbor_head(0, version)
    return bytes(out)


class _Cbor:
    """A strict reader of the few dag-cbor items a CAR header uses."""

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.pos = 0

    def head(self) -> tuple[int, int]:
        buf, pos = self.buf, self.pos
        if pos >= len(buf):
            raise CarError("CAR header: truncated dag-cbor")
        b = buf[pos]
        major, info = b >> 5, b & 31
        pos += 1
        if info < 24:
            value = info
        elif info <= 27:
            width = 1 << (info - 24)
            if pos + width > len(buf):
                raise CarError("CAR header: truncated dag-cbor")
            value = int.from_bytes(buf[pos : pos + width], "big")
            pos += width
            # dag-cbor requires the shortest form of every integer and length
            if value < (24 if width == 1 else 1 << (4 * width)):
                raise CarError("CAR header: dag-cbor integer not in its shortest form")
        else:
            raise CarError(
                "CAR header: indefinite lengths and reserved dag-cbor encodings are not allowed"
            )
        self.pos = pos
        return major, value

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.buf):
            raise CarError("CAR header: truncated dag-cbor")
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def text(self) -> str:
        major, n = self.head()
        if major != 3:
            raise CarError("CAR header: map keys must be text strings")
        try:
            return self.take(n).decode("utf-8")
        except UnicodeDecodeError:
            raise CarError("CAR header: key is not valid UTF-8") from None


def decode_header(buf: bytes) -> tuple[list[bytes], int]:
    """(roots, version) from the dag-cbor header bytes; CarError unless well-formed."""
    r = _Cbor(buf)
    major, n = r.head()
    if major != 5:
        raise CarError("CAR header is not a dag-cbor map")
    roots: list[bytes] | None = None
    version: int | None = None
    seen: set[str] = set()
    for _ in range(n):
        key = r.text()
        if key in seen:
            raise CarError(f"CAR header repeats the key {key!r}")
        seen.add(key)
        if key == "version":
            major, version = r.head()
            if major != 0:
                raise CarError("CAR header version is not an unsigned integer")
        elif key == "roots":
            major, count = r.head()
            if major != 4:
                raise CarError("CAR header roots is not an array")
            if count > len(buf):  # each root takes bytes: a huge count is a lie
                raise CarError("CAR header roots array is longer than the header")
            roots = []
            for _ in range(count):
                major, tag = r.head()
                if major != 6 or tag != 42:
                    raise CarError("CAR header root is not a CID (dag-cbor tag 42)")
                major, length = r.head()
                if major != 2:
                    raise CarError("CAR header root CID is not a byte string")
                link = r.take(length)
                if not link or link[0] != 0:
                    raise CarError("CAR header root CID lacks its leading 0x00 byte")
                try:
                    decode_cid(link[1:])
                except CIDError as exc:
                    raise CarError(f"CAR header root is not a valid CID: {exc}") from None
                roots.append(link[1:])
        else:
            raise CarError(f"CAR header has an unexpected key {key!r} (only roots and version)")
    if r.pos != len(buf):
        raise CarError("CAR header has trailing bytes after its dag-cbor map")
    if version is None:
        raise CarError("CAR header has no version")
    if roots is None and version == 1:
        raise CarError("CAR header has no roots")
    return roots or [], version


# -- reading -----------------------------------------------------------------------------------


def _read_varint(f: IO[bytes], what: str) -> int | None:
    """An unsigned varint from *f*; None at a clean EOF before its first byte."""
    value = 0
    for i in range(9):  # multiformats unsigned-varint: at most 9 bytes (63 bits)
        b = f.read(1)
        if not b:
            if i == 0:
                return None
            raise CarError(f"CAR file truncated inside a {what} length")
        byte = b[0]
        value |= (byte & 0x7F) << (7 * i)
        if byte < 0x80:
            if byte == 0 and i > 0:
                raise CarError(f"CAR {what} length is not minimally encoded")
            return value
    raise CarError(f"CAR {what} length varint is longer than 9 bytes")


def _read_exact(f: IO[bytes], n: int, what: str) -> bytes:
    data = f.read(n)
    if data is None or len(data) != n:
        got = 0 if data is None else len(data)
        parts = [data] if data else []
        while got < n:  # short reads from pipes: keep reading until EOF
            more = f.read(n - got)
            if not more:
                raise CarError(f"CAR file truncated: {what} needs {n} bytes, {got} left")
            parts.append(more)
            got += len(more)
        data = b"".join(parts)
    return data


def _split_cid(section: bytes) -> int:
    """Length of the CID at the start of a section."""
    if len(section) >= 2 and section[0] == 0x12 and section[1] == 0x20:
        return 34  # CIDv0: a bare sha2-256 multihash
    pos = 0
    try:
        version, pos = varint.decode(section, pos)
        if version != 1:
            raise CarError(f"CAR section has a CID of unsupported version {version}")
        _codec, pos = varint.decode(section, pos)
        _mh, pos = varint.decode(section, pos)
        length, pos = varint.decode(section, pos)
    except VarintError as exc:
        raise CarError(f"CAR section starts with a malformed CID: {exc}") from None
    if pos + length > len(section):
        raise CarError("CAR section is shorter than its CID")
    return pos + length


def _open(src: Src) -> tuple[IO[bytes], bool]:
    if isinstance(src, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(src)), True
    if isinstance(src, (str, os.PathLike)):
        return open(src, "rb"), True
    if not hasattr(src, "read"):
        raise CarError(f"cannot read a CAR from {type(src).__name__}: pass a path, bytes or a file")
    return src, False


def _sections(f: IO[bytes], close: bool) -> Iterator[tuple[bytes, bytes]]:
    try:
        while True:
            n = _read_varint(f, "section")
            if n is None:
                return
            if n == 0:
                raise CarError("CAR section of length 0 (not allowed in CAR v1)")
            if n > MAX_SECTION_SIZE:
                raise CarError(
                    f"CAR section of {n} bytes is over the {MAX_SECTION_SIZE}-byte limit "
                    f"(blocks are at most {MAX_BLOCK_SIZE} bytes)"
                )
            section = _read_exact(f, n, "a section")
            k = _split_cid(section)
            cid = section[:k]
            try:
                decode_cid(cid)
            except CIDError as exc:
                raise CarError(f"CAR section has an invalid CID: {exc}") from None
            yield cid, section[k:]
    finally:
        if close:
            f.close()


#: CAR v2: the pragma, the fixed header after it, and the multicodec of the index we write.
CARV2_PRAGMA = b"\x0a\xa1\x67version\x02"
_CARV2_HEADER = struct.Struct("<16sQQQ")  # characteristics, data offset, data size, index offset
_MH_INDEX_SORTED = 0x0401


class _Limited:
    """A reader that ends after *n* bytes of *f* (the payload inside a CAR v2)."""

    def __init__(self, f: IO[bytes], n: int) -> None:
        self.f = f
        self.left = n

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        n = self.left if n < 0 else min(n, self.left)
        data = self.f.read(n)
        self.left -= len(data)
        return data

    def close(self) -> None:
        self.f.close()


def _skip(f: IO[bytes], n: int) -> None:
    while n > 0:
        got = f.read(min(n, 1 << 20))
        if not got:
            raise CarError("CAR v2 file truncated before its data payload")
        n -= len(got)


def _read_header(f: IO[bytes]) -> tuple[list[bytes], int]:
    n = _read_varint(f, "header")
    if n is None:
        raise CarError("empty file: not a CAR")
    if n == 0 or n > MAX_CAR_HEADER_SIZE:
        raise CarError(f"CAR header length {n} is not between 1 and {MAX_CAR_HEADER_SIZE}")
    return decode_header(_read_exact(f, n, "the header"))


def read_car(src: Src) -> tuple[list[bytes], Iterator[tuple[bytes, bytes]]]:
    """Read a CAR v1 or v2: (root CIDs, iterator of (cid, data) in file order).

    The header is read now; sections are read lazily as the iterator advances (the file, if a
    path was given, is closed when it ends). Blocks are NOT verified here: ``import_car`` does.
    Raises CarError for a bad header, truncated or oversized sections and bad varints.
    """
    f, close = _open(src)
    reader: Any = f
    try:
        roots, version = _read_header(f)
        if version == 2:
            # the pragma was the {"version": 2} header just read: 11 bytes
            raw = _read_exact(f, _CARV2_HEADER.size, "the CAR v2 header")
            _chars, data_offset, data_size, _index_offset = _CARV2_HEADER.unpack(raw)
            start = len(CARV2_PRAGMA) + _CARV2_HEADER.size
            if data_offset < start or data_size == 0:
                raise CarError(
                    f"CAR v2 header has data offset {data_offset} and size {data_size}; the "
                    f"payload must start at byte {start} or later and not be empty"
                )
            _skip(f, data_offset - start)
            reader = _Limited(f, data_size)
            roots, version = _read_header(reader)
            if version != 1:
                raise CarError(f"CAR v2 payload is CAR version {version}, not 1")
        elif version != 1:
            raise CarError(f"unsupported CAR version {version} (1 and 2 are)")
    except BaseException:
        if close:
            f.close()
        raise
    return roots, _sections(reader, close)


def import_car(store: Any, src: Src) -> list[bytes]:
    """Store every block of a CAR (v1 or v2) after verifying it against its CID; return the
    roots.

    BadBlockError if a block does not hash to its CID (nothing after it is stored), CarError for
    a malformed file. Roots need not be in the file (a CAR may carry a partial DAG).
    """
    roots, sections = read_car(src)
    batch: list[tuple[bytes, bytes]] = []
    size = 0
    for cid, data in sections:
        verify_block(cid, data)
        if decode_cid(cid)[2] == IDENTITY:
            continue  # the data is in the CID; stores keep no identity blocks
        batch.append((cid, data))
        size += len(data)
        if size >= _IMPORT_BATCH_BYTES:
            store.put_many(batch)
            batch, size = [], 0
    if batch:
        store.put_many(batch)
    return roots


# -- writing -----------------------------------------------------------------------------------


def _data(store: Any, cid: bytes) -> bytes:
    """A block's data; an identity CID's from the CID itself."""
    _v, _codec, mh_code, digest = decode_cid(cid)
    return digest if mh_code == IDENTITY else store.get(cid)  # type: ignore[no-any-return]


def _dfs(store: Any, roots: Sequence[bytes]) -> Iterator[tuple[bytes, bytes]]:
    """Blocks reachable from *roots*, depth-first pre-order, links in order, each once."""
    seen: set[bytes] = set()
    stack = list(reversed(roots))
    while stack:
        cid = stack.pop()
        if cid in seen:
            continue
        seen.add(cid)
        _v, codec, mh_code, digest = decode_cid(cid)
        if mh_code == IDENTITY:
            data = digest  # walked, not written
        else:
            data = store.get(cid)
            yield cid, data
        if codec == RAW:
            continue
        if codec != DAG_PB:
            raise DagError(
                f"cannot follow the links of {to_str(cid)} (codec 0x{codec:x}); only dag-pb and "
                "raw DAGs can be walked: pass the blocks to export with cids="
            )
        stack.extend(reversed(list(iter_links(cid, data))))


def write_car(
    store: Any,
    roots: Sequence[bytes | str],
    out: str | os.PathLike[str] | IO[bytes],
    *,
    cids: Iterable[bytes | str] | None = None,
    version: int = 1,
) -> int:
    """Write a CAR of the DAGs under *roots* (or exactly the blocks *cids*, in that order: an
    identity CID among them gets a section, as go-car writes one, but no index entry).

    *version* 1 (the default, what ``ipfs dag export`` writes) or 2 (with an index). *out* is
    a path (written whole, replaced on success only) or a binary file object. Returns the
    number of blocks written. BlockNotFoundError if a block is missing.
    """
    if version not in (1, 2):
        raise CarError(f"CAR version must be 1 or 2, not {version!r}")
    root_cids = [parse(r) for r in roots]
    blocks: Iterable[tuple[bytes, bytes]]
    if cids is None:
        blocks = _dfs(store, root_cids)
    else:
        blocks = ((c, _data(store, c)) for c in (parse(x) for x in cids))
    write = _write if version == 1 else _write_v2
    if isinstance(out, (str, os.PathLike)):
        tmp = os.fspath(out) + ".part"
        try:
            with open(tmp, "wb") as f:
                n = write(f, root_cids, blocks)
            os.replace(tmp, out)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        return n
    return write(out, root_cids, blocks)


def _write(
    f: IO[bytes],
    roots: list[bytes],
    blocks: Iterable[tuple[bytes, bytes]],
    offsets: list[tuple[bytes, int]] | None = None,
) -> int:
    """Write a CAR v1; with *offsets*, record (CID, section offset) for an index."""
    header = encode_header(roots)
    head = _uvarint(len(header)) + header
    f.write(head)
    pos = len(head)
    n = 0
    for cid, data in blocks:
        prefix = _uvarint(len(cid) + len(data)) + cid
        f.write(prefix)
        f.write(data)  # no concatenation: blocks can be large
        if offsets is not None:
            offsets.append((cid, pos))
        pos += len(prefix) + len(data)
        n += 1
    f.flush()
    return n


def _write_v2(f: IO[bytes], roots: list[bytes], blocks: Iterable[tuple[bytes, bytes]]) -> int:
    if not f.seekable():
        # the header holds the payload's size: build the file aside, then copy it out
        with tempfile.TemporaryFile() as spool:
            n = _write_v2(spool, roots, blocks)
            spool.seek(0)
            shutil.copyfileobj(spool, f, 1 << 20)
        f.flush()
        return n
    start = f.tell()
    f.write(CARV2_PRAGMA + bytes(_CARV2_HEADER.size))  # the header is patched below
    data_offset = len(CARV2_PRAGMA) + _CARV2_HEADER.size
    offsets: list[tuple[bytes, int]] = []
    n = _write(f, roots, blocks, offsets)
    data_size = f.tell() - start - data_offset
    f.write(_index(offsets))
    end = f.tell()
    f.seek(start + len(CARV2_PRAGMA))
    f.write(_CARV2_HEADER.pack(bytes(16), data_offset, data_size, data_offset + data_size))
    f.seek(end)
    f.flush()
    return n


def _index(offsets: list[tuple[bytes, int]]) -> bytes:
    """go-car's MultihashIndexSorted of (CID, offset) records."""
    by_code: dict[int, dict[int, list[tuple[bytes, int]]]] = {}
    for cid, offset in offsets:
        _v, _codec, mh_code, digest = decode_cid(cid)
        if mh_code == IDENTITY:
            continue  # go-car leaves identity CIDs out of the index by default
        by_code.setdefault(mh_code, {}).setdefault(len(digest) + 8, []).append((digest, offset))
    out = [_uvarint(_MH_INDEX_SORTED), struct.pack("<i", len(by_code))]
    for code in sorted(by_code):
        widths = by_code[code]
        out.append(struct.pack("<Qi", code, len(widths)))
        for width in sorted(widths):
            records = sorted(widths[width])
            out.append(struct.pack("<IQ", width, width * len(records)))
            out.extend(d + struct.pack("<Q", o) for d, o in records)
    return b"".join(out)
