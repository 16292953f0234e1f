"""Real recordings for the playback tests: encoded media published to a Feed and
recorded by nvr's Recorder into segment files, as a camera session would be.

A :class:`Session` is one unbroken camera session (its own CodecParams, so the
recorder starts a new segment when it begins); sessions further apart than their
length leave a gap between their segments.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fmp4"))

from fmp4_media import FPS, TICKS, Frame, encode_aac, encode_video  # noqa: E402
from recorder_rig import RecorderRig  # noqa: E402

from nvr.feed import VIDEO_CLOCK, AccessUnit, CodecParams, Feed  # noqa: E402
from nvr.playback.stream import SegmentRef  # noqa: E402
from nvr.recording.index import SegmentInfo  # noqa: E402

T0 = 1_700_000_000.0  # wall clock of the first frame (2023-11-14T22:13:20Z)
AUDIO_SAMPLES = 1024


@dataclass(frozen=True)
class Session:
    video: CodecParams
    frames: list[Frame]
    wall: float  # wall-clock time of the first frame
    audio: CodecParams | None = None
    audio_frames: tuple[bytes, ...] = ()

    @property
    def seconds(self) -> float:
        return len(self.frames) / FPS


def media(seconds: float, codec: str = "h264", bframes: int = 0, gop: int = FPS,
          audio: bool = True, width: int = 320, height: int = 240
          ) -> tuple[CodecParams, list[Frame], CodecParams | None, list[bytes]]:
    video, frames = encode_video(codec, frames=round(seconds * FPS), bframes=bframes, gop=gop,
                                 width=width, height=height)
    if not audio:
        return video, frames, None, []
    params, packets = encode_aac(seconds=seconds + 0.5)
    return video, frames, params, packets


def session(encoded: tuple[CodecParams, list[Frame], CodecParams | None, list[bytes]],
            wall: float) -> Session:
    video, frames, audio, packets = encoded
    # a new CodecParams object: a new camera session for the recorder
    return Session(replace(video), frames, wall, replace(audio) if audio else None,
                   tuple(packets))


def _units(s: Session) -> list[AccessUnit]:
    first = s.frames[0].pts
    units = [AccessUnit(s.video, f.pts - first + 3 * TICKS, f.dts - first + 3 * TICKS,
                        f.keyframe, s.wall + (f.pts - first) / VIDEO_CLOCK, f.data, TICKS)
             for f in s.frames]
    if s.audio is not None:
        rate = s.audio.clock_rate
        end = s.wall + s.seconds
        for n, data in enumerate(s.audio_frames):
            wall = s.wall + n * AUDIO_SAMPLES / rate
            if wall >= end:
                break
            units.append(AccessUnit(s.audio, n * AUDIO_SAMPLES, n * AUDIO_SAMPLES, True, wall,
                                    data, AUDIO_SAMPLES))
    # arrival order: by wall clock; a camera sends a frame once it is coded, so video
    # arrives in decode order, a keyframe at its own capture time (the reorder delay late)
    dts0 = min(u.dts for u in units if u.kind == "video")
    return sorted(units, key=lambda u: (u.wallclock if u.kind == "audio" else
                                        s.wall + (u.dts - dts0) / VIDEO_CLOCK,
                                        u.kind == "video"))


async def record(data_dir: Path, sessions: list[Session], segment_seconds: float,
                 camera: str = "cam1") -> list[SegmentInfo]:
    """Record the sessions one after the other; the rows the recorder indexed."""
    rig = await RecorderRig(data_dir, segment_seconds, camera).start()
    feed = rig.feed
    for s in sessions:
        feed.begin(s.audio)
        for au in _units(s):
            feed.publish(au)
            if au.keyframe and au.kind == "video":  # the recorder wakes per keyframe
                await asyncio.sleep(0.005)
        await _drained(feed)  # the next session must not begin while this one is queued
    return await rig.stop()


async def _drained(feed: Feed) -> None:
    """Until the recorder has taken everything published (it wakes for a keyframe or
    after a second) and worked on it a while."""
    for _ in range(2500):
        if not any(len(sub) for sub in feed.subscribers):
            break
        await asyncio.sleep(0.002)
    await asyncio.sleep(0.02)


def refs(data_dir: Path, rows: list[SegmentInfo]) -> list[SegmentRef]:
    ordered = sorted(rows, key=lambda r: r.start_us)
    return [SegmentRef(data_dir / r.path, r.start_us, r.end_us, n + 1)
            for n, r in enumerate(ordered)]


class ListCatalog:
    """A Catalog over a list of segment refs (what the web layer gets from the index)."""

    def __init__(self, segments: list[SegmentRef], page: int = 2) -> None:
        self.segments_ = segments
        self.page = page
        self.calls = 0

    async def segments(self, at_us: int, after: SegmentRef | None) -> list[SegmentRef]:
        self.calls += 1
        if after is None:
            found = [r for r in self.segments_ if r.end_us > at_us or r.start_us >= at_us]
        else:
            found = [r for r in self.segments_ if (r.start_us, r.id) > (after.start_us, after.id)]
        return found[: self.page]
