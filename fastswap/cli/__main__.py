"""``python -m fastswap.cli``."""

from . import run

run()
