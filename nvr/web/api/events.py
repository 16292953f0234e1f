"""Events over HTTP: ``GET /api/events`` (filtered, newest first, paged by ``before``),
``GET /api/events/{id}``, its ``snapshot.jpg`` and its ``clip.mp4``.

A viewer's events are those of their cameras; any other event answers 404, as if it
did not exist (``camera_or_404``'s rule). The clip is the recorded video from the
camera's ``[cameras.motion] pre_seconds`` before the event to ``post_seconds`` after
it (up to now while it goes on), made by the export code (``nvr.playback.export``)
as one moov-first MP4 and audited as a download, like ``export.mp4``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import BaseModel

from nvr.auth import audit
from nvr.auth.principal import Principal
from nvr.config import Config
from nvr.config.motion import MotionConfig
from nvr.config.webhooks import EVENT_TYPES
from nvr.events.query import MAX_LIMIT, Cursor, EventFilter, EventQuery, EventView
from nvr.playback.export import MAX_RANGE_US, plan_export
from nvr.web.api.deps import ServicesDep, UserDep
from nvr.web.api.playback import export_filename, stream_plan
from nvr.web.api.recordings import iso, parse_time
from nvr.web.catalog import IndexCatalog, with_open_range
from nvr.web.files import under_data_dir
from nvr.web.services import Services

__all__ = ["EventPage", "EventPublic", "clip_window", "event_query", "public", "router"]

router = APIRouter()
US = 1_000_000
SNAPSHOT_CACHE = "private, max-age=31536000, immutable"  # a snapshot is never rewritten


class EventPublic(BaseModel):
    id: int
    camera: str
    type: str
    start: str
    end: str | None
    score: float | None
    zones: list[str]
    details: dict[str, Any]
    snapshot_url: str | None
    clip_url: str


class EventPage(BaseModel):
    events: list[EventPublic]
    next_before: int | None  # pass as ?before= for the next (older) page; null: no more


def event_query(services: Services) -> EventQuery:
    if services.sessions is None:
        raise HTTPException(503, "events are not available: no database")
    return EventQuery(services.sessions)


def viewer_cameras(user: Principal) -> tuple[str, ...] | None:
    """The cameras whose events ``user`` may see; None: every camera."""
    return None if user.is_admin or not user.cameras else user.cameras


def public(event: EventView) -> EventPublic:
    base = f"/api/events/{event.id}"
    return EventPublic(
        id=event.id, camera=event.camera, type=event.type, start=iso(event.start_us),
        end=None if event.end_us is None else iso(event.end_us), score=event.score,
        zones=event.zones, details=event.details,
        snapshot_url=f"{base}/snapshot.jpg" if event.snapshot_path else None,
        clip_url=f"{base}/clip.mp4")


def parse_before(value: str | None, query: EventQuery, user: Principal) -> Cursor | None:
    """``before``: an event id (the page after it) or an ISO time (events that
    started before it)."""
    if value is None or value == "":
        return None
    if value.isdecimal():
        cursor = query.cursor(int(value), viewer_cameras(user))
        if cursor is None:
            raise HTTPException(422, f"before: no such event: {value[:20]}")
        return cursor
    at = parse_time(value, "before")
    assert at is not None
    return Cursor(at)


@router.get("/api/events", response_model=EventPage)
async def list_events(
    services: ServicesDep,
    user: UserDep,
    camera: str | None = Query(None, max_length=128, description="camera name"),
    type: str | None = Query(None, max_length=32, description="event type"),
    zone: str | None = Query(None, max_length=64, description="events that touched it"),
    start: str | None = Query(None, description="ISO 8601; events going on at or after it"),
    end: str | None = Query(None, description="ISO 8601; events that started before it"),
    limit: int = Query(50, ge=1, le=MAX_LIMIT),
    before: str | None = Query(None, max_length=64,
                               description="next_before of the previous page, or a time"),
) -> EventPage:
    query = event_query(services)
    start_us, end_us = parse_time(start, "start"), parse_time(end, "end")
    if type and type not in EVENT_TYPES:
        raise HTTPException(422, f"type: one of {', '.join(EVENT_TYPES)}")
    if camera and not user.may_see(camera):
        raise HTTPException(404, "no such camera")
    where = EventFilter(cameras=viewer_cameras(user), camera=camera or None,
                        type=type or None, zone=zone or None, start_us=start_us,
                        end_us=end_us)
    cursor = await asyncio.to_thread(parse_before, before, query, user)
    events, after = await asyncio.to_thread(query.page, where, limit, cursor)
    return EventPage(events=[public(e) for e in events],
                     next_before=after.id if after is not None else None)


async def visible_event(services: Services, user: Principal, event_id: int) -> EventView:
    query = event_query(services)
    event = await asyncio.to_thread(query.get, event_id)
    if event is None or not user.may_see(event.camera):
        raise HTTPException(404, "no such event")
    return event


@router.get("/api/events/{event_id}", response_model=EventPublic)
async def get_event(event_id: int, services: ServicesDep, user: UserDep) -> EventPublic:
    return public(await visible_event(services, user, event_id))


@router.get("/api/events/{event_id}/snapshot.jpg", response_class=FileResponse)
async def event_snapshot(event_id: int, request: Request, services: ServicesDep,
                         user: UserDep) -> FileResponse:
    event = await visible_event(services, user, event_id)
    if not event.snapshot_path:
        raise HTTPException(404, "this event has no snapshot")
    path = await under_data_dir(services, event.snapshot_path, user, request)
    if not await asyncio.to_thread(path.is_file):
        raise HTTPException(404, "the snapshot file is gone")
    return FileResponse(path, media_type="image/jpeg",
                        headers={"Cache-Control": SNAPSHOT_CACHE})


def clip_window(config: Config | None, event: EventView, now_us: int) -> tuple[int, int]:
    """The clip of ``event``: its camera's ``pre_seconds`` before the start to
    ``post_seconds`` after the end (to now while it goes on), at most 24 hours."""
    motion = next((c.motion for c in config.cameras if c.name == event.camera),
                  None) if config is not None else None
    motion = motion or MotionConfig()
    start = event.start_us - int(motion.pre_seconds * US)
    end = event.end_us + int(motion.post_seconds * US) if event.end_us is not None else now_us
    end = max(end, event.start_us + 1)
    return start, min(end, start + MAX_RANGE_US)


@router.get("/api/events/{event_id}/clip.mp4", response_class=StreamingResponse)
async def event_clip(event_id: int, request: Request, services: ServicesDep,
                     user: UserDep) -> StreamingResponse:
    event = await visible_event(services, user, event_id)
    start_us, end_us = clip_window(services.config, event, int(services.clock.time() * US))
    address = request.client.host if request.client else None
    catalog = IndexCatalog(services, event.camera, user, address)
    rows = await asyncio.to_thread(services.index.query, event.camera, start_us, end_us)
    refs = await catalog.refs(with_open_range(services, event.camera, rows, start_us, end_us))
    plan = await asyncio.to_thread(plan_export, refs, start_us, end_us)
    if plan is None:
        raise HTTPException(404, "nothing was recorded around this event")
    await services.auth.record(audit.DOWNLOAD, actor=user.username, address=address,
                               target=f"{event.camera}/event/{event.id}",
                               details={"start": iso(start_us), "end": iso(end_us),
                                        "bytes": plan.size, "segments": plan.segments})
    name = export_filename(f"{event.camera}_event-{event.id}", start_us)
    return StreamingResponse(stream_plan(plan), media_type="video/mp4", headers={
        "Content-Disposition": f'attachment; filename="{name}"',
        "Content-Length": str(plan.size)})
