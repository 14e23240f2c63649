"""The Blockstore protocol (fastswap.blockstore.base), run against every store."""

from __future__ import annotations

import pytest
from _bs_helpers import make_blocks

from fastswap.blockstore import Blockstore
from fastswap.cid import compute_cid, verify_block
from fastswap.errors import BlockNotFoundError, BlockstoreError, CIDError

MISSING = compute_cid(b"never stored")


def test_implements_protocol(store) -> None:
    assert isinstance(store, Blockstore)


@pytest.mark.parametrize("size", [0, 1, 1024, 256 * 1024, 1024 * 1024 + 3])
def test_round_trip(store, size: int) -> None:
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    cid = compute_cid(data)
    assert not store.has(cid)
    store.put(cid, data)
    assert store.has(cid)
    assert cid in store
    got = store.get(cid)
    assert type(got) is bytes and got == data
    assert store.get_size(cid) == size
    with store.view(cid) as mv:
        assert isinstance(mv, memoryview)
        assert mv.nbytes == size
        assert bytes(mv) == data


def test_put_accepts_memoryview_and_bytearray(store) -> None:
    (c1, d1), (c2, d2) = make_blocks(2, 3000, seed=1)
    store.put(c1, memoryview(d1))
    store.put(memoryview(c2), bytearray(d2))
    assert store.get(c1) == d1
    assert store.get(c2) == d2
    assert store.has(bytearray(c2))


def test_missing(store) -> None:
    assert not store.has(MISSING)
    with pytest.raises(BlockNotFoundError):
        store.get(MISSING)
    with pytest.raises(BlockNotFoundError):
        store.get_size(MISSING)
    with pytest.raises(BlockNotFoundError), store.view(MISSING):
        pass  # pragma: no cover
    # BlockNotFoundError is a KeyError too, with a readable message naming the CID
    with pytest.raises(KeyError, match="not found"):
        store.get(MISSING)
    assert store.delete(MISSING) is False


def test_idempotent_put(store) -> None:
    [(cid, data)] = make_blocks(1, 5000, seed=2)
    store.put(cid, data)
    store.put(cid, data)
    assert len(store) == 1
    assert store.size_bytes() == len(data)
    assert store.put_many([(cid, data), (cid, data)]) == 0
    assert len(store) == 1 and store.size_bytes() == len(data)


def test_put_many_counts_new(store) -> None:
    blocks = make_blocks(30, 2000, seed=3)
    assert store.put_many(blocks[:10]) == 10
    assert store.put_many(iter(blocks)) == 20  # an iterator, with 10 already stored
    assert store.put_many([]) == 0
    assert len(store) == 30
    assert store.size_bytes() == sum(len(d) for _, d in blocks)
    for cid, data in blocks:
        assert store.get(cid) == data


def test_delete(store) -> None:
    blocks = make_blocks(5, 1000, seed=4)
    store.put_many(blocks)
    cid, data = blocks[2]
    assert store.delete(cid) is True
    assert not store.has(cid)
    with pytest.raises(BlockNotFoundError):
        store.get(cid)
    assert store.delete(cid) is False
    assert len(store) == 4
    assert store.size_bytes() == sum(len(d) for _, d in blocks) - len(data)
    store.put(cid, data)  # and it can come back
    assert store.get(cid) == data and len(store) == 5


def test_iteration(store) -> None:
    blocks = make_blocks(2500, 40, seed=5)  # more than one cids() chunk in LMDB
    store.put_many(blocks)
    seen = list(store.cids())
    assert len(seen) == len(set(seen)) == 2500
    assert set(seen) == {c for c, _ in blocks}
    assert all(type(c) is bytes for c in seen)
    assert set(iter(store)) == set(seen)
    assert len(store) == 2500


def test_iteration_while_deleting(store) -> None:
    blocks = make_blocks(3000, 10, seed=6)
    store.put_many(blocks)
    for cid in store.cids():
        store.delete(cid)
    assert len(store) == 0 and store.size_bytes() == 0
    assert list(store.cids()) == []


def test_batch_reads(store) -> None:
    blocks = make_blocks(6, 700, seed=7)
    store.put_many(blocks[:4])
    cids = [c for c, _ in blocks] + [MISSING]
    present = [True] * 4 + [False] * 3
    assert store.has_many(cids) == present
    assert store.get_sizes(cids) == [len(d) for _, d in blocks[:4]] + [None] * 3
    assert store.get_many(cids) == [d for _, d in blocks[:4]] + [None] * 3
    with store.view_many(cids) as views:
        assert [v is not None for v in views] == present
        for (cid, data), v in zip(blocks[:4], views):
            verify_block(cid, v)
            assert bytes(v) == data
    for v in views[:4]:
        with pytest.raises(ValueError):
            bytes(v)  # released with the block
    assert store.has_many([]) == [] and store.get_many([]) == []


def test_view_released_after_block(store) -> None:
    [(cid, data)] = make_blocks(1, 300_000, seed=8)
    store.put(cid, data)
    with store.view(cid) as mv:
        assert mv[:10] == data[:10]
    with pytest.raises(ValueError):
        mv[0]
    with pytest.raises(ValueError):
        bytes(mv)
    # released on an exception too
    with pytest.raises(RuntimeError), store.view(cid) as mv2:
        raise RuntimeError("boom")
    with pytest.raises(ValueError):
        len(mv2)


@pytest.mark.parametrize(
    "bad, exc",
    [("bafkqaaa", CIDError), (b"", CIDError), (b"\x01" * 200, CIDError), (12, CIDError)],
)
def test_bad_keys(store, bad, exc) -> None:
    for call in (store.has, store.get, store.get_size, store.delete):
        with pytest.raises(exc):
            call(bad)
    with pytest.raises(exc):
        store.put(bad, b"data")
    with pytest.raises(exc):
        store.has_many([MISSING, bad])
    with pytest.raises(exc), store.view(bad):
        pass  # pragma: no cover


def test_bad_data(store) -> None:
    with pytest.raises(TypeError):
        store.put(MISSING, "text is not bytes")
    with pytest.raises(TypeError):
        store.put(MISSING, None)
    assert len(store) == 0


def test_put_many_bad_item_keeps_earlier(store) -> None:
    blocks = make_blocks(3, 100, seed=10)
    with pytest.raises(CIDError):
        store.put_many([blocks[0], blocks[1], ("not bytes", b"x"), blocks[2]])
    assert store.has(blocks[0][0]) and store.has(blocks[1][0])
    assert not store.has(blocks[2][0])


def test_closed_store(store) -> None:
    [(cid, data)] = make_blocks(1, 100, seed=11)
    store.put(cid, data)
    store.close()
    store.close()  # idempotent
    calls = [
        lambda: store.has(cid),
        lambda: store.get(cid),
        lambda: store.get_size(cid),
        lambda: store.put(cid, data),
        lambda: store.put_many([(cid, data)]),
        lambda: store.delete(cid),
        lambda: list(store.cids()),
        lambda: len(store),
        lambda: store.size_bytes(),
        lambda: store.has_many([cid]),
        lambda: store.get_sizes([cid]),
        lambda: store.get_many([cid]),
        lambda: store.view(cid).__enter__(),
        lambda: store.view_many([cid]).__enter__(),
    ]
    for call in calls:
        with pytest.raises(BlockstoreError, match="closed"):
            call()
