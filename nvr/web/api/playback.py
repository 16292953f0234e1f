"""Recorded video out: ``WebSocket /api/cameras/{name}/playback?start=<ISO>`` for the
browser's MediaSource (see ``nvr.playback.stream`` for the messages both ways), and
``GET /api/cameras/{name}/export.mp4?start=&end=``, a time range as one MP4 download
(``nvr.playback.export``) streamed from the segment files and audited as a download.

Playback close codes: 4400 for a missing or bad ``start`` (the reason says what is wrong),
4404 for a camera that does not exist or is not the viewer's (the handshake is
accepted first, so the browser sees the code), 1000 after ``{"end": true}``, 4401
when the viewer is signed out meanwhile (``nvr.web.ws_signed_in``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse
from starlette.websockets import WebSocketState

from nvr.auth import audit
from nvr.playback.export import ExportPlan, plan_export, range_problem
from nvr.playback.stream import PlaybackStream
from nvr.web.api.deps import ServicesDep, UserDep, camera_or_404
from nvr.web.api.recordings import parse_time
from nvr.web.catalog import IndexCatalog, with_open_range
from nvr.web.ws_signed_in import close_when_signed_out

log = logging.getLogger(__name__)
router = APIRouter()
BAD_REQUEST = 4400
NOT_FOUND = 4404


async def _controls(websocket: WebSocket, stream: PlaybackStream) -> None:
    """The client's ``{"more": s}`` and ``{"speed": x}`` until it leaves."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is not None and not stream.control(text):
            log.debug("playback: ignored a client message: %.100r", text)


async def _send(websocket: WebSocket, stream: PlaybackStream) -> None:
    async with contextlib.aclosing(stream.messages()) as messages:
        async for message in messages:
            if isinstance(message, bytes):
                await websocket.send_bytes(message)
            else:
                await websocket.send_text(message)


@router.websocket("/api/cameras/{name}/playback")
async def playback(websocket: WebSocket, name: str, services: ServicesDep, user: UserDep,
                   start: str | None = None) -> None:
    await websocket.accept()
    if name not in services.known_cameras() or not user.may_see(name):
        await websocket.close(NOT_FOUND, "no such camera")
        return
    try:
        start_us = parse_time(start, "start")
    except HTTPException as exc:
        await websocket.close(BAD_REQUEST, str(exc.detail)[:120])
        return
    if start_us is None:
        await websocket.close(BAD_REQUEST, "start: required (ISO 8601)")
        return
    address = websocket.client.host if websocket.client else None
    stream = PlaybackStream(IndexCatalog(services, name, user, address), start_us)
    sender = asyncio.create_task(_send(websocket, stream), name=f"playback {name}")
    reader = asyncio.create_task(_controls(websocket, stream), name=f"playback {name} input")
    watcher = asyncio.create_task(close_when_signed_out(websocket, services, user),
                                  name=f"playback {name} sign-in")
    finished = False
    try:
        done, _ = await asyncio.wait({sender, reader, watcher},
                                     return_when=asyncio.FIRST_COMPLETED)
        finished = sender in done and sender.exception() is None
    finally:
        for task in (sender, reader, watcher):
            task.cancel()
        for task in (sender, reader, watcher):
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError,
                                     OSError):
                await task
    log.debug("playback of %s for %s: %d segments, %d fragments", name, user.username,
              stream.segments, stream.fragments)
    if finished and websocket.application_state == WebSocketState.CONNECTED:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            await websocket.close(1000, "end of the recordings")


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
    refs = await catalog.refs(with_open_range(services, camera, rows, start_us, end_us))
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
