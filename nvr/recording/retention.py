"""Retention: delete the oldest segments by age, by size and for free disk space.

Rules, applied in this order on each ``run_once``:

1. age: per camera, segments that ended ``retain_days`` or more before ``now``
   (the camera's own ``retain_days`` overrides the global one);
2. per-camera bytes: the camera's oldest segments until it is within ``max_bytes``;
3. global bytes: the oldest segments of all cameras until all fit ``max_bytes``;
4. free space: while the disk holding data_dir has less than ``min_free`` bytes
   free, the oldest segments of all cameras, one by one. Free space is measured
   once and the freed bytes are added to it (some filesystems release space
   lazily; re-measuring there would delete everything).

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

from nvr.db.models import Segment
from nvr.recording.index import SegmentIndex

log = logging.getLogger(__name__)

US_PER_DAY = 86_400 * 1_000_000
_PAGE = 500

FreeBytesFn = Callable[[Path], int]


def disk_free_bytes(path: Path) -> int:
    """Bytes free for unprivileged users on the filesystem holding ``path``."""
    return shutil.disk_usage(path).free


@dataclass(frozen=True, slots=True)
class CameraRetention:
    """Per-camera overrides; ``None`` means: use the global value (for age) or no limit."""

    retain_days: float | None = None
    max_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    retain_days: float | None = None  # default for cameras without their own
    max_bytes: int | None = None  # over all cameras together
    min_free: int = 0  # bytes to keep free on the data_dir filesystem
    per_camera: Mapping[str, CameraRetention] = field(default_factory=dict)

    def retain_days_for(self, camera: str) -> float | None:
        own = self.per_camera.get(camera)
        if own is not None and own.retain_days is not None:
            return own.retain_days
        return self.retain_days


@dataclass(slots=True)
class RetentionReport:
    deleted_segments: int = 0
    deleted_bytes: int = 0
    reasons: Counter[str] = field(default_factory=Counter)  # "age" | "camera_bytes" | ...
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
            days = policy.retain_days_for(camera)
            if days is None:
                continue
            cutoff = now_us - round(days * US_PER_DAY)
            for segment in run.oldest(camera):
                if segment.start_us >= cutoff:
                    break
                if segment.end_us <= cutoff:
                    run.delete(segment, "age")
            run.flush()

        totals = self._index.by_camera_bytes()
        for camera, total in sorted(totals.items()):
            own = policy.per_camera.get(camera)
            if own is None or own.max_bytes is None or total <= own.max_bytes:
                continue
            excess = total - own.max_bytes
            for segment in run.oldest(camera):
                if excess <= 0:
                    break
                run.delete(segment, "camera_bytes")
                excess -= segment.bytes
            run.flush()

        if policy.max_bytes is not None:
            excess = self._index.total_bytes() - policy.max_bytes
            for segment in run.oldest(None):
                if excess <= 0:
                    break
                run.delete(segment, "total_bytes")
                excess -= segment.bytes
            run.flush()

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


class _Run:
    """One retention pass: pages through the index, unlinks files, batches row deletes."""

    def __init__(self, index: SegmentIndex, data_dir: Path, active: Set[str]) -> None:
        self._index = index
        self._data_dir = data_dir
        self._active = active
        self._pending: list[int] = []
        self._dirs: set[Path] = set()
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

    def delete(self, segment: Segment, reason: str) -> int:
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
