"""``GET /api/rtmp/streams`` (admins): what the RTMP server serves.

Every stream a player can ask for — republished cameras (``live/<camera>``,
``live/<camera>_sub``) whether played or not, every publisher's stream and every
stream a camera records — with its source (``camera`` or ``publisher``), codecs,
size, bitrate, uptime, the publisher's address, each player's address and bytes
sent, the camera's push targets and the play URLs (:mod:`nvr.web.rtmp_view`).
Never a key. An empty list when the server is not enabled.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request

from nvr.web.api.deps import AdminDep, ServicesDep
from nvr.web.rtmp_view import play_host, stream_rows

router = APIRouter()


@router.get("/api/rtmp/streams")
async def rtmp_streams(request: Request, _: AdminDep,
                       services: ServicesDep) -> list[dict[str, Any]]:
    return stream_rows(services, play_host(request, services.config))
