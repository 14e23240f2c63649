"""The protobuf modules py-libp2p's ``libp2p.bitswap.pb`` offers, from fastswap's own schemas
(``proto/fastswap/*.proto``: same fields and numbers, package ``fastswap.wire.*``, so both
libraries load in one process)."""
