"""tests/compat: the py-libp2p drop-in (``fastswap.compat``).

``dropin/`` holds tests that import libp2p 0.8.1 and trio, so they run only in the drop-in
venv (protobuf 6.x), where ``test_pylibp2p_dropin.py`` runs them as a child pytest together with
py-libp2p's own ported tests; this environment (the newest protobuf) cannot import libp2p, so it
does not collect them itself.
"""

import importlib.util

collect_ignore = [] if importlib.util.find_spec("libp2p") is not None else ["dropin"]
