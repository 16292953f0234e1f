"""Spans, gaps and local days (nvr.recording.timeline)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from nvr.recording.timeline import (
    JOIN_US,
    Span,
    clip,
    day_bounds,
    day_timeline,
    gaps,
    local_day,
    merge,
    parse_day,
    zone,
)

US = 1_000_000
H = 3600 * US


def test_touching_and_nearly_touching_segments_are_one_span():
    ranges = [(0, 60 * US), (60 * US, 120 * US), (120 * US + JOIN_US, 180 * US)]
    assert merge(ranges) == [Span(0, 180 * US)]


def test_a_hole_longer_than_the_tolerance_splits_spans():
    ranges = [(0, 60 * US), (60 * US + JOIN_US + 1, 120 * US), (200 * US, 260 * US)]
    assert merge(ranges) == [Span(0, 60 * US), Span(60 * US + JOIN_US + 1, 120 * US),
                             Span(200 * US, 260 * US)]


def test_overlapping_and_contained_segments_merge():
    assert merge([(0, 100), (50, 80), (60, 200), (900_000, 900_001)]) == [
        Span(0, 200), Span(900_000, 900_001)]
    assert merge([]) == []


def test_gaps_are_the_holes_within_the_range():
    spans = [Span(10, 20), Span(30, 40)]
    assert gaps(spans, 0, 50) == [Span(0, 10), Span(20, 30), Span(40, 50)]
    assert gaps(spans, 10, 40) == [Span(20, 30)]
    assert gaps(spans, 0, 25) == [Span(0, 10), Span(20, 25)]
    assert gaps([], 0, 5) == [Span(0, 5)]
    assert gaps(spans, 5, 5) == []


def test_clip_cuts_spans_at_the_bounds():
    assert clip([Span(-5, 5), Span(8, 9), Span(10, 20)], 0, 10) == [Span(0, 5), Span(8, 9)]


def test_a_utc_day_is_24_hours():
    start, end = day_bounds(date(2024, 3, 31), zone("UTC"))
    assert start == int(datetime(2024, 3, 31, tzinfo=UTC).timestamp()) * US
    assert end - start == 24 * H


@pytest.mark.parametrize(("day", "hours"), [
    (date(2024, 3, 31), 23),  # Europe/Berlin springs forward
    (date(2024, 10, 27), 25),  # and falls back
    (date(2024, 6, 1), 24),
])
def test_a_daylight_saving_day_is_23_or_25_hours(day, hours):
    start, end = day_bounds(day, zone("Europe/Berlin"))
    assert end - start == hours * H
    assert local_day(start, zone("Europe/Berlin")) == day
    assert local_day(end - 1, zone("Europe/Berlin")) == day


def test_the_day_timeline_stops_its_gaps_at_now():
    tz = zone("UTC")
    start, end = day_bounds(date(2024, 5, 1), tz)
    ranges = [(start - 30 * US, start + 60 * US), (start + 2 * H, start + 3 * H)]
    now = start + 5 * H
    day = day_timeline(ranges, date(2024, 5, 1), tz, now)
    assert day.spans == [Span(start, start + 60 * US), Span(start + 2 * H, start + 3 * H)]
    assert day.gaps == [Span(start + 60 * US, start + 2 * H), Span(start + 3 * H, now)]
    # a day in the future misses nothing yet; a past day's gaps run to its end
    assert day_timeline([], date(2024, 5, 2), tz, now).gaps == []
    assert day_timeline(ranges, date(2024, 5, 1), tz, end + H).gaps[-1] == Span(
        start + 3 * H, end)


def test_zones_and_days_are_checked():
    assert zone(None).key == "UTC" and zone("").key == "UTC"
    assert zone("Asia/Kolkata").key == "Asia/Kolkata"
    for bad in ("Mars/Olympus", "../../etc/passwd", "/etc/localtime", "x" * 100, "a\x00b"):
        with pytest.raises(ValueError):
            zone(bad)
    assert parse_day("2024-02-29") == date(2024, 2, 29)
    for bad in ("2023-02-29", "2024-2-1", "yesterday", "2024-01-01T00:00"):
        with pytest.raises(ValueError):
            parse_day(bad)
