"""Events in the database, each change with its webhook outbox rows in one transaction.

:class:`EventStore` follows the house style (``nvr/auth/accounts.py``): every
method is synchronous and opens its own short transaction; callers on the event
loop run them in a thread. An event gives each matching webhook one ``start``
and one ``end`` delivery; between them at most one ``update`` is pending per
webhook (a newer change replaces the unsent one, with a new idempotency key).
A webhook's ``cooldown_seconds`` keeps it from getting a new ``start`` from the
same camera within that many seconds of the previous one it got; the event is
stored either way, and that webhook then gets neither its updates nor its end.

``[[notify]]`` targets (Apprise) are filed in the same outbox as ``notify:<name>``
with the same filters and cooldown, but get only ``start`` and ``end``: an
``update`` ("the score rose") is noise on a phone. Their rows carry the same JSON
body; the worker turns it into a title and a message.

With ``[server] public_url`` set, bodies link to the event's snapshot and clip
(``snapshot_url``, ``clip_url``) for the types that have them (motion). The link
is filled from the start, before the snapshot is written (it follows within
moments): the API answers it as soon as it exists, and a body is never rewritten.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC
from typing import Any

from sqlalchemy import select
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session, sessionmaker

from nvr.alerts.webhook import CLIP_TYPES, SCHEMA_VERSION, SNAPSHOT_TYPES
from nvr.clock import SYSTEM_CLOCK, Clock
from nvr.config.notify import NOTIFY_PREFIX, NotifyConfig
from nvr.config.webhooks import EVENT_TYPES, AlertFilter, WebhookConfig
from nvr.db.models import Event, OutboxRow, us_to_datetime

__all__ = ["EventStore", "NotFound", "event_payload", "event_urls"]

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


class NotFound(LookupError):
    pass


def _iso(us: int | None) -> str | None:
    if us is None:
        return None
    return us_to_datetime(us).astimezone(UTC).isoformat(timespec="microseconds").replace(
        "+00:00", "Z")


def event_urls(row: Event, public_url: str | None) -> tuple[str | None, str | None]:
    """``(snapshot_url, clip_url)`` under ``public_url``; ``None`` without one, or for
    a type that has no snapshot (unless one was kept) or no clip."""
    if public_url is None:
        return None, None
    base = f"{public_url}/api/events/{row.id}"
    snapshot = (f"{base}/snapshot.jpg"
                if row.type in SNAPSHOT_TYPES or row.snapshot_path is not None else None)
    clip = f"{base}/clip.mp4" if row.type in CLIP_TYPES else None
    return snapshot, clip


def event_payload(row: Event, phase: str, public_url: str | None = None) -> str:
    """The JSON body of one delivery (schema version 1, ``docs/ref/webhooks.md``)."""
    snapshot_url, clip_url = event_urls(row, public_url)
    body: dict[str, Any] = {
        "version": SCHEMA_VERSION,
        "event_id": row.id,
        "phase": phase,
        "type": row.type,
        "camera": row.camera,
        "start": _iso(row.start_us),
        "end": _iso(row.end_us),
        "score": row.score,
        "zones": json.loads(row.zones or "[]"),
        "snapshot_url": snapshot_url,
        "clip_url": clip_url,
    }
    return json.dumps(body, separators=(",", ":"), sort_keys=False)


class EventStore:
    def __init__(self, sessions: sessionmaker[Session], webhooks: Sequence[WebhookConfig],
                 clock: Clock = SYSTEM_CLOCK, *, notify: Sequence[NotifyConfig] = (),
                 public_url: str | None = None) -> None:
        self._sessions = sessions
        self._webhooks = {hook.target: hook for hook in webhooks}
        self._targets: dict[str, AlertFilter] = {**self._webhooks}
        self._targets.update((entry.target, entry) for entry in notify)
        self._clock = clock
        self._public_url = public_url

    def _now_us(self) -> int:
        return int(self._clock.time() * 1_000_000)

    def open(self, camera: str, type: str, start_us: int, score: float | None = None,
             zones: Sequence[str] = (), details: dict[str, Any] | None = None) -> int:
        """Store a new (ongoing) event; queue a ``start`` for each target that wants it."""
        if type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {type!r}")
        zone_list = list(dict.fromkeys(zones))
        now_us = self._now_us()
        with self._sessions.begin() as session:
            row = Event(camera=camera, type=type, start_us=start_us, end_us=None, score=score,
                        zones=json.dumps(zone_list), snapshot_path=None,
                        details=json.dumps(details or {}))
            session.add(row)
            session.flush()
            for target, hook in self._targets.items():
                if not hook.wants(camera, type, zone_list):
                    continue
                if self._cooling(session, hook, camera, start_us):
                    continue
                self._queue(session, target, row, "start", f"nvr-{row.id}-start", now_us)
            return row.id

    def update(self, event_id: int, score: float | None = None,
               zones: Sequence[str] = ()) -> bool:
        """Raise the peak score and add zones; queue (or refresh) an ``update`` for the
        event's webhooks when either changed. Returns whether anything changed."""
        now_us = self._now_us()
        with self._sessions.begin() as session:
            row = self._event(session, event_id)
            old_zones = json.loads(row.zones or "[]")
            new_zones = list(dict.fromkeys([*old_zones, *zones]))
            new_score = row.score
            if score is not None and (row.score is None or score > row.score):
                new_score = score
            if new_score == row.score and new_zones == old_zones:
                return False
            row.score = new_score
            row.zones = json.dumps(new_zones)
            session.flush()
            for target in self._started_targets(session, event_id, updates=True):
                pending = session.scalar(select(OutboxRow).where(
                    OutboxRow.event_id == event_id, OutboxRow.target == target,
                    OutboxRow.phase == "update", OutboxRow.state == PENDING))
                revision = self._updates(session, event_id, target) + 1
                key = f"nvr-{event_id}-update-{revision}"
                if pending is not None:  # coalesce: the unsent update is replaced
                    pending.payload = event_payload(row, "update", self._public_url)
                    pending.idempotency_key = key
                    pending.next_attempt_us = min(pending.next_attempt_us, now_us)
                else:
                    self._queue(session, target, row, "update", key, now_us)
            return True

    def close(self, event_id: int, end_us: int) -> None:
        """End the event; queue an ``end`` for its targets. A still pending update is
        kept (it may be on the wire already); the worker sends it before the end."""
        now_us = self._now_us()
        with self._sessions.begin() as session:
            row = self._event(session, event_id)
            if row.end_us is not None:
                return
            row.end_us = end_us
            session.flush()
            for target in self._started_targets(session, event_id):
                self._queue(session, target, row, "end", f"nvr-{event_id}-end", now_us)

    def set_snapshot(self, event_id: int, path: str) -> None:
        """Record the event's snapshot: a path relative to ``data_dir``
        (``snapshots/<camera>/<event id>.jpg``). A notification ``start`` waiting for
        it (the worker holds one back a few seconds) becomes due now."""
        now_us = self._now_us()
        with self._sessions.begin() as session:
            self._event(session, event_id).snapshot_path = path
            session.execute(sql_update(OutboxRow).where(
                OutboxRow.event_id == event_id, OutboxRow.state == PENDING,
                OutboxRow.phase == "start", OutboxRow.attempts == 0,
                OutboxRow.target.startswith(NOTIFY_PREFIX, autoescape=True),
                OutboxRow.next_attempt_us > now_us).values(next_attempt_us=now_us))

    def payload(self, event_id: int, phase: str) -> str:
        """The event as a webhook body of ``phase`` (what MQTT's ``<prefix>/events`` gets)."""
        with self._sessions() as session:
            return event_payload(self._event(session, event_id), phase, self._public_url)

    def event(self, event_id: int) -> dict[str, Any]:
        """One event as a dict (for tests and the later API)."""
        with self._sessions() as session:
            row = self._event(session, event_id)
            return {"id": row.id, "camera": row.camera, "type": row.type,
                    "start_us": row.start_us, "end_us": row.end_us, "score": row.score,
                    "zones": json.loads(row.zones), "snapshot_path": row.snapshot_path,
                    "details": json.loads(row.details)}

    # -- helpers ----------------------------------------------------------------------
    @staticmethod
    def _event(session: Session, event_id: int) -> Event:
        row = session.get(Event, event_id, with_for_update=True)
        if row is None:
            raise NotFound(event_id)
        return row

    def _queue(self, session: Session, target: str, row: Event, phase: str, key: str,
               now_us: int) -> None:
        session.add(OutboxRow(
            target=target, event_id=row.id, phase=phase,
            payload=event_payload(row, phase, self._public_url),
            idempotency_key=key, state=PENDING, attempts=0, next_attempt_us=now_us,
            last_error=None, created_us=now_us, delivered_us=None))

    @staticmethod
    def _cooling(session: Session, hook: AlertFilter, camera: str, start_us: int) -> bool:
        if hook.cooldown_seconds <= 0:
            return False
        last = session.scalar(
            select(Event.start_us).join(OutboxRow, OutboxRow.event_id == Event.id)
            .where(OutboxRow.target == hook.target, OutboxRow.phase == "start",
                   Event.camera == camera)
            .order_by(Event.start_us.desc()).limit(1))
        return last is not None and start_us - last < hook.cooldown_seconds * 1_000_000

    def _started_targets(self, session: Session, event_id: int,
                         updates: bool = False) -> list[str]:
        """The configured targets that got (or will get) this event's start; with
        ``updates``, only those that take updates (webhooks, not notifications)."""
        wanted = self._webhooks if updates else self._targets
        targets = session.scalars(select(OutboxRow.target).where(
            OutboxRow.event_id == event_id, OutboxRow.phase == "start")).all()
        return [t for t in dict.fromkeys(targets) if t in wanted]

    @staticmethod
    def _updates(session: Session, event_id: int, target: str) -> int:
        keys = session.scalars(select(OutboxRow.idempotency_key).where(
            OutboxRow.event_id == event_id, OutboxRow.target == target,
            OutboxRow.phase == "update")).all()
        return max((int(k.rsplit("-", 1)[1]) for k in keys), default=0)
