"""Old events go with the footage they point at: rows, snapshot files and motion grids.

An event (and its finished outbox rows, by cascade) is deleted once it ended more
than ``keep_days`` ago; ``keep_days`` is the longest any recording may be kept
(``events_retain_days``, ``retain_days``, a camera's own ``retain_days``), so an
event never outlives nothing. Motion-search seconds older than that go too.
With no age limit configured, events are kept.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from nvr.db.models import Event
from nvr.events.motion_index import MotionIndex

__all__ = ["prune_events"]

log = logging.getLogger(__name__)
BATCH = 1000


def prune_events(sessions: sessionmaker[Session], data_dir: Path, now_us: int,
                 keep_days: float) -> int:
    """Delete events that ended before ``now - keep_days`` (and their snapshots) and
    motion seconds as old; returns how many events went. Blocking: run in a thread."""
    cutoff_us = now_us - int(keep_days * 86_400 * 1_000_000)
    gone = 0
    while True:
        with sessions.begin() as session:
            rows = session.execute(
                select(Event.id, Event.snapshot_path)
                .where(Event.end_us.is_not(None), Event.end_us < cutoff_us)
                .order_by(Event.start_us).limit(BATCH)).all()
            if not rows:
                break
            session.execute(delete(Event).where(Event.id.in_([r.id for r in rows])))
        for row in rows:
            if row.snapshot_path:
                _unlink(data_dir, row.snapshot_path)
        gone += len(rows)
    MotionIndex(sessions).prune(None, cutoff_us // 1_000_000)
    return gone


def _unlink(data_dir: Path, relative: str) -> None:
    path = (data_dir / relative).resolve()
    if not path.is_relative_to(data_dir.resolve()):
        log.warning("event snapshot path outside data_dir ignored: %s", relative)
        return
    path.unlink(missing_ok=True)
