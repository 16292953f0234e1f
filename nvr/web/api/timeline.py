"""``GET /api/cameras/{name}/timeline?day=&tz=``: what a camera recorded on one local day.

The answer: ``spans`` (recorded time, segments that join merged), ``gaps``
(the holes between them within the day, up to now for today) and ``events``
(empty until alerts fill it), each ``{"start", "end"}`` in ISO 8601 UTC with a Z.
Spans are cut at the day's bounds. The segment being written is not indexed
yet, so today's last gap runs from the end of the last closed segment to now.
"""

from __future__ import annotations

import asyncio
from datetime import date

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

from nvr.recording.timeline import Span, day_bounds, day_timeline, local_day, parse_day, zone
from nvr.web.api.deps import ServicesDep, UserDep, camera_or_404
from nvr.web.api.recordings import iso

router = APIRouter()


class Range(BaseModel):
    start: str
    end: str


class Timeline(BaseModel):
    spans: list[Range]
    gaps: list[Range]
    events: list[Range]


def ranges(spans: list[Span]) -> list[Range]:
    return [Range(start=iso(s.start_us), end=iso(s.end_us)) for s in spans]


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
    rows = await asyncio.to_thread(services.index.ranges, camera, start, end)
    result = day_timeline(rows, wanted, where, now_us)
    return Timeline(spans=ranges(result.spans), gaps=ranges(result.gaps), events=[])
