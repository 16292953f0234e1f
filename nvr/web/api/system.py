"""``GET /api/system`` (admins): version, uptime, the process's CPU and memory,
every camera's state and counters, disk, database size and the config's
problems, as JSON (the System page shows the same; ``nvr.web.system``)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from starlette.requests import HTTPConnection

from nvr.web.api.deps import AdminDep, ServicesDep
from nvr.web.services import Services
from nvr.web.system import CpuMeter, SystemInfo, gather

router = APIRouter()


async def system_info(conn: HTTPConnection, services: Services) -> SystemInfo:
    """Gathered in a thread (disk and database); the CPU meter lives with the app."""
    meter = getattr(conn.app.state, "cpu_meter", None)
    if meter is None:
        meter = conn.app.state.cpu_meter = CpuMeter()
    return await asyncio.to_thread(gather, services, meter)


@router.get("/api/system", response_model=SystemInfo)
async def get_system(conn: HTTPConnection, services: ServicesDep, _: AdminDep) -> SystemInfo:
    return await system_info(conn, services)
