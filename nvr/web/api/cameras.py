"""GET /api/cameras: the caller's cameras and how each is doing (no credentials)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from nvr.web.api.deps import ServicesDep, UserDep
from nvr.web.api.recordings import iso

router = APIRouter()


class PushPublic(BaseModel):
    url: str  # the target with its stream key hidden
    status: str  # connecting | pushing | retrying | error | stopped
    last_error: str | None
    bytes_sent: int
    reconnects: int


class CameraPublic(BaseModel):
    name: str
    status: str
    codec: str | None
    width: int | None
    height: int | None
    fps: float | None
    bitrate_kbps: float | None
    last_error: str | None
    dropped: int  # frames dropped by slow consumers of this camera's feed
    corrupt: int  # frames from the camera found invalid and dropped
    last_frame: str | None = None  # capture time of the newest frame (ISO 8601 UTC)
    sub_stream: bool = False  # a sub stream is configured: live tiles use ?stream=sub
    push: list[PushPublic] = []  # RTMP push targets ([[cameras]] push) and how each is doing


@router.get("/api/cameras", response_model=list[CameraPublic])
def list_cameras(services: ServicesDep, user: UserDep) -> list[CameraPublic]:
    out = []
    registry = services.registry
    pushes = services.push() if services.push is not None else {}
    for name in user.visible(services.configured):
        source, feed = registry.source(name), registry.get(name)
        if source is None or feed is None:
            out.append(CameraPublic(name=name, status="offline", codec=None, width=None,
                                    height=None, fps=None, bitrate_kbps=None,
                                    last_error="disabled in the config", dropped=0, corrupt=0))
            continue
        st = source.state
        out.append(CameraPublic(
            name=name, status=st.status, codec=st.codec, width=st.width or None,
            height=st.height or None, fps=st.fps, bitrate_kbps=st.bitrate_kbps,
            last_error=st.last_error, dropped=feed.stats.dropped, corrupt=st.corrupt,
            last_frame=iso(int(feed.stats.last_wallclock * 1e6))
            if feed.stats.last_wallclock else None,
            sub_stream=registry.get(f"{name}/sub") is not None,
            push=[PushPublic(url=p.url, status=p.status, last_error=p.last_error,
                             bytes_sent=p.bytes_sent, reconnects=p.reconnects)
                  for p in pushes.get(name, ())]))
    return out
