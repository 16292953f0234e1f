from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy.exc import IntegrityError

from nvr.recording.index import SegmentIndex, SegmentInfo

S = 1_000_000
T0 = 1_714_564_800 * S  # 2024-05-01T12:00:00Z


def info(camera: str, start_s: int, length_s: int = 10, size: int = 1000) -> SegmentInfo:
    start = T0 + start_s * S
    return SegmentInfo(
        camera=camera,
        start_us=start,
        end_us=start + length_s * S,
        duration=float(length_s),
        bytes=size,
        path=f"recordings/{camera}/2024-05-01/{start_s}.mp4",
        video_codec="h264",
        audio_codec=None,
        width=1920,
        height=1080,
    )


def test_add_get_segment_round_trip(segment_index: SegmentIndex) -> None:
    new = dataclasses.replace(info("door", 0), audio_codec="aac", bytes=5 * 2**32)
    segment_id = segment_index.add(new)
    row = segment_index.get(segment_id)
    assert row is not None
    assert {f.name: getattr(row, f.name) for f in dataclasses.fields(SegmentInfo)} == (
        dataclasses.asdict(new)
    )
    assert row.start.isoformat() == "2024-05-01T12:00:00+00:00"
    assert row.end.isoformat() == "2024-05-01T12:00:10+00:00"
    assert segment_index.get(segment_id + 1000) is None


def test_add_duplicate_path_rejected(segment_index: SegmentIndex) -> None:
    segment_index.add(info("door", 0))
    with pytest.raises(IntegrityError):
        segment_index.add(info("door", 0))
    assert len(segment_index.query()) == 1


def test_query_overlap_ordered_by_start(segment_index: SegmentIndex) -> None:
    for start in (20, 0, 10, 30):
        segment_index.add(info("door", start))
    segment_index.add(info("yard", 5))

    def starts(**kw: object) -> list[int]:
        return [(s.start_us - T0) // S for s in segment_index.query(**kw)]

    assert starts() == [0, 5, 10, 20, 30]
    assert starts(camera="door") == [0, 10, 20, 30]
    # [15, 25) overlaps 10..20 and 20..30
    assert starts(camera="door", start_us=T0 + 15 * S, end_us=T0 + 25 * S) == [10, 20]
    # half-open: a segment ending exactly at start, or starting exactly at end, is out
    assert starts(camera="door", start_us=T0 + 20 * S, end_us=T0 + 30 * S) == [20]
    assert starts(start_us=T0 + 35 * S) == [30]
    assert starts(end_us=T0 + 5 * S) == [0]
    assert starts(camera="nobody") == []


def test_delete_oldest_and_totals(segment_index: SegmentIndex) -> None:
    ids = {start: segment_index.add(info("door", start, size=100 + start)) for start in (0, 10)}
    segment_index.add(info("yard", 5, size=7))
    assert segment_index.total_bytes() == 100 + 110 + 7
    assert segment_index.total_bytes("door") == 210
    assert segment_index.total_bytes("none") == 0
    assert segment_index.by_camera_bytes() == {"door": 210, "yard": 7}
    assert segment_index.cameras() == ["door", "yard"]
    assert [s.camera for s in segment_index.oldest(limit=2)] == ["door", "yard"]
    assert [s.id for s in segment_index.oldest("door")] == [ids[0], ids[10]]
    first = segment_index.oldest(limit=1)[0]
    assert [s.camera for s in segment_index.oldest(after=(first.start_us, first.id))] == [
        "yard",
        "door",
    ]

    assert segment_index.delete([ids[0], 999_999]) == 1
    assert segment_index.delete([]) == 0
    assert segment_index.get(ids[0]) is None
    assert segment_index.paths() == {
        "recordings/door/2024-05-01/10.mp4",
        "recordings/yard/2024-05-01/5.mp4",
    }
    assert segment_index.delete_paths(["recordings/yard/2024-05-01/5.mp4"]) == 1
    assert segment_index.by_camera_bytes() == {"door": 110}


def test_delete_many_ids_in_batches(segment_index: SegmentIndex) -> None:
    ids = [segment_index.add(info("door", start, size=1)) for start in range(1200)]
    assert segment_index.delete(ids) == 1200
    assert segment_index.total_bytes() == 0
    assert segment_index.by_camera_bytes() == {}
