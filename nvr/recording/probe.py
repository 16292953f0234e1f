"""Read what a segment file holds, and what its path says.

``probe_segment`` demuxes a (possibly truncated) fragmented MP4 with PyAV: for a
file cut short by a crash the duration is only known by walking the packets, so
it takes min(pts) and max(pts + duration) over the complete video packets.

Segment paths are ``<camera>/<YYYY-MM-DD>/<HH-MM-SS>[.ffffff][-N].mp4`` under
``<data_dir>/recordings`` (UTC). ``-N`` (N ≥ 1) is added by the writer when the
plain name exists already; the optional fraction is accepted for precision.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path, PurePosixPath

import av

log = logging.getLogger(__name__)

RECORDINGS_DIR = "recordings"
SEGMENT_SUFFIX = ".mp4"

_DAY_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_FILE_RE = re.compile(r"^(\d{2})-(\d{2})-(\d{2})(?:\.(\d{1,6}))?(?:-([1-9]\d*))?\.mp4$")


# FFmpeg's names → the names nvr uses everywhere (API, rows written while recording)
_CODEC_NAMES = {"hevc": "h265"}

@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What a segment file holds. Times in seconds, relative to the file's clock."""

    video_codec: str
    audio_codec: str | None
    width: int
    height: int
    # first video pts as FFmpeg reports it: 0 for nvr's files, except that FFmpeg moves a
    # B-frame stream's pts later by its largest negative composition offset (docs/design/fmp4.md)
    start_offset: float
    duration: float  # max(pts + duration) - min(pts) over complete video packets
    video_packets: int
    bytes: int  # file size


@dataclass(frozen=True, slots=True)
class SegmentName:
    """What a segment's relative path (under recordings/) says."""

    camera: str
    start_us: int
    sequence: int  # the -N suffix, 0 when absent


def segment_relpath(camera: str, start_us: int, sequence: int = 0) -> PurePosixPath:
    """``<camera>/<YYYY-MM-DD>/<HH-MM-SS>[-N].mp4`` for a start time (UTC, whole seconds)."""
    start = datetime.fromtimestamp(start_us // 1_000_000, tz=UTC)
    name = start.strftime("%H-%M-%S") + (f"-{sequence}" if sequence else "") + SEGMENT_SUFFIX
    return PurePosixPath(camera, start.strftime("%Y-%m-%d"), name)


def parse_segment_relpath(relpath: PurePosixPath | str) -> SegmentName | None:
    """Parse a path relative to ``recordings/``; ``None`` if it is not a segment name."""
    parts = PurePosixPath(relpath).parts
    if len(parts) != 3:
        return None
    camera, day, name = parts
    day_match = _DAY_RE.match(day)
    file_match = _FILE_RE.match(name)
    if not camera or day_match is None or file_match is None:
        return None
    hour, minute, second, fraction, sequence = file_match.groups()
    try:
        start = datetime(
            int(day_match[1]),
            int(day_match[2]),
            int(day_match[3]),
            int(hour),
            int(minute),
            int(second),
            int((fraction or "0").ljust(6, "0")),
            tzinfo=UTC,
        )
    except ValueError:  # month 13, 25:00:00, ...
        return None
    start_us = int(start.timestamp()) * 1_000_000 + start.microsecond
    return SegmentName(camera=camera, start_us=start_us, sequence=int(sequence or 0))


def probe_segment(path: Path) -> ProbeResult | None:
    """Probe one segment file; ``None`` if it cannot be read or holds no playable video.

    Never raises for bad file contents; packets cut short by a crash are ignored.
    """
    try:
        size = path.stat().st_size
    except OSError as exc:
        log.warning("probe %s: %s", path, exc)
        return None
    if size == 0:
        return None
    try:
        return _probe(path, size)
    except (av.FFmpegError, OSError, ValueError, ZeroDivisionError, IndexError) as exc:
        log.info("probe %s: unreadable: %s", path, exc)
        return None


def _probe(path: Path, size: int) -> ProbeResult | None:
    with av.open(str(path), mode="r") as container:
        if not container.streams.video:
            return None
        video = container.streams.video[0]
        audio_codec = None
        if container.streams.audio:
            audio_codec = container.streams.audio[0].codec_context.name
        time_base: Fraction | None = video.time_base
        if not time_base:
            return None
        first: int | None = None
        last: int | None = None
        packets = 0
        keyframes = 0
        for packet in container.demux(video):
            if packet.pts is None or packet.size == 0 or packet.is_corrupt:
                continue  # flush packet, or a sample cut short by a crash
            if packet.pos is not None and packet.pos >= 0 and packet.pos + packet.size > size:
                continue
            packets += 1
            keyframes += packet.is_keyframe
            end = packet.pts + (packet.duration or 0)
            first = packet.pts if first is None else min(first, packet.pts)
            last = end if last is None else max(last, end)
        if first is None or last is None or keyframes == 0:
            return None
        codec = video.codec_context
        return ProbeResult(
            video_codec=_CODEC_NAMES.get(codec.name, codec.name),
            audio_codec=audio_codec,
            width=int(codec.width or 0),
            height=int(codec.height or 0),
            start_offset=float(first * time_base),
            duration=float((last - first) * time_base),
            video_packets=packets,
            bytes=size,
        )
