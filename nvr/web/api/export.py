"""``GET /api/cameras/{name}/export.mp4?start=&end=``: a time range of a camera's
recordings as one MP4 download (see ``nvr.playback.export``), streamed from the
segment files; audited as a download."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import StreamingResponse

from nvr.auth import audit
from nvr.playback.export import ExportPlan, plan_export, range_problem
from nvr.web.api.deps import ServicesDep, UserDep, camera_or_404
from nvr.web.api.playback import IndexCatalog
from nvr.web.api.recordings import parse_time

router = APIRouter()


def export_filename(camera: str, start_us: int) -> str:
    """``<camera>_<start>.mp4``, the start in UTC as 2024-05-01T12-00-00Z (no colons:
    Windows refuses them in file names)."""
    start = datetime.fromtimestamp(start_us // 1_000_000, UTC)
    return f"{camera}_{start.strftime('%Y-%m-%dT%H-%M-%SZ')}.mp4"


async def stream_plan(plan: ExportPlan) -> AsyncIterator[bytes]:
    """The MP4's blocks, each read in a worker thread."""
    blocks = plan.blocks()
    try:
        while (block := await asyncio.to_thread(next, blocks, None)) is not None:
            yield block
    finally:
        with contextlib.suppress(Exception):
            await asyncio.to_thread(blocks.close)


@router.get("/api/cameras/{name}/export.mp4", response_class=StreamingResponse)
async def export(name: str, request: Request, services: ServicesDep, user: UserDep,
                 start: str = Query(description="ISO 8601; from the keyframe at or before it"),
                 end: str = Query(description="ISO 8601; frames shown before it")
                 ) -> StreamingResponse:
    camera = camera_or_404(user, services, name)
    start_us, end_us = parse_time(start, "start"), parse_time(end, "end")
    if start_us is None or end_us is None:
        raise HTTPException(422, "start and end are required")
    problem = range_problem(start_us, end_us)
    if problem:
        raise HTTPException(422, problem)
    address = request.client.host if request.client else None
    catalog = IndexCatalog(services, camera, user, address)
    rows = await asyncio.to_thread(services.index.query, camera, start_us, end_us)
    refs = await catalog.refs(rows)
    plan = await asyncio.to_thread(plan_export, refs, start_us, end_us)
    if plan is None:
        raise HTTPException(404, "no recordings in that range")
    await services.auth.record(audit.DOWNLOAD, actor=user.username, address=address,
                               target=f"{camera}/export",
                               details={"start": start, "end": end, "bytes": plan.size,
                                        "segments": plan.segments})
    headers = {"Content-Disposition":
               f'attachment; filename="{export_filename(camera, start_us)}"',
               "Content-Length": str(plan.size)}
    return StreamingResponse(stream_plan(plan), media_type="video/mp4", headers=headers)
