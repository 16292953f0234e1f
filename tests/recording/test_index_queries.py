"""The index's queries for the timeline, frames and the web pages (SQLite and PostgreSQL)."""

from __future__ import annotations

from nvr.recording.index import MAX_SEGMENT_US, SegmentIndex, SegmentInfo

S = 1_000_000
T0 = 1_714_521_600 * S  # 2024-05-01T00:00:00Z


def add(index: SegmentIndex, camera: str, start_s: float, length_s: float,
        size: int = 1000) -> None:
    start = T0 + int(start_s * S)
    index.add(SegmentInfo(camera=camera, start_us=start, end_us=start + int(length_s * S),
                          duration=float(length_s), bytes=size,
                          path=f"recordings/{camera}/{start}.mp4", video_codec="h264",
                          audio_codec=None, width=640, height=360))


def test_ranges_overlapping_a_window(segment_index: SegmentIndex) -> None:
    add(segment_index, "door", -30, 60)  # began before the window, ends in it
    add(segment_index, "door", 30, 60)
    add(segment_index, "door", 90, 0)  # zero length at the end of the previous one
    add(segment_index, "door", 200, 60)  # after the window
    add(segment_index, "door", -200, 60)  # before it
    add(segment_index, "yard", 0, 60)  # another camera
    assert segment_index.ranges("door", T0, T0 + 200 * S) == [
        (T0 - 30 * S, T0 + 30 * S), (T0 + 30 * S, T0 + 90 * S), (T0 + 90 * S, T0 + 90 * S)]
    assert segment_index.ranges("door", T0 + 500 * S, T0 + 600 * S) == []


def test_ranges_find_a_long_segment_that_began_hours_before(segment_index: SegmentIndex
                                                            ) -> None:
    add(segment_index, "door", -3600, 3700)  # an hour-long segment
    assert segment_index.ranges("door", T0, T0 + 10 * S) == [(T0 - 3600 * S, T0 + 100 * S)]
    assert MAX_SEGMENT_US >= 2 * 3600 * S


def test_the_segment_playing_at_a_time(segment_index: SegmentIndex) -> None:
    add(segment_index, "door", 0, 60)
    add(segment_index, "door", 60, 60)
    add(segment_index, "door", 200, 60)
    at = segment_index.at
    assert at("door", T0).start_us == T0  # type: ignore[union-attr]
    assert at("door", T0 + 59_999_999).start_us == T0  # type: ignore[union-attr]
    assert at("door", T0 + 60 * S).start_us == T0 + 60 * S  # type: ignore[union-attr]
    assert at("door", T0 + 150 * S) is None  # a gap
    assert at("door", T0 - 1) is None and at("yard", T0) is None


def test_buckets_summary_and_size(segment_index: SegmentIndex) -> None:
    quarter = 15 * 60 * S
    add(segment_index, "door", 0, 60, size=10)
    add(segment_index, "door", 60, 60, size=20)
    add(segment_index, "door", 15 * 60, 60, size=40)
    add(segment_index, "door", 86400, 30, size=80)
    add(segment_index, "yard", 5, 5, size=1)
    first = T0 // quarter
    assert segment_index.buckets("door", quarter) == [
        (first, 2, 30, 120.0), (first + 1, 1, 40, 60.0), (first + 96, 1, 80, 30.0)]
    assert segment_index.buckets("door", quarter, T0 + S, T0 + 86400 * S) == [
        (first, 1, 20, 60.0), (first + 1, 1, 40, 60.0)]
    assert segment_index.summary() == {
        "door": (4, 150, T0, T0 + 86430 * S), "yard": (1, 1, T0 + 5 * S, T0 + 10 * S)}
    kind, size = segment_index.database_size()
    assert kind in ("sqlite", "postgresql") and size is not None and size > 0
