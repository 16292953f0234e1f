"""The Recordings pages: ``/recordings`` (every camera the user may see: what is
recorded, the disk each camera takes, the retention in force) and
``/recordings/{name}`` (a camera's days; one day's spans, gaps and segments by
hour, each with its download and a link to the camera page at that time).

Times are shown in the time zone given as ``?tz=``, else the ``nvr_tz`` cookie
(set by ``static/js/recordings.js`` from the browser's zone), else UTC.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException
from starlette.requests import Request
from starlette.responses import Response

from nvr.config.problems import size_text
from nvr.recording.timeline import US, parse_day, zone
from nvr.web import recordings_view as view
from nvr.web.api.deps import ServicesDep, UserDep, camera_or_404
from nvr.web.api.recordings import iso
from nvr.web.pages.render import render

router = APIRouter(include_in_schema=False)
TZ_COOKIE = "nvr_tz"
RECENT_DAYS = 14  # shown at once; older days behind "Show earlier days"


def page_zone(request: Request, tz: str | None) -> tuple[ZoneInfo, str]:
    """The zone to show times in, and where it came from (query, cookie or default)."""
    if tz:
        try:
            return zone(tz), "query"
        except ValueError:
            raise HTTPException(422, f"tz: unknown time zone {tz[:64]!r}") from None
    cookie = _cookie_zone(request)
    if cookie:
        try:
            return zone(cookie), "cookie"
        except ValueError:
            pass
    return zone(None), "default"


def _cookie_zone(request: Request) -> str:
    return unquote(request.cookies.get(TZ_COOKIE, ""))[:64]


def duration_text(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3 h 05 min``."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


class Formats:
    """Formatting for the templates, in one time zone."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self.size = size_text
        self.duration = duration_text
        self.iso = iso

    def local(self, us: int) -> datetime:
        return datetime.fromtimestamp(us / US, self.tz)

    def time(self, us: int) -> str:
        return self.local(us).strftime("%H:%M:%S")

    def moment(self, us: int | None) -> str:
        """``2024-03-31 14:05`` (or an em dash)."""
        return "—" if us is None else self.local(us).strftime("%Y-%m-%d %H:%M")

    def day(self, day: date) -> str:
        return day.strftime("%a %d %b %Y")

    def short_day(self, day: date, this_year: int) -> str:
        """``Mon 30 Nov``, with the year when it is not this year's."""
        return day.strftime("%a %d %b" if day.year == this_year else "%a %d %b %Y")

    def days(self, value: float | None) -> str:
        if value is None:
            return "no age limit"
        return f"{value:g} day{'s' if value != 1 else ''}"

    def pct(self, part: float, whole: float) -> float:
        return round(100 * part / whole, 3) if whole > 0 else 0.0


def _context(request: Request, user: Any, tz: ZoneInfo, source: str) -> dict[str, Any]:
    return {"user": user, "csrf_token": user.csrf or "", "section": "recordings",
            "fmt": Formats(tz), "tz_name": tz.key, "tz_source": source,
            "tz_cookie": _cookie_zone(request)}


@router.get("/recordings")
async def recordings_page(request: Request, services: ServicesDep, user: UserDep,
                          tz: str | None = None) -> Response:
    where, source = page_zone(request, tz)
    cameras = user.visible(services.configured)
    data = await asyncio.to_thread(view.overview, services, cameras)
    rec = services.config.recording if services.config is not None else None
    overrides = [c for c in services.config.cameras if c.name in cameras and (
        c.retain_days is not None or c.max_bytes is not None)] if services.config else []
    return render(request, "recordings.html", overview=data, recording=rec,
                  overrides=overrides, **_context(request, user, where, source))


def _camera_url(name: str, us: int) -> str:
    return f"/cameras/{quote(name, safe='')}?{urlencode({'t': iso(us)})}"


@router.get("/recordings/{name}")
async def camera_recordings_page(request: Request, name: str, services: ServicesDep,
                                 user: UserDep, day: str | None = None,
                                 tz: str | None = None) -> Response:
    camera = camera_or_404(user, services, name)
    where, source = page_zone(request, tz)
    days = await asyncio.to_thread(view.days, services, camera, where)
    now_us = int(services.clock.time() * US)
    if day:
        try:
            wanted = parse_day(day)
        except ValueError as exc:
            raise HTTPException(422, f"day: {exc}") from None
    else:  # the latest day with recordings, else today
        wanted = days[0].day if days else datetime.fromtimestamp(now_us / US, where).date()
    if not date(1971, 1, 2) <= wanted <= date(9998, 12, 30):
        raise HTTPException(422, "day: out of range")
    detail = await asyncio.to_thread(view.day_detail, services, camera, wanted, where, now_us)
    known = {d.day for d in days}
    earlier = max((d for d in known if d < wanted), default=None)
    later = min((d for d in known if d > wanted), default=None)
    selected = next((d for d in days if d.day == wanted), None)
    query = {"tz": tz} if tz else {}
    return render(
        request, "recordings_camera.html", camera=camera, days=days, detail=detail,
        selected=selected, earlier=earlier, later=later,
        recent_days=RECENT_DAYS, today=datetime.fromtimestamp(now_us / US, where).date(),
        retention=view.retention(services.config, camera),
        day_url=lambda d: f"?{urlencode({'day': d.isoformat(), **query})}",
        camera_url=lambda us: _camera_url(camera, us),
        total_bytes=sum(d.bytes for d in days), total_segments=sum(d.segments for d in days),
        one_day=timedelta(days=1), utc=UTC, **_context(request, user, where, source))
