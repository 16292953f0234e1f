"""The RTMP handshake, both sides, sans I/O.

Client sends C0 (version 3) and C1 (1536 bytes: time, 4 "version" bytes,
random); server answers S0, S1 (same layout) and S2 (an echo of C1); the client
answers C2 (an echo of S1). Then chunk streams start.

We do the plain handshake. Flash-era clients (and ffmpeg, librtmp) put a
non-zero version in C1 and an HMAC digest in its random part; we accept any C1
and send S1 with *zero* version bytes, which tells ffmpeg to skip its digest
checks and librtmp to fall back to the plain handshake. C2's content is not
checked: clients disagree on what it should hold and it proves nothing.

Timeouts are the server's business: :attr:`ServerHandshake.done` says when the
handshake is over and :attr:`ServerHandshake.waiting_for` what is still due.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable

from nvr.rtmp.errors import ProtocolError

VERSION = 3
SIZE = 1536  # C1/S1/C2/S2

RandomBytes = Callable[[int], bytes]


def _describe_version(version: int) -> str:
    if version in (6, 8, 9):
        return f"encrypted RTMP (RTMPE, version {version}) is not supported"
    if version in (ord("G"), ord("P")):
        return "this looks like HTTP, not RTMP"
    if version == 0x16:
        return "this looks like TLS; use the rtmps port"
    return f"unknown RTMP version {version}"


def _packet(timestamp: int, random: RandomBytes) -> bytes:
    return struct.pack(">II", timestamp & 0xFFFFFFFF, 0) + random(SIZE - 8)


class ServerHandshake:
    """Server side. Feed client bytes to :meth:`receive_data`; send what it returns.

    Bytes after C2 (ffmpeg sends ``connect`` right behind it) are kept in
    :attr:`leftover` for the chunk reader.
    """

    def __init__(self, *, timestamp: int = 0, random: RandomBytes = os.urandom) -> None:
        self._timestamp = timestamp
        self._random = random
        self._buf = bytearray()
        self._sent_s = False
        self.done = False
        self.leftover = b""
        self.c1 = b""

    @property
    def waiting_for(self) -> str:
        """``"c0c1"``, ``"c2"`` or ``""`` once done (for log lines on timeout)."""
        return "" if self.done else ("c2" if self._sent_s else "c0c1")

    def receive_data(self, data: bytes) -> bytes:
        """Take client bytes; return S0+S1+S2 once C0+C1 are in, else ``b""``."""
        if self.done:
            self.leftover += data
            return b""
        self._buf += data
        if self._buf and self._buf[0] != VERSION and not self._sent_s:
            raise ProtocolError(_describe_version(self._buf[0]))
        out = b""
        if not self._sent_s and len(self._buf) >= 1 + SIZE:
            self.c1 = bytes(self._buf[1:1 + SIZE])
            del self._buf[:1 + SIZE]
            self._sent_s = True
            out = bytes((VERSION,)) + _packet(self._timestamp, self._random) + self.c1
        if self._sent_s and len(self._buf) >= SIZE:
            self.leftover = bytes(self._buf[SIZE:])
            self._buf.clear()
            self.done = True
        return out


class ClientHandshake:
    """Client side, for pushing to other servers.

    Send :meth:`start`'s bytes, feed the server's to :meth:`receive_data` and
    send what it returns (C2). :attr:`leftover` holds server bytes after S2.
    """

    def __init__(self, *, timestamp: int = 0, random: RandomBytes = os.urandom) -> None:
        self._c1 = _packet(timestamp, random)
        self._buf = bytearray()
        self.done = False
        self.leftover = b""

    def start(self) -> bytes:
        """C0 + C1."""
        return bytes((VERSION,)) + self._c1

    def receive_data(self, data: bytes) -> bytes:
        """Take server bytes; return C2 once S0+S1+S2 are in, else ``b""``."""
        if self.done:
            self.leftover += data
            return b""
        self._buf += data
        if self._buf and self._buf[0] != VERSION:
            raise ProtocolError(_describe_version(self._buf[0]))
        if len(self._buf) < 1 + 2 * SIZE:
            return b""
        s1 = bytes(self._buf[1:1 + SIZE])
        self.leftover = bytes(self._buf[1 + 2 * SIZE:])
        self._buf.clear()
        self.done = True
        return s1  # C2 echoes S1 (nginx-rtmp and SRS check only its length)
