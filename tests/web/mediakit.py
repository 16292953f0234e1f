"""Segments and frames for the web tests: index rows without files (timelines,
pages), real recorded files (frame.jpg) and a live Feed with real frames
(snapshot.jpg)."""

from __future__ import annotations

import sys
from pathlib import Path

import av

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fmp4"))

from fmp4_media import TICKS, encode_video  # noqa: E402

from nvr.feed import AccessUnit, Feed  # noqa: E402
from nvr.recording.index import SegmentIndex, SegmentInfo  # noqa: E402
from nvr.recording.probe import segment_relpath  # noqa: E402
from nvr.recording.writer import SegmentWriter  # noqa: E402
from nvr.source import SourceState  # noqa: E402

US = 1_000_000


def add_rows(index: SegmentIndex, camera: str, start_us: int, count: int,
             seconds: float = 60.0, bytes_: int = 1_000_000, step_us: int | None = None) -> None:
    """``count`` segment rows of ``seconds`` each from ``start_us``, touching (or
    ``step_us`` apart), without files."""
    length = int(seconds * US)
    step = step_us if step_us is not None else length
    for i in range(count):
        start = start_us + i * step
        index.add(SegmentInfo(
            camera=camera, start_us=start, end_us=start + length, duration=seconds,
            bytes=bytes_, path=f"recordings/{camera}/fake-{start}.mp4", video_codec="h264",
            audio_codec=None, width=640, height=360))


def write_segment(data_dir: Path, index: SegmentIndex, camera: str, start_us: int,
                  frames: int = 100, gop: int = 25, width: int = 320,
                  height: int = 240) -> int:
    """A real recorded segment (H.264, 25 fps, one fragment per GOP as the recorder
    writes them), indexed; returns the row id."""
    params, encoded = encode_video("h264", frames=frames, gop=gop, width=width, height=height)
    relpath = segment_relpath(camera, start_us).as_posix()
    path = data_dir / "recordings" / relpath
    writer = SegmentWriter(path, params, None, auto_flush=False)
    for frame in encoded:
        if frame.keyframe:
            data = writer.take_fragment()
            if data:
                writer.write_fragment(data)
        writer.write_video(frame.data, frame.pts, frame.dts, TICKS, frame.keyframe)
    size = writer.close()
    seconds = frames * TICKS / 90_000
    return index.add(SegmentInfo(
        camera=camera, start_us=start_us, end_us=start_us + int(seconds * US), duration=seconds,
        bytes=size, path=f"recordings/{relpath}", video_codec="h264", audio_codec=None,
        width=width, height=height))


class StubSource:
    """A Source that only holds a state (the web layer reads nothing else)."""

    def __init__(self, name: str, feed: Feed, status: str = "online") -> None:
        self.name = name
        self.feed = feed
        self.state = SourceState(status=status)  # type: ignore[arg-type]

    async def run(self) -> None:  # pragma: no cover - never run by these tests
        return None


def publish_frames(feed: Feed, frames: int = 30, width: int = 320, height: int = 240,
                   gop: int = 25) -> None:
    """Publish real H.264 frames (a keyframe every ``gop``) into ``feed``."""
    params, encoded = encode_video("h264", frames=frames, gop=gop, width=width, height=height)
    for i, frame in enumerate(encoded):
        feed.publish(AccessUnit(params, frame.pts, frame.dts, frame.keyframe, 1e9 + i / 25,
                                frame.data, TICKS))


def jpeg_size(data: bytes) -> tuple[int, int]:
    """Decode a JPEG: (width, height)."""
    import io

    assert data[:2] == b"\xff\xd8", "not a JPEG"
    with av.open(io.BytesIO(data)) as container:
        frame = next(container.decode(video=0))
        return frame.width, frame.height
