"""Events read back (the read side of :mod:`nvr.events.store`): filtered, newest first,
a page at a time; one by id.

Newest first means by ``start_us``, then by id (both descending), so a page ends at
a definite place: the next page starts after the ``(start_us, id)`` of its last
event (:class:`Cursor`). Keyset paging, not offsets: events written meanwhile do
not shift the pages, and a deep page costs what the first does (the
``(camera, start_us)`` index).

``zones`` is JSON text, so a zone filter is a ``LIKE`` on the quoted name that
narrows the rows and an exact test on the parsed list that decides (SQLite's
``LIKE`` ignores case); rows are read in batches until the page is full.

Synchronous, one short session per call, like the store: callers on the event
loop run these in a thread.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session, sessionmaker

from nvr.db.models import Event

__all__ = ["MAX_LIMIT", "Cursor", "EventFilter", "EventQuery", "EventView"]

MAX_LIMIT = 500


@dataclass(frozen=True, slots=True)
class EventView:
    """One event as the API and the page show it (times in µs since the epoch)."""

    id: int
    camera: str
    type: str
    start_us: int
    end_us: int | None  # None while ongoing
    score: float | None
    zones: list[str]
    snapshot_path: str | None  # relative to data_dir
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page ends: the next page holds events older than this, in the order
    ``(start_us, id)``. ``id=0`` makes it a plain time: events that started before it."""

    start_us: int
    id: int = 0


@dataclass(frozen=True, slots=True)
class EventFilter:
    """What to list. Every given condition must hold."""

    cameras: tuple[str, ...] | None = None  # only these (a viewer's); None: every camera
    camera: str | None = None
    type: str | None = None
    zone: str | None = None  # the event's zones contain it
    start_us: int | None = None  # still going on at or after this time
    end_us: int | None = None  # started before this time


def _view(row: Event) -> EventView:
    zones = json.loads(row.zones or "[]")
    details = json.loads(row.details or "{}")
    return EventView(
        id=row.id, camera=row.camera, type=row.type, start_us=row.start_us, end_us=row.end_us,
        score=row.score, zones=[str(z) for z in zones] if isinstance(zones, list) else [],
        snapshot_path=row.snapshot_path,
        details=details if isinstance(details, dict) else {})


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _conditions(where: EventFilter) -> list[Any]:
    found: list[Any] = []
    if where.cameras is not None:
        found.append(Event.camera.in_(where.cameras))
    if where.camera is not None:
        found.append(Event.camera == where.camera)
    if where.type is not None:
        found.append(Event.type == where.type)
    if where.zone is not None:
        found.append(Event.zones.like(f"%{_like_escaped(json.dumps(where.zone))}%",
                                      escape="\\"))
    if where.start_us is not None:
        found.append(or_(Event.end_us.is_(None), Event.end_us >= where.start_us))
    if where.end_us is not None:
        found.append(Event.start_us < where.end_us)
    return found


class EventQuery:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def get(self, event_id: int) -> EventView | None:
        with self._sessions() as session:
            row = session.get(Event, event_id)
            return None if row is None else _view(row)

    def cursor(self, event_id: int, cameras: Sequence[str] | None = None) -> Cursor | None:
        """The cursor just after event ``event_id`` (None when it does not exist, or is
        not among ``cameras``)."""
        view = self.get(event_id)
        if view is None or (cameras is not None and view.camera not in cameras):
            return None
        return Cursor(view.start_us, view.id)

    def page(self, where: EventFilter, limit: int = 50, before: Cursor | None = None
             ) -> tuple[list[EventView], Cursor | None]:
        """Up to ``limit`` events, newest first, older than ``before``; and the cursor for
        the next page (None when there are no more)."""
        limit = max(1, min(limit, MAX_LIMIT))
        conditions = _conditions(where)
        found: list[EventView] = []
        batch = limit + 1 if where.zone is None else max(2 * limit, 100)
        with self._sessions() as session:
            while len(found) <= limit:
                rows = session.scalars(self._select(conditions, before, batch)).all()
                for row in rows:
                    view = _view(row)
                    if where.zone is None or where.zone in view.zones:
                        found.append(view)
                if len(rows) < batch:
                    break
                before = Cursor(rows[-1].start_us, rows[-1].id)
        more = len(found) > limit
        found = found[:limit]
        return found, Cursor(found[-1].start_us, found[-1].id) if more else None

    @staticmethod
    def _select(conditions: list[Any], before: Cursor | None, batch: int) -> Select[Any]:
        query = select(Event).where(*conditions)
        if before is not None:
            query = query.where(or_(
                Event.start_us < before.start_us,
                and_(Event.start_us == before.start_us, Event.id < before.id)))
        return query.order_by(Event.start_us.desc(), Event.id.desc()).limit(batch)
