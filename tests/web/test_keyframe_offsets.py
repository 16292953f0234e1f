"""Keyframe times read from a segment's boxes (nvr.web.images.keyframe_offsets)
agree with what FFmpeg finds: frame.jpg looks up its cache by them."""

from __future__ import annotations

import sys
from pathlib import Path

import av
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fmp4"))

from fmp4_media import TICKS, encode_aac, encode_video  # noqa: E402

from nvr.recording.writer import SegmentWriter  # noqa: E402
from nvr.web.images import keyframe_offsets  # noqa: E402


def write(path: Path, codec: str, bframes: int, audio: bool = False) -> Path:
    params, frames = encode_video(codec, frames=60, bframes=bframes, gop=10)
    aparams, aframes = encode_aac(2.4) if audio else (None, [])
    writer = SegmentWriter(path, params, aparams, auto_flush=False)
    sent = 0
    for frame in frames:
        if frame.keyframe and (data := writer.take_fragment()):
            writer.write_fragment(data)
        writer.write_video(frame.data, frame.pts, frame.dts, TICKS, frame.keyframe)
        while sent < len(aframes) and sent * 1024 * 90_000 <= frame.dts * 48_000:
            writer.write_audio(aframes[sent], sent * 1024, 1024)
            sent += 1
    writer.close()
    return path


def ffmpeg_offsets(path: Path) -> list[int]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        first = stream.start_time or 0
        return sorted(int((p.pts - first) * stream.time_base * 1_000_000)
                      for p in container.demux(stream) if p.is_keyframe and p.size)


@pytest.mark.parametrize(("codec", "bframes", "audio"), [
    ("h264", 0, False), ("h264", 2, True), ("h265", 2, False)])
def test_the_keyframes_are_where_ffmpeg_finds_them(tmp_path, codec, bframes, audio):
    path = write(tmp_path / "seg.mp4", codec, bframes, audio)
    offsets = keyframe_offsets(path)
    assert offsets == [i * 400_000 for i in range(6)]  # a keyframe every 10 frames at 25 fps
    assert offsets == ffmpeg_offsets(path)


def test_a_file_cut_short_gives_the_keyframes_before_the_cut(tmp_path):
    path = write(tmp_path / "seg.mp4", "h264", 0)
    data = path.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 2 // 3])
    offsets = keyframe_offsets(cut)
    assert 2 <= len(offsets) < 6 and offsets == [i * 400_000 for i in range(len(offsets))]


def test_not_a_segment(tmp_path):
    for name, data in (("empty", b""), ("junk", b"\x00\x00\x00\x10junkjunkjunkjunk" * 3),
                       ("text", b"hello world, not an mp4 at all")):
        (tmp_path / name).write_bytes(data)
        assert keyframe_offsets(tmp_path / name) == []
    with pytest.raises(OSError):
        keyframe_offsets(tmp_path / "missing.mp4")
