"""DAGs: UnixFS files over dag-pb and raw leaves (ipfs/specs UNIXFS.md, IPLD dag-pb), CAR v1.

``import_file``/``cat`` build and read UnixFS file DAGs (byte-identical to Kubo and Helia for the
same settings: ``KUBO_DEFAULTS``, ``HELIA_DEFAULTS``); ``write_car``/``read_car``/``import_car``
move DAGs in and out as CAR v1 files; ``iter_links`` lists a block's children for DAG walkers.
"""

from .car import import_car, read_car, write_car
from .unixfs import HELIA_DEFAULTS, KUBO_DEFAULTS, cat, import_file, iter_links

__all__ = [
    "HELIA_DEFAULTS",
    "KUBO_DEFAULTS",
    "cat",
    "import_car",
    "import_file",
    "iter_links",
    "read_car",
    "write_car",
]
