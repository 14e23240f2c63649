"""``MerkleDag``: py-libp2p 0.8.1's file API (``add_file``/``add_bytes``/``add_stream``/
``fetch_file``/``get_file_info`` and the IPLD node helpers) over a ``BitswapClient`` (ipfs/specs
UNIXFS.md: raw CIDv1 leaves, Kubo's balanced layout of 174 links).

Files are laid out exactly as py-libp2p lays them out (same CIDs for the same bytes and chunk
size). Blocks go through ``bitswap.add_block`` (or a ``BlockService``) one by one, as in
py-libp2p. ``fetch_file`` asks for each level of the DAG in one ``get_blocks_batch`` call, so
every leaf is wanted at once and the engine keeps each peer's queue full (py-libp2p fetches 32 at
a time).
"""

from __future__ import annotations

import inspect
import io
import json
import os
from collections.abc import Awaitable, Callable
from typing import Any

from multicodec import Code

from ...errors import DagError
from .block_service import BlockService
from .block_store import BlockStore
from .chunker import DEFAULT_CHUNK_SIZE, chunk_bytes, chunk_file, chunk_stream, get_file_size
from .cid import (
    CODEC_DAG_CBOR,
    CODEC_DAG_JOSE,
    CODEC_DAG_JSON,
    CODEC_DAG_PB,
    CODEC_IPLD,
    CODEC_RAW,
    CIDInput,
    _normalise_codec,
    cid_to_bytes,
    compute_cid_v1,
    format_cid_for_display,
    parse_cid_codec,
    verify_cid,
)
from .dag_pb import (
    balanced_layout,
    create_directory_node,
    decode_dag_pb,
    is_directory_node,
    is_file_node,
)
from .errors import BlockNotFoundError

__all__ = ["MerkleDag", "decode_node", "encode_node", "get_codec_from_cid"]

ProgressCallback = Callable[[int, int, str], None] | Callable[[int, int, str], Awaitable[None]]

_JSON_CODECS = (CODEC_DAG_JSON, CODEC_DAG_JOSE, CODEC_IPLD)


async def _progress(callback: ProgressCallback | None, current: int, total: int,
                    status: str) -> None:
    if callback is None:
        return
    result = callback(current, total, status)
    if inspect.isawaitable(result):
        await result


def get_codec_from_cid(cid: CIDInput) -> str:
    return parse_cid_codec(cid_to_bytes(cid))


def encode_node(node: Any, codec: Code | str | int) -> bytes:
    """An IPLD node as dag-json (compact JSON) or dag-cbor bytes."""
    code = _normalise_codec(codec)
    if code in _JSON_CODECS:
        return json.dumps(node, separators=(",", ":")).encode()
    if code == CODEC_DAG_CBOR:
        import cbor2

        return cbor2.dumps(node)
    raise ValueError(f"Unsupported codec for encode_node: {code.name}")


def decode_node(data: bytes, codec: Code | str | int) -> Any:
    code = _normalise_codec(codec)
    if code in _JSON_CODECS:
        return json.loads(data.decode())
    if code == CODEC_DAG_CBOR:
        import cbor2

        return cbor2.loads(data)
    if code == CODEC_RAW:
        return data
    raise ValueError(f"Unsupported codec for decode_node: {code.name}")


class MerkleDag:
    """Files as UnixFS DAGs over a ``BitswapClient`` (see the module docstring)."""

    def __init__(self, bitswap: Any, block_store: BlockStore | None = None,
                 block_service: BlockService | None = None) -> None:
        self.bitswap = bitswap
        self.block_store = block_store or bitswap.block_store
        self._service = block_service

    # -- block access ----------------------------------------------------------------------

    async def _put_block(self, cid: CIDInput, data: bytes) -> None:
        if self._service is not None:
            await self._service.put_block(cid, data)
        else:
            await self.bitswap.add_block(cid, data)

    async def _get_block(self, cid: CIDInput, session: Any, peer_id: Any = None,
                         timeout: float = 30.0) -> bytes:
        if self._service is None:
            return await session.get_block(cid, peer_id, timeout)
        data = await self._service.get_block(cid, session, peer_id=peer_id, timeout=timeout)
        if data is None:
            raise BlockNotFoundError(f"Block not found: {format_cid_for_display(cid)}")
        return data

    async def _get_blocks_batch(self, cids: list[bytes], session: Any, peer_id: Any,
                                timeout: float) -> dict[bytes, bytes]:
        if self._service is not None:
            return await self._service.get_blocks_batch(cids, session, peer_id=peer_id,
                                                        timeout=timeout)
        return await session.get_blocks_batch(cids, peer_id=peer_id, timeout=timeout)

    # -- adding ----------------------------------------------------------------------------

    async def _add_chunks(self, chunks: Any, total: int | None,
                          progress: ProgressCallback | None) -> tuple[bytes, int] | None:
        """Store raw leaves and the balanced tree over them; (root, cumulative size), or None
        for no chunks. One chunk is its own root."""
        leaves: list[tuple[bytes, bytes | None, int]] = []
        done = 0
        first: bytes | None = None
        for chunk in chunks:
            cid = compute_cid_v1(chunk, codec=CODEC_RAW)
            await self._put_block(cid, chunk)
            if not leaves:
                first = chunk
            # no block bytes kept (py-libp2p's layout: leaf Tsize 0), so memory stays O(chunk)
            leaves.append((cid, None, len(chunk)))
            done += len(chunk)
            await _progress(progress, done, done if total is None else total,
                            f"chunking ({len(leaves)} chunks)")
        if not leaves:
            return None
        if len(leaves) == 1:
            assert first is not None
            return leaves[0][0], len(first)
        internal: list[tuple[bytes, bytes]] = []
        root, root_block, tsize = balanced_layout(
            leaves, put_block_callback=lambda c, b: internal.append((c, b)))
        for cid, block in internal:
            await self._put_block(cid, block)
        assert root_block is not None
        return root, tsize

    async def add_file(self, file_path: str, chunk_size: int | None = None,
                       progress_callback: ProgressCallback | None = None,
                       wrap_with_directory: bool = False) -> bytes:
        """Add a file (raw leaves of *chunk_size*, default 256 KiB); its root CID, or with
        *wrap_with_directory* the CID of a directory holding it under its name."""
        size = get_file_size(file_path)
        chunk_size = chunk_size or DEFAULT_CHUNK_SIZE
        added = await self._add_chunks(chunk_file(file_path, chunk_size), size,
                                       progress_callback)
        if added is None:  # an empty file: one empty raw block
            added = (compute_cid_v1(b"", codec=CODEC_RAW), 0)
            await self._put_block(added[0], b"")
        root, tsize = added
        await _progress(progress_callback, size, size, "completed")
        if not wrap_with_directory:
            return root
        block = create_directory_node([(os.path.basename(file_path), root, tsize)])
        dir_cid = compute_cid_v1(block, codec=CODEC_DAG_PB)
        await self._put_block(dir_cid, block)
        return dir_cid

    async def add_bytes(self, data: bytes, chunk_size: int | None = None,
                        progress_callback: ProgressCallback | None = None) -> bytes:
        """Add in-memory data as a file; its root CID."""
        chunks = chunk_bytes(data, chunk_size or DEFAULT_CHUNK_SIZE) or [b""]
        added = await self._add_chunks(chunks, len(data), progress_callback)
        assert added is not None
        await _progress(progress_callback, len(data), len(data), "completed")
        return added[0]

    async def add_stream(self, stream: io.IOBase, chunk_size: int | None = None,
                         progress_callback: ProgressCallback | None = None) -> bytes:
        """Add what a readable stream yields (one chunk in memory at a time); its root CID."""
        added = await self._add_chunks(chunk_stream(stream, chunk_size or DEFAULT_CHUNK_SIZE),
                                       None, progress_callback)
        if added is None:
            cid = compute_cid_v1(b"", codec=CODEC_RAW)
            await self._put_block(cid, b"")
            return cid
        await _progress(progress_callback, added[1], added[1], "completed")
        return added[0]

    # -- fetching --------------------------------------------------------------------------

    async def fetch_file(self, root_cid: CIDInput, peer_id: Any = None, timeout: float = 30.0,
                         progress_callback: ProgressCallback | None = None,
                         ) -> tuple[bytes, str | None]:
        """The file under *root_cid* (a directory wrapper gives its first entry and that
        entry's name): ``(data, filename or None)``. BlockNotFoundError if blocks are
        missing after *timeout* seconds per level."""
        session = self.bitswap.new_session()
        root = cid_to_bytes(root_cid)
        data = await self._get_block(root, session, peer_id, timeout)
        if not verify_cid(root, data):
            raise ValueError(f"Root block CID verification failed: {format_cid_for_display(root)}")
        filename = None
        if is_directory_node(data):
            links, _ = decode_dag_pb(data)
            if links:
                filename = links[0].name or None
                root = links[0].cid
                data = await self._get_block(root, session, peer_id, timeout)
        if not is_file_node(data):
            return data, filename  # a raw block is the whole file
        links, unixfs = decode_dag_pb(data)
        if not links:
            inline = unixfs.data if unixfs is not None else b""
            await _progress(progress_callback, len(inline), len(inline), "completed")
            return inline, filename
        total = unixfs.filesize if unixfs is not None and unixfs.filesize else sum(
            ln.size for ln in links)
        # breadth-first: each level of the tree in one call, every want in flight at once
        blocks: dict[bytes, bytes] = {root: data}
        level = [ln.cid for ln in links]
        while level:
            todo = [c for c in dict.fromkeys(level) if c not in blocks]
            got = await self._get_blocks_batch(todo, session, peer_id, timeout)
            blocks.update(got)
            missing = [c for c in todo if c not in got]
            if missing:
                shown = [format_cid_for_display(c) for c in missing[:5]]
                raise BlockNotFoundError(f"{len(missing)} blocks missing: {shown}...")
            nxt: list[bytes] = []
            for c in level:
                if is_file_node(blocks[c]):
                    nxt.extend(ln.cid for ln in decode_dag_pb(blocks[c])[0])
            level = nxt
        out = bytearray()
        await self._assemble(root, blocks, out, total, progress_callback)
        await _progress(progress_callback, total, total, "completed")
        return bytes(out), filename

    async def _assemble(self, cid: bytes, blocks: dict[bytes, bytes], out: bytearray,
                        total: int, progress: ProgressCallback | None) -> None:
        block = blocks[cid]
        if not is_file_node(block):
            out += block
            await _progress(progress, len(out), total, "downloading")
            return
        links, unixfs = decode_dag_pb(block)
        if not links:
            out += unixfs.data if unixfs is not None else b""
            await _progress(progress, len(out), total, "downloading")
            return
        for ln in links:
            await self._assemble(ln.cid, blocks, out, total, progress)

    async def get_file_info(self, root_cid: CIDInput, peer_id: Any = None,
                            timeout: float = 30.0) -> dict[str, int | list[int]]:
        """``{"size", "chunks", "chunk_sizes"}`` from the root block alone."""
        session = self.bitswap.new_session()
        data = await self._get_block(cid_to_bytes(root_cid), session, peer_id, timeout)
        if not is_file_node(data):
            return {"size": len(data), "chunks": 1, "chunk_sizes": [len(data)]}
        links, unixfs = decode_dag_pb(data)
        if not links:
            size = len(unixfs.data) if unixfs is not None else 0
            return {"size": size, "chunks": 0, "chunk_sizes": []}
        size = unixfs.filesize if unixfs is not None else sum(ln.size for ln in links)
        return {"size": size, "chunks": len(links), "chunk_sizes": [ln.size for ln in links]}

    # -- IPLD nodes ------------------------------------------------------------------------

    async def add_encoded_block(self, data: bytes, codec: Code | str | int) -> bytes:
        cid = compute_cid_v1(data, codec=codec)
        await self._put_block(cid, data)
        return cid

    async def add_node(self, node: Any, codec: Code | str | int | None = None) -> bytes:
        """Store a structured node (dag-json unless told otherwise); its CID."""
        codec = CODEC_DAG_JSON if codec is None else codec
        return await self.add_encoded_block(encode_node(node, codec), codec)

    async def get_node(self, cid: CIDInput, peer_id: Any = None) -> Any:
        key = cid_to_bytes(cid)
        session = self.bitswap.new_session()
        if self._service is not None:
            data = await self._service.get_block(key, session, peer_id=peer_id, timeout=30.0)
        else:
            data = await self.block_store.get_block(key)
            if data is None:
                data = await session.get_block(key, peer_id)
        if data is None:
            raise BlockNotFoundError(key)
        return decode_node(data, get_codec_from_cid(key))

    async def remove_node(self, cid: CIDInput) -> None:
        """Delete a node and (best effort) everything it links to, from the local store."""
        key = cid_to_bytes(cid)
        data = await self.block_store.get_block(key)
        links = []
        if data is not None and parse_cid_codec(key) == "dag-pb":
            try:
                links = decode_dag_pb(data)[0]
            except DagError:
                links = []  # not valid dag-pb after all: delete just this block
        for ln in links:
            await self.remove_node(ln.cid)
        await self.block_store.delete_block(key)
