"""Decoding a feed's video with PyAV: one session's frames in, pictures out.

Motion detection and the live transcoder both decode H.264/H.265 access units
as the feed carries them (AVCC NAL units, 90 kHz pts/dts, parameter sets kept
apart) and need, for each picture that comes out, the wall clock of the frame
it was captured as. :class:`VideoDecoder` does that part once:

* the FFmpeg decoder with slice threads (frame threads would add frames of delay);
* keyframes get the parameter sets in front, all frames go in as Annex B;
* each frame's wall clock is kept by pts, since the decoder reorders (B-frames);
* :attr:`stalled`: frames went in and nothing came out far beyond any reorder
  delay, so the caller should start afresh at the next keyframe.

Decode errors are PyAV's (``av.FFmpegError``, ``ValueError``); the caller decides
what a failure means to it. Imports nothing of the app (only PyAV and the NAL
helpers), so it stays a codec-level part.
"""

from __future__ import annotations

from fractions import Fraction
from typing import cast

import av
from av.video.codeccontext import VideoCodecContext

from nvr.codec.nal import avcc_to_annexb, to_annexb

__all__ = ["FFMPEG_DECODERS", "STALLED_AFTER", "VideoDecoder"]

FFMPEG_DECODERS = {"h264": "h264", "h265": "hevc"}  # feed codec → FFmpeg decoder
STALLED_AFTER = 24  # frames in, no picture out: far beyond any reorder delay
_TIME_BASE = Fraction(1, 90_000)  # the feed's video clock
_WALLCLOCKS_KEPT = 128  # the reorder depth is a few frames; plenty


class VideoDecoder:
    """One session's decoder; start it on a keyframe (see the module docstring)."""

    def __init__(self, codec: str) -> None:
        if codec not in FFMPEG_DECODERS:
            raise ValueError(f"no decoder for {codec!r}")
        self.codec = codec
        self._context = cast(VideoCodecContext,
                             av.CodecContext.create(FFMPEG_DECODERS[codec], "r"))
        self._context.thread_type = "SLICE"
        self._wallclock: dict[int, float] = {}
        self._unanswered = 0  # frames in since the decoder last gave a picture
        self._skip_nonref = False

    @property
    def skip_nonref(self) -> bool:
        """Skip frames nothing refers to (cheap: used when no picture is wanted soon)."""
        return self._skip_nonref

    @skip_nonref.setter
    def skip_nonref(self, skip: bool) -> None:
        if skip != self._skip_nonref:
            self._context.skip_frame = "NONREF" if skip else "DEFAULT"
            self._skip_nonref = skip

    def decode(self, data: bytes, parameter_sets: list[bytes] | None, pts: int, dts: int,
               wallclock: float) -> list[av.VideoFrame]:
        """One access unit (AVCC; ``parameter_sets`` for a keyframe, else None); the
        pictures it completes, in display order."""
        payload = avcc_to_annexb(data)
        if parameter_sets:
            payload = to_annexb(parameter_sets) + payload
        packet = av.Packet(payload)
        packet.pts, packet.dts, packet.time_base = pts, dts, _TIME_BASE
        self._wallclock[pts] = wallclock
        if len(self._wallclock) > _WALLCLOCKS_KEPT:
            del self._wallclock[next(iter(self._wallclock))]
        frames = self._context.decode(packet)
        self._unanswered = 0 if frames else self._unanswered + 1
        return frames

    def flush(self) -> list[av.VideoFrame]:
        """The pictures still held for reordering (the session ends)."""
        return self._context.decode(None)

    def wallclock(self, pts: int) -> float | None:
        """The capture time of the frame with this pts (once: it is forgotten)."""
        return self._wallclock.pop(pts, None)

    @property
    def stalled(self) -> bool:
        """It took frames it could not use, silently: start afresh at a keyframe."""
        return self._unanswered > STALLED_AFTER
