"""The segment index: one database row per recorded file.

Every method is synchronous and opens its own short session; callers on the
event loop run them with ``asyncio.to_thread``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from nvr.db.models import Segment

# Keep IN (...) lists below SQLite's and PostgreSQL's parameter limits.
_DELETE_BATCH = 500


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    """The fields of a new segment row (``path`` is relative to data_dir, posix)."""

    camera: str
    start_us: int
    end_us: int
    duration: float
    bytes: int
    path: str
    video_codec: str
    audio_codec: str | None
    width: int
    height: int


class SegmentIndex:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def add(self, info: SegmentInfo) -> int:
        """Insert one row and return its id."""
        with self._sessions.begin() as session:
            row = Segment(
                camera=info.camera,
                start_us=info.start_us,
                end_us=info.end_us,
                duration=info.duration,
                bytes=info.bytes,
                path=info.path,
                video_codec=info.video_codec,
                audio_codec=info.audio_codec,
                width=info.width,
                height=info.height,
            )
            session.add(row)
            session.flush()
            return row.id

    def query(
        self,
        camera: str | None = None,
        start_us: int | None = None,
        end_us: int | None = None,
    ) -> list[Segment]:
        """Segments overlapping ``[start_us, end_us)``, ordered by start (then id).

        ``None`` leaves that side (or the camera) unbounded.
        """
        stmt = select(Segment)
        if camera is not None:
            stmt = stmt.where(Segment.camera == camera)
        if end_us is not None:
            stmt = stmt.where(Segment.start_us < end_us)
        if start_us is not None:
            # A zero-length segment exactly at start_us still overlaps.
            stmt = stmt.where((Segment.end_us > start_us) | (Segment.start_us >= start_us))
        stmt = stmt.order_by(Segment.start_us, Segment.id)
        with self._sessions() as session:
            return list(session.scalars(stmt))

    def get(self, segment_id: int) -> Segment | None:
        with self._sessions() as session:
            return session.get(Segment, segment_id)

    def delete(self, ids: Iterable[int]) -> int:
        """Delete rows by id; returns how many existed."""
        return self._delete_where(Segment.id, list(ids))

    def delete_paths(self, paths: Iterable[str]) -> int:
        """Delete rows by relative path; returns how many existed."""
        return self._delete_where(Segment.path, list(paths))

    def _delete_where(self, column: Any, values: list[Any]) -> int:
        deleted = 0
        with self._sessions.begin() as session:
            for i in range(0, len(values), _DELETE_BATCH):
                batch = values[i : i + _DELETE_BATCH]
                result = session.execute(delete(Segment).where(column.in_(batch)))
                deleted += getattr(result, "rowcount", 0) or 0
        return deleted

    def oldest(
        self,
        camera: str | None = None,
        limit: int = 100,
        after: tuple[int, int] | None = None,
    ) -> list[Segment]:
        """The ``limit`` earliest segments (of one camera, or of all), by (start_us, id).

        ``after=(start_us, id)`` continues from the last segment of a previous page.
        """
        stmt = select(Segment)
        if camera is not None:
            stmt = stmt.where(Segment.camera == camera)
        if after is not None:
            after_start, after_id = after
            stmt = stmt.where(
                (Segment.start_us > after_start)
                | ((Segment.start_us == after_start) & (Segment.id > after_id))
            )
        stmt = stmt.order_by(Segment.start_us, Segment.id).limit(limit)
        with self._sessions() as session:
            return list(session.scalars(stmt))

    def total_bytes(self, camera: str | None = None) -> int:
        stmt = select(func.coalesce(func.sum(Segment.bytes), 0))
        if camera is not None:
            stmt = stmt.where(Segment.camera == camera)
        with self._sessions() as session:
            return int(session.scalar(stmt) or 0)

    def by_camera_bytes(self) -> dict[str, int]:
        stmt = select(Segment.camera, func.sum(Segment.bytes)).group_by(Segment.camera)
        with self._sessions() as session:
            return {camera: int(total or 0) for camera, total in session.execute(stmt)}

    def cameras(self) -> list[str]:
        stmt = select(Segment.camera).distinct().order_by(Segment.camera)
        with self._sessions() as session:
            return list(session.scalars(stmt))

    def paths(self) -> set[str]:
        with self._sessions() as session:
            return set(session.scalars(select(Segment.path)))
