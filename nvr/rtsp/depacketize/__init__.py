"""RTP depacketizers: RTP payloads → access units (sans-I/O).

Each depacketizer has ``push(pkt) -> list[frame]`` (``pkt`` has ``seq``, ``ts``,
``marker``, ``payload``, like :class:`nvr.rtsp.rtp.RtpPacket`) and
``push_payload(seq, ts, marker, payload)`` for callers that hold the fields
already. They never raise on packet contents: broken input is dropped and
counted in ``errors``; sequence gaps are counted in ``lost``. Time is not their
business: frames carry the RTP timestamp, :mod:`nvr.rtsp.timestamps` maps it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

__all__ = [
    "AudioFrame",
    "RtpLike",
    "VideoDepacketizer",
    "VideoFrame",
    "normalize_fmtp",
]


class RtpLike(Protocol):
    """What ``push`` needs of a packet (e.g. :class:`nvr.rtsp.rtp.RtpPacket`)."""

    seq: int
    ts: int
    marker: bool
    payload: bytes


class VideoFrame:
    """One video access unit.

    ``nals``: the NAL units in order, without start codes or length prefixes,
    without parameter sets (SPS/PPS/VPS go to the depacketizer's attributes),
    access unit delimiters or filler data.
    ``keyframe``: contains an IDR (H.264) / IRAP (H.265) picture.
    ``corrupt``: packets were lost or dropped while this frame was assembled
    (or right before it), so NALs may be missing or truncated ones dropped.
    ``params_changed``: the parameter sets changed (in-band) at this frame.
    """

    __slots__ = ("rtp_ts", "nals", "keyframe", "corrupt", "params_changed")

    def __init__(
        self,
        rtp_ts: int,
        nals: list[bytes],
        keyframe: bool,
        corrupt: bool = False,
        params_changed: bool = False,
    ) -> None:
        self.rtp_ts = rtp_ts
        self.nals = nals
        self.keyframe = keyframe
        self.corrupt = corrupt
        self.params_changed = params_changed

    def __repr__(self) -> str:
        return (
            f"VideoFrame(rtp_ts={self.rtp_ts}, nals={len(self.nals)}, keyframe={self.keyframe}, "
            f"corrupt={self.corrupt}, params_changed={self.params_changed})"
        )


class AudioFrame:
    """One audio access unit (a raw AAC frame, no ADTS header)."""

    __slots__ = ("rtp_ts", "data", "keyframe", "corrupt")

    def __init__(self, rtp_ts: int, data: bytes, corrupt: bool = False) -> None:
        self.rtp_ts = rtp_ts
        self.data = data
        self.keyframe = True
        self.corrupt = corrupt

    def __repr__(self) -> str:
        return f"AudioFrame(rtp_ts={self.rtp_ts}, data={len(self.data)} bytes)"


def normalize_fmtp(fmtp: Mapping[str, str] | None) -> dict[str, str]:
    """fmtp parameters with lower-case keys and stripped values (None → {})."""
    if not fmtp:
        return {}
    return {str(k).strip().lower(): str(v).strip() for k, v in fmtp.items()}


# RFC 3550 A.1: a packet this far behind the last one is late/duplicate; further
# back means the sender restarted its sequence numbers.
_MAX_MISORDER = 100


class VideoDepacketizer:
    """Access-unit assembly shared by the H.264 and H.265 depacketizers.

    An access unit ends on the RTP marker bit, or when the RTP timestamp
    changes (for cameras that never set the marker). A sequence gap drops the
    fragmented NAL in progress (its remaining fragments are dropped until the
    next start fragment) and marks the frame ``corrupt``.

    Subclasses implement ``_depay(payload)``, which appends NAL units to
    ``self._nals`` and updates ``self._key`` and the parameter sets.
    """

    codec = ""

    def __init__(self) -> None:
        self.errors = 0  # malformed or unusable packets / NAL units
        self.lost = 0  # packets missing according to sequence numbers
        self.late = 0  # duplicate or late packets, dropped
        self.frames = 0
        self.param_version = 0  # bumped on every parameter-set change
        self._seq = -1
        self._ts = -1
        self._nals: list[bytes] = []
        self._key = False
        self._corrupt = False
        self._changed = False
        self._fu: list[bytes] | None = None

    def _aggregate(self, p: bytes, off: int) -> None:
        """NAL units of an aggregation packet (H.264 STAP-A, H.265 AP) from ``off`` on:
        each is a 16-bit big-endian size, then the NAL."""
        n = len(p)
        while off < n:
            if off + 2 > n:
                self.errors += 1
                self._corrupt = True
                return
            size = (p[off] << 8) | p[off + 1]
            off += 2
            end = off + size
            if size == 0 or end > n:
                self.errors += 1
                self._corrupt = True
                return
            self._nal(p[off:end])
            off = end

    def _nal(self, nal: bytes) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def parameter_sets(self) -> list[bytes]:  # pragma: no cover - overridden
        return []

    def push(self, pkt: RtpLike) -> list[VideoFrame]:
        """Feed one RTP packet; returns the access units it completed (0, 1 or 2)."""
        return self.push_payload(pkt.seq, pkt.ts, pkt.marker, pkt.payload)

    def push_payload(self, seq: int, ts: int, marker: bool, payload: bytes) -> list[VideoFrame]:
        out: list[VideoFrame] = []
        last = self._seq
        gap = False
        if last >= 0:
            d = (seq - last - 1) & 0xFFFF
            if d:
                if d < 0x8000:
                    self.lost += d
                elif 0x10000 - d <= _MAX_MISORDER:
                    self.late += 1
                    return out
                gap = True
                if self._fu is not None:
                    self._fu = None
                self._corrupt = True
        self._seq = seq
        if ts != self._ts:
            if self._fu is not None:  # fragmented NAL never finished
                self._fu = None
                self.errors += 1
                self._corrupt = True
            if self._nals:
                out.append(self._emit())
            self._corrupt = gap
            self._ts = ts
        self._depay(payload)
        if marker:
            if self._fu is not None:
                self._fu = None
                self.errors += 1
                self._corrupt = True
            if self._nals:
                out.append(self._emit())
        return out

    def flush(self) -> list[VideoFrame]:
        """Emit the access unit in progress (end of stream)."""
        self._fu = None
        return [self._emit()] if self._nals else []

    def _emit(self) -> VideoFrame:
        frame = VideoFrame(self._ts, self._nals, self._key, self._corrupt, self._changed)
        self._nals = []
        self._key = False
        self._corrupt = False
        self._changed = False
        self.frames += 1
        return frame

    def _depay(self, payload: bytes) -> None:  # pragma: no cover - abstract
        raise NotImplementedError
