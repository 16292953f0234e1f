"""From RTP packets of one RTSP session to AccessUnits on a Feed.

One :class:`TrackReceiver` per set-up track: RTP parse → depacketize → clock
(unwrap, continuity, wall clock) → :class:`~nvr.feed.AccessUnit`. A receiver
lives as long as one RTSP session; a reconnect makes new receivers, hence new
:class:`~nvr.feed.CodecParams` objects and pts restarting near zero, which is
how consumers see that the stream started again.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from nvr.feed import VIDEO_CLOCK, AccessUnit, CodecParams
from nvr.rtsp.depacketize import to_avcc
from nvr.rtsp.depacketize.aac import AacDepacketizer
from nvr.rtsp.depacketize.h264 import H264Depacketizer
from nvr.rtsp.depacketize.h265 import H265Depacketizer
from nvr.rtsp.rtp import parse_rtp
from nvr.rtsp.sdp import Track
from nvr.rtsp.sps import h264_sps_info, h265_sps_info
from nvr.rtsp.timestamps import TrackClock

Publish = Callable[[AccessUnit], None]


class TrackReceiver:
    def __init__(self, track: Track, publish: Publish,
                 clock: Callable[[], float] = time.time) -> None:
        self.track = track
        self.publish = publish
        self.now = clock
        self.packets = 0
        self.bytes = 0
        self.frames = 0
        self.last_ssrc: int | None = None
        self.last_seq = 0
        self.params: CodecParams | None = None
        self._param_version = -1
        if track.codec == "aac":
            self.depay: H264Depacketizer | H265Depacketizer | AacDepacketizer = \
                AacDepacketizer(track.fmtp)
            rate = track.clock_rate or self.depay.sample_rate or 48000
            self.clock = TrackClock(rate, frame_duration=self.depay.frame_length)
            self.params = CodecParams(
                kind="audio", codec="aac", clock_rate=rate,
                audio_config=self.depay.config,
                sample_rate=self.depay.sample_rate or rate,
                channels=self.depay.channels or track.channels or 1)
        else:
            self.depay = (H264Depacketizer if track.codec == "h264" else H265Depacketizer)(
                track.fmtp)
            self.clock = TrackClock(VIDEO_CLOCK)

    @property
    def lost(self) -> int:
        return self.depay.lost

    def on_rtp(self, data: bytes) -> None:
        pkt = parse_rtp(data)
        if pkt is None:
            return
        self.packets += 1
        self.bytes += len(data)
        self.last_ssrc = pkt.ssrc
        self.last_seq = pkt.seq
        frames = self.depay.push(pkt)
        if not frames:
            return
        ssrc = pkt.ssrc
        if self.params is not None and self.params.kind == "audio":
            for frame in frames:
                pts, wall = self.clock.map(frame.rtp_ts, ssrc, self.now())
                self.frames += 1
                self.publish(AccessUnit(self.params, pts, pts, True, wall, frame.data,
                                        self.depay.frame_length))  # type: ignore[union-attr]
            return
        for frame in frames:
            if not frame.nals:
                continue
            params = self._video_params()
            if params is None:  # no SPS yet: nothing decodable
                continue
            pts, wall = self.clock.map(frame.rtp_ts, ssrc, self.now())
            self.frames += 1
            self.publish(AccessUnit(params, pts, pts, frame.keyframe, wall, to_avcc(frame.nals)))

    def _video_params(self) -> CodecParams | None:
        depay = self.depay
        if depay.param_version == self._param_version and self.params is not None:
            return self.params
        self._param_version = depay.param_version
        sets = depay.parameter_sets  # type: ignore[union-attr]
        codec = self.track.codec
        vps = b""
        if codec == "h265":
            vps = getattr(depay, "vps", b"")
        sps = getattr(depay, "sps", b"")
        pps = getattr(depay, "pps", b"")
        if not sps or not pps or (codec == "h265" and not vps) or not sets:
            self.params = None
            return None
        try:
            info = h264_sps_info(sps) if codec == "h264" else h265_sps_info(sps)
            width, height = info.width, info.height
        except ValueError:
            width = height = 0
        self.params = CodecParams(kind="video", codec=codec, clock_rate=VIDEO_CLOCK,
                                  sps=sps, pps=pps, vps=vps, width=width, height=height)
        return self.params
