from __future__ import annotations

import shutil
import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from nvr.recording.index import SegmentIndex, SegmentInfo
from nvr.recording.probe import parse_segment_relpath, probe_segment, segment_relpath
from nvr.recording.reconcile import reconcile

FPS = 25
SECONDS = 3
DAY_US = 1_714_521_600 * 1_000_000  # 2024-05-01T00:00:00Z


def _write_fmp4(path: Path) -> None:
    """3 s of 320x240 H.264 at 25 fps, one GOP per second, plus AAC; one fragment per GOP."""
    flags = "frag_keyframe+empty_moov+default_base_moof"
    with av.open(str(path), "w", format="mp4", options={"movflags": flags}) as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = 320, 240, "yuv420p"
        video.codec_context.gop_size = FPS
        video.codec_context.options = {"preset": "ultrafast", "tune": "zerolatency"}
        audio = out.add_stream("aac", rate=48000)
        audio.layout = "mono"
        samples = 0
        for i in range(FPS * SECONDS):
            image = np.full((240, 320, 3), (i * 7) % 256, np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, FPS)
            out.mux(video.encode(frame))
            while samples < (i + 1) * 48000 // FPS:
                chunk = av.AudioFrame.from_ndarray(
                    np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
                )
                chunk.sample_rate, chunk.pts = 48000, samples
                out.mux(audio.encode(chunk))
                samples += 1024
        out.mux(video.encode())
        out.mux(audio.encode())


def _boxes(data: bytes) -> list[tuple[int, bytes, int]]:
    boxes, offset = [], 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        boxes.append((offset, kind, size))
        offset += size
    return boxes


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fmp4") / "sample.mp4"
    _write_fmp4(path)
    return path


def _put(data_dir: Path, camera: str, seconds_into_day: int, content: bytes, seq: int = 0) -> str:
    rel = "recordings/" + segment_relpath(camera, DAY_US + seconds_into_day * 10**6, seq).as_posix()
    (data_dir / rel).parent.mkdir(parents=True, exist_ok=True)
    (data_dir / rel).write_bytes(content)
    return rel


def test_probe_segment_complete_file(sample: Path) -> None:
    result = probe_segment(sample)
    assert result is not None
    assert (result.video_codec, result.audio_codec) == ("h264", "aac")
    assert (result.width, result.height) == (320, 240)
    assert result.duration == pytest.approx(SECONDS, abs=0.05)
    assert result.video_packets == FPS * SECONDS
    assert result.bytes == sample.stat().st_size


def test_probe_segment_unplayable_returns_none(sample: Path, tmp_path: Path) -> None:
    data = sample.read_bytes()
    (moov_offset, _, moov_size), (moof_offset, _, _) = [
        b for b in _boxes(data) if b[1] in (b"moov", b"moof")
    ][:2]
    cases = {
        "empty": b"",
        "garbage": bytes(range(256)) * 40,
        "ftyp_only": data[:moov_offset],
        "header_only": data[: moov_offset + moov_size],
        "half_first_fragment": data[: moof_offset + 300],
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        assert probe_segment(tmp_path / name) is None, name
    assert probe_segment(tmp_path / "missing.mp4") is None


def test_parse_segment_relpath_names() -> None:
    t = DAY_US + (12 * 3600 + 5) * 10**6
    name = parse_segment_relpath("cam/2024-05-01/12-00-05.mp4")
    assert name is not None and (name.camera, name.start_us, name.sequence) == ("cam", t, 0)
    name = parse_segment_relpath("cam/2024-05-01/12-00-05-2.mp4")
    assert name is not None and (name.start_us, name.sequence) == (t, 2)
    name = parse_segment_relpath("cam/2024-05-01/12-00-05.25-1.mp4")
    assert name is not None and (name.start_us, name.sequence) == (t + 250_000, 1)
    assert segment_relpath("cam", t + 999_999).as_posix() == "cam/2024-05-01/12-00-05.mp4"
    assert segment_relpath("cam", t, 3).as_posix() == "cam/2024-05-01/12-00-05-3.mp4"
    for bad in [
        "cam/2024-05-01/12-00-05.mp4.part",
        "cam/2024-13-01/12-00-05.mp4",
        "cam/2024-05-01/24-00-00.mp4",
        "cam/2024-05-01/12-00-05-0.mp4",
        "cam/12-00-05.mp4",
        "a/cam/2024-05-01/12-00-05.mp4",
        "cam/2024-05-01/\x00.mp4",
        "",
    ]:
        assert parse_segment_relpath(bad) is None, bad


def test_reconcile_indexes_complete_and_truncated_files(
    segment_index: SegmentIndex, sample: Path, tmp_path: Path
) -> None:
    data = sample.read_bytes()
    last_mdat_offset, _, last_mdat_size = [b for b in _boxes(data) if b[1] == b"mdat"][-1]
    truncated = data[: last_mdat_offset + last_mdat_size // 2]  # kill -9 mid-fragment

    full = _put(tmp_path, "door", 12 * 3600, data)
    cut = _put(tmp_path, "door", 12 * 3600, truncated, seq=1)
    yard = _put(tmp_path, "yard", 60, data)

    report = reconcile(tmp_path, segment_index)

    assert (report.added, report.removed, report.deleted_empty) == (3, 0, 0)
    rows = {row.path: row for row in segment_index.query()}
    assert set(rows) == {full, cut, yard}
    assert rows[full].camera == "door"
    assert rows[full].start_us == DAY_US + 12 * 3600 * 10**6
    assert rows[full].duration == pytest.approx(SECONDS, abs=0.05)
    assert rows[full].end_us == rows[full].start_us + round(rows[full].duration * 1e6)
    assert rows[full].bytes == len(data)
    assert (rows[full].video_codec, rows[full].audio_codec) == ("h264", "aac")
    assert (rows[full].width, rows[full].height) == (320, 240)
    assert 2.0 <= rows[cut].duration < rows[full].duration - 0.2  # lost half a GOP
    assert rows[cut].bytes == len(truncated)
    assert rows[yard].camera == "yard"

    again = reconcile(tmp_path, segment_index)
    assert (again.added, again.removed, again.deleted_empty) == (0, 0, 0)


def test_reconcile_deletes_unplayable_files(
    segment_index: SegmentIndex, sample: Path, tmp_path: Path
) -> None:
    empty = _put(tmp_path, "door", 10, b"")
    garbage = _put(tmp_path, "door", 20, b"\x00garbage" * 500)
    header = _put(tmp_path, "door", 30, sample.read_bytes()[:32])
    good = _put(tmp_path, "door", 40, sample.read_bytes())

    report = reconcile(tmp_path, segment_index)

    assert (report.added, report.deleted_empty) == (1, 3)
    for rel in (empty, garbage, header):
        assert not (tmp_path / rel).exists()
    assert segment_index.paths() == {good}


def test_reconcile_removes_rows_without_files(
    segment_index: SegmentIndex, sample: Path, tmp_path: Path
) -> None:
    kept = _put(tmp_path, "door", 0, sample.read_bytes())
    for rel in (kept, "recordings/door/2024-05-01/00-00-10.mp4"):
        segment_index.add(
            SegmentInfo("door", DAY_US, DAY_US + 10**6, 1.0, 10, rel, "h264", None, 320, 240)
        )

    report = reconcile(tmp_path, segment_index)

    assert (report.added, report.removed, report.deleted_empty) == (0, 1, 0)
    assert segment_index.paths() == {kept}


def test_reconcile_respects_skip_and_ignores_foreign_files(
    segment_index: SegmentIndex, sample: Path, tmp_path: Path
) -> None:
    writing = _put(tmp_path, "door", 0, sample.read_bytes()[:40])  # being written right now
    written_row = "recordings/door/2024-05-01/00-00-10.mp4"  # row exists, file not yet visible
    segment_index.add(
        SegmentInfo("door", DAY_US, DAY_US + 10**6, 1.0, 10, written_row, "h264", None, 1, 1)
    )
    (tmp_path / "recordings" / "door" / "notes.txt").write_text("mine")

    report = reconcile(tmp_path, segment_index, skip={writing, written_row})

    assert (report.added, report.removed, report.deleted_empty) == (0, 0, 0)
    assert report.ignored == ["recordings/door/notes.txt"]
    assert (tmp_path / writing).exists()
    assert (tmp_path / "recordings" / "door" / "notes.txt").exists()
    assert segment_index.paths() == {written_row}


def test_reconcile_without_recordings_dir(segment_index: SegmentIndex, tmp_path: Path) -> None:
    report = reconcile(tmp_path / "nothing", segment_index)
    assert (report.added, report.removed, report.deleted_empty) == (0, 0, 0)


def test_reconcile_copy_of_sample_keeps_file(
    segment_index: SegmentIndex, sample: Path, tmp_path: Path
) -> None:
    rel = "recordings/" + segment_relpath("cam", DAY_US).as_posix()
    (tmp_path / rel).parent.mkdir(parents=True)
    shutil.copy(sample, tmp_path / rel)
    reconcile(tmp_path, segment_index)
    assert (tmp_path / rel).read_bytes() == sample.read_bytes()
