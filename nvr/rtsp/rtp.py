"""RFC 3550 RTP packets, sans-I/O.

:func:`parse_rtp` is on the hot path (every packet of every camera): it does one
``struct.unpack_from`` and one slice. The payload is ``bytes`` when the input is
``bytes`` (a slice copy of at most one MTU is cheaper in CPython than keeping a
memoryview alive, and the depacketizers index, slice and ``join`` it anyway).
If a memoryview is passed in, the payload is a memoryview into it.
"""

from __future__ import annotations

import struct

__all__ = ["RtpPacket", "SeqTracker", "build_rtp", "parse_rtp"]

_HEADER = struct.Struct("!BBHII")
_U16 = struct.Struct("!H")

# RFC 3550 appendix A.1: how far back a sequence number may be and still count
# as a late/duplicate packet rather than a restart of the sender.
MAX_MISORDER = 100


class RtpPacket:
    """One parsed RTP packet (header extension and padding already stripped)."""

    __slots__ = ("seq", "ts", "marker", "pt", "ssrc", "payload")

    def __init__(self, seq: int, ts: int, marker: bool, pt: int, ssrc: int, payload: bytes) -> None:
        self.seq = seq
        self.ts = ts
        self.marker = marker
        self.pt = pt
        self.ssrc = ssrc
        self.payload = payload

    def __repr__(self) -> str:
        return (
            f"RtpPacket(seq={self.seq}, ts={self.ts}, marker={self.marker}, pt={self.pt}, "
            f"ssrc={self.ssrc:#010x}, payload={len(self.payload)} bytes)"
        )


def parse_rtp(data: bytes) -> RtpPacket | None:
    """Parse an RTP packet; None when it is not a valid RTP version-2 packet.

    CSRCs are skipped, the header extension (X bit) and the padding (P bit, the
    last byte is the pad count) are stripped from the payload.
    """
    n = len(data)
    if n < 12:
        return None
    b0, b1, seq, ts, ssrc = _HEADER.unpack_from(data)
    if b0 & 0xC0 != 0x80:
        return None
    if not b0 & 0x3F:  # fast path: no padding, no extension, no CSRC
        return RtpPacket(seq, ts, b1 > 127, b1 & 0x7F, ssrc, data[12:])
    off = 12 + ((b0 & 0x0F) << 2)
    if b0 & 0x10:
        if off + 4 > n:
            return None
        off += 4 + (_U16.unpack_from(data, off + 2)[0] << 2)
    end = n
    if b0 & 0x20:
        pad = data[n - 1]
        if pad == 0:
            return None
        end = n - pad
    if off > end:
        return None
    return RtpPacket(seq, ts, b1 > 127, b1 & 0x7F, ssrc, data[off:end])


def build_rtp(
    seq: int, ts: int, marker: bool, pt: int, ssrc: int, payload: bytes, padding: int = 0
) -> bytes:
    """Build a plain RTP packet (no CSRC, no extension; optional padding bytes)."""
    b0 = 0xA0 if padding else 0x80
    head = _HEADER.pack(
        b0,
        (0x80 if marker else 0) | (pt & 0x7F),
        seq & 0xFFFF,
        ts & 0xFFFFFFFF,
        ssrc & 0xFFFFFFFF,
    )
    pad = bytes(padding - 1) + bytes([padding]) if padding else b""
    return head + bytes(payload) + pad


class SeqTracker:
    """Tells gaps and duplicates apart in a stream of 16-bit sequence numbers.

    :meth:`push` returns ``-1`` for a duplicate or late packet (drop it), else
    the number of packets missing right before this one (``0`` when in order).
    There is no reorder buffer: over TCP packets arrive in order, over UDP a
    gap is simply loss. A step back of more than :data:`MAX_MISORDER` is taken
    as the sender restarting its numbering: the tracker resyncs and reports 0.
    """

    __slots__ = ("expected", "received", "lost", "dropped", "resyncs")

    def __init__(self) -> None:
        self.expected = -1
        self.received = 0
        self.lost = 0
        self.dropped = 0
        self.resyncs = 0

    def push(self, seq: int) -> int:
        expected = self.expected
        self.expected = (seq + 1) & 0xFFFF
        if expected < 0:
            self.received += 1
            return 0
        d = (seq - expected) & 0xFFFF
        if d == 0:
            self.received += 1
            return 0
        if d < 0x8000:
            self.received += 1
            self.lost += d
            return d
        if 0x10000 - d <= MAX_MISORDER:
            self.expected = expected
            self.dropped += 1
            return -1
        self.received += 1
        self.resyncs += 1
        return 0
