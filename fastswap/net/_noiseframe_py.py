# cython: annotation_typing=False
"""Noise transport framing, the hot path of every secured connection: libp2p/specs
``noise/README.md`` ("Wire Format", "Encryption and I/O") over the Noise spec's CipherState
(section 5.1: 64-bit nonces, ``2**64-1`` reserved).

Each frame is a 2-byte big-endian length then a ChaCha20-Poly1305 ciphertext of at most 65535
bytes (plaintext up to 65519 bytes plus the 16-byte tag). The AEAD nonce is 4 zero bytes and the
little-endian 64-bit message counter.

This is typed Python compiled a second time as ``_noiseframe_c`` (with ``_noiseframe_c.pxd``), so
the pure and compiled twins run one source. Why a twin at all when ChaCha20-Poly1305 itself is
OpenSSL's: for bulk data the cipher dominates (~20 us per 64 KiB frame), but for the small frames
of a busy muxer (window updates, Bitswap HAVEs) the per-frame bookkeeping is most of the cost.

Copies: ciphertext is written by ``encrypt_into`` straight into the output buffer beside its
length prefix; received frames are decrypted by ``decrypt_into`` straight from the caller's bytes
(or from our receive buffer, which the socket can fill with ``recv_into``) into one reused
plaintext buffer. Only a frame split across two reads is copied once, to join its halves.

Memory: the receive and plaintext buffers (256 KiB each) can come from a pool shared by a
host's connections and go back to it with ``release()`` when the connection is idle (a partial
frame is then kept as a copy of its bytes, at most 64 KiB), so an idle connection holds none.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag

from ..errors import NoiseError, NonceExhaustedError

__all__ = [
    "MAX_FRAME",
    "MAX_PLAINTEXT",
    "TAG_LEN",
    "FrameDecryptor",
    "FrameEncryptor",
    "encrypted_size",
]

#: Largest Noise message (ciphertext incl. tag): the 2-byte length prefix caps it.
MAX_FRAME = 65535
TAG_LEN = 16
#: Largest plaintext per frame.
MAX_PLAINTEXT = MAX_FRAME - TAG_LEN
#: The Noise spec reserves nonce 2**64-1; a CipherState that reaches it must stop.
NONCE_LIMIT = 0xFFFFFFFFFFFFFFFF
#: Receive buffer: room for a few full frames per read, and for the partial frame kept between.
DEFAULT_RECV_BUFFER = 256 * 1024
_ZERO4 = b"\x00\x00\x00\x00"


def encrypted_size(n: int) -> int:
    """Bytes on the wire for *n* plaintext bytes (frames of at most MAX_PLAINTEXT)."""
    frames = (n + MAX_PLAINTEXT - 1) // MAX_PLAINTEXT
    return n + frames * (2 + TAG_LEN)


class FrameEncryptor:
    """Outgoing half of a Noise session: plaintext -> length-prefixed encrypted frames."""

    def __init__(self, aead: object) -> None:
        # a bound method looked up once: the AEAD object is cryptography's ChaCha20Poly1305
        self._encrypt_into = aead.encrypt_into  # type: ignore[attr-defined]
        self.nonce = 0

    def encrypt_into(self, data: object, out: object) -> int:
        """Encrypt *data* into *out* (a writable buffer of at least ``encrypted_size(len)``
        bytes); return the number of bytes written."""
        src = memoryview(data)  # type: ignore[arg-type]
        dst = memoryview(out)  # type: ignore[arg-type]
        total = len(src)
        need = encrypted_size(total)
        if len(dst) < need:
            raise NoiseError(f"output buffer of {len(dst)} bytes is too small; need {need}")
        pos = 0
        opos = 0
        n = self.nonce
        while pos < total:
            chunk = total - pos
            chunk = min(chunk, MAX_PLAINTEXT)
            if n >= NONCE_LIMIT:
                self.nonce = n
                raise NonceExhaustedError(
                    "send nonce exhausted after 2**64-1 frames; reconnect to get fresh keys"
                )
            clen = chunk + TAG_LEN
            dst[opos] = clen >> 8
            dst[opos + 1] = clen & 0xFF
            self._encrypt_into(
                _ZERO4 + n.to_bytes(8, "little"),
                src[pos : pos + chunk],
                None,
                dst[opos + 2 : opos + 2 + clen],
            )
            n += 1
            pos += chunk
            opos += 2 + clen
        self.nonce = n
        return opos

    def encrypt(self, data: object) -> bytearray:
        """Frames for *data* in a new bytearray the caller owns (safe to hand to a transport)."""
        out = bytearray(encrypted_size(len(memoryview(data))))  # type: ignore[arg-type]
        self.encrypt_into(data, out)
        return out


class FrameDecryptor:
    """Incoming half of a Noise session: received bytes -> plaintext.

    Two ways in: ``feed(data)`` with bytes already read, or ``get_buffer()`` then
    ``buffer_updated(n)`` (asyncio.BufferedProtocol) so the socket writes into our buffer.
    Both return a memoryview of the plaintext of every complete frame, valid only until the next
    call: consume or copy it first.
    """

    def __init__(
        self, aead: object, buffer_size: int = DEFAULT_RECV_BUFFER, pool: object = None
    ) -> None:
        """*pool*, if given, is a ``resources.BufferPool`` of buffers of at least two maximal
        frames: buffers are taken from it when needed and given back by ``release()``."""
        if pool is not None:
            buffer_size = pool.size  # type: ignore[attr-defined]
            if buffer_size < 2 * (MAX_FRAME + 2):
                raise NoiseError(f"receive buffers of {buffer_size} bytes cannot hold 2 frames")
        buffer_size = max(buffer_size, 2 * (MAX_FRAME + 2))
        self._decrypt_into = aead.decrypt_into  # type: ignore[attr-defined]
        self.nonce = 0
        self._pool = pool
        self._size = buffer_size
        # taken when bytes arrive (_acquire), given back by release()
        self._buf = None
        self._view = None
        self._start = 0  # unprocessed bytes are _buf[_start:_end]
        self._end = 0
        # a partial frame kept while the buffer is released
        self._hold = b""
        self._out = None

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame held until the rest arrives."""
        return self._end - self._start + len(self._hold)

    @property
    def holds_buffers(self) -> bool:
        """True while a receive or plaintext buffer is taken (``release()`` gives them back)."""
        return self._buf is not None or self._out is not None

    def _take(self) -> bytearray:
        if self._pool is not None:
            return self._pool.take()  # type: ignore[attr-defined]
        return bytearray(self._size)

    def _acquire(self) -> None:
        buf = self._take()
        self._buf = buf
        self._view = memoryview(buf)
        hold = self._hold
        n = len(hold)
        if n:
            self._view[0:n] = hold
            self._hold = b""
        self._start = 0
        self._end = n

    def release(self) -> None:
        """Give the buffers back (to the pool, if any): call when no bytes are expected soon.
        A partial frame is kept as a copy; the next read takes a buffer again."""
        if self._buf is not None:
            if self._end > self._start:
                self._hold = bytes(self._view[self._start : self._end])
            buf = self._buf
            self._buf = None
            self._view = None
            self._start = 0
            self._end = 0
            if self._pool is not None:
                self._pool.give(buf)  # type: ignore[attr-defined]
        out = self._out
        if out is not None:
            self._out = None
            if self._pool is not None:
                self._pool.give(out)  # type: ignore[attr-defined]

    def _plain_buffer(self, need: int) -> memoryview:
        out = self._out
        if out is None or len(out) < need:
            # a new object, never a resize: a view handed out earlier may still be alive
            out = self._take() if need <= self._size else bytearray(need)
            self._out = out
        return memoryview(out)

    def _decrypt_frame(self, frame: memoryview, out: memoryview, opos: int) -> int:
        n = self.nonce
        if n >= NONCE_LIMIT:
            raise NonceExhaustedError(
                "receive nonce exhausted after 2**64-1 frames; reconnect to get fresh keys"
            )
        plen = len(frame) - TAG_LEN
        try:
            self._decrypt_into(
                _ZERO4 + n.to_bytes(8, "little"), frame, None, out[opos : opos + plen]
            )
        except InvalidTag:
            raise NoiseError(
                "Noise frame failed authentication: the data was corrupted or tampered with "
                "(or the peer's keys differ); close the connection"
            ) from None
        self.nonce = n + 1
        return plen

    def _drain(self, src: memoryview, pos: int, end: int, out: memoryview, opos: int) -> tuple:
        """Decrypt every complete frame of src[pos:end] into out[opos:]; return new positions."""
        while end - pos >= 2:
            clen = (src[pos] << 8) | src[pos + 1]
            if clen < TAG_LEN:
                raise NoiseError(
                    f"Noise frame of {clen} bytes is shorter than its 16-byte tag; the peer is "
                    "not speaking Noise transport framing"
                )
            if end - pos - 2 < clen:
                break
            opos += self._decrypt_frame(src[pos + 2 : pos + 2 + clen], out, opos)
            pos += 2 + clen
        return pos, opos

    def feed(self, data: object) -> memoryview:
        """Plaintext of all frames completed by *data* (see the class doc for its lifetime)."""
        if self._hold:
            self._acquire()
        src = memoryview(data)  # type: ignore[arg-type]
        total = len(src)
        pending = self._end - self._start
        out = self._plain_buffer(pending + total)
        opos = 0
        pos = 0
        if pending:
            # finish the partial frame first: copy just enough to complete it
            buf = self._view
            if pending < 2:
                take = min(2 - pending, total)
                self._append(src[:take])
                pos = take
                pending = self._end - self._start
                if pending < 2:
                    return out[:0]
            clen = (buf[self._start] << 8) | buf[self._start + 1]
            if clen < TAG_LEN:
                raise NoiseError(
                    f"Noise frame of {clen} bytes is shorter than its 16-byte tag; the peer is "
                    "not speaking Noise transport framing"
                )
            missing = 2 + clen - pending
            if total - pos < missing:
                self._append(src[pos:])
                return out[:0]
            self._append(src[pos : pos + missing])
            pos += missing
            opos += self._decrypt_frame(buf[self._start + 2 : self._end], out, opos)
            self._start = 0
            self._end = 0
        pos, opos = self._drain(src, pos, total, out, opos)
        if pos < total:
            self._append(src[pos:])
        return out[:opos]

    def _append(self, chunk: memoryview) -> None:
        n = len(chunk)
        if self._buf is None:
            self._acquire()
        if self._start == self._end:
            self._start = 0
            self._end = 0
        elif self._end + n > len(self._buf):
            self._compact()
        self._view[self._end : self._end + n] = chunk
        self._end += n

    def _compact(self) -> None:
        pending = self._end - self._start
        if self._start:
            self._view[0:pending] = self._view[self._start : self._end]
            self._start = 0
            self._end = pending

    def get_buffer(self, sizehint: int = -1) -> memoryview:
        """Writable space at the end of the receive buffer (for ``recv_into``)."""
        if self._buf is None:
            self._acquire()
        if self._start == self._end:
            self._start = 0
            self._end = 0
        elif len(self._buf) - self._end < MAX_FRAME + 2:
            self._compact()
        return self._view[self._end :]

    def buffer_updated(self, nbytes: int) -> memoryview:
        """*nbytes* were written into the last ``get_buffer()``; decrypt what is complete."""
        if self._buf is None or nbytes < 0 or self._end + nbytes > len(self._buf):
            raise NoiseError(f"buffer_updated({nbytes}) is more than get_buffer() offered")
        self._end += nbytes
        out = self._plain_buffer(self._end - self._start)
        pos, opos = self._drain(self._view, self._start, self._end, out, 0)
        self._start = pos
        if pos == self._end:
            self._start = 0
            self._end = 0
        return out[:opos]
