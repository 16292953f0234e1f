"""The segment index: one database row per recorded file.

Every method is synchronous and opens its own short session; callers on the
event loop run them with ``asyncio.to_thread``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import Engine, delete, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from nvr.db.models import Segment

# Keep IN (...) lists below SQLite's and PostgreSQL's parameter limits.
_DELETE_BATCH = 500
# How far before a time range a segment overlapping it may start: segments are cut at
# the first keyframe after segment_seconds (at most an hour), so this is ample; it lets
# range queries use the (camera, start_us) index from both sides.
MAX_SEGMENT_US = 3 * 3600 * 1_000_000


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


class SegmentSpan(NamedTuple):
    """A segment row without its media fields: what retention decides on and deletes by."""

    id: int
    camera: str
    start_us: int
    end_us: int
    bytes: int
    path: str


class SegmentIndex:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._bind: Engine | None = None

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

    def ranges(self, camera: str, start_us: int, end_us: int) -> list[tuple[int, int]]:
        """``(start_us, end_us)`` of the camera's segments overlapping ``[start_us,
        end_us)``, by start: two columns through the (camera, start_us) index, no
        row objects (the timeline of a day of 60 s segments is 1440 rows)."""
        stmt = (select(Segment.start_us, Segment.end_us)
                .where(Segment.camera == camera, Segment.start_us < end_us,
                       Segment.start_us >= start_us - MAX_SEGMENT_US,
                       (Segment.end_us > start_us) | (Segment.start_us >= start_us))
                .order_by(Segment.start_us, Segment.id))
        # Core on a plain connection: half the cost of an ORM session for 1440 rows
        with self._engine().connect() as connection:
            return [(s, e) for s, e in connection.execute(stmt)]

    def spans(self, camera: str | None, before_us: int | None = None,
              page: int = 5000) -> Iterator[SegmentSpan]:
        """Segments (of one camera, or of all) starting before ``before_us``, oldest first
        by (start_us, id), as plain tuples read in pages (through the (camera, start_us)
        index for one camera): retention walks 30 days of 60 s segments (43,200 rows)
        per camera and pass, and ORM objects would cost several times more."""
        after: tuple[int, int] | None = None
        while True:
            stmt = select(Segment.id, Segment.camera, Segment.start_us, Segment.end_us,
                          Segment.bytes, Segment.path)
            if camera is not None:
                stmt = stmt.where(Segment.camera == camera)
            if before_us is not None:
                stmt = stmt.where(Segment.start_us < before_us)
            if after is not None:
                stmt = stmt.where((Segment.start_us > after[0])
                                  | ((Segment.start_us == after[0]) & (Segment.id > after[1])))
            stmt = stmt.order_by(Segment.start_us, Segment.id).limit(page)
            with self._engine().connect() as connection:
                rows = [SegmentSpan(*row) for row in connection.execute(stmt)]
            yield from rows
            if len(rows) < page:
                return
            after = (rows[-1].start_us, rows[-1].id)

    def first_start(self, camera: str) -> int | None:
        """The start of the camera's oldest segment, or None without segments."""
        stmt = select(func.min(Segment.start_us)).where(Segment.camera == camera)
        with self._engine().connect() as connection:
            value = connection.execute(stmt).scalar()
        return None if value is None else int(value)

    @property
    def engine(self) -> Engine:
        """The engine behind the sessions, for Core queries next to the index (retention
        reads the events table through it)."""
        return self._engine()

    def _engine(self) -> Engine:
        if self._bind is None:
            with self._sessions() as session:
                self._bind = session.get_bind().engine
        return self._bind

    def at(self, camera: str, when_us: int) -> Segment | None:
        """The camera's segment playing at ``when_us`` (start ≤ when < end; the latest
        to start if several do), or None in a gap."""
        stmt = (select(Segment)
                .where(Segment.camera == camera, Segment.start_us <= when_us,
                       Segment.start_us >= when_us - MAX_SEGMENT_US, Segment.end_us > when_us)
                .order_by(Segment.start_us.desc(), Segment.id.desc()).limit(1))
        with self._sessions() as session:
            return session.scalars(stmt).first()

    def buckets(self, camera: str, bucket_us: int, start_us: int | None = None,
                end_us: int | None = None) -> list[tuple[int, int, int, float]]:
        """The camera's segments counted per ``bucket_us`` of start time (UTC, from
        the epoch): ``(bucket, segments, bytes, seconds)`` per non-empty bucket, in
        order; ``bucket * bucket_us`` is the bucket's start. The callers fold
        15-minute buckets into local days (every time zone's offset is a multiple
        of 15 minutes)."""
        bucket = (Segment.start_us // bucket_us).label("bucket")
        stmt = select(bucket, func.count(), func.coalesce(func.sum(Segment.bytes), 0),
                      func.coalesce(func.sum(Segment.duration), 0.0)).where(
            Segment.camera == camera)
        if start_us is not None:
            stmt = stmt.where(Segment.start_us >= start_us)
        if end_us is not None:
            stmt = stmt.where(Segment.start_us < end_us)
        stmt = stmt.group_by(bucket).order_by(bucket)
        with self._sessions() as session:
            return [(int(b), int(n), int(size or 0), float(secs or 0.0))
                    for b, n, size, secs in session.execute(stmt)]

    def summary(self) -> dict[str, tuple[int, int, int, int]]:
        """Per camera: ``(segments, bytes, first start_us, last end_us)``."""
        stmt = select(Segment.camera, func.count(), func.coalesce(func.sum(Segment.bytes), 0),
                      func.min(Segment.start_us), func.max(Segment.end_us)).group_by(
            Segment.camera)
        with self._sessions() as session:
            return {camera: (int(n), int(size or 0), int(first), int(last))
                    for camera, n, size, first, last in session.execute(stmt)}

    def database_size(self) -> tuple[str, int | None]:
        """The database's kind (``sqlite``, ``postgresql``…) and what it takes on disk:
        the SQLite file with its write-ahead log, PostgreSQL's ``pg_database_size``;
        None when unknown."""
        with self._sessions() as session:
            bind = session.get_bind()
            kind = bind.dialect.name
            if kind == "postgresql":
                value = session.execute(text("SELECT pg_database_size(current_database())"))
                return kind, int(value.scalar() or 0)
            if kind != "sqlite":
                return kind, None
            database = bind.engine.url.database
            if database and database != ":memory:" and not database.startswith("file:"):
                files = [Path(database + suffix) for suffix in ("", "-wal")]
                return kind, sum(f.stat().st_size for f in files if f.exists())
            pages = session.execute(text("PRAGMA page_count")).scalar() or 0
            size = session.execute(text("PRAGMA page_size")).scalar() or 0
            return kind, int(pages) * int(size)

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
