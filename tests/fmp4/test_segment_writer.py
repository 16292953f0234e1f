"""SegmentWriter (nvr.recording.writer) on top of nvr.fmp4: the recorder's calls, the file
they leave, and the durability steps."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fmp4_media import (
    TICKS,
    Encoded,
    decode_errors,
    ffprobe,
    he_aac_frame,
    he_aac_params,
    parse_trun,
    video_frames,
)

from nvr.fmp4.boxes import find, read_boxes
from nvr.recording.probe import probe_segment
from nvr.recording.writer import SegmentWriter


def _record(writer: SegmentWriter, encoded: Encoded, audio_frames: list[bytes] | None = None,
            samples: int = 1024, explicit: bool = False) -> list[bytes]:
    """Feed a writer the way the recorder does: times relative to the first frame's pts
    (so a B-frame stream's first dts is negative), audio interleaved by time.
    ``explicit``: take_fragment/write_fragment at each keyframe (auto_flush off)."""
    _, frames = encoded
    base = frames[0].pts
    pending = list(audio_frames or [])
    sent = 0
    written = []
    for frame in frames:
        if explicit and frame.keyframe:
            data = writer.take_fragment()
            if data is not None:
                writer.write_fragment(data)
                written.append(data)
        writer.write_video(frame.data, frame.pts - base, frame.dts - base, TICKS,
                           frame.keyframe)
        while pending and sent * samples * 90_000 <= (frame.pts - base) * 48_000:
            writer.write_audio(pending.pop(0), sent * samples, samples)
            sent += 1
    return written


def test_recorded_file_plays_and_probes(tmp_path: Path, h264: Encoded, aac):
    path = tmp_path / "recordings" / "cam" / "2024-05-01" / "12-00-00.mp4"
    writer = SegmentWriter(path, h264[0], aac[0])
    _record(writer, h264, aac[1])
    size = writer.close()
    assert size == path.stat().st_size
    assert writer.frames == 75
    assert decode_errors(path) == ""
    probe = probe_segment(path)
    assert probe is not None
    assert (probe.video_codec, probe.audio_codec, probe.width, probe.height) == (
        "h264", "aac", 320, 240)
    assert probe.video_packets == 75
    assert probe.duration == pytest.approx(3.0)
    assert probe.start_offset == 0.0
    streams = ffprobe(path, "stream=codec_type")["streams"]
    assert [s["codec_type"] for s in streams] == ["video", "audio"]


def test_auto_flush_writes_a_fragment_per_gop(tmp_path: Path, h264: Encoded):
    path = tmp_path / "a.mp4"
    writer = SegmentWriter(path, h264[0], None)
    sizes = []
    for frame in h264[1]:
        writer.write_video(frame.data, frame.pts, frame.dts, TICKS, frame.keyframe)
        sizes.append(path.stat().st_size)
    # the file grows when the next keyframe arrives (frames 25 and 50), never in between
    assert [i for i in range(1, len(sizes)) if sizes[i] != sizes[i - 1]] == [25, 50]
    writer.close()
    assert len(find(read_boxes(path.read_bytes()), b"moof")) == 3


def test_explicit_fragments_leave_the_file_alone_until_written(tmp_path: Path,
                                                               h264_bframes: Encoded):
    path = tmp_path / "b.mp4"
    writer = SegmentWriter(path, h264_bframes[0], None, auto_flush=False)
    header = path.stat().st_size
    frames = h264_bframes[1]
    for frame in frames[:30]:  # past the second keyframe: nothing is written by itself
        writer.write_video(frame.data, frame.pts, frame.dts, TICKS, frame.keyframe)
    assert path.stat().st_size == header
    assert writer.take_fragment() is not None
    assert writer.take_fragment() is None  # the queue was emptied
    writer.close()

    path2 = tmp_path / "c.mp4"
    writer = SegmentWriter(path2, h264_bframes[0], None, auto_flush=False)
    written = _record(writer, h264_bframes, explicit=True)
    assert len(written) == 2
    writer.close()
    traf = find(read_boxes(path2.read_bytes()), b"traf")[0]
    _, tfdt, trun = traf.children
    first_offset = parse_trun(trun.payload)[1][0][3]
    assert int.from_bytes(tfdt.payload[4:12], "big") + first_offset == 0  # shown at time 0
    assert decode_errors(path2) == ""
    assert len(video_frames(path2)) == 75


def test_every_written_fragment_survives_a_crash(tmp_path: Path, h265: Encoded):
    path = tmp_path / "crash.mp4"
    writer = SegmentWriter(path, h265[0], None, auto_flush=False)
    snapshots = []
    for frame in h265[1]:
        if frame.keyframe:
            data = writer.take_fragment()
            if data is not None:
                writer.write_fragment(data)
                snapshots.append(path.read_bytes())  # what a kill -9 now would leave
        writer.write_video(frame.data, frame.pts, frame.dts, TICKS, frame.keyframe)
    for i, data in enumerate(snapshots, start=1):
        copy = tmp_path / f"after{i}.mp4"
        copy.write_bytes(data + b"\0\0\x01\0moof")  # plus the start of a fragment cut short
        probe = probe_segment(copy)
        assert probe is not None and probe.video_packets == 25 * i
    writer.close()
    stream = ffprobe(path, "stream=codec_tag_string")["streams"][0]
    assert stream["codec_tag_string"] == "hvc1"


def test_he_aac_camera_is_recorded_as_he_aac(tmp_path: Path, h264: Encoded):
    path = tmp_path / "he.mp4"
    writer = SegmentWriter(path, h264[0], he_aac_params())
    _record(writer, h264, [he_aac_frame()] * 70, samples=2048)
    writer.close()
    assert decode_errors(path) == ""
    assert ffprobe(path, "stream=profile")["streams"][1]["profile"] == "HE-AAC"


def test_new_file_is_durable_before_the_first_frame(tmp_path: Path, h264: Encoded,
                                                    monkeypatch: pytest.MonkeyPatch):
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    day = tmp_path / "cam" / "2024-05-01"
    path = day / "12-00-00.mp4"
    writer = SegmentWriter(path, h264[0], None)
    # the init segment, then the file's directory entry, then the new day directory's
    assert synced == [str(path), str(day), str(day.parent)]
    assert read_boxes(path.read_bytes())[0].kind == b"ftyp"
    assert probe_segment(path) is None  # only ftyp+moov: nothing playable, reconcile deletes
    synced.clear()
    SegmentWriter(day / "12-00-02.mp4", h264[0], None).close()
    assert synced[:2] == [str(day / "12-00-02.mp4"), str(day)]  # day existed: no parent
    assert str(day.parent) not in synced
    writer.close()
