"""The recorder fed directly from a Feed with real encoded frames (no network)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest
from nvrharness import wait_until
from recorder_rig import RecorderRig

from nvr.codec.nal import to_avcc
from nvr.codec.sps import h265_sps_info
from nvr.feed import VIDEO_CLOCK, AccessUnit, CodecParams
from nvr.recording.index import SegmentInfo
from nvr.recording.recorder import OpenSegment, Recorder
from nvr.rtsp.dts import DecodeTimestamps
from nvr.sim.media import MediaParams, encode_clip

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")


def _decode_errors(path: Path) -> str:
    out = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"],
                         capture_output=True, text=True, timeout=60)
    return (out.stderr + ("" if out.returncode == 0 else f"exit {out.returncode}")).strip()


def _units(params: MediaParams, start: int, count: int, ticks_short_per_gop: int = 0
           ) -> list[AccessUnit]:
    """``count`` access units of an encoded clip, in decode order from frame ``start``
    (as a session that began there), with pts from the clip and dts from ingest."""
    clip = encode_clip(params)
    video = CodecParams(kind="video", codec=params.codec, clock_rate=VIDEO_CLOCK,
                        sps=clip.sps, pps=clip.pps, vps=clip.vps or b"",
                        width=params.width, height=params.height)
    ticks = VIDEO_CLOCK // params.fps
    gop = params.fps * params.gop_seconds
    dts = DecodeTimestamps()
    if params.codec == "h265":
        dts.expect_reorder(h265_sps_info(clip.sps).reorder)
    units = []
    n = len(clip.frames)
    for k in range(start, start + count):
        frame = clip.frames[k % n]
        shown = k + frame.reorder
        pts = shown * ticks - (shown // gop) * ticks_short_per_gop
        d = dts.next(pts, frame.keyframe)
        units.append(AccessUnit(video, pts, d, frame.keyframe, 1.7e9 + pts / VIDEO_CLOCK,
                                to_avcc(frame.nals)))
    return units


async def _record(tmp_path: Path, units: list[AccessUnit], segment_seconds: float
                  ) -> tuple[Recorder, list[SegmentInfo]]:
    rig = await RecorderRig(tmp_path, segment_seconds).start()
    for au in units:
        rig.feed.publish(au)
    return rig.recorder, await rig.stop()


async def test_session_starting_at_an_open_gop_keyframe_records_cleanly(tmp_path):
    params = MediaParams(codec="h265", width=320, height=240, fps=24, bitrate_kbps=300,
                         gop_seconds=1, loop_gops=2, bframes=3, open_gop=True)
    # the clip's second keyframe is a CRA: the pictures right behind it are shown
    # before it and need the GOP before it, which this session never got
    cra = [i for i, f in enumerate(encode_clip(params).frames) if f.keyframe][1]
    units = _units(params, start=cra, count=24 * 4)
    assert units[0].keyframe and any(u.pts < units[0].pts for u in units[1:5])
    recorder, rows = await _record(tmp_path, units, segment_seconds=2)
    assert recorder.leading_dropped >= 1
    assert rows and all(_decode_errors(tmp_path / r.path) == "" for r in rows)
    assert all(a.end_us == b.start_us for a, b in zip(rows, rows[1:], strict=False))


async def test_camera_clock_a_tick_short_per_gop_still_cuts_at_segment_seconds(tmp_path):
    params = MediaParams(codec="h264", width=160, height=96, fps=25, bitrate_kbps=100,
                         gop_seconds=1, loop_gops=2)
    units = _units(params, start=0, count=25 * 11, ticks_short_per_gop=1)
    _, rows = await _record(tmp_path, units, segment_seconds=5)
    # 5 s segments, not 6 s ones: the keyframe at 4.99999 s is close enough
    assert [round(r.duration, 2) for r in rows[:2]] == [5.0, 5.0]


async def test_the_segment_being_written_is_known_up_to_its_last_fragment_on_disk(tmp_path):
    """Before its row is in the index, the open segment's path, start and end (that of
    its last fsynced GOP) are known, and its file plays that far; once indexed, the
    row takes over."""
    params = MediaParams(codec="h264", width=160, height=96, fps=25, bitrate_kbps=100,
                         gop_seconds=1, loop_gops=2)
    units = _units(params, start=0, count=25 * 4 + 1)  # four GOPs and the next keyframe
    rig = await RecorderRig(tmp_path, 60).start()
    feed, recorder, rows = rig.feed, rig.recorder, rig.rows
    assert recorder.open_segment is None
    seen = []
    for gop in range(4):
        # the GOP's frames up to the next keyframe, which ends it (a fragment)
        for au in units[(gop * 25 + 1 if gop else 0):(gop + 1) * 25 + 1]:
            feed.publish(au)
        def on_disk(known: int = seen[-1].end_us if seen else 0) -> OpenSegment | None:
            found = recorder.open_segment  # that GOP on disk: further than the last
            return found if found is not None and found.end_us > known else None

        seen.append(await wait_until(on_disk, 5, f"GOP {gop + 1} on disk", 0.01))
    start_us = int(units[0].wallclock * 1e6)
    assert {s.start_us for s in seen} == {start_us} and {s.path for s in seen} == {
        recorder.active_path}
    assert [s.end_us - start_us for s in seen] == [1_000_000, 2_000_000, 3_000_000, 4_000_000]
    assert rows == []  # not indexed yet
    probe = await asyncio.to_thread(
        subprocess.run, ["ffprobe", "-v", "error", "-show_entries", "format=duration",
                         "-of", "csv=p=0", str(tmp_path / seen[-1].path)],
        capture_output=True, text=True, timeout=30)
    assert float(probe.stdout) >= 3.9  # the file plays as far as the open segment says
    await rig.stop()
    assert [r.path for r in rows] == [seen[-1].path] and recorder.open_segment is None
