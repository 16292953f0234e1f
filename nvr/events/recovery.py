"""Start-up: events a previous run left open (it crashed, or the power went).

Each is closed by the runtime through the usual path, so its webhooks get their
``end``: a motion event at its start (its real end is unknown), anything else
(a camera that was offline) at start-up time.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from nvr.db.models import Event

__all__ = ["OpenEvent", "open_events"]


@dataclass(frozen=True, slots=True)
class OpenEvent:
    id: int
    camera: str
    type: str
    start_us: int


def open_events(sessions: sessionmaker[Session]) -> list[OpenEvent]:
    with sessions() as session:
        rows = session.execute(select(Event.id, Event.camera, Event.type, Event.start_us)
                               .where(Event.end_us.is_(None)).order_by(Event.id))
        return [OpenEvent(*row) for row in rows]
