"""``GET /system`` (admins): nvr's health at a glance; the data of ``/api/system``."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from nvr.config.problems import size_text
from nvr.web.api.deps import AdminDep, ServicesDep
from nvr.web.api.system import system_info
from nvr.web.pages.recordings import duration_text
from nvr.web.pages.render import render

router = APIRouter(include_in_schema=False)


def uptime_text(seconds: float) -> str:
    """``3 d 4 h``, ``5 h 12 min``, ``42 s``."""
    s = int(seconds)
    if s < 3600:
        return duration_text(s)
    days, rest = divmod(s, 86400)
    hours, rest = divmod(rest, 3600)
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {rest // 60} min"


@router.get("/system")
async def system_page(request: Request, services: ServicesDep, user: AdminDep) -> Response:
    info = await system_info(request, services)
    return render(request, "system.html", user=user, csrf_token=user.csrf or "",
                  section="system", info=info, size=size_text, uptime=uptime_text)
