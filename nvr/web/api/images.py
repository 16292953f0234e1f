"""JPEG stills of a camera: live (``snapshot.jpg``) and recorded (``frame.jpg``).

``GET /api/cameras/{name}/snapshot.jpg``: the latest keyframe of the camera's
live Feed, decoded and encoded in a thread, at most once a second per camera
(and not again while no new keyframe came). 503 with a JSON reason while the
camera has no frame.

``GET /api/cameras/{name}/frame.jpg?at=<ISO>&width=320``: the recorded keyframe
at or before ``at``, ``width`` pixels wide (16-1920; never wider than the video;
the height keeps the aspect), from the disk cache when it was asked for before
(``nvr.web.framecache``). 404 when nothing was recorded at ``at``. The keyframe's
own time is in the ``X-Keyframe-Time`` header.
"""

from __future__ import annotations

import asyncio
import bisect
import os
from dataclasses import dataclass, field

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.requests import HTTPConnection

from nvr.feed import AccessUnit
from nvr.web import images
from nvr.web.api.deps import ServicesDep, UserDep, camera_or_404
from nvr.web.api.recordings import iso, parse_time
from nvr.web.catalog import Row, row_at
from nvr.web.files import under_data_dir
from nvr.web.framecache import FrameCache, Snapshots
from nvr.web.services import Services

router = APIRouter()
SNAPSHOT_CACHE = "private, max-age=1"
FRAME_CACHE = "private, max-age=86400"


@dataclass
class ImageState:
    frames: FrameCache
    snapshots: Snapshots = field(default_factory=Snapshots)
    # decodes at once, across cameras: scrubbing asks faster than frames decode
    decoders: asyncio.Semaphore = field(
        default_factory=lambda: asyncio.Semaphore(min(4, os.cpu_count() or 1)))


def image_state(conn: HTTPConnection, services: Services) -> ImageState:
    """The app's caches, made on first use."""
    state = getattr(conn.app.state, "images", None)
    if state is None:
        state = conn.app.state.images = ImageState(FrameCache(services.data_dir))
    return state


def _unavailable(reason: str) -> JSONResponse:
    return JSONResponse({"detail": reason}, status_code=503, headers={"Retry-After": "2"})


@router.get("/api/cameras/{name}/snapshot.jpg", response_model=None,
            responses={200: {"content": {"image/jpeg": {}}}, 503: {}})
async def snapshot(name: str, request: Request, services: ServicesDep,
                   user: UserDep) -> Response:
    camera = camera_or_404(user, services, name)
    feed, source = services.registry.get(camera), services.registry.source(camera)
    if feed is None:
        return _unavailable("the camera is disabled in the config")
    gop = feed.gop
    keyframe = gop[0] if gop and gop[0].keyframe and gop[0].kind == "video" else None
    if keyframe is None:
        state = source.state if source is not None else None
        if state is not None and state.status != "online":
            reason = f"no picture yet: the camera is {state.status.replace('_', ' ')}"
            if state.last_error:
                reason += f" ({state.last_error})"
            return _unavailable(reason)
        return _unavailable("no picture yet: waiting for the camera's next keyframe")
    state_ = image_state(request, services)

    async def make(au: AccessUnit) -> bytes:
        async with state_.decoders:
            return await asyncio.to_thread(lambda: images.jpeg(images.decode_keyframe(au)))

    try:
        data = await state_.snapshots.get(camera, keyframe, make)
    except images.NoImage as exc:
        return _unavailable(f"no picture: {exc}")
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": SNAPSHOT_CACHE})


@router.get("/api/cameras/{name}/frame.jpg", response_model=None,
            responses={200: {"content": {"image/jpeg": {}}}, 404: {}})
async def recorded_frame(
    name: str,
    request: Request,
    services: ServicesDep,
    user: UserDep,
    at: str = Query(..., description="ISO 8601 time; the keyframe at or before it"),
    width: int = Query(320, ge=images.MIN_WIDTH, le=images.MAX_WIDTH),
) -> Response:
    camera = camera_or_404(user, services, name)
    at_us = parse_time(at, "at")
    assert at_us is not None  # `at` is required
    segment: Row | None = await asyncio.to_thread(services.index.at, camera, at_us)
    if segment is None:
        segment = row_at(services, camera, at_us)  # the segment being written
    if segment is None:
        raise HTTPException(404, "nothing recorded at that time")
    path = await under_data_dir(services, segment.path, user, request)
    cache = image_state(request, services).frames
    start = segment.start_us

    def work() -> tuple[int, bytes]:
        wanted = at_us - start
        try:  # the keyframes from the file's boxes: a cached frame needs no FFmpeg
            offsets = images.keyframe_offsets(path)
        except OSError as exc:
            raise images.NoImage(f"unreadable recording: {exc.strerror or exc}") from None
        k = bisect.bisect_right(offsets, wanted) - 1
        if k >= 0:
            hit = cache.get(camera, start + offsets[k], width)
            if hit is not None:
                return offsets[k], hit
            wanted = offsets[k]
        found, picture = images.recorded_keyframe(
            path, wanted, lambda offset: cache.get(camera, start + offset, width))
        if isinstance(picture, bytes):
            return found, picture
        data = images.jpeg(picture, width)
        cache.put(camera, start + found, width, data)
        return found, data

    try:
        async with image_state(request, services).decoders:
            found, data = await asyncio.to_thread(work)
    except images.NoImage as exc:
        raise HTTPException(404, f"no picture at that time: {exc}") from None
    return Response(data, media_type="image/jpeg", headers={
        "Cache-Control": FRAME_CACHE, "X-Keyframe-Time": iso(start + found)})
