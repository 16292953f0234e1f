"""Recorded segments: list by camera and time range, download one."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel

from nvr.auth import audit
from nvr.web.api.deps import ServicesDep, UserDep
from nvr.web.files import under_data_dir

router = APIRouter()


class RecordingPublic(BaseModel):
    id: int
    camera: str
    start: str
    end: str
    duration: float
    bytes: int
    path: str
    url: str
    video_codec: str
    audio_codec: str | None
    width: int
    height: int


def iso(us: int) -> str:
    """Microseconds since the epoch → ISO 8601 UTC with a Z."""
    return datetime.fromtimestamp(us / 1e6, UTC).isoformat(timespec="microseconds").replace(
        "+00:00", "Z")


def parse_time(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise HTTPException(422, f"{name}: not an ISO 8601 time: {value!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1_000_000)


@router.get("/api/recordings", response_model=list[RecordingPublic])
async def list_recordings(
    request: Request,
    services: ServicesDep,
    user: UserDep,
    camera: str | None = Query(None, description="camera name"),
    start: str | None = Query(None, description="ISO 8601 UTC; segments ending after it"),
    end: str | None = Query(None, description="ISO 8601 UTC; segments starting before it"),
) -> list[RecordingPublic]:
    start_us, end_us = parse_time(start, "start"), parse_time(end, "end")
    if camera and not user.may_see(camera):
        raise HTTPException(404, "no such camera")
    rows = await asyncio.to_thread(services.index.query, camera or None, start_us, end_us)
    return [
        RecordingPublic(
            id=row.id, camera=row.camera, start=iso(row.start_us), end=iso(row.end_us),
            duration=row.duration, bytes=row.bytes, path=row.path,
            url=str(request.url_for("download_recording", segment_id=row.id).path),
            video_codec=row.video_codec, audio_codec=row.audio_codec,
            width=row.width, height=row.height)
        for row in rows if user.may_see(row.camera)
    ]


@router.get("/api/recordings/{segment_id}/download", name="download_recording")
async def download_recording(segment_id: int, request: Request, services: ServicesDep,
                             user: UserDep) -> FileResponse:
    row = await asyncio.to_thread(services.index.get, segment_id)
    if row is None or not user.may_see(row.camera):
        raise HTTPException(404, "no such recording")
    path = await under_data_dir(services, row.path, user, request)
    if not path.is_file():
        raise HTTPException(404, "recording file is gone")
    await services.auth.record(audit.DOWNLOAD, actor=user.username,
                               address=request.client.host if request.client else None,
                               target=f"{row.camera}/{row.id}", details={"path": row.path})
    return FileResponse(path, media_type="video/mp4", filename=Path(row.path).name.replace(
        ".mp4", f"_{row.camera}.mp4"))
