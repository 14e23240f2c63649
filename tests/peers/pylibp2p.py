"""py-libp2p 0.8.1 (PyPI ``libp2p``, trio; its ``libp2p.bitswap``) as a real peer for interop
tests and peer benchmarks.

Why a virtualenv of its own: libp2p 0.8.1 requires ``protobuf<7,>=4.25`` (resolving to 6.33.6)
and ``trio>=0.26``, while the test suite's environment runs the newest protobuf (7.x). fastswap
itself runs on both (its gencode is protobuf 6.31.1's), but the suite's environment must not be
pinned back to libp2p's range, so ``pip install -e '.[test]'`` does not install libp2p; instead
``ensure_installed()`` makes
``tests/peers/.cache/pylibp2p-venv`` (gitignored) and installs the pinned
``pylibp2p-requirements.txt`` into it, with the test suite's own interpreter. The driver
(``pylibp2p_driver.py``) runs on that venv's Python as a child process, so py-libp2p's
dependencies never meet fastswap's.

Like the Helia install, a stamp records which requirements file (and base interpreter) the venv
was built from, so an unchanged one costs nothing and a changed one is rebuilt; a file lock
serializes concurrent installs. Building ``fastecdsa==2.3.2`` from source needs the GMP headers:
``scripts/install-system-deps.sh`` installs Debian's ``libgmp-dev``.

The driver's commands are listed in its docstring; ``PyLibp2pPeer`` wraps them, and
``stream_throughput`` measures py-libp2p <-> py-libp2p one-stream throughput (the baseline the
stream benchmarks compare fastswap against).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ._process import PeerInstallError, PeerProcess

__all__ = [
    "ECHO_PROTOCOL",
    "LIBP2P_VERSION",
    "REQUIREMENTS",
    "SINK_PROTOCOL",
    "VENV_DIR",
    "PyLibp2pPeer",
    "ensure_installed",
    "expected_stream_sha256",
    "start_pylibp2p",
    "stream_payload",
    "stream_throughput",
    "venv_python",
]

LIBP2P_VERSION = "0.8.1"
ECHO_PROTOCOL = "/fastswap/echo/1.0.0"
SINK_PROTOCOL = "/fastswap/sink/1.0.0"

_HERE = Path(__file__).parent
REQUIREMENTS = _HERE / "pylibp2p-requirements.txt"
_DRIVER = _HERE / "pylibp2p_driver.py"
_CACHE_DIR = _HERE / ".cache"  # gitignored
VENV_DIR = _CACHE_DIR / "pylibp2p-venv"
_STAMP_NAME = ".fastswap-install-stamp"
_INSTALL_TIMEOUT = 900.0
_GMP_HEADERS = ("/usr/include/gmp.h", "/usr/include/x86_64-linux-gnu/gmp.h",
                "/usr/include/aarch64-linux-gnu/gmp.h", "/usr/local/include/gmp.h")


def venv_python() -> Path:
    return VENV_DIR / "bin" / "python"


def _install_key() -> str:
    h = hashlib.sha256()
    h.update(REQUIREMENTS.read_bytes())
    # a venv is tied to the interpreter it was made from
    h.update(os.path.realpath(sys.executable).encode() + b"\0" + sys.version.encode())
    return h.hexdigest()


@contextlib.contextmanager
def _install_lock() -> Iterator[None]:
    _CACHE_DIR.mkdir(exist_ok=True)
    with open(_CACHE_DIR / "pylibp2p-install.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _run(cmd: Sequence[str], what: str, timeout: float) -> None:
    env = dict(os.environ)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    env.pop("PYTHONPATH", None)  # nothing of the test suite's environment leaks in
    try:
        done = subprocess.run(list(cmd), env=env, stdin=subprocess.DEVNULL, capture_output=True, check=False,
                              timeout=timeout, start_new_session=True)
    except subprocess.TimeoutExpired as exc:
        out = (exc.stderr or b"")[-4000:].decode(errors="replace")
        raise PeerInstallError(
            f"{what} did not finish in {timeout:.0f} s (is PyPI reachable?)\n{out}"
        ) from None
    except OSError as exc:
        raise PeerInstallError(f"{what}: cannot run {cmd[0]!r}: {exc}") from exc
    if done.returncode != 0:
        out = (done.stdout + done.stderr)[-6000:].decode(errors="replace")
        hint = ""
        if "gmp.h" in out:
            hint = ("fastecdsa (a py-libp2p dependency) needs the GMP headers: run "
                    "scripts/install-system-deps.sh (installs Debian's libgmp-dev).\n")
        raise PeerInstallError(f"{what} failed (exit {done.returncode}).\n{hint}{out}")


def ensure_installed() -> bool:
    """Build the py-libp2p virtualenv unless it matches ``pylibp2p-requirements.txt`` already.
    Returns True if it installed. PeerInstallError (with pip's output and the fix) if it cannot.
    A cold install is about 65 packages, 150 MB, roughly a minute here."""
    stamp = VENV_DIR / _STAMP_NAME
    key = _install_key()
    if stamp.exists() and stamp.read_text().strip() == key and venv_python().exists():
        return False
    with _install_lock():
        if stamp.exists() and stamp.read_text().strip() == key and venv_python().exists():
            return False  # another process installed it while we waited
        if not any(os.path.exists(p) for p in _GMP_HEADERS):
            raise PeerInstallError(
                "py-libp2p cannot be installed: its dependency fastecdsa==2.3.2 compiles against "
                "the GMP headers (gmp.h), which are missing. Run scripts/install-system-deps.sh "
                "(as root; installs Debian's libgmp-dev), then rerun the tests."
            )
        shutil.rmtree(VENV_DIR, ignore_errors=True)
        _run([sys.executable, "-m", "venv", str(VENV_DIR)],
             f"creating the py-libp2p virtualenv {VENV_DIR}", 300.0)
        _run([str(venv_python()), "-m", "pip", "install", "--quiet", "--no-input",
              "-r", str(REQUIREMENTS)],
             f"pip install -r {REQUIREMENTS.name} (py-libp2p {LIBP2P_VERSION}) into {VENV_DIR}",
             _INSTALL_TIMEOUT)
        try:
            probe = subprocess.run(
                [str(venv_python()), "-c",
                 "import libp2p, libp2p.bitswap; print(libp2p.__version__)"],
                capture_output=True, timeout=120, stdin=subprocess.DEVNULL, check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PeerInstallError(f"py-libp2p in {VENV_DIR} does not import: {exc}") from exc
        version = probe.stdout.decode().strip()
        if probe.returncode != 0 or version != LIBP2P_VERSION:
            raise PeerInstallError(
                f"py-libp2p in {VENV_DIR} does not import as version {LIBP2P_VERSION} "
                f"(got {version!r}):\n{probe.stderr.decode(errors='replace')[-3000:]}"
            )
        stamp.write_text(key + "\n")
        return True


def stream_payload(nbytes: int, seed: int = 0) -> bytes:
    """The bytes the driver's ``echo``/``sink`` clients send for (nbytes, seed): the same
    stream a fastswap client must send to compare against (``random.Random(seed)``)."""
    import random

    return random.Random(seed).randbytes(nbytes)


def expected_stream_sha256(nbytes: int, seed: int = 0) -> str:
    return hashlib.sha256(stream_payload(nbytes, seed)).hexdigest()


class PyLibp2pPeer(PeerProcess):
    """A running py-libp2p 0.8.1 host: TCP on 127.0.0.1 (ephemeral port), Noise only, yamux and
    mplex (``muxers`` sets which and in what preference order), identify, ping, an echo and a
    sink protocol, and py-libp2p's Bitswap over an in-memory block store."""

    name = "py-libp2p"

    def __init__(
        self,
        workdir: str | os.PathLike[str] | None = None,
        *,
        muxers: Sequence[str] = ("yamux", "mplex"),
        listen: str = "/ip4/127.0.0.1/tcp/0",
        start_timeout: float = 60.0,
    ) -> None:
        ensure_installed()
        self._own_dir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="fastswap-pylibp2p-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        env.pop("LIBP2P_DEBUG", None)  # py-libp2p logs nothing unless asked
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        super().__init__(
            [str(venv_python()), str(_DRIVER), "--listen", listen, "--muxers", ",".join(muxers)],
            cwd=self.workdir,  # anything py-libp2p writes lands here, not in the repo
            env=env,
            start_timeout=start_timeout,
            log_path=self.workdir / "pylibp2p.log",
        )

    # (peer_id, multiaddrs, multiaddr, protocols, info: PeerProcess)

    # -- libp2p ------------------------------------------------------------------------------

    @staticmethod
    def _target(peer: str) -> dict[str, str]:
        return {"multiaddr": peer} if peer.startswith("/") else {"peer": peer}

    def dial(self, multiaddr: str, timeout: float = 30.0) -> dict[str, Any]:
        """Connect; {"peerId", "seconds"}. (py-libp2p's connect waits a fixed 250 ms.)"""
        return self.request("dial", multiaddr=multiaddr, timeout=timeout)

    async def adial(self, multiaddr: str, timeout: float = 30.0) -> dict[str, Any]:
        return await self.arequest("dial", multiaddr=multiaddr, timeout=timeout)

    def ping(self, peer: str, count: int = 3, timeout: float = 30.0) -> list[int]:
        """Round trips in whole milliseconds. ``peer``: peer id (connected) or multiaddr."""
        return list(self.request("ping", count=count, timeout=timeout, **self._target(peer))["rtts"])

    async def aping(self, peer: str, count: int = 3, timeout: float = 30.0) -> list[int]:
        res = await self.arequest("ping", count=count, timeout=timeout, **self._target(peer))
        return list(res["rtts"])

    def identify(self, peer: str, timeout: float = 30.0) -> dict[str, Any]:
        """The remote's identify record as py-libp2p parses it: protocols, agentVersion,
        protocolVersion, listenAddrs, observedAddr, publicKeyPeerId."""
        return self.request("identify", timeout=timeout, **self._target(peer))

    async def aidentify(self, peer: str, timeout: float = 30.0) -> dict[str, Any]:
        return await self.arequest("identify", timeout=timeout, **self._target(peer))

    def echo(self, peer: str, nbytes: int, *, seed: int = 0, chunk: int = 256 * 1024,
             timeout: float = 120.0) -> dict[str, Any]:
        """Stream ``stream_payload(nbytes, seed)`` to the remote's echo handler on one stream and
        read it back: {"sent", "received", "sha256Sent", "sha256Received", "seconds", "MBps"}."""
        return self.request("echo", nbytes=nbytes, seed=seed, chunk=chunk, timeout=timeout,
                            **self._target(peer))

    async def aecho(self, peer: str, nbytes: int, *, seed: int = 0, chunk: int = 256 * 1024,
                    timeout: float = 120.0) -> dict[str, Any]:
        return await self.arequest("echo", nbytes=nbytes, seed=seed, chunk=chunk,
                                   timeout=timeout, **self._target(peer))

    def sink(self, peer: str, nbytes: int, *, seed: int = 0, chunk: int = 256 * 1024,
             timeout: float = 120.0) -> dict[str, Any]:
        """One-way: stream the payload to the remote's sink handler, which answers with the
        count and sha256 it read. Same result keys as ``echo``."""
        return self.request("sink", nbytes=nbytes, seed=seed, chunk=chunk, timeout=timeout,
                            **self._target(peer))

    async def asink(self, peer: str, nbytes: int, *, seed: int = 0, chunk: int = 256 * 1024,
                    timeout: float = 120.0) -> dict[str, Any]:
        return await self.arequest("sink", nbytes=nbytes, seed=seed, chunk=chunk,
                                   timeout=timeout, **self._target(peer))

    # -- Bitswap (py-libp2p's own libp2p.bitswap) --------------------------------------------

    def add_file(self, path: str | os.PathLike[str], *, chunk_size: int | None = None,
                 timeout: float = 120.0) -> str:
        """``MerkleDag.add_file``: CIDv1, raw leaves, 256 KiB chunks by default (py-libp2p
        refuses blocks over 512 KiB). Returns the root CID."""
        return str(self.request("add_file", path=str(Path(path).resolve()), chunkSize=chunk_size,
                                timeout=timeout)["cid"])

    def add_bytes(self, data: bytes, *, chunk_size: int | None = None,
                  timeout: float = 120.0) -> str:
        return str(self.request("add_bytes", dataB64=base64.b64encode(data).decode(),
                                chunkSize=chunk_size, timeout=timeout)["cid"])

    def add_blocks(self, blocks: Sequence[bytes | tuple[str, bytes]],
                   timeout: float = 60.0) -> list[str]:
        """Store blocks: plain bytes get raw-codec CIDv1s; (cid, data) pairs keep their CID
        (py-libp2p verifies the hash). Returns the CIDs."""
        items = []
        for blk in blocks:
            if isinstance(blk, tuple):
                items.append({"cid": blk[0], "dataB64": base64.b64encode(blk[1]).decode()})
            else:
                items.append({"dataB64": base64.b64encode(blk).decode()})
        return list(self.request("add_blocks", blocks=items, timeout=timeout)["cids"])

    def has(self, cid: str, timeout: float = 10.0) -> bool:
        return bool(self.request("has", cid=cid, timeout=timeout)["has"])

    def get_block(self, cid: str, peer: str | None = None, *, timeout: float = 30.0,
                  return_data: bool = False) -> dict[str, Any]:
        """One block through a Bitswap session: {"sha256", "size"[, "dataB64"]}."""
        target = self._target(peer) if peer else {}
        return self.request("get_block", cid=cid, timeout=timeout, returnData=return_data,
                            **target)

    def fetch(self, cid: str, peer: str | None = None, *, dest: str | os.PathLike[str] | None = None,
              timeout: float = 120.0) -> dict[str, Any]:
        """``MerkleDag.fetch_file`` (``peer``: id or multiaddr to fetch from; ``timeout`` is
        py-libp2p's per-block timeout and bounds the whole command, plus a margin):
        {"sha256", "size", "filename", "seconds", "MBps"}."""
        target = self._target(peer) if peer else {}
        args: dict[str, Any] = {"cid": cid, **target}
        if dest is not None:
            args["dest"] = str(dest)
        return self.request("fetch", timeout=timeout, **args)

    async def afetch(self, cid: str, peer: str | None = None, *,
                     dest: str | os.PathLike[str] | None = None,
                     timeout: float = 120.0) -> dict[str, Any]:
        target = self._target(peer) if peer else {}
        args: dict[str, Any] = {"cid": cid, **target}
        if dest is not None:
            args["dest"] = str(dest)
        return await self.arequest("fetch", timeout=timeout, **args)

    def close(self, timeout: float = 10.0) -> None:
        super().close(timeout)
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def start_pylibp2p(workdir: str | os.PathLike[str] | None = None, **kwargs: Any) -> PyLibp2pPeer:
    """Start a py-libp2p host; the caller must ``close()`` it (or use it as a context manager)."""
    peer = PyLibp2pPeer(workdir, **kwargs)
    peer.start()
    return peer


def stream_throughput(
    nbytes: int = 64 << 20,
    runs: int = 3,
    *,
    mode: str = "sink",
    muxers: Sequence[str] = ("yamux",),
    chunk: int = 256 * 1024,
    timeout: float = 300.0,
) -> list[dict[str, Any]]:
    """py-libp2p <-> py-libp2p one-stream throughput over Noise + the first of ``muxers`` on
    loopback: two driver processes, one connection, ``runs`` transfers of ``nbytes`` each on a
    fresh stream (``mode`` "sink": one way; "echo": there and back, counted once). Each result
    is the driver's own measurement (payload generation excluded), with matching sha256s
    checked here. MB/s = 10**6 bytes/s."""
    if mode not in ("sink", "echo"):
        raise ValueError(f"mode must be 'sink' or 'echo', not {mode!r}")
    results = []
    with start_pylibp2p(muxers=muxers) as server, start_pylibp2p(muxers=muxers) as client:
        client.dial(server.multiaddr)
        for i in range(runs):
            t0 = time.perf_counter()
            res = getattr(client, mode)(server.peer_id, nbytes, seed=i, chunk=chunk,
                                        timeout=timeout)
            res["wallSeconds"] = time.perf_counter() - t0
            if (res["received"], res["sha256Received"]) != (nbytes, res["sha256Sent"]):
                raise AssertionError(f"py-libp2p {mode} run {i} corrupted the stream: {res}")
            results.append(res)
    return results
