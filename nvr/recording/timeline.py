"""What was recorded when: segments merged into spans, and the gaps between them.

Pure functions on integer microseconds (UTC), no I/O. A local day is turned
into its UTC bounds with :mod:`zoneinfo`, so a daylight-saving day is 23 or 25
hours long. Segments of an unbroken stream touch exactly (the next starts where
the previous ended); segments closer than :data:`JOIN_US` are one span too, so a
rounding error or a frame lost at a reconnect does not show as a gap.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# segments this close (0.1 s, a few frames at most) join into one span
JOIN_US = 100_000
US = 1_000_000


@dataclass(frozen=True, slots=True)
class Span:
    start_us: int
    end_us: int

    @property
    def seconds(self) -> float:
        return (self.end_us - self.start_us) / US


def zone(name: str | None) -> ZoneInfo:
    """The time zone called ``name`` (``None`` or empty: UTC); ValueError if unknown."""
    if not name:
        return ZoneInfo("UTC")
    if len(name) > 64 or not name.isprintable() or ".." in name or name.startswith("/"):
        raise ValueError(f"unknown time zone {name[:64]!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {name!r}") from None


def to_us(when: datetime) -> int:
    """An aware datetime → microseconds since the epoch."""
    return int(when.timestamp()) * US + when.microsecond


def day_bounds(day: date, tz: ZoneInfo) -> tuple[int, int]:
    """``[start, end)`` in µs UTC of the local day ``day`` in ``tz`` (23 to 25 hours)."""
    start = datetime.combine(day, time(0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    return to_us(start), to_us(end)


def local_day(us: int, tz: ZoneInfo) -> date:
    """The local date (in ``tz``) at the instant ``us``."""
    return datetime.fromtimestamp(us / US, tz).date()


def parse_day(value: str) -> date:
    """``YYYY-MM-DD`` → date; ValueError otherwise."""
    if len(value) != 10:
        raise ValueError(f"not a day (YYYY-MM-DD): {value[:20]!r}")
    return date.fromisoformat(value)


def merge(ranges: Iterable[tuple[int, int]], join_us: int = JOIN_US) -> list[Span]:
    """Time ranges (sorted by start) → spans: ranges that overlap, touch or are
    within ``join_us`` of each other become one."""
    spans: list[Span] = []
    start = end = None
    for s, e in ranges:
        if e < s:
            continue
        if start is None or end is None:
            start, end = s, e
        elif s <= end + join_us:
            if e > end:
                end = e
        else:
            spans.append(Span(start, end))
            start, end = s, e
    if start is not None and end is not None:
        spans.append(Span(start, end))
    return spans


def clip(spans: Iterable[Span], start_us: int, end_us: int) -> list[Span]:
    """The parts of ``spans`` inside ``[start_us, end_us)``."""
    out = []
    for span in spans:
        s, e = max(span.start_us, start_us), min(span.end_us, end_us)
        if s < e:
            out.append(Span(s, e))
    return out


def gaps(spans: list[Span], start_us: int, end_us: int) -> list[Span]:
    """The holes of ``[start_us, end_us)`` not covered by ``spans`` (sorted, disjoint)."""
    out = []
    at = start_us
    for span in spans:
        if span.start_us > at:
            out.append(Span(at, min(span.start_us, end_us)))
        at = max(at, span.end_us)
        if at >= end_us:
            break
    if at < end_us:
        out.append(Span(at, end_us))
    return [g for g in out if g.start_us < g.end_us]


@dataclass(frozen=True, slots=True)
class Day:
    """One local day of one camera: its recorded spans and the gaps up to ``now``."""

    start_us: int
    end_us: int
    spans: list[Span]
    gaps: list[Span]


def day_timeline(ranges: Iterable[tuple[int, int]], day: date, tz: ZoneInfo,
                 now_us: int) -> Day:
    """Spans of the segments ``ranges`` (sorted by start) within the local ``day``,
    and the gaps between them; the gaps stop at ``now_us`` (nothing is missing in
    the future)."""
    start, end = day_bounds(day, tz)
    spans = clip(merge(ranges), start, end)
    return Day(start, end, spans, gaps(spans, start, min(end, now_us)))
