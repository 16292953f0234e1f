"""Feed access units → the small grayscale frames motion analysis needs.

A :class:`FrameSampler` is synchronous and used by one worker thread (never
the event loop). Every video frame is decoded (a P-frame needs the ones before
it; a non-reference frame, where the stream has them, only when a sample is
due), but only the frames due — ``fps`` per second of wall clock — are
converted: scaled to at most ``max_width`` pixels wide, aspect kept, to 8-bit
grayscale (the luma plane: what a motion detector reads), with OpenCV straight
from the decoder's luma plane (swscale only for other pixel formats). Audio is
ignored.

A new ``CodecParams`` object (a new session or configuration) restarts the
decoder at the next keyframe. A frame the decoder refuses, or a decoder that
silently stops giving pictures after bad input, costs frames until the next
keyframe: the decoder is dropped and :attr:`FrameSampler.errors` counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import av
import cv2
import numpy as np
import numpy.typing as npt

from nvr.codec.decode import FFMPEG_DECODERS, VideoDecoder
from nvr.feed import AccessUnit, CodecParams

__all__ = ["DECODERS", "MAX_WIDTH", "FrameSampler", "Sample", "analysed_size"]

MAX_WIDTH = 320
DECODERS = FFMPEG_DECODERS  # the feed codecs analysed
_JPEG_RANGE = 2  # AVCOL_RANGE_JPEG: full-range samples


@dataclass(frozen=True, slots=True)
class Sample:
    time: float  # the frame's wall clock (UTC seconds)
    image: npt.NDArray[np.uint8]  # height x width grayscale
    frame: av.VideoFrame | None = None  # the decoded picture (for a snapshot of the peak)


def analysed_size(width: int, height: int, max_width: int = MAX_WIDTH) -> tuple[int, int]:
    """At most ``max_width`` wide, the aspect ratio kept."""
    if width <= max_width:
        return width, height
    return max_width, max(1, round(height * max_width / width))


# 8-bit YUV layouts whose first plane is the luma, one byte a pixel
_LUMA_FIRST = frozenset({"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p",
                         "nv12", "nv21"})
_FULL_RANGE = np.clip(np.rint((np.arange(256) - 16) * 255 / 219), 0, 255).astype(np.uint8)


def grayscale(frame: av.VideoFrame, width: int, height: int) -> npt.NDArray[np.uint8]:
    """The picture as ``width`` x ``height`` full-range grayscale.

    For 8-bit YUV the luma plane is read as it is and scaled with OpenCV (area
    averaging): about a tenth of what swscale's ``reformat`` to ``gray`` costs for
    the same result (limited-range luma is stretched to full range as swscale does).
    """
    name = frame.format.name
    if name not in _LUMA_FIRST:
        gray = frame.reformat(width, height, "gray", interpolation="AREA").to_ndarray()
        return np.ascontiguousarray(gray[:height, :width], np.uint8)
    plane = frame.planes[0]
    luma = np.frombuffer(memoryview(plane), np.uint8).reshape(frame.height, plane.line_size)
    luma = luma[:, :frame.width]
    image: npt.NDArray[np.uint8] = (
        np.ascontiguousarray(luma) if (width, height) == (frame.width, frame.height)
        else np.asarray(cv2.resize(luma, (width, height), interpolation=cv2.INTER_AREA)))
    if name.startswith("yuvj") or frame.color_range == _JPEG_RANGE:
        return image
    return np.asarray(cv2.LUT(image, _FULL_RANGE), np.uint8)


class FrameSampler:
    def __init__(self, fps: float = 5.0, max_width: int = MAX_WIDTH) -> None:
        if fps <= 0:
            raise ValueError("fps must be positive")
        self.period = 1.0 / fps
        self.max_width = max_width
        self.decoded = 0  # pictures out of the decoder
        self.sampled = 0  # pictures converted and handed out
        self.skipped = 0  # video frames not decoded (waiting for a keyframe)
        self.errors = 0
        self.error: str | None = None  # the last decode failure
        self._params: CodecParams | None = None
        self._decoder: VideoDecoder | None = None
        self._next_due: float | None = None

    def push(self, au: AccessUnit) -> list[Sample]:
        """Decode one access unit; the samples due among the pictures it gives."""
        if au.params.kind != "video" or au.params.codec not in DECODERS:
            return []
        if au.params is not self._params or self._decoder is None:
            if not au.keyframe:
                self.skipped += 1
                return []
            if au.params is not self._params:
                self.close()
            self._params = au.params
            self._decoder = VideoDecoder(au.params.codec)
        # a frame nothing refers to is only worth decoding when a sample is due
        decoder = self._decoder
        decoder.skip_nonref = (self._next_due is not None
                               and au.wallclock < self._next_due - self.period / 10)
        try:
            frames = decoder.decode(au.data, au.params.parameter_sets if au.keyframe else None,
                                    au.pts, au.dts, au.wallclock)
        except (av.FFmpegError, ValueError) as exc:
            self._fail(f"cannot decode the {au.params.codec} frame at pts {au.pts} "
                       f"({exc}); resuming at the next keyframe")
            return []
        if decoder.stalled:
            self._fail(f"the {au.params.codec} decoder gives no pictures; resuming at the "
                       "next keyframe")
        return [s for s in (self._sample(decoder, f) for f in frames) if s is not None]

    def close(self) -> None:
        """Forget the decoder (the next frame must be a keyframe)."""
        self._decoder = None
        self._params = None

    def _sample(self, decoder: VideoDecoder, frame: av.VideoFrame) -> Sample | None:
        self.decoded += 1
        if frame.pts is None:
            return None
        time = decoder.wallclock(frame.pts)
        if time is None or not self._due(time):
            return None
        width, height = analysed_size(frame.width, frame.height, self.max_width)
        self.sampled += 1
        return Sample(time, grayscale(frame, width, height), frame)

    def _due(self, time: float) -> bool:
        due = self._next_due
        slack = self.period / 10  # wall clocks jitter a little around the frame rate
        if due is not None and time < due - 2 * self.period:
            due = None  # the wall clock went back: start afresh
        if due is not None and time < due - slack:
            return False
        if due is None or time >= due + self.period:
            self._next_due = time + self.period  # first frame, or after a gap: start afresh
        else:
            self._next_due = due + self.period
        return True

    def _fail(self, message: str) -> None:
        self._decoder = None
        self.errors += 1
        self.error = message
