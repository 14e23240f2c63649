"""Drop-in replacements for other Python Bitswap APIs, driven by fastswap's engines.

* :mod:`fastswap.compat.libp2p` -- py-libp2p 0.8.1's ``libp2p.bitswap`` (names, call shapes,
  trio), on a py-libp2p host (the trio driver, ``_trio.py``) or on fastswap's own asyncio host
  (``fastswap.compat.libp2p.new_host``: ``fastswap.Node`` on a loop thread, ``_asyncio.py``).

Every driver here feeds the same sans-IO :class:`fastswap.core.DriverCore` as ``fastswap.Node``
(DESIGN.md, "The shape"): this package only moves bytes, keeps time and translates the API.
"""
