"""``python -m fastswap.cli``."""

import sys

from . import main

sys.exit(main())
