"""Export: recorded segments → one moov-first MP4, checked with ffprobe and ffmpeg."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from fmp4_media import decode_errors, video_frames
from recorded import T0, media, record, refs, session

from nvr.fmp4.boxes import read_boxes
from nvr.playback.export import ExportPlan, plan_export

US = 1_000_000
FRAME = 0.04


def at(seconds: float) -> int:
    return int(round((T0 + seconds) * US))


def write(plan: ExportPlan, path: Path, block: int = 1 << 20) -> Path:
    with path.open("wb") as out:
        for data in plan.blocks(block):
            out.write(data)
    return path


def probe(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-show_entries",
         "stream=codec_type,codec_name,start_time,duration,nb_read_frames:format=duration",
         "-of", "json", str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def streams(info: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["codec_type"]: s for s in info["streams"]}


def test_export_across_segments_and_a_gap_plays_for_the_right_time(library, tmp_path):
    plan = plan_export(library.refs, at(3.5), at(20))
    assert plan is not None
    path = write(plan, tmp_path / "clip.mp4")
    assert path.stat().st_size == plan.size
    assert decode_errors(path) == ""
    info = probe(path)
    expected = (6 - 3) + (20 - 10)  # from the keyframe at 3 s; the gap skipped
    assert float(info["format"]["duration"]) == pytest.approx(expected, abs=FRAME)
    video, audio = streams(info)["video"], streams(info)["audio"]
    assert (video["codec_name"], audio["codec_name"]) == ("h264", "aac")
    assert float(video["start_time"]) == 0.0
    assert float(video["duration"]) == pytest.approx(expected, abs=FRAME / 2)
    assert int(video["nb_read_frames"]) == expected * 25
    assert float(audio["duration"]) == pytest.approx(expected, abs=0.1)
    frames = video_frames(path)
    assert frames[0]["key_frame"] == 1
    times = [float(f["pts_time"]) for f in frames]
    assert all(abs(b - a - FRAME) < 1e-3 for a, b in zip(times, times[1:], strict=False))
    assert plan.first_us == at(3) and plan.duration == pytest.approx(expected)
    assert plan.segments == 2 + 5  # 2-4 s, 4-6 s, then 10-12 s ... 18-20 s


def test_the_end_is_the_last_frame_shown_before_it(library, tmp_path):
    plan = plan_export(library.refs, at(10), at(12.02))
    assert plan is not None
    path = write(plan, tmp_path / "clip.mp4")
    assert int(streams(probe(path))["video"]["nb_read_frames"]) == 51  # 10.00 ... 12.00
    assert plan.duration == pytest.approx(51 * FRAME)


def test_the_file_is_streamed_in_blocks_with_the_index_first(library, tmp_path):
    plan = plan_export(library.refs, at(0), at(30))
    assert plan is not None
    blocks = list(plan.blocks(block=16 * 1024))
    assert len(blocks) > 10 and sum(map(len, blocks)) == plan.size
    assert max(len(b) for b in blocks[1:]) <= 16 * 1024
    assert [b.kind for b in read_boxes(blocks[0])][:2] == [b"ftyp", b"moov"]  # moov first
    assert len(plan.head) < plan.size // 20


def test_bframes_and_h265_start_at_zero_and_decode(tmp_path):
    for codec in ("h264", "h265"):
        folder = tmp_path / codec
        rows = asyncio.run(record(folder, [session(media(4, codec=codec, bframes=3), T0)], 2))
        plan = plan_export(refs(folder, rows), at(1.3), at(3.5))
        assert plan is not None
        path = write(plan, tmp_path / f"{codec}.mp4")
        assert decode_errors(path) == ""
        video = streams(probe(path))["video"]
        assert float(video["start_time"]) == 0.0  # the edit list hides the B-frame delay
        shown = 63  # frames at 1.00 ... 3.48 s are shown before 3.5 s
        assert int(video["nb_read_frames"]) == shown
        assert float(video["duration"]) == pytest.approx(shown * FRAME, abs=0.001)
        times = sorted(float(f["pts_time"]) for f in video_frames(path))
        assert times[0] == 0.0


def test_nothing_in_the_range(library):
    assert plan_export(library.refs, at(7), at(9)) is None  # the gap
    assert plan_export(library.refs, at(40), at(50)) is None
    assert plan_export([], at(0), at(10)) is None


def test_a_file_changed_after_planning_stops_the_copy(library, tmp_path):
    plan = plan_export(library.refs, at(0), at(5))
    assert plan is not None
    victim = tmp_path / "copy.mp4"
    victim.write_bytes(plan.files[-1].read_bytes()[:2000])
    plan.files[-1] = victim
    with pytest.raises(OSError, match="changed while exporting"):
        for _ in plan.blocks():
            pass


@pytest.mark.parametrize("kernel", ["copy_file_range", "refused", "missing"])
def test_copy_to_a_file_writes_the_same_bytes(library, tmp_path, monkeypatch, kernel):
    plan = plan_export(library.refs, at(3.5), at(20))
    assert plan is not None
    if kernel == "refused":
        def refuse(*_: object) -> int:
            raise OSError(errno.EXDEV, "cross-device")
        monkeypatch.setattr(os, "copy_file_range", refuse)
    elif kernel == "missing":
        monkeypatch.delattr(os, "copy_file_range", raising=False)
    seen: list[int] = []
    path = tmp_path / "copy.mp4"
    with path.open("wb") as out:
        written = plan.copy_to(out.fileno(), seen.append)
    assert written == plan.size == path.stat().st_size and seen[-1] == plan.size
    assert path.read_bytes() == b"".join(plan.blocks())
