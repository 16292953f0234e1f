"""Retention: delete the oldest segments by age, by size and for free disk space,
and on cameras that record events only, the footage no event claims.

Rules, applied in this order on each ``run_once``:

0. events only (``record = "events"``): per such camera, segments that overlap
   no event clip window (``nvr.recording.event_windows``: ``pre_seconds`` before
   an event's start to ``post_seconds`` after its end; an ongoing event claims
   everything from its start minus ``pre_seconds`` on) and ended before the
   horizon ``now - pre_seconds - OPEN_LAG``: footage younger than that may still
   be claimed by the pre-roll of an event not stored yet;
1. age: per camera, segments that ended ``retain_days`` or more before ``now``
   (the camera's own ``retain_days`` overrides the global one). A segment that
   overlaps an event window is kept for ``event_retain_days_for`` instead: the
   longer of ``events_retain_days`` and ``retain_days``;
2. per-camera bytes: the camera's oldest segments until it is within ``max_bytes``;
3. global bytes: the oldest segments of all cameras until all fit ``max_bytes``;
4. free space: while the disk holding data_dir has less than ``min_free`` bytes
   free, the oldest segments of all cameras, one by one. Free space is measured
   once and the freed bytes are added to it (some filesystems release space
   lazily; re-measuring there would delete everything).

Rules 2-4 delete event footage too when they must: disk safety wins over keeping
events. With ``events_retain_days`` set, the byte caps (2, 3) take the footage no
event claims (and, being older than the horizon, none can) first, oldest first,
and the rest only when that is not enough;
``min_free`` (4) takes the oldest, whatever it holds.

A segment whose path is in ``active_paths`` (being written) is never deleted.
Each deletion unlinks the file first (a missing file is fine) and then deletes
the row, so a crash in between leaves a row without a file, which reconcile
removes. Day directories emptied by a run are removed.
"""

from __future__ import annotations

import logging
import shutil
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Set
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from nvr.db.models import Segment
from nvr.recording.event_windows import FOOTAGE_EVENT_TYPES, WindowCursor, event_windows
from nvr.recording.index import SegmentIndex, SegmentSpan

if TYPE_CHECKING:
    from nvr.config.model import Config

log = logging.getLogger(__name__)

US_PER_DAY = 86_400 * 1_000_000
# Margin for an event stored after its start (hysteresis, the decode queue): footage
# this much older than the pre-roll stays on an events-only camera until it is judged.
OPEN_LAG_US = 60 * 1_000_000
_PAGE = 500

FreeBytesFn = Callable[[Path], int]


def disk_free_bytes(path: Path) -> int:
    """Bytes free for unprivileged users on the filesystem holding ``path``."""
    return shutil.disk_usage(path).free


@dataclass(frozen=True, slots=True)
class CameraRetention:
    """Per-camera settings; ``None`` means: use the global value (for age) or no limit.

    ``events_only``: the camera records ``"events"``; ``pre_seconds``/``post_seconds``:
    its event clip window (``[cameras.motion]``, whose defaults these are; a camera
    gone from the config keeps them for its old footage)."""

    retain_days: float | None = None
    max_bytes: int | None = None
    events_only: bool = False
    pre_seconds: float = 5.0
    post_seconds: float = 10.0


_DEFAULT_CAMERA = CameraRetention()


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    retain_days: float | None = None  # default for cameras without their own
    max_bytes: int | None = None  # over all cameras together
    min_free: int = 0  # bytes to keep free on the data_dir filesystem
    per_camera: Mapping[str, CameraRetention] = field(default_factory=dict)
    events_retain_days: float | None = None  # footage in event windows, every camera
    event_types: frozenset[str] = FOOTAGE_EVENT_TYPES  # the events that keep footage

    def camera(self, camera: str) -> CameraRetention:
        return self.per_camera.get(camera, _DEFAULT_CAMERA)

    def retain_days_for(self, camera: str) -> float | None:
        own = self.per_camera.get(camera)
        if own is not None and own.retain_days is not None:
            return own.retain_days
        return self.retain_days

    def event_retain_days_for(self, camera: str) -> float | None:
        """The age limit of footage in event windows: the longer of ``events_retain_days``
        and the camera's ``retain_days`` (``None``: no limit). On an events-only camera
        without ``retain_days`` all footage is event footage, so ``events_retain_days``
        alone limits it; elsewhere an unlimited ``retain_days`` keeps events unlimited
        too (deleting the events and keeping the rest would be backwards)."""
        base, extra = self.retain_days_for(camera), self.events_retain_days
        if extra is None:
            return base
        if base is None:
            return extra if self.camera(camera).events_only else None
        return max(base, extra)


def policy_from_config(config: Config) -> RetentionPolicy:
    """The retention policy a config asks for (``[recording]`` and each camera's
    ``retain_days``, ``max_bytes``, ``record`` and ``[cameras.motion]`` pre/post)."""
    rec = config.recording
    return RetentionPolicy(
        retain_days=rec.retain_days, max_bytes=rec.max_bytes, min_free=rec.min_free,
        events_retain_days=rec.events_retain_days,
        per_camera={c.name: CameraRetention(
            retain_days=c.retain_days, max_bytes=c.max_bytes,
            events_only=c.record == "events", pre_seconds=c.motion.pre_seconds,
            post_seconds=c.motion.post_seconds) for c in config.cameras})


@dataclass(slots=True)
class RetentionReport:
    deleted_segments: int = 0
    deleted_bytes: int = 0
    # "no_event" | "age" | "camera_bytes" | "total_bytes" | "min_free"
    reasons: Counter[str] = field(default_factory=Counter)
    free_short: bool = False  # min_free not reached with everything deletable deleted


class Retention:
    """Applies a ``RetentionPolicy`` to the index and the files. Synchronous."""

    def __init__(
        self,
        index: SegmentIndex,
        data_dir: Path,
        policy: RetentionPolicy,
        free_bytes_fn: FreeBytesFn = disk_free_bytes,
    ) -> None:
        self._index = index
        self._data_dir = data_dir
        self.policy = policy
        self._free_bytes = free_bytes_fn

    def run_once(self, now_us: int, active_paths: Set[str] = frozenset()) -> RetentionReport:
        run = _Run(self._index, self._data_dir, active_paths)
        policy = self.policy

        for camera in self._index.cameras():
            self._events_only(run, camera, now_us)
            self._age(run, camera, now_us)

        totals = self._index.by_camera_bytes()
        for camera, total in sorted(totals.items()):
            own = policy.per_camera.get(camera)
            if own is None or own.max_bytes is None or total <= own.max_bytes:
                continue
            self._over_cap(run, camera, total - own.max_bytes, "camera_bytes", now_us)

        if policy.max_bytes is not None:
            excess = self._index.total_bytes() - policy.max_bytes
            if excess > 0:
                self._over_cap(run, None, excess, "total_bytes", now_us)

        if policy.min_free > 0:
            try:
                free = self._free_bytes(self._data_dir)
            except OSError as exc:
                log.error("retention: cannot measure free space on %s: %s", self._data_dir, exc)
            else:
                if free < policy.min_free:
                    for segment in run.oldest(None):
                        if free >= policy.min_free:
                            break
                        free += run.delete(segment, "min_free")
                    run.flush()
                    if free < policy.min_free:
                        run.report.free_short = True
                        log.warning(
                            "retention: %d bytes free on %s, below min_free %d, "
                            "and nothing more to delete",
                            free,
                            self._data_dir,
                            policy.min_free,
                        )

        run.remove_empty_dirs()
        if run.report.deleted_segments:
            log.info(
                "retention: deleted %d segments, %d bytes (%s)",
                run.report.deleted_segments,
                run.report.deleted_bytes,
                ", ".join(f"{k}: {v}" for k, v in sorted(run.report.reasons.items())),
            )
        return run.report

    def _horizon(self, camera: str, now_us: int) -> int:
        """Footage ending after this may still be claimed by an event not stored yet."""
        return now_us - round(self.policy.camera(camera).pre_seconds * 1e6) - OPEN_LAG_US

    def _over_cap(self, run: _Run, camera: str | None, excess: int, reason: str,
                  now_us: int) -> None:
        """Rules 2-3: delete the oldest segments (of one camera, or of all) until
        ``excess`` bytes are gone. With ``events_retain_days`` set, footage no event
        claims (and none can still claim: older than the horizon) goes first, oldest
        first; the rest then, oldest first, only if that was not enough."""
        if self.policy.events_retain_days is not None:
            cursors: dict[str, WindowCursor] = {}
            for segment in run.spans(camera, page=_PAGE):
                if excess <= 0:
                    break
                cursor = cursors.get(segment.camera)
                if cursor is None:
                    cursor = cursors[segment.camera] = WindowCursor(
                        self._windows(run, segment.camera))
                claimed = cursor.overlaps(segment.start_us, segment.end_us)
                if not claimed and segment.end_us <= self._horizon(segment.camera, now_us):
                    run.delete(segment, reason)
                    excess -= segment.bytes
            run.flush()
        for segment in run.spans(camera, page=_PAGE):
            if excess <= 0:
                break
            run.delete(segment, reason)
            excess -= segment.bytes
        run.flush()

    def _windows(self, run: _Run, camera: str) -> list[tuple[int, int]]:
        """The camera's event windows, read once per pass."""
        windows = run.windows.get(camera)
        if windows is None:
            own = self.policy.camera(camera)
            windows = run.windows[camera] = event_windows(
                self._index.engine, camera, self.policy.event_types,
                round(own.pre_seconds * 1e6), round(own.post_seconds * 1e6),
                since_us=self._index.first_start(camera))
        return windows

    def _events_only(self, run: _Run, camera: str, now_us: int) -> None:
        """Rule 0: on an events-only camera, drop what no event window claims."""
        own = self.policy.camera(camera)
        if not own.events_only:
            return
        horizon = self._horizon(camera, now_us)
        cursor = WindowCursor(self._windows(run, camera))
        for segment in run.spans(camera, horizon):
            if segment.end_us <= horizon and not cursor.overlaps(segment.start_us,
                                                                 segment.end_us):
                run.delete(segment, "no_event")
        run.flush()

    def _age(self, run: _Run, camera: str, now_us: int) -> None:
        """Rule 1: footage older than retain_days, event footage older than its own limit."""
        cutoff = _cutoff(now_us, self.policy.retain_days_for(camera))
        event_cutoff = _cutoff(now_us, self.policy.event_retain_days_for(camera))
        limits = [c for c in (cutoff, event_cutoff) if c is not None]
        if not limits:
            return
        cursor = WindowCursor(self._windows(run, camera) if event_cutoff != cutoff else [])
        for segment in run.spans(camera, max(limits)):
            claimed = cursor.overlaps(segment.start_us, segment.end_us)
            limit = event_cutoff if claimed else cutoff
            if limit is not None and segment.end_us <= limit:
                run.delete(segment, "age")
        run.flush()


def _cutoff(now_us: int, days: float | None) -> int | None:
    return None if days is None else now_us - round(days * US_PER_DAY)


class _Run:
    """One retention pass: pages through the index, unlinks files, batches row deletes."""

    def __init__(self, index: SegmentIndex, data_dir: Path, active: Set[str]) -> None:
        self._index = index
        self._data_dir = data_dir
        self._active = active
        self._pending: list[int] = []
        self._dirs: set[Path] = set()
        self.windows: dict[str, list[tuple[int, int]]] = {}  # event windows by camera
        self.report = RetentionReport()

    def oldest(self, camera: str | None) -> Iterator[Segment]:
        """Segments oldest first (by start, then id), skipping active ones."""
        after: tuple[int, int] | None = None
        while True:
            page = self._index.oldest(camera, _PAGE, after=after)
            if not page:
                return
            for segment in page:
                if segment.path in self._active:
                    continue
                yield segment
            after = (page[-1].start_us, page[-1].id)

    def spans(self, camera: str | None, before_us: int | None = None,
              page: int = 5000) -> Iterator[SegmentSpan]:
        """Segments (of one camera, or of all) starting before ``before_us``, by start,
        skipping active ones."""
        for segment in self._index.spans(camera, before_us, page):
            if segment.path not in self._active:
                yield segment

    def delete(self, segment: Segment | SegmentSpan, reason: str) -> int:
        """Unlink the segment's file and queue its row; returns the bytes freed on disk."""
        path = self._data_dir / segment.path
        freed = 0
        try:
            freed = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            freed = 0
        except OSError as exc:
            log.error("retention: cannot delete %s: %s", path, exc)
            return 0
        self._pending.append(segment.id)
        self._dirs.add(path.parent)
        self.report.deleted_segments += 1
        self.report.deleted_bytes += segment.bytes
        self.report.reasons[reason] += 1
        return freed

    def flush(self) -> None:
        if self._pending:
            self._index.delete(self._pending)
            self._pending.clear()

    def remove_empty_dirs(self) -> None:
        self.flush()
        for directory in sorted(self._dirs, reverse=True):
            try:
                directory.rmdir()  # only succeeds when empty
            except OSError:
                continue
