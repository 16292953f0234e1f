"""Still images with PyAV: a keyframe decoded (live or recorded), encoded as JPEG.

Every function here blocks (decoding and encoding take milliseconds to tens of
milliseconds): callers on the event loop run them with ``asyncio.to_thread``.
JPEGs come from FFmpeg's ``mjpeg`` encoder (no image library needed), full
range, from the video's own (limited-range) colours.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
from av.video.reformatter import ColorRange, Interpolation, VideoReformatter

from nvr.feed import AccessUnit, CodecParams
from nvr.playback.reader import open_segment

log = logging.getLogger(__name__)

START_CODE = b"\x00\x00\x00\x01"
DECODERS = {"h264": "h264", "h265": "hevc"}
QUALITY = 3  # FFmpeg's quantiser for JPEG: 2 (best) .. 31; 3 looks like the video
MIN_WIDTH, MAX_WIDTH = 16, 1920


class NoImage(Exception):
    """No picture could be made (no keyframe, undecodable data, unreadable file)."""


def annexb(params: CodecParams, au: AccessUnit) -> bytes:
    """A keyframe as the decoder wants it: parameter sets, then the frame's NAL units,
    each behind a start code (the feed carries 4-byte length prefixes)."""
    out = bytearray()
    for nal in params.parameter_sets:
        out += START_CODE + nal
    data, i = au.data, 0
    while i + 4 <= len(data):
        size = int.from_bytes(data[i : i + 4], "big")
        i += 4
        if size == 0 or i + size > len(data):
            raise NoImage("a malformed frame")
        out += START_CODE + data[i : i + size]
        i += size
    return bytes(out)


def decode_keyframe(au: AccessUnit) -> av.VideoFrame:
    """The picture of one video keyframe from a Feed."""
    decoder = DECODERS.get(au.params.codec)
    if decoder is None or not au.keyframe:
        raise NoImage(f"cannot decode {au.params.codec}")
    context = av.CodecContext.create(decoder, "r")
    assert isinstance(context, av.VideoCodecContext)
    try:
        frames = list(context.decode(av.Packet(annexb(au.params, au))))
        frames += context.decode(None)
    except av.FFmpegError as exc:
        raise NoImage(f"the keyframe does not decode: {exc}") from None
    pictures = [f for f in frames if isinstance(f, av.VideoFrame)]
    if not pictures:
        raise NoImage("the keyframe decoded to nothing")
    return pictures[0]


def keyframe_offsets(path: Path) -> list[int]:
    """µs from a recorded segment's first keyframe (its start) to each of its video
    keyframes, read from the ``moof`` boxes alone (``nvr.playback.reader``: no
    FFmpeg, no media bytes), so a cached frame is found without opening the file
    with FFmpeg (tens of milliseconds). The last few hundred files' answers are
    kept (a file is known by path, size and mtime). OSError if unreadable."""
    st = path.stat()
    return list(_offsets(str(path), st.st_size, st.st_mtime_ns))


@functools.lru_cache(maxsize=512)
def _offsets(path: str, _size: int, _mtime_ns: int) -> tuple[int, ...]:
    with open_segment(Path(path)) as segment:
        video = segment.video
        if video is None or not video.timescale:
            return ()
        shown = []
        for fragment in segment.fragments:
            for run in fragment.track(video.track_id):
                for k, key in enumerate(run.keyframes):
                    if key:
                        shown.append(run.decode_time + sum(run.durations[:k])
                                     + run.composition_offsets[k])
    if not shown:
        return ()
    shown.sort()
    return tuple((t - shown[0]) * 1_000_000 // video.timescale for t in shown)


def recorded_keyframe(path: Path, offset_us: int,
                      cached: Callable[[int], bytes | None] | None = None,
                      ) -> tuple[int, bytes | av.VideoFrame]:
    """Open a segment file, find the keyframe at or before ``offset_us`` from its
    start, and return ``(keyframe offset µs, picture)``. When ``cached(offset)``
    has the JPEG already, that is returned instead of decoding (the picture is then
    bytes)."""
    try:
        with av.open(str(path), mode="r") as container:
            if not container.streams.video:
                raise NoImage("no video in the file")
            stream = container.streams.video[0]
            base: Fraction = stream.time_base or Fraction(1, 90_000)
            # FFmpeg starts a B-frame stream's pts later by its reorder delay: count from it
            first = stream.start_time or 0
            target = first + int(Fraction(max(offset_us, 0), 1_000_000) / base)
            container.seek(target, stream=stream, backward=True, any_frame=False)
            for packet in container.demux(stream):
                if packet.pts is None or not packet.size:
                    continue
                if not packet.is_keyframe:
                    continue  # a seek lands on keyframes; be sure of it
                found = int((packet.pts - first) * base * 1_000_000)
                if found > offset_us:
                    raise NoImage("no keyframe at or before that time")
                hit = cached(found) if cached is not None else None
                if hit is not None:
                    return found, hit
                context = stream.codec_context
                frames = list(context.decode(packet)) + list(context.decode(None))
                pictures = [f for f in frames if isinstance(f, av.VideoFrame)]
                if not pictures:
                    raise NoImage("the keyframe decoded to nothing")
                return found, pictures[0]
    except av.FFmpegError as exc:
        raise NoImage(f"unreadable recording: {exc}") from None
    except OSError as exc:
        raise NoImage(f"unreadable recording: {exc.strerror or exc}") from None
    raise NoImage("no keyframe at or before that time")


def scaled_size(width: int, height: int, wanted: int | None) -> tuple[int, int]:
    """``wanted`` wide (never wider than the picture), the height keeping the aspect."""
    if not wanted or wanted >= width:
        return width, height
    return wanted, max(2, round(height * wanted / width))


def jpeg(frame: av.VideoFrame, width: int | None = None, quality: int = QUALITY) -> bytes:
    """Encode one picture as a JPEG, scaled down to ``width`` (aspect kept)."""
    w, h = scaled_size(frame.width, frame.height, width)
    source = ColorRange.JPEG if frame.color_range == ColorRange.JPEG else ColorRange.MPEG
    picture = VideoReformatter().reformat(
        frame, width=w, height=h, format="yuv420p", src_color_range=source,
        dst_color_range=ColorRange.JPEG, interpolation=Interpolation.AREA)
    encoder = av.CodecContext.create("mjpeg", "w")
    assert isinstance(encoder, av.VideoCodecContext)
    encoder.width, encoder.height, encoder.pix_fmt = w, h, "yuv420p"
    encoder.time_base = Fraction(1, 25)
    encoder.color_range = ColorRange.JPEG
    encoder.options = {"qmin": str(quality), "qmax": str(quality)}
    packets = list(encoder.encode(picture)) + list(encoder.encode(None))
    data = b"".join(bytes(p) for p in packets)
    if not data:
        raise NoImage("the JPEG encoder gave nothing")
    return data
