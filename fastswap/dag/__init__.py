"""DAGs: UnixFS files, directories and HAMT shards over dag-pb and raw leaves (ipfs/specs
UNIXFS.md, IPLD dag-pb), and CAR v1/v2 archives.

Import: ``import_file`` (one file, bytes or stream), ``import_path``/``import_paths`` (files and
directories, ``ipfs add -r [-w]``), both byte-identical to Kubo 0.22 and Helia 7 for the same
settings (``ImportSettings.preset("kubo" | "helia", **overrides)``; ``KUBO_DEFAULTS`` and
``HELIA_DEFAULTS`` are the file-level keyword presets).

Export from a local store: ``cat``, ``ls``, ``resolve`` and ``walk`` take ``CID`` or
``CID/path/inside``; ``TreeWriter`` writes a walk to disk. The streaming, fetch-ahead versions
over any block source are in :mod:`fastswap.dag.stream`.

CAR: ``write_car``/``read_car``/``import_car``. ``iter_links`` lists a block's children for DAG
walkers.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_getattr

if TYPE_CHECKING:
    # what __getattr__ returns at run time, declared for type checkers
    from .car import import_car, read_car, write_car
    from .exporter import LsEntry, TreeWriter, Walker, cat, ls, resolve, walk
    from .importer import Added, ImportResult, import_path, import_paths
    from .settings import ImportSettings
    from .unixfs import HELIA_DEFAULTS, KUBO_DEFAULTS, import_file, iter_links

#: public name -> the submodule defining it, imported on first use (see fastswap._lazy): an
#: export (get, cat) needs neither the importer nor the CAR code
_LAZY = {
    **dict.fromkeys(("import_car", "read_car", "write_car"), ".car"),
    **dict.fromkeys(("LsEntry", "TreeWriter", "Walker", "cat", "ls", "resolve", "walk"),
                    ".exporter"),
    **dict.fromkeys(("Added", "ImportResult", "import_path", "import_paths"), ".importer"),
    "ImportSettings": ".settings",
    **dict.fromkeys(("HELIA_DEFAULTS", "KUBO_DEFAULTS", "import_file", "iter_links"), ".unixfs"),
}

__getattr__ = lazy_getattr(__name__, _LAZY)

__all__ = [
    "HELIA_DEFAULTS",
    "KUBO_DEFAULTS",
    "Added",
    "ImportResult",
    "ImportSettings",
    "LsEntry",
    "TreeWriter",
    "Walker",
    "cat",
    "import_car",
    "import_file",
    "import_path",
    "import_paths",
    "iter_links",
    "ls",
    "read_car",
    "resolve",
    "walk",
    "write_car",
]
