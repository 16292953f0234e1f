"""``GET /api/cameras/{name}/motion?start=&end=&region=``: motion search.

The seconds in ``[start, end)`` in which something moved on the camera — inside
``region`` (``x0,y0,x1,y1``, fractions 0..1 of the frame, origin top left) when
given — and the same seconds merged into ``ranges`` (seconds with at most one
still second between them join), which is what a client jumps between. At most
31 days per request: a week of one busy camera is a few hundred milliseconds.
"""

from __future__ import annotations

import asyncio
import math

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

from nvr.events.motion_index import MotionIndex, Region, merge_ranges, region_mask
from nvr.web.api.deps import ServicesDep, UserDep, camera_or_404
from nvr.web.api.recordings import iso, parse_time

router = APIRouter()

MAX_DAYS = 31
US = 1_000_000


class Range(BaseModel):
    start: str
    end: str


class MotionAnswer(BaseModel):
    camera: str
    start: str
    end: str
    region: list[float] | None
    seconds: list[str]
    ranges: list[Range]


def parse_region(text: str | None) -> Region | None:
    """``"x0,y0,x1,y1"`` → a region; 422 naming ``region`` when it is not one."""
    if text is None or text == "":
        return None
    try:
        values = [float(v) for v in text.split(",")]
        if len(values) != 4 or not all(math.isfinite(v) for v in values):
            raise ValueError("want four numbers x0,y0,x1,y1")
        region: Region = (values[0], values[1], values[2], values[3])
        region_mask(region)
    except ValueError as exc:
        raise HTTPException(422, f"region: {exc} (got {text!r})") from None
    return region


@router.get("/api/cameras/{name}/motion", response_model=MotionAnswer)
async def motion(
    name: str,
    services: ServicesDep,
    user: UserDep,
    start: str = Query(..., description="ISO 8601; from this second on"),
    end: str = Query(..., description="ISO 8601; up to this time (exclusive)"),
    region: str | None = Query(None, description="x0,y0,x1,y1 in 0..1 of the frame"),
) -> MotionAnswer:
    camera = camera_or_404(user, services, name)
    start_us, end_us = parse_time(start, "start"), parse_time(end, "end")
    if start_us is None or end_us is None:
        raise HTTPException(422, "start and end: both wanted")
    if end_us <= start_us:
        raise HTTPException(422, "end: must be after start")
    if end_us - start_us > MAX_DAYS * 86_400 * US:
        raise HTTPException(422, f"end: at most {MAX_DAYS} days after start")
    area = parse_region(region)
    start_s, end_s = start_us // US, -(-end_us // US)
    seconds: list[int] = []
    if services.sessions is not None:
        seconds = await asyncio.to_thread(
            MotionIndex(services.sessions).search, camera, start_s, end_s, area)
    return MotionAnswer(
        camera=camera, start=iso(start_us), end=iso(end_us),
        region=list(area) if area else None,
        seconds=[iso(s * US) for s in seconds],
        ranges=[Range(start=iso(a * US), end=iso(b * US)) for a, b in merge_ranges(seconds)])
