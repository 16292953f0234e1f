"""``GET /api/rtmp/streams`` (admins): what the RTMP server serves right now.

Each stream being published or played: its source (``publisher`` or
``camera``), codecs, size, bitrate, uptime, the publisher's address and each
player's address and bytes sent. Never a key. An empty list when the server is
not enabled.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from nvr.web.api.deps import AdminDep, ServicesDep

router = APIRouter()


@router.get("/api/rtmp/streams")
async def rtmp_streams(_: AdminDep, services: ServicesDep) -> list[dict[str, Any]]:
    return services.rtmp() if services.rtmp is not None else []
