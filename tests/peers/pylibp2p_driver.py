"""Child process that runs a py-libp2p 0.8.1 host (trio) and answers JSON-line commands
(protocol: ``tests/peers/_process.py``).

It runs on the Python of the harness's own virtualenv (``tests/peers/.cache/pylibp2p-venv``,
made by ``tests.peers.pylibp2p.ensure_installed``), never on the test suite's interpreter:
py-libp2p 0.8.1 pins ``protobuf<7`` and fastswap's generated code needs protobuf 7.

The host: TCP on 127.0.0.1 only (ephemeral port), Noise XX as the only security protocol
(py-libp2p's default list also offers TLS and *plaintext*; an interop peer must not accept a
cleartext session), yamux then mplex (``--muxers`` reorders or drops them), Ed25519 identity,
identify + identify/push + ping (py-libp2p's defaults), no mDNS, UPnP, bootstrap, DHT, relay or
QUIC. On top of that:

- ``/fastswap/echo/1.0.0``: every byte read is written back until the remote closes its write
  side; then we close ours.
- ``/fastswap/sink/1.0.0``: reads until the remote closes its write side, then answers with the
  count (8 bytes, big-endian) and sha256 (32 bytes) of everything read.
- py-libp2p's own Bitswap (``libp2p.bitswap.BitswapClient`` over a ``MemoryBlockStore``, with
  ``MerkleDag`` for files), serving every block it holds.

Commands (``{"id", "op", ...}``; peers are given as ``peer`` = a connected peer id, or
``multiaddr`` = an address ending in /p2p/<id>, which is dialled first):

    info                                 peerId, multiaddrs, protocols, connections, versions
    dial       multiaddr                 connect; peerId, seconds
    ping       peer|multiaddr [count]    rtts (ms, py-libp2p rounds to whole ms)
    identify   peer|multiaddr            the remote's identify record as py-libp2p parses it
    echo       peer|multiaddr nbytes [seed chunk]   stream nbytes to the remote echo handler;
                                         sent/received counts and sha256s, seconds, MBps
    sink       peer|multiaddr nbytes [seed chunk]   one-way: stream nbytes to the remote sink
                                         (echo and sink also report the muxer used; echo over
                                         mplex runs lock-step, see op_echo)
    add_file   path [chunkSize]          MerkleDag.add_file; cid
    add_bytes  dataB64 [chunkSize]       MerkleDag.add_bytes; cid
    add_blocks blocks=[{dataB64, cid?}]  BitswapClient.add_block (raw CIDv1 unless cid given)
    has        cid                       in the local block store?
    get_block  cid [peer|multiaddr timeout]   one block via a Bitswap session: sha256, size
    fetch      cid [peer|multiaddr dest timeout] MerkleDag.fetch_file: sha256, size, seconds
    stop                                 exit

MB/s here means 10**6 bytes per second.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import random
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import libp2p
import multiaddr
import trio
from libp2p import new_host
from libp2p.bitswap import BitswapClient, MemoryBlockStore, cid_to_text, parse_cid
from libp2p.bitswap.cid import CODEC_RAW, compute_cid_v1
from libp2p.bitswap.dag import MerkleDag
from libp2p.crypto.ed25519 import create_new_key_pair as new_ed25519_key_pair
from libp2p.crypto.serialization import deserialize_public_key
from libp2p.crypto.x25519 import create_new_key_pair as new_x25519_key_pair
from libp2p.custom_types import TProtocol
from libp2p.host.ping import PingService
from libp2p.identity.identify.identify import ID as IDENTIFY_ID
from libp2p.identity.identify.pb.identify_pb2 import Identify
from libp2p.network.stream.exceptions import StreamEOF
from libp2p.peer.id import ID as PeerID
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.stream_muxer.mplex.constants import BUFFER_SIZE as MPLEX_SLICE
from libp2p.stream_muxer.mplex.constants import MPLEX_MESSAGE_CHANNEL_SIZE
from libp2p.stream_muxer.mplex.mplex import MPLEX_PROTOCOL_ID, Mplex
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_ID
from libp2p.stream_muxer.yamux.yamux import Yamux
from libp2p.utils.varint import read_length_prefixed_protobuf

ECHO_ID = TProtocol("/fastswap/echo/1.0.0")
SINK_ID = TProtocol("/fastswap/sink/1.0.0")

# reads ask for up to this much at a time; the muxer hands back whatever one frame holds
_READ_SIZE = 1 << 20
# a test stream of more than this is a mistake in the test, not a benchmark
_MAX_STREAM_BYTES = 4 << 30
_MAX_LINE = 64 << 20


class CommandError(Exception):
    """A command the driver refuses (bad arguments); answered as {"ok": false}."""


def _emit(obj: dict[str, Any]) -> None:
    # one write per line, from trio's single thread: lines never interleave
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


_last_pattern: tuple[int, int, bytes, str] | None = None


def _pattern(nbytes: int, seed: int) -> tuple[bytes, str]:
    """The bytes a client streams and their sha256: reproducible from the seed, so both ends
    (and fastswap's own tests) can compute the expected sha256 independently. The last one is
    kept, so benchmark rounds that repeat (nbytes, seed) time the transfer, not the PRNG."""
    global _last_pattern
    if not 0 <= nbytes <= _MAX_STREAM_BYTES:
        raise CommandError(f"nbytes must be between 0 and {_MAX_STREAM_BYTES}, not {nbytes}")
    if _last_pattern is None or _last_pattern[:2] != (nbytes, seed):
        _last_pattern = None  # drop the old buffer before making the new one
        data = random.Random(seed).randbytes(nbytes)
        _last_pattern = (nbytes, seed, data, hashlib.sha256(data).hexdigest())
    return _last_pattern[2], _last_pattern[3]


class Driver:
    def __init__(self, host: Any, muxers: list[str]) -> None:
        self.host = host
        self.muxers = muxers
        self.store = MemoryBlockStore()
        self.bitswap = BitswapClient(host, self.store)
        self.dag = MerkleDag(self.bitswap)
        self.ping_service = PingService(host)
        self.stop_event = trio.Event()

    # -- helpers -----------------------------------------------------------------------------

    def addrs(self) -> list[str]:
        pid = self.host.get_id().to_string()
        out = []
        for a in self.host.get_addrs():
            s = str(a)
            out.append(s if "/p2p/" in s else f"{s}/p2p/{pid}")
        return out

    async def _peer(self, args: dict[str, Any]) -> PeerID:
        """The peer a command is about: a multiaddr (dialled first) or a connected peer id."""
        if args.get("multiaddr"):
            info = info_from_p2p_addr(multiaddr.Multiaddr(args["multiaddr"]))
            _check_loopback(args["multiaddr"])
            await self.host.connect(info)
            return info.peer_id
        if args.get("peer"):
            return PeerID.from_base58(args["peer"])
        raise CommandError("give 'peer' (a connected peer id) or 'multiaddr' (…/p2p/<id>)")

    # -- stream protocol handlers ------------------------------------------------------------

    async def handle_echo(self, stream: Any) -> None:
        try:
            while True:
                try:
                    data = await stream.read(_READ_SIZE)
                except StreamEOF:
                    break
                if not data:
                    break
                await stream.write(data)
            await stream.close()
        except Exception as exc:  # noqa: BLE001 - a peer's reset must not kill the host
            print(f"echo handler: {exc!r}", file=sys.stderr, flush=True)
            await _reset(stream)

    async def handle_sink(self, stream: Any) -> None:
        h = hashlib.sha256()
        n = 0
        try:
            while True:
                try:
                    data = await stream.read(_READ_SIZE)
                except StreamEOF:
                    break
                if not data:
                    break
                n += len(data)
                h.update(data)
            await stream.write(n.to_bytes(8, "big") + h.digest())
            await stream.close()
        except Exception as exc:  # noqa: BLE001 - a peer's reset must not kill the host
            print(f"sink handler: {exc!r}", file=sys.stderr, flush=True)
            await _reset(stream)

    # -- commands ----------------------------------------------------------------------------

    async def op_info(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "peerId": self.host.get_id().to_string(),
            "multiaddrs": self.addrs(),
            "protocols": sorted(str(p) for p in self.host.get_mux().get_protocols() if p),
            "connections": [p.to_string() for p in self.host.get_connected_peers()],
            "muxers": self.muxers,
            "security": [str(NOISE_ID)],
            "libp2pVersion": libp2p.__version__,
            "trioVersion": trio.__version__,
            "python": sys.version.split()[0],
        }

    async def op_dial(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("multiaddr"):
            raise CommandError("dial needs 'multiaddr'")
        t0 = time.perf_counter()
        pid = await self._peer({"multiaddr": args["multiaddr"]})
        return {"peerId": pid.to_string(), "seconds": time.perf_counter() - t0}

    async def op_ping(self, args: dict[str, Any]) -> dict[str, Any]:
        pid = await self._peer(args)
        count = int(args.get("count", 1))
        if not 1 <= count <= 100:
            raise CommandError("count must be between 1 and 100")
        rtts = await self.ping_service.ping(pid, count)
        return {"peerId": pid.to_string(), "rtts": list(rtts)}

    async def op_identify(self, args: dict[str, Any]) -> dict[str, Any]:
        pid = await self._peer(args)
        # our own identify request rather than the peerstore: the test wants what the remote
        # sent on the wire, parsed by py-libp2p, not what py-libp2p merged from other sources
        stream = await self.host.new_stream(pid, [IDENTIFY_ID])
        try:
            raw = await read_length_prefixed_protobuf(stream, use_varint_format=True)
        finally:
            await _close(stream)
        msg = Identify()
        msg.ParseFromString(raw)
        out: dict[str, Any] = {
            "peerId": pid.to_string(),
            "protocols": list(msg.protocols),
            "agentVersion": msg.agent_version,
            "protocolVersion": msg.protocol_version,
            "listenAddrs": [_maddr_str(b) for b in msg.listen_addrs],
            "observedAddr": _maddr_str(msg.observed_addr) if msg.observed_addr else None,
            "hasSignedPeerRecord": bool(msg.signedPeerRecord),
        }
        if msg.public_key:
            key = deserialize_public_key(msg.public_key)
            out["publicKeyPeerId"] = PeerID.from_pubkey(key).to_string()
        return out

    async def _stream_out(
        self, args: dict[str, Any], proto: TProtocol
    ) -> tuple[Any, bytes, str, int]:
        pid = await self._peer(args)
        nbytes = int(args["nbytes"])
        payload, digest = _pattern(nbytes, int(args.get("seed", 0)))
        chunk = int(args.get("chunk", 256 * 1024))
        if not 1 <= chunk <= 16 << 20:
            raise CommandError("chunk must be between 1 and 16 MiB")
        stream = await self.host.new_stream(pid, [proto])
        return stream, payload, digest, chunk

    @staticmethod
    def _muxer_of(stream: Any) -> str:
        muxed = getattr(stream, "muxed_conn", None)
        if isinstance(muxed, Mplex):
            return "mplex"
        if isinstance(muxed, Yamux):
            return "yamux"
        return type(muxed).__name__

    async def op_echo(self, args: dict[str, Any]) -> dict[str, Any]:
        stream, payload, digest, chunk = await self._stream_out(args, ECHO_ID)
        muxer = self._muxer_of(stream)
        # py-libp2p 0.8.1's mplex stream guards read and write with one reader-writer lock: a
        # read parked waiting for data blocks every write on that stream, so a full-duplex echo
        # client deadlocks. Over mplex (or when asked) write one chunk, read it all back, repeat.
        lockstep = bool(args.get("lockstep", muxer == "mplex"))
        if lockstep and muxer == "mplex":
            # and a piece must come back in no more slices than the stream's message channel
            # holds: mplex parks its whole read loop (every stream of the connection) on a full
            # channel, and resets the stream after 5 s. With a 256 KiB piece the echo arrives
            # while we are still writing; 63 slices wait, the loop stops reading the socket,
            # the echoer blocks writing, our write blocks, and the reset comes 5 s later (seen
            # under CI load). One slice per round trip cannot fill the channel.
            chunk = min(chunk, MPLEX_SLICE * max(1, MPLEX_MESSAGE_CHANNEL_SIZE))
        got = hashlib.sha256()
        received = 0
        view = memoryview(payload)

        async def read_some() -> bytes:
            try:
                return await stream.read(_READ_SIZE)
            except StreamEOF:
                return b""

        t0 = time.perf_counter()
        try:
            if lockstep:
                for off in range(0, len(view), chunk):
                    piece = bytes(view[off : off + chunk])
                    await stream.write(piece)
                    want = received + len(piece)
                    while received < want:
                        data = await read_some()
                        if not data:
                            raise CommandError(f"echo stream ended after {received} bytes")
                        received += len(data)
                        got.update(data)
                await stream.close_write()
                if await read_some():
                    raise CommandError(f"echo returned more than the {len(payload)} bytes sent")
            else:

                async def writer() -> None:
                    for off in range(0, len(view), chunk):
                        await stream.write(bytes(view[off : off + chunk]))
                    await stream.close_write()

                async with trio.open_nursery() as nursery:
                    nursery.start_soon(writer)
                    while data := await read_some():
                        received += len(data)
                        if received > len(payload):
                            raise CommandError(
                                f"echo returned more than the {len(payload)} bytes sent"
                            )
                        got.update(data)
            seconds = time.perf_counter() - t0
        finally:
            await _close(stream)
        return {
            "sent": len(payload),
            "received": received,
            "sha256Sent": digest,
            "sha256Received": got.hexdigest(),
            "seconds": seconds,
            "MBps": len(payload) / seconds / 1e6 if seconds > 0 else None,
            "muxer": muxer,
            "lockstep": lockstep,
        }

    async def op_sink(self, args: dict[str, Any]) -> dict[str, Any]:
        stream, payload, digest, chunk = await self._stream_out(args, SINK_ID)
        view = memoryview(payload)
        t0 = time.perf_counter()
        try:
            for off in range(0, len(view), chunk):
                await stream.write(bytes(view[off : off + chunk]))
            await stream.close_write()
            reply = b""
            while len(reply) < 40:
                try:
                    data = await stream.read(40 - len(reply))
                except StreamEOF:
                    break
                if not data:
                    break
                reply += data
            seconds = time.perf_counter() - t0
        finally:
            await _close(stream)
        if len(reply) != 40:
            raise CommandError(f"sink answered {len(reply)} bytes, expected 40")
        return {
            "sent": len(payload),
            "received": int.from_bytes(reply[:8], "big"),
            "sha256Sent": digest,
            "sha256Received": reply[8:].hex(),
            "seconds": seconds,
            "MBps": len(payload) / seconds / 1e6 if seconds > 0 else None,
            "muxer": self._muxer_of(stream),
        }

    async def op_add_file(self, args: dict[str, Any]) -> dict[str, Any]:
        cid = await self.dag.add_file(str(args["path"]), chunk_size=args.get("chunkSize"))
        return {"cid": cid_to_text(cid)}

    async def op_add_bytes(self, args: dict[str, Any]) -> dict[str, Any]:
        data = base64.b64decode(args["dataB64"])
        cid = await self.dag.add_bytes(data, chunk_size=args.get("chunkSize"))
        return {"cid": cid_to_text(cid)}

    async def op_add_blocks(self, args: dict[str, Any]) -> dict[str, Any]:
        cids = []
        for blk in args["blocks"]:
            data = base64.b64decode(blk["dataB64"])
            cid = parse_cid(blk["cid"]) if blk.get("cid") else compute_cid_v1(data, codec=CODEC_RAW)
            await self.bitswap.add_block(cid, data)  # verifies data against the cid
            cids.append(cid_to_text(cid))
        return {"cids": cids}

    async def op_has(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"has": bool(await self.store.has_block(parse_cid(args["cid"])))}

    async def op_get_block(self, args: dict[str, Any]) -> dict[str, Any]:
        pid = await self._peer(args) if (args.get("peer") or args.get("multiaddr")) else None
        session = self.bitswap.new_session()
        data = await session.get_block(args["cid"], pid, float(args.get("timeout", 30.0)))
        out: dict[str, Any] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        if args.get("returnData"):
            out["dataB64"] = base64.b64encode(data).decode()
        return out

    async def op_fetch(self, args: dict[str, Any]) -> dict[str, Any]:
        pid = await self._peer(args) if (args.get("peer") or args.get("multiaddr")) else None
        t0 = time.perf_counter()
        data, filename = await self.dag.fetch_file(
            args["cid"], peer_id=pid, timeout=float(args.get("timeout", 30.0))
        )
        seconds = time.perf_counter() - t0
        if args.get("dest"):
            await trio.Path(args["dest"]).write_bytes(data)
        return {
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "filename": filename,
            "seconds": seconds,
            "MBps": len(data) / seconds / 1e6 if seconds > 0 else None,
        }

    async def run_command(self, msg: dict[str, Any]) -> None:
        req_id = msg.get("id")
        op = msg.get("op")
        if op == "stop":
            self.stop_event.set()
            _emit({"id": req_id, "ok": True})
            return
        handler: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]] | None = getattr(
            self, f"op_{op}", None
        ) if isinstance(op, str) and op.isidentifier() else None
        if handler is None:
            _emit({"id": req_id, "ok": False, "error": f"unknown op {op!r}"})
            return
        # every command is bounded here too, so a wedged py-libp2p call cannot pile up tasks
        limit = float(msg.get("timeout", 600.0)) + 5.0
        try:
            with trio.fail_after(limit):
                result = await handler(msg)
            _emit({"id": req_id, "ok": True, **result})
        except trio.TooSlowError:
            _emit({"id": req_id, "ok": False, "error": f"{op}: no result within {limit:.0f} s"})
        except Exception as exc:  # noqa: BLE001 - every failure is an answer, not a dead driver
            print(f"{op} failed:\n{traceback.format_exc()}", file=sys.stderr, flush=True)
            _emit({"id": req_id, "ok": False, "error": f"{op}: {type(exc).__name__}: {exc}"})


def _maddr_str(raw: bytes) -> str:
    try:
        return str(multiaddr.Multiaddr(raw))
    except Exception:  # noqa: BLE001 - display text only: unparsable bytes print as hex
        return "0x" + raw.hex()


def _check_loopback(addr: str) -> None:
    # the ground rule for every real peer here: nothing dials off this machine
    ma = multiaddr.Multiaddr(addr)
    for proto in ("ip4", "ip6", "dns", "dns4", "dns6", "dnsaddr"):
        try:
            value = ma.value_for_protocol(proto)
        except multiaddr.exceptions.ProtocolLookupError:  # the address has no such part
            continue
        if value and not (value.startswith("127.") or value == "::1"):
            raise CommandError(f"refusing to dial {addr}: interop peers dial loopback only")


async def _close(stream: Any) -> None:
    try:
        await stream.close()
    except Exception:  # noqa: BLE001, S110 - best-effort cleanup of a stream that may be dead
        pass


async def _reset(stream: Any) -> None:
    try:
        await stream.reset()
    except Exception:  # noqa: BLE001, S110 - best-effort cleanup of a stream that may be dead
        pass


async def _read_commands(driver: Driver, nursery: trio.Nursery) -> None:
    """Read JSON lines from stdin; each command runs in its own task so a slow one (a fetch)
    never holds up a quick one (info). EOF on stdin (the parent died) stops the node."""
    stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
    buf = bytearray()
    try:
        while True:
            data = await stdin.receive_some(1 << 16)
            if not data:
                break
            buf += data
            if len(buf) > _MAX_LINE:
                print("command line too long; stopping", file=sys.stderr, flush=True)
                break
            while (nl := buf.find(b"\n")) >= 0:
                line = bytes(buf[:nl])
                del buf[: nl + 1]
                if not line.strip():
                    continue
                try:
                    msg = json.loads(line)
                except ValueError as exc:
                    _emit({"id": None, "ok": False, "error": f"bad command line: {exc}"})
                    continue
                if not isinstance(msg, dict):
                    _emit({"id": None, "ok": False, "error": "bad command line: not an object"})
                    continue
                nursery.start_soon(driver.run_command, msg)
    finally:
        driver.stop_event.set()
        await stdin.aclose()


async def main(listen: str, muxer_names: list[str]) -> None:
    key_pair = new_ed25519_key_pair()
    known = {"yamux": (TProtocol(YAMUX_ID), Yamux), "mplex": (MPLEX_PROTOCOL_ID, Mplex)}
    muxer_opt = {known[m][0]: known[m][1] for m in muxer_names}  # dicts keep preference order
    host = new_host(
        key_pair=key_pair,
        # Noise only: the default list would also accept TLS and plaintext sessions
        sec_opt={NOISE_ID: NoiseTransport(key_pair, noise_privkey=new_x25519_key_pair().private_key)},
        muxer_opt=muxer_opt,
        listen_addrs=[multiaddr.Multiaddr(listen)],
        enable_mDNS=False,
        enable_upnp=False,
        bootstrap=None,
        enable_quic=False,
    )
    driver = Driver(host, muxer_names)
    host.set_stream_handler(ECHO_ID, driver.handle_echo)
    host.set_stream_handler(SINK_ID, driver.handle_sink)
    async with host.run(listen_addrs=[multiaddr.Multiaddr(listen)]), trio.open_nursery() as nursery:
        driver.bitswap.set_nursery(nursery)
        await driver.bitswap.start()
        info = await driver.op_info({})
        _emit({"event": "ready", **info})
        nursery.start_soon(_read_commands, driver, nursery)
        await driver.stop_event.wait()
        # the "stop" answer is already out; tear everything down, bounded
        with trio.move_on_after(5):
            await driver.bitswap.stop()
        nursery.cancel_scope.cancel()


def _parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--listen", default="/ip4/127.0.0.1/tcp/0")
    p.add_argument("--muxers", default="yamux,mplex",
                   help="comma-separated, in preference order: yamux, mplex")
    args = p.parse_args(argv)
    _check_loopback(args.listen)
    args.muxer_list = [m.strip() for m in args.muxers.split(",") if m.strip()]
    if not args.muxer_list or any(m not in ("yamux", "mplex") for m in args.muxer_list):
        p.error(f"--muxers must list yamux and/or mplex, not {args.muxers!r}")
    return args


if __name__ == "__main__":
    ns = _parse_args(sys.argv[1:])
    trio.run(main, ns.listen, ns.muxer_list)
    # trio may leave py-libp2p's background threads (none expected) behind; leave promptly
    sys.stdout.flush()
    os._exit(0)
