"""H.264 over RTP (RFC 6184), packetization modes 0 and 1.

Handles single NAL unit packets (types 1-23), STAP-A (24) and FU-A (28).
STAP-B, MTAP and FU-B (interleaved mode) are counted as errors and dropped.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping

from nvr.rtsp.depacketize import VideoDepacketizer, VideoFrame, normalize_fmtp

__all__ = ["H264Depacketizer", "VideoFrame"]

NAL_IDR = 5
NAL_SEI = 6
NAL_SPS = 7
NAL_PPS = 8
NAL_AUD = 9
NAL_FILLER = 12
STAP_A = 24
FU_A = 28


class H264Depacketizer(VideoDepacketizer):
    """RTP payloads → H.264 access units.

    ``fmtp`` is the SDP fmtp of the track (may be None, empty, or lack the
    PPS); ``sprop-parameter-sets`` gives the initial SPS/PPS. In-band SPS/PPS
    replace them; a change sets ``params_changed`` on the frame it arrives in
    and bumps ``param_version``. Only the latest SPS and PPS are kept (cameras
    with several PPS ids are not supported).
    """

    codec = "h264"

    def __init__(self, fmtp: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.sps = b""
        self.pps = b""
        fm = normalize_fmtp(fmtp)
        for item in fm.get("sprop-parameter-sets", "").split(","):
            item = item.strip()
            if not item:
                continue
            try:
                nal = base64.b64decode(item + "=" * (-len(item) % 4), validate=True)
            except (binascii.Error, ValueError):
                self.errors += 1
                continue
            if not nal:
                continue
            t = nal[0] & 0x1F
            if t == NAL_SPS and not self.sps:
                self.sps = nal
            elif t == NAL_PPS and not self.pps:
                self.pps = nal
        if self.sps or self.pps:
            self.param_version = 1

    @property
    def parameter_sets(self) -> list[bytes]:
        return [p for p in (self.sps, self.pps) if p]

    def _param(self, t: int, nal: bytes) -> None:
        nal = bytes(nal)
        if t == NAL_SPS:
            if nal != self.sps:
                self.sps = nal
                self._changed = True
                self.param_version += 1
        elif nal != self.pps:
            self.pps = nal
            self._changed = True
            self.param_version += 1

    def _nal(self, nal: bytes) -> None:
        t = nal[0] & 0x1F
        if t == NAL_IDR:
            self._key = True
            self._nals.append(nal)
        elif t == NAL_SPS or t == NAL_PPS:
            self._param(t, nal)
        elif t == NAL_AUD or t == NAL_FILLER:
            pass
        elif 0 < t < 24:
            self._nals.append(nal)
        else:
            self.errors += 1

    def _depay(self, p: bytes) -> None:
        n = len(p)
        if n == 0:
            self.errors += 1
            return
        b0 = p[0]
        t = b0 & 0x1F
        if t == FU_A:
            if n < 2:
                self.errors += 1
                return
            h = p[1]
            # inline, like its twin in the other depacketizer: most packets are fragments and
            # a shared helper method measured ~10-30 % slower per packet
            fu: list[bytes] | None
            if h & 0x80:
                if self._fu is not None:  # previous fragmented NAL never ended
                    self.errors += 1
                    self._corrupt = True
                fu = self._fu = [bytes(((b0 & 0xE0) | (h & 0x1F),)), p[2:]]
            else:
                fu = self._fu
                if fu is None:  # no start fragment (lost, or garbage): drop
                    self.errors += 1
                    self._corrupt = True
                    return
                fu.append(p[2:])
            if h & 0x40:
                self._fu = None
                nal = b"".join(fu)
                if len(nal) > 1:
                    self._nal(nal)
                else:
                    self.errors += 1
            return
        if self._fu is not None:  # a whole NAL in the middle of a fragmented one
            self._fu = None
            self.errors += 1
            self._corrupt = True
        if t < 24:
            if t == 0:
                self.errors += 1
            elif t == 1:  # fast path: non-IDR slice
                self._nals.append(p)
            else:
                self._nal(p)
        elif t == STAP_A:
            self._aggregate(p, 1)
        else:  # STAP-B, MTAP16/24, FU-B, reserved
            self.errors += 1
