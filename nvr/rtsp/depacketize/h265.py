"""H.265 over RTP (RFC 7798).

Handles single NAL unit packets, aggregation packets (AP, type 48) and
fragmentation units (FU, type 49). DONL fields are not supported: they are only
present when ``sprop-max-don-diff`` > 0, which cameras do not use. PACI (50)
and unknown types are counted as errors and dropped.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping

from nvr.rtsp.depacketize import VideoDepacketizer, VideoFrame, normalize_fmtp

__all__ = ["H265Depacketizer", "VideoFrame"]

NAL_IRAP_FIRST = 16  # BLA_W_LP
NAL_IRAP_LAST = 21  # CRA_NUT (22, 23 are reserved IRAP types)
NAL_VPS = 32
NAL_SPS = 33
NAL_PPS = 34
NAL_AUD = 35
NAL_FD = 38
AP = 48
FU = 49


def _b64(value: str) -> bytes | None:
    value = value.strip()
    try:
        return base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


class H265Depacketizer(VideoDepacketizer):
    """RTP payloads → H.265 access units.

    Initial VPS/SPS/PPS come from ``sprop-vps``/``sprop-sps``/``sprop-pps``
    in ``fmtp``; in-band ones replace them (``params_changed`` on the frame,
    ``param_version`` bumped). Keyframe = the frame holds an IRAP picture
    (NAL types 16-21).
    """

    codec = "h265"

    def __init__(self, fmtp: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.vps = b""
        self.sps = b""
        self.pps = b""
        fm = normalize_fmtp(fmtp)
        for key in ("sprop-vps", "sprop-sps", "sprop-pps"):
            for item in fm.get(key, "").split(","):
                if not item.strip():
                    continue
                nal = _b64(item)
                if nal is None or len(nal) < 3:
                    self.errors += 1
                    continue
                t = (nal[0] >> 1) & 0x3F
                if t == NAL_VPS and not self.vps:
                    self.vps = nal
                elif t == NAL_SPS and not self.sps:
                    self.sps = nal
                elif t == NAL_PPS and not self.pps:
                    self.pps = nal
        if self.vps or self.sps or self.pps:
            self.param_version = 1

    @property
    def parameter_sets(self) -> list[bytes]:
        return [p for p in (self.vps, self.sps, self.pps) if p]

    def _param(self, t: int, nal: bytes) -> None:
        nal = bytes(nal)
        name = "vps" if t == NAL_VPS else "sps" if t == NAL_SPS else "pps"
        if nal != getattr(self, name):
            setattr(self, name, nal)
            self._changed = True
            self.param_version += 1

    def _nal(self, nal: bytes) -> None:
        if len(nal) < 3:
            self.errors += 1
            return
        t = (nal[0] >> 1) & 0x3F
        if t < 32:
            if NAL_IRAP_FIRST <= t <= NAL_IRAP_LAST:
                self._key = True
            self._nals.append(nal)
        elif t <= NAL_PPS:
            self._param(t, nal)
        elif t == NAL_AUD or t == NAL_FD:
            pass
        elif t < 41:  # EOS, EOB, SEI prefix/suffix
            self._nals.append(nal)
        else:  # reserved / unspecified / nested AP or FU
            self.errors += 1

    def _depay(self, p: bytes) -> None:
        n = len(p)
        if n < 3:
            self.errors += 1
            return
        b0 = p[0]
        t = (b0 >> 1) & 0x3F
        if t == FU:
            h = p[2]
            # inline, like its twin in the other depacketizer: most packets are fragments and
            # a shared helper method measured ~10-30 % slower per packet
            fu: list[bytes] | None
            if h & 0x80:
                if self._fu is not None:  # previous fragmented NAL never ended
                    self.errors += 1
                    self._corrupt = True
                fu = self._fu = [bytes(((b0 & 0x81) | ((h & 0x3F) << 1), p[1])), p[3:]]
            else:
                fu = self._fu
                if fu is None:  # no start fragment (lost, or garbage): drop
                    self.errors += 1
                    self._corrupt = True
                    return
                fu.append(p[3:])
            if h & 0x40:
                self._fu = None
                self._nal(b"".join(fu))
            return
        if self._fu is not None:  # a whole NAL in the middle of a fragmented one
            self._fu = None
            self.errors += 1
            self._corrupt = True
        if t < AP:
            if t == 1 or t == 0:  # fast path: trailing pictures
                self._nals.append(p)
            else:
                self._nal(p)
        elif t == AP:
            self._aggregate(p, 2)
        else:
            self.errors += 1
