"""From RTP packets of one RTSP session to AccessUnits on a Feed.

One receiver per set-up track: RTP parse → depacketize → clock (unwrap,
continuity, wall clock) → :class:`~nvr.feed.AccessUnit`. A receiver lives as
long as one RTSP session; a reconnect makes new receivers, hence new
:class:`~nvr.feed.CodecParams` objects and pts restarting near zero, which is
how consumers see that the stream started again.

Video frames are checked before they are published (:mod:`nvr.codec.validate`):
one that cannot be a frame of the codec (noise, a mangled packet) is counted in
``corrupt`` and dropped. Decode timestamps are computed here, once, for every
consumer (:mod:`nvr.rtsp.dts`). A receiver never raises into the connection
that feeds it: an unexpected error is counted, kept in ``failure`` for the
camera's status, and the packet dropped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from nvr.codec.nal import to_avcc
from nvr.codec.sps import h264_sps_info, h265_sps_info
from nvr.codec.validate import FrameCheck
from nvr.feed import VIDEO_CLOCK, AccessUnit, CodecParams
from nvr.rtsp.depacketize import AudioFrame, VideoFrame
from nvr.rtsp.depacketize.aac import AacDepacketizer
from nvr.rtsp.depacketize.h264 import H264Depacketizer
from nvr.rtsp.depacketize.h265 import H265Depacketizer
from nvr.rtsp.dts import DecodeTimestamps
from nvr.rtsp.rtp import RtpPacket, parse_rtp
from nvr.rtsp.sdp import Track
from nvr.rtsp.timestamps import TrackClock

Publish = Callable[[AccessUnit], None]
Clock = Callable[[], float]

log = logging.getLogger("nvr.camera")


class TrackReceiver:
    """What every track does with a packet; subclasses turn frames into access units."""

    clock: TrackClock
    params: CodecParams | None = None

    def __init__(self, track: Track, publish: Publish, now: Clock) -> None:
        self.track = track
        self.publish = publish
        self.now = now
        self.packets = 0
        self.bytes = 0
        self.frames = 0
        self.corrupt = 0
        self.failure: Exception | None = None  # the first unexpected error, if any
        self.last_ssrc: int | None = None
        self.last_seq = 0

    @property
    def lost(self) -> int:
        raise NotImplementedError

    def on_rtp(self, data: bytes) -> None:
        pkt = parse_rtp(data)
        if pkt is None:
            return
        self.packets += 1
        self.bytes += len(data)
        self.last_ssrc = pkt.ssrc
        self.last_seq = pkt.seq
        try:
            self._push(pkt)
        except Exception as exc:  # noqa: BLE001 - one bad packet must not end the session
            self.corrupt += 1
            if self.failure is None:
                self.failure = exc
                log.warning("%s track: dropping a packet that broke the depacketizer: %r",
                            self.track.kind, exc, exc_info=exc)

    def _push(self, pkt: RtpPacket) -> None:
        raise NotImplementedError


class VideoReceiver(TrackReceiver):
    def __init__(self, track: Track, publish: Publish, now: Clock = time.time) -> None:
        super().__init__(track, publish, now)
        self.depay = (H264Depacketizer if track.codec == "h264" else H265Depacketizer)(
            track.fmtp)
        self.clock = TrackClock(VIDEO_CLOCK)
        self.dts = DecodeTimestamps()
        self._param_version = -1
        self._check = FrameCheck(track.codec)
        self._keyed = False  # a valid keyframe arrived in this session

    @property
    def lost(self) -> int:
        return self.depay.lost

    def _push(self, pkt: RtpPacket) -> None:
        frames: list[VideoFrame] = self.depay.push(pkt)
        for frame in frames:
            if not frame.nals:
                continue
            params = self._params()
            if params is None:  # no SPS/PPS yet: nothing decodable
                self.corrupt += 1
                continue
            if not self._check(frame.nals, frame.keyframe):
                self.corrupt += 1
                continue
            if not self._keyed:
                if not frame.keyframe:
                    continue  # undecodable without the keyframe before it
                self._keyed = True
            pts, wall = self.clock.map(frame.rtp_ts, pkt.ssrc, self.now())
            dts = self.dts.next(pts, frame.keyframe)
            self.frames += 1
            self.publish(AccessUnit(params, pts, dts, frame.keyframe, wall, to_avcc(frame.nals)))

    def _params(self) -> CodecParams | None:
        """Current parameters; a new object whenever the parameter sets change."""
        depay = self.depay
        if depay.param_version == self._param_version and self.params is not None:
            return self.params
        self._param_version = depay.param_version
        codec = self.track.codec
        vps = depay.vps if isinstance(depay, H265Depacketizer) else b""
        if not depay.sps or not depay.pps or (codec == "h265" and not vps):
            self.params = None
            return None
        try:
            info = h264_sps_info(depay.sps) if codec == "h264" else h265_sps_info(depay.sps)
            width, height = info.width, info.height
            self.dts.expect_reorder(info.reorder)
        except ValueError:  # a garbage SPS: nothing of this stream can be decoded
            self.params = None
            return None
        self._check = FrameCheck(codec, depay.sps, depay.pps)
        self.params = CodecParams(kind="video", codec=codec, clock_rate=VIDEO_CLOCK,
                                  sps=depay.sps, pps=depay.pps, vps=vps,
                                  width=width, height=height)
        return self.params


class AudioReceiver(TrackReceiver):
    def __init__(self, track: Track, publish: Publish, now: Clock = time.time) -> None:
        super().__init__(track, publish, now)
        self.depay = AacDepacketizer(track.fmtp)
        rate = track.clock_rate or self.depay.sample_rate or 48000
        self.clock = TrackClock(rate, frame_duration=self.depay.frame_length)
        self.params = CodecParams(
            kind="audio", codec="aac", clock_rate=rate, audio_config=self.depay.config,
            sample_rate=self.depay.sample_rate or rate,
            channels=self.depay.channels or track.channels or 1)

    @property
    def lost(self) -> int:
        return self.depay.lost

    def _push(self, pkt: RtpPacket) -> None:
        frames: list[AudioFrame] = self.depay.push(pkt)
        params = self.params
        assert params is not None
        for frame in frames:
            pts, wall = self.clock.map(frame.rtp_ts, pkt.ssrc, self.now())
            self.frames += 1
            self.publish(AccessUnit(params, pts, pts, True, wall, frame.data,
                                    self.depay.frame_length))


def make_receiver(track: Track, publish: Publish) -> TrackReceiver:
    return AudioReceiver(track, publish) if track.kind == "audio" else VideoReceiver(
        track, publish)
