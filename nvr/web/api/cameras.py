"""GET /api/cameras: the caller's cameras and how each is doing (no credentials).

Admins also get each stream publishers push to the RTMP server that no camera
records (``source = "pushed"``, named ``live/<name>``): it plays over RTMP but is
not recorded and has no live view. Viewers see only their cameras.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel
from starlette.requests import Request

from nvr.config.rtmp import published_stream
from nvr.web.api.deps import ServicesDep, UserDep
from nvr.web.api.recordings import iso
from nvr.web.rtmp_view import play_host, push_rows, pushed_only, stream_rows
from nvr.web.services import Services

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
    source: str = "rtsp"  # "rtsp" | "rtmp" (a camera fed by a publisher) | "pushed"
    rtmp_url: str | None = None  # where to play it over RTMP (no key), when it is served


@router.get("/api/cameras", response_model=list[CameraPublic])
def list_cameras(request: Request, services: ServicesDep, user: UserDep) -> list[CameraPublic]:
    out = []
    registry = services.registry
    pushes = services.push() if services.push is not None else {}
    rows = stream_rows(services, play_host(request, services.config))
    for name in user.visible(services.configured):
        source, feed = registry.source(name), registry.get(name)
        kind, url = _source_kind(services, name, source), _play_url(rows, name)
        if source is None or feed is None:
            out.append(CameraPublic(name=name, status="offline", codec=None, width=None,
                                    height=None, fps=None, bitrate_kbps=None,
                                    last_error="disabled in the config", dropped=0, corrupt=0,
                                    source=kind, rtmp_url=url))
            continue
        st = source.state
        out.append(CameraPublic(
            name=name, status=st.status, codec=st.codec, width=st.width or None,
            height=st.height or None, fps=st.fps, bitrate_kbps=st.bitrate_kbps,
            last_error=st.last_error, dropped=feed.stats.dropped, corrupt=st.corrupt,
            last_frame=_last_frame(feed.stats.last_wallclock),
            sub_stream=registry.get(f"{name}/sub") is not None,
            push=[PushPublic(**p) for p in push_rows(pushes.get(name, ()))],
            source=kind, rtmp_url=url))
    if user.is_admin:
        out.extend(_pushed(services, row) for row in pushed_only(rows))
    return out


def _last_frame(wallclock: float) -> str | None:
    return iso(int(wallclock * 1e6)) if wallclock else None


def _source_kind(services: Services, name: str, source: Any) -> str:
    """How the camera's video arrives: its source says (``kind``), or for a camera
    not running, the scheme of its configured URL."""
    if source is not None:
        return str(getattr(source, "kind", "rtsp"))
    configs = services.config.cameras if services.config is not None else []
    url = next((c.url for c in configs if c.name == name), "")
    return "rtmp" if published_stream(url) is not None else "rtsp"


def _play_url(rows: list[dict[str, Any]], camera: str) -> str | None:
    """``live/<camera>`` when republished, else the stream the camera records."""
    urls = {r["source"]: r["url"] for r in rows
            if r.get("camera") == camera and r["feed"] == camera and r["url"]}
    return urls.get("camera") or urls.get("publisher")


def _pushed(services: Services, row: dict[str, Any]) -> CameraPublic:
    """A pushed-only stream as a camera-list entry (its Publication's state)."""
    feed = services.registry.get(row["feed"])
    return CameraPublic(
        name=row["name"], status=row["status"], codec=row["video_codec"],
        width=row["width"] or None, height=row["height"] or None, fps=row["fps"],
        bitrate_kbps=row["bitrate_kbps"], last_error=row["last_error"],
        dropped=feed.stats.dropped if feed is not None else 0, corrupt=0,
        last_frame=_last_frame(feed.stats.last_wallclock) if feed is not None else None,
        source="pushed", rtmp_url=row["url"])
