"""The blocking half of the live transcoder: H.265 access units in, H.264 out.

A :class:`Recoder` is used by one worker thread at a time (never on the event
loop): :meth:`Recoder.process` takes feed access units in feed order and
returns what the derived feed publishes, in order:

- video of the codec browsers play (H.264) passes through as it is;
- other video (H.265) is decoded with PyAV, scaled down (at most
  ``max_width`` pixels wide, aspect kept, even dimensions) and encoded with
  libx264 (``ultrafast``, ``zerolatency``, no B-frames, an IDR frame about
  every ``key_interval`` seconds of pts): AVCC payloads without parameter
  sets, the source frame's 90 kHz pts (dts = pts: no B-frames) and wallclock,
  and CodecParams of its own (SPS/PPS from the encoder's first keyframe);
- audio passes through unchanged.

A frame the decoder refuses (or a decoder that silently stops giving
pictures after bad input) costs only this transcoder: the decoder is dropped,
:attr:`Recoder.error` says why, and decoding starts again at the next keyframe.
The output never goes backwards in pts (x264 would refuse it).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import cast

import av
from av.video.codeccontext import VideoCodecContext
from av.video.frame import PictureType

from nvr.codec.decode import VideoDecoder
from nvr.codec.nal import split_annexb, to_avcc
from nvr.feed import VIDEO_CLOCK, AccessUnit, CodecParams

__all__ = ["DECODERS", "DEFAULT_SETTINGS", "MAX_WIDTH", "Recoder", "Settings", "scaled_size"]

MAX_WIDTH = 1280
DECODERS = {"h265": "hevc"}  # feed codec → FFmpeg decoder; h264 needs no transcoding
_TIME_BASE = Fraction(1, VIDEO_CLOCK)
_H264_SPS, _H264_PPS, _H264_AUD = 7, 8, 9


@dataclass(frozen=True, slots=True)
class Settings:
    max_width: int = MAX_WIDTH
    key_interval: float = 1.0  # seconds of pts between IDR frames
    bits_per_pixel: float = 0.08  # at 25 fps: 1280x720 → 1.8 Mbit/s
    min_bitrate: int = 300_000
    max_bitrate: int = 4_000_000


DEFAULT_SETTINGS = Settings()


def scaled_size(width: int, height: int, max_width: int = MAX_WIDTH) -> tuple[int, int]:
    """At most ``max_width`` wide, the aspect ratio kept, both dimensions even."""
    if width > max_width:
        height = max(2, round(height * max_width / width / 2) * 2)
        width = max_width
    return max(2, width - width % 2), max(2, height - height % 2)


def bitrate(width: int, height: int, settings: Settings, fps: int = 25) -> int:
    rate = int(width * height * fps * settings.bits_per_pixel)
    return max(settings.min_bitrate, min(settings.max_bitrate, rate))


class Recoder:
    def __init__(self, settings: Settings = DEFAULT_SETTINGS) -> None:
        self.settings = settings
        self.error: str | None = None  # the last decode/encode failure
        self.errors = 0  # failures since start
        self.failing = False  # failed, and no frame has come out since
        self.skipped = 0  # video frames not decoded (waiting for a keyframe)
        self.encoders = 0  # encoders opened since start
        self._source: CodecParams | None = None  # the video params being decoded
        self._decoder: VideoDecoder | None = None
        self._encoder: VideoCodecContext | None = None
        self._size = (0, 0)
        self._out: CodecParams | None = None
        self._last_key = 0
        self._last_pts: int | None = None
        self._last_wallclock = (0, 0.0)  # (pts, wallclock) of the last frame sent
        self._skip_before: int | None = None

    def skip_until(self, pts: int) -> None:
        """Decode but do not encode frames shown before ``pts`` (a backlog being caught
        up on: the first frame sent is then the newest one, as a keyframe)."""
        self._skip_before = pts

    def process(self, batch: list[AccessUnit]) -> list[AccessUnit]:
        out: list[AccessUnit] = []
        for au in batch:
            if au.params.kind != "video" or au.params.codec not in DECODERS:
                out.append(au)  # audio, and video the browser plays: as it is
            else:
                self._video(au, out)
        return out

    def flush(self) -> list[AccessUnit]:
        """The frames still in the decoder (a session ends); then start afresh."""
        out: list[AccessUnit] = []
        if self._decoder is not None:
            try:
                for frame in self._decoder.flush():
                    self._encode(frame, out)
            except av.FFmpegError:
                pass  # the old session's tail: nothing to report
        self.close()
        return out

    def close(self) -> None:
        """Forget the decoder and encoder (the next output starts a new session)."""
        self._decoder = self._encoder = None
        self._source = self._out = None
        self._last_pts = None

    def _video(self, au: AccessUnit, out: list[AccessUnit]) -> None:
        if au.params is not self._source or self._decoder is None:
            if not au.keyframe:
                self.skipped += 1
                return
            if au.params is not self._source:
                self.close()  # a new session: new decoder, new encoder, new params
            self._source = au.params
            self._decoder = VideoDecoder(au.params.codec)
        decoder = self._decoder
        try:
            frames = decoder.decode(au.data, au.params.parameter_sets if au.keyframe else None,
                                    au.pts, au.dts, au.wallclock)
        except av.FFmpegError as exc:
            self._fail(f"cannot decode the {au.params.codec} frame at pts {au.pts} "
                       f"({_reason(exc)}); resuming at the next keyframe")
            self._decoder = None
            return
        if decoder.stalled:  # it took frames it could not use, silently
            self._fail(f"the {au.params.codec} decoder gives no pictures; resuming at the "
                       "next keyframe")
            self._decoder = None
        for frame in frames:
            self._encode(frame, out)

    def _encode(self, frame: av.VideoFrame, out: list[AccessUnit]) -> None:
        pts = frame.pts
        if pts is None or self._last_pts is not None and pts <= self._last_pts:
            return  # x264 takes rising pts only
        wallclock = self._decoder.wallclock(pts) if self._decoder is not None else None
        if self._skip_before is not None:
            if pts < self._skip_before:
                return
            self._skip_before = None
        size = scaled_size(frame.width, frame.height, self.settings.max_width)
        if self._encoder is None or size != self._size:
            self._open_encoder(size)
        encoder = self._encoder
        assert encoder is not None
        if (size != (frame.width, frame.height) or frame.format.name != "yuv420p"):
            frame = frame.reformat(size[0], size[1], "yuv420p", interpolation="BILINEAR")
        frame.pts, frame.time_base = pts, _TIME_BASE
        if self._last_pts is None or pts - self._last_key >= (
                self.settings.key_interval - 0.02) * VIDEO_CLOCK:
            frame.pict_type = PictureType.I  # an IDR frame (forced-idr)
            self._last_key = pts
        try:
            packets = encoder.encode(frame)
        except av.FFmpegError as exc:
            self._fail(f"cannot encode H.264 ({_reason(exc)}); starting a new encoder")
            self._encoder = None
            return
        self._last_pts = pts
        for packet in packets:
            self._packet(packet, wallclock, out)

    def _open_encoder(self, size: tuple[int, int]) -> None:
        width, height = size
        rate = bitrate(width, height, self.settings)
        kbps = rate // 1000
        encoder = cast(VideoCodecContext, av.CodecContext.create("libx264", "w"))
        encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
        encoder.time_base = _TIME_BASE
        encoder.framerate = Fraction(25)
        encoder.bit_rate = rate
        encoder.options = {
            "preset": "ultrafast", "tune": "zerolatency", "forced-idr": "1",
            "x264-params": f"keyint=infinite:scenecut=0:bframes=0:repeat-headers=1"
                           f":vbv-maxrate={kbps}:vbv-bufsize={kbps}:log=-1"}
        encoder.open()
        self._encoder, self._size, self._out = encoder, size, None
        self._last_pts = None  # the first frame is a keyframe
        self.encoders += 1

    def _packet(self, packet: av.Packet, wallclock: float | None, out: list[AccessUnit]) -> None:
        nals = split_annexb(bytes(packet))
        sps = pps = b""
        frame_nals = []
        for nal in nals:
            kind = nal[0] & 0x1F
            if kind == _H264_SPS:
                sps = nal
            elif kind == _H264_PPS:
                pps = nal
            elif kind != _H264_AUD:
                frame_nals.append(nal)
        params = self._out
        if sps and pps and (params is None or (sps, pps) != (params.sps, params.pps)):
            width, height = self._size
            params = self._out = CodecParams(kind="video", codec="h264",
                                             clock_rate=VIDEO_CLOCK, sps=sps, pps=pps,
                                             width=width, height=height)
        if params is None or not frame_nals or packet.pts is None:
            return  # nothing before the first keyframe's parameter sets
        pts = packet.pts
        if wallclock is None:  # not expected: extrapolate from the last frame sent
            last_pts, last_wallclock = self._last_wallclock
            wallclock = last_wallclock + (pts - last_pts) / VIDEO_CLOCK
        self._last_wallclock = (pts, wallclock)
        self.failing = False
        out.append(AccessUnit(params, pts, packet.dts if packet.dts is not None else pts,
                              bool(packet.is_keyframe), wallclock, to_avcc(frame_nals)))

    def _fail(self, message: str) -> None:
        self.errors += 1
        self.error = message
        self.failing = True


def _reason(exc: av.FFmpegError) -> str:
    return f"FFmpeg: {exc.strerror}" if exc.strerror else type(exc).__name__
