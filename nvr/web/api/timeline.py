"""``GET /api/cameras/{name}/timeline?day=&tz=``: what a camera recorded on one local day.

The answer: ``spans`` (recorded time, segments that join merged), ``gaps``
(the holes between them within the day, up to now for today), each
``{"start", "end"}`` in ISO 8601 UTC with a Z; ``events``, the camera's events
that overlap the day (``end`` null while ongoing), and ``motion``, one number
per minute of the day (0..100: the share of its seconds with motion) for the
timeline's bars. Spans are cut at the day's bounds, events are not. The segment
being written counts up to its last GOP on disk (``nvr.web.catalog``), before it
is closed and indexed.
"""

from __future__ import annotations

import asyncio
import json
from datetime import date

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel
from sqlalchemy import BigInteger, String, bindparam, or_, select
from sqlalchemy.orm import Session, sessionmaker

from nvr.db.models import Event
from nvr.events.motion_index import MotionIndex
from nvr.recording.timeline import Span, day_bounds, day_timeline, local_day, parse_day, zone
from nvr.web.api.deps import ServicesDep, UserDep, camera_or_404
from nvr.web.api.recordings import iso
from nvr.web.catalog import with_open_span

router = APIRouter()

US = 1_000_000
MOTION_STEP = 60  # seconds per motion bar
MAX_EVENTS = 2000  # a day's markers; more is a broken detector, not information


class Range(BaseModel):
    start: str
    end: str


class TimelineEvent(BaseModel):
    id: int
    type: str
    start: str
    end: str | None  # None while the event is going on
    score: float | None
    zones: list[str]


class Timeline(BaseModel):
    spans: list[Range]
    gaps: list[Range]
    events: list[TimelineEvent]
    motion: list[int]  # per MOTION_STEP seconds from the day's start; [] for a future day
    motion_step: int = MOTION_STEP


def ranges(spans: list[Span]) -> list[Range]:
    return [Range(start=iso(s.start_us), end=iso(s.end_us)) for s in spans]


def _zones(text: str | None) -> list[str]:
    try:
        zones = json.loads(text or "[]")
    except ValueError:
        return []
    return [str(z) for z in zones] if isinstance(zones, list) else []


_DAY_EVENTS = select(Event.id, Event.type, Event.start_us, Event.end_us, Event.score,
                     Event.zones).where(
    Event.camera == bindparam("camera", type_=String),
    Event.start_us < bindparam("end", type_=BigInteger),
    or_(Event.end_us.is_(None), Event.end_us > bindparam("start", type_=BigInteger)),
).order_by(Event.start_us, Event.id).limit(MAX_EVENTS)  # built once: asked per request


def day_events(sessions: sessionmaker[Session], camera: str, start_us: int,
               end_us: int) -> list[TimelineEvent]:
    """The camera's events overlapping ``[start_us, end_us)``, oldest first."""
    params = {"camera": camera, "start": start_us, "end": end_us}
    with sessions() as session:  # Core on the session's connection: no ORM step
        rows = session.connection().execute(_DAY_EVENTS, params).all()
    return [TimelineEvent(id=id_, type=type_, start=iso(start),
                          end=None if end is None else iso(end), score=score,
                          zones=_zones(zones))
            for id_, type_, start, end, score, zones in rows]


def day_extras(sessions: sessionmaker[Session] | None, camera: str, start_us: int,
               end_us: int, now_us: int) -> tuple[list[TimelineEvent], list[int]]:
    """Events and motion bars of a day, in one worker-thread trip."""
    if sessions is None or start_us > now_us:
        return [], []
    start_s, end_s = start_us // US, end_us // US
    buckets = max(1, round((end_s - start_s) / MOTION_STEP))
    motion = MotionIndex(sessions).intensity(camera, start_s, end_s, buckets)
    return day_events(sessions, camera, start_us, end_us), motion


@router.get("/api/cameras/{name}/timeline", response_model=Timeline)
async def timeline(
    name: str,
    services: ServicesDep,
    user: UserDep,
    day: str | None = Query(None, description="local day, YYYY-MM-DD; default today"),
    tz: str | None = Query(None, description="IANA time zone, e.g. Europe/Berlin; default UTC"),
) -> Timeline:
    camera = camera_or_404(user, services, name)
    try:
        where = zone(tz)
    except ValueError as exc:
        raise HTTPException(422, f"tz: {exc}") from None
    now_us = int(services.clock.time() * 1_000_000)
    try:
        wanted = parse_day(day) if day else local_day(now_us, where)
    except ValueError as exc:
        raise HTTPException(422, f"day: {exc}") from None
    if not date(1971, 1, 1) <= wanted <= date(9998, 12, 31):
        raise HTTPException(422, "day: out of range")
    start, end = day_bounds(wanted, where)
    rows, (events, motion) = await asyncio.gather(  # two threads: the answer waits for one
        asyncio.to_thread(services.index.ranges, camera, start, end),
        asyncio.to_thread(day_extras, services.sessions, camera, start, end, now_us))
    rows = with_open_span(services, camera, rows, start, end)  # and the one being written
    result = day_timeline(rows, wanted, where, now_us)
    return Timeline(spans=ranges(result.spans), gaps=ranges(result.gaps), events=events,
                    motion=motion)
