"""``WebSocket /api/cameras/{name}/live[?stream=sub][&transcode=h264]``: the live view
(see ``nvr.live.stream`` for the messages).

``transcode=h264`` asks for video the browser can play when it cannot play the
camera's codec (H.265 in Chromium and Firefox): the same messages from the
feed's transcoder (``nvr.live.transcode``: H.264, at most 1280 px wide), with
``{"transcoded": true, "from": "h265"}`` after the mime message. A feed that
is H.264 already is served as it is. Another ``transcode`` value closes 4400.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

from nvr.feed import Feed
from nvr.live import LiveStream, Status
from nvr.live.transcode import Transcoder
from nvr.source import Source
from nvr.web.api.deps import ServicesDep, UserDep
from nvr.web.ws_signed_in import close_when_signed_out

log = logging.getLogger(__name__)
router = APIRouter()
NOT_FOUND = 4404  # a WebSocket close code: no such camera (or not yours)
BAD_REQUEST = 4400  # a WebSocket close code: a query parameter nvr does not know
TRANSCODES = ("h264",)


def _is_h264(feed: Feed, source: Source) -> bool:
    """The feed's codec as last seen (None before its first session: not known)."""
    codec = feed.video.codec if feed.video is not None else source.state.codec
    return codec == "h264"


@router.websocket("/api/cameras/{name}/live")
async def live(websocket: WebSocket, name: str, services: ServicesDep, user: UserDep,
               stream: str = "main", transcode: str | None = None) -> None:
    feed_name = f"{name}/sub" if stream == "sub" else name
    feed = services.registry.get(feed_name)
    source = services.registry.source(feed_name)
    await websocket.accept()
    if feed is None or source is None or not user.may_see(name) or stream not in (
            "main", "sub"):
        await websocket.close(NOT_FOUND, "no such camera")
        return
    if transcode is not None and transcode not in TRANSCODES:
        await websocket.close(BAD_REQUEST, f"transcode must be one of {', '.join(TRANSCODES)}")
        return
    transcoder: Transcoder | None = None
    if transcode == "h264" and not _is_h264(feed, source):
        transcoders = services.transcoders
        transcoder = transcoders.open(feed_name) if transcoders is not None else None
        if transcoder is None:
            await websocket.close(BAD_REQUEST, "transcoding is not available")
            return

    def status() -> Status:
        state = source.state  # the camera's, unless it is fine and the transcoder is not
        if transcoder is not None and state.status == "online":
            state = transcoder.state
        return Status(state.status, state.last_error)

    if transcoder is not None:
        viewer = LiveStream(transcoder.feed, status, describe=transcoder.describe)
    else:
        viewer = LiveStream(feed, status)

    async def send() -> None:
        async for message in viewer.messages():
            if isinstance(message, bytes):
                await websocket.send_bytes(message)
            else:
                await websocket.send_text(message)

    sender = asyncio.create_task(send(), name=f"live {name}")
    watcher = asyncio.create_task(close_when_signed_out(websocket, services, user),
                                  name=f"live {name} sign-in")
    try:
        await asyncio.wait({sender, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sender, watcher):
            task.cancel()
        await asyncio.gather(sender, watcher, return_exceptions=True)
        if viewer.dropped:
            log.info("live viewer of %s (%s) fell behind: %d frames skipped", viewer.feed.name,
                     user.username, viewer.dropped)
    if sender.cancelled():
        return  # signed out: the watcher closed the socket with SIGNED_OUT
    error = sender.exception()
    if isinstance(error, (WebSocketDisconnect, RuntimeError, OSError)):
        return  # the viewer left
    if error is not None:
        raise error
    if websocket.application_state == WebSocketState.CONNECTED:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            await websocket.close(1000, "the stream ended")  # the viewer may be gone too
