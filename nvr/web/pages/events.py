"""The Events page, ``/events``: the user's events newest first, a card each (the
snapshot, lazily loaded, or a placeholder; camera, type, time, duration, score,
zones), filtered by camera, type, zone and day with a plain GET form, paged with
"Older events" (``before`` = the last event's id, as ``/api/events`` pages).

A card plays the event on the camera page (``/cameras/{name}?t=<ISO>``, from the
start of the event's clip) and offers the clip's download. Times are shown in the
zone the Recordings pages use (``?tz=``, else the ``nvr_tz`` cookie, else UTC).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import groupby
from typing import Any
from urllib.parse import quote, unquote, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException
from starlette.requests import Request
from starlette.responses import Response

from nvr.alerts.webhook import CLIP_TYPES
from nvr.config.webhooks import EVENT_TYPES
from nvr.events.query import Cursor, EventFilter, EventView
from nvr.recording.timeline import US, parse_day
from nvr.web.api.deps import ServicesDep, UserDep
from nvr.web.api.events import clip_window, event_query, parse_before, viewer_cameras
from nvr.web.api.recordings import iso
from nvr.web.pages.recordings import TZ_COOKIE, Formats, page_zone
from nvr.web.pages.render import render
from nvr.web.services import Services

router = APIRouter(include_in_schema=False)
PAGE = 48  # cards a page: whole rows of 2, 3 or 4
LABELS = {"motion": "Motion", "camera_offline": "Camera offline",
          "camera_online": "Camera online", "recording_gap": "Recording gap",
          "disk_low": "Disk low", "rtmp_publish_start": "Stream started",
          "rtmp_publish_stop": "Stream stopped"}


@dataclass(frozen=True)
class Card:
    """One event as the page shows it."""

    event: EventView
    label: str
    seconds: float | None  # None while ongoing
    play_url: str | None  # None: the camera is no longer configured
    clip_url: str | None  # None: the type has no clip (an offline camera, a gap)
    snapshot_url: str | None


@dataclass(frozen=True)
class Day:
    day: date
    cards: list[Card]


def _card(services: Services, event: EventView, now_us: int) -> Card:
    clip_start, _ = clip_window(services.config, event, now_us)
    play = None
    if event.camera in services.known_cameras():
        play = f"/cameras/{quote(event.camera, safe='')}?{urlencode({'t': iso(clip_start)})}"
    return Card(
        event=event, label=LABELS.get(event.type, event.type.replace("_", " ").capitalize()),
        seconds=None if event.end_us is None else (event.end_us - event.start_us) / US,
        play_url=play,
        clip_url=f"/api/events/{event.id}/clip.mp4" if event.type in CLIP_TYPES else None,
        snapshot_url=f"/api/events/{event.id}/snapshot.jpg" if event.snapshot_path else None)


def _known_zones(services: Services, cameras: list[str], chosen: str | None) -> list[str]:
    """The zones the visible cameras' config names (and the chosen one), sorted."""
    names = {chosen} if chosen else set()
    for camera in services.config.cameras if services.config else []:
        if camera.name in cameras:
            names.update(z.name for z in camera.motion.zones)
    return sorted(names, key=str.casefold)


def _day_range(day: str | None, tz: ZoneInfo) -> tuple[date | None, int | None, int | None]:
    if not day:
        return None, None, None
    try:
        wanted = parse_day(day)
    except ValueError as exc:
        raise HTTPException(422, f"day: {exc}") from None
    if not date(1971, 1, 2) <= wanted <= date(9998, 12, 30):
        raise HTTPException(422, "day: out of range")
    begin = datetime.combine(wanted, time(), tz)
    end = datetime.combine(wanted + timedelta(days=1), time(), tz)
    return wanted, int(begin.timestamp() * US), int(end.timestamp() * US)


@router.get("/events")
async def events_page(request: Request, services: ServicesDep, user: UserDep,
                      camera: str | None = None, type: str | None = None,
                      zone: str | None = None, day: str | None = None,
                      before: str | None = None, tz: str | None = None) -> Response:
    where_tz, source = page_zone(request, tz)
    query = event_query(services)
    cameras = user.visible(services.configured)
    if camera and not user.may_see(camera):
        raise HTTPException(404, "no such camera")
    if type and type not in EVENT_TYPES:
        raise HTTPException(422, f"type: one of {', '.join(EVENT_TYPES)}")
    wanted, start_us, end_us = _day_range(day, where_tz)
    where = EventFilter(cameras=viewer_cameras(user), camera=camera or None,
                        type=type or None, zone=zone or None, start_us=start_us,
                        end_us=end_us)
    cursor: Cursor | None = await asyncio.to_thread(parse_before, before, query, user)
    events, after = await asyncio.to_thread(query.page, where, PAGE, cursor)
    now_us = int(services.clock.time() * US)
    fmt = Formats(where_tz)
    cards = [_card(services, e, now_us) for e in events]
    days = [Day(d, list(group)) for d, group in
            groupby(cards, key=lambda c: fmt.local(c.event.start_us).date())]
    chosen = {k: v for k, v in {"camera": camera, "type": type, "zone": zone, "day": day,
                                "tz": tz}.items() if v}
    filtered = any(k in chosen for k in ("camera", "type", "zone", "day"))
    older = f"?{urlencode({**chosen, 'before': after.id})}" if after else None
    newest = f"?{urlencode(chosen)}" if before else None
    context: dict[str, Any] = {
        "user": user, "csrf_token": user.csrf or "", "section": "events", "fmt": fmt,
        "tz_name": where_tz.key, "tz_source": source,
        "tz_cookie": unquote(request.cookies.get(TZ_COOKIE, ""))[:64]}
    return render(
        request, "events.html", days=days, count=len(cards), cameras=cameras,
        types=[(t, LABELS.get(t, t)) for t in EVENT_TYPES],
        zones=_known_zones(services, cameras, zone), chosen=chosen, filtered=filtered,
        day_value=wanted.isoformat() if wanted else "",
        today=datetime.fromtimestamp(now_us / US, where_tz).date(),
        older_url=older, newest_url=newest, paged=bool(before), **context)
