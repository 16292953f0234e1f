"""What the Recordings pages show, gathered from the index (blocking: run in a thread).

The overview: per camera its segments, bytes, first and last recording, its
share of the disk, and the retention in force. A camera's page: its recorded
days in the viewer's time zone (15-minute buckets from the database folded into
local days, so a camera with months of 60 s segments costs one grouped query),
and one day in detail: its spans and gaps, and its segments by local hour.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from nvr.config import Config
from nvr.db.models import Segment
from nvr.recording.timeline import US, Day, day_bounds, day_timeline, local_day
from nvr.web.services import Services

BUCKET_US = 15 * 60 * US  # every time zone's offset is a multiple of 15 minutes


@dataclass(frozen=True, slots=True)
class Retention:
    """The limits that apply to one camera (None: no such limit)."""

    retain_days: float | None
    max_bytes: int | None  # the camera's own cap
    global_max_bytes: int | None  # all cameras together
    min_free: int | None


def retention(config: Config | None, camera: str) -> Retention | None:
    if config is None:
        return None
    rec = config.recording
    cam = next((c for c in config.cameras if c.name == camera), None)
    own_days = cam.retain_days if cam is not None else None
    return Retention(retain_days=own_days if own_days is not None else rec.retain_days,
                     max_bytes=cam.max_bytes if cam is not None else None,
                     global_max_bytes=rec.max_bytes, min_free=rec.min_free)


@dataclass(frozen=True, slots=True)
class CameraTotals:
    name: str
    segments: int
    bytes: int
    first_us: int | None
    last_us: int | None
    retention: Retention | None
    note: str | None = None  # why nothing new is recorded, when the config says so


@dataclass(frozen=True, slots=True)
class Overview:
    cameras: list[CameraTotals]
    disk_total: int
    disk_free: int
    recorded: int  # the listed cameras' bytes

    @property
    def other_used(self) -> int:
        """Disk used by everything else (other files, cameras not listed)."""
        return max(0, self.disk_total - self.disk_free - self.recorded)


def overview(services: Services, cameras: list[str]) -> Overview:
    summary = services.index.summary()
    configs = {c.name: c for c in services.config.cameras} if services.config else {}
    rows = []
    for name in cameras:
        n, size, first, last = summary.get(name, (0, 0, 0, 0))
        cam = configs.get(name)
        note = None
        if cam is not None and not cam.enabled:
            note = "Disabled in the config: not recording"
        elif cam is not None and cam.record == "off":
            note = 'Not recording (record = "off")'
        rows.append(CameraTotals(name, n, size, first if n else None, last if n else None,
                                 retention(services.config, name), note))
    disk = shutil.disk_usage(services.data_dir)
    return Overview(rows, disk.total, disk.free, sum(r.bytes for r in rows))


@dataclass
class DayTotals:
    day: date
    segments: int = 0
    bytes: int = 0
    seconds: float = 0.0
    day_seconds: float = 86400.0  # 23 or 25 hours on a daylight-saving day

    @property
    def coverage(self) -> float:
        return min(1.0, self.seconds / self.day_seconds) if self.day_seconds else 0.0


def days(services: Services, camera: str, tz: ZoneInfo) -> list[DayTotals]:
    """The camera's recorded days in ``tz``, most recent first."""
    out: dict[date, DayTotals] = {}
    for bucket, n, size, seconds in services.index.buckets(camera, BUCKET_US):
        day = local_day(bucket * BUCKET_US, tz)
        totals = out.get(day)
        if totals is None:
            start, end = day_bounds(day, tz)
            totals = out[day] = DayTotals(day, day_seconds=(end - start) / US)
        totals.segments += n
        totals.bytes += size
        totals.seconds += seconds
    return sorted(out.values(), key=lambda d: d.day, reverse=True)


@dataclass
class Hour:
    start: datetime  # local, aware
    label: str
    segments: list[Segment] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return sum(s.bytes for s in self.segments)

    @property
    def seconds(self) -> float:
        return sum(s.duration for s in self.segments)

    @property
    def anchor(self) -> str:
        return f"h{int(self.start.timestamp())}"


@dataclass(frozen=True, slots=True)
class DayDetail:
    day: date
    timeline: Day
    hours: list[Hour]  # oldest first
    segments: int
    bytes: int

    @property
    def recorded_seconds(self) -> float:
        return sum(s.seconds for s in self.timeline.spans)

    @property
    def gap_seconds(self) -> float:
        return sum(g.seconds for g in self.timeline.gaps)

    @property
    def hours_long(self) -> float:
        return (self.timeline.end_us - self.timeline.start_us) / (3600 * US)

    def ticks(self, tz: ZoneInfo) -> list[tuple[float, str]]:
        """``(percent of the day, local "HH")`` at every local full hour of the day."""
        start, end = self.timeline.start_us, self.timeline.end_us
        out = []
        for at in range(start, end, BUCKET_US):
            local = datetime.fromtimestamp(at / US, tz)
            if local.minute == 0:
                out.append((100 * (at - start) / (end - start), local.strftime("%H")))
        return out


def day_detail(services: Services, camera: str, day: date, tz: ZoneInfo,
               now_us: int) -> DayDetail:
    """One local day: spans, gaps, and the segments that start in it by local hour."""
    start, end = day_bounds(day, tz)
    rows = services.index.query(camera, start, end)
    timeline = day_timeline(((r.start_us, r.end_us) for r in rows), day, tz, now_us)
    odd_day = end - start != 86400 * US  # name the offset where an hour repeats or is skipped
    hours: dict[int, Hour] = {}
    for row in rows:
        if row.start_us < start:
            continue  # began the day before; listed there
        local = datetime.fromtimestamp(row.start_us / US, tz)
        top = local.replace(minute=0, second=0, microsecond=0)
        key = int(top.timestamp())  # the fold-aware instant: a repeated hour is two hours
        hour = hours.get(key)
        if hour is None:
            label = top.strftime("%H:00")
            if odd_day:
                label += f" ({top.strftime('%Z')})"
            hour = hours[key] = Hour(top, label)
        hour.segments.append(row)
    listed = [s for h in hours.values() for s in h.segments]
    return DayDetail(day, timeline, [hours[k] for k in sorted(hours)], len(listed),
                     sum(s.bytes for s in listed))
