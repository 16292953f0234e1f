"""``WebSocket /api/cameras/{name}/live[?stream=sub]``: the live view (see
``nvr.live.stream`` for the messages)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

from nvr.live import LiveStream, Status
from nvr.web.api.deps import ServicesDep, UserDep

log = logging.getLogger(__name__)
router = APIRouter()
NOT_FOUND = 4404  # a WebSocket close code: no such camera (or not yours)


@router.websocket("/api/cameras/{name}/live")
async def live(websocket: WebSocket, name: str, services: ServicesDep, user: UserDep,
               stream: str = "main") -> None:
    feed_name = f"{name}/sub" if stream == "sub" else name
    feed = services.registry.get(feed_name)
    source = services.registry.source(feed_name)
    await websocket.accept()
    if feed is None or source is None or not user.may_see(name) or stream not in (
            "main", "sub"):
        await websocket.close(NOT_FOUND, "no such camera")
        return

    def status() -> Status:
        state = source.state
        return Status(state.status, state.last_error)

    viewer = LiveStream(feed, status)
    try:
        async for message in viewer.messages():
            if isinstance(message, bytes):
                await websocket.send_bytes(message)
            else:
                await websocket.send_text(message)
    except (WebSocketDisconnect, RuntimeError, OSError):
        return  # the viewer left
    finally:
        if viewer.dropped:
            log.info("live viewer of %s (%s) fell behind: %d frames skipped", feed_name,
                     user.username, viewer.dropped)
    if websocket.application_state == WebSocketState.CONNECTED:
        await websocket.close(1000, "the stream ended")
