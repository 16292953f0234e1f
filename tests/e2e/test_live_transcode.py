"""The live view of an H.265 camera as H.264 (``?transcode=h264``), against a running nvr
and a simulated camera, over a real WebSocket."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import pytest
from nvrharness import ADMIN_PASSWORD, decode_errors, ffprobe, running_nvr, wait_until
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from nvr.sim.server import SimCamera, SimServer

SMALL = {"width": 640, "height": 360, "fps": 25, "bitrate_kbps": 500, "audio": True}
AUTH = {"Authorization": "Basic " + base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()}


@pytest.fixture
async def sim():
    server = SimServer(host="127.0.0.1", port=0, cameras=[
        SimCamera(name="hevc", codec="h265", bframes=2, **SMALL),
        SimCamera(name="avc", codec="h264", **SMALL)])
    await server.start()
    yield server
    await server.stop()


def live(nvr, query: str):
    """A live view WebSocket as admin. ``max_queue=None``: the client keeps reading what
    it is not asked for, so that closing does not wait behind unread video."""
    url = str(nvr.http.base_url).replace("http://", "ws://") + "/api/cameras/" + query
    return connect(url, additional_headers=AUTH, max_queue=None)


async def take(ws: ClientConnection, frames: int) -> tuple[list[dict], bytes]:
    """Text messages (status changes left out, they may come at any time), and the media
    (init + fragments) once ``frames`` fragments came."""
    texts: list[dict] = []
    media: list[bytes] = []
    while len(media) < 1 + frames:
        message = await asyncio.wait_for(ws.recv(), 10)
        if isinstance(message, str):
            text = json.loads(message)
            if "status" not in text:
                texts.append(text)
        else:
            media.append(message)
    return texts, b"".join(media)


async def test_h265_camera_is_served_as_h264_to_whoever_asks(sim, tmp_path: Path):
    cameras = [{"name": "door", "url": sim.url("hevc"), "audio": True},
               {"name": "yard", "url": sim.url("avc")}]
    async with running_nvr(tmp_path, cameras) as nvr:
        await wait_until(lambda: _online(nvr, "door"), 20, "door online")
        await wait_until(lambda: _online(nvr, "yard"), 20, "yard online")

        async with live(nvr, "door/live") as ws:
            first = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert first["mime"].startswith('video/mp4; codecs="hvc1.')

        query = "door/live?transcode=h264"
        async with live(nvr, query) as one, live(nvr, query) as two:
            (texts, media), (texts2, _) = await asyncio.gather(take(one, 75), take(two, 10))
            transcoders = list(nvr.nvr.transcoders)
            assert len(transcoders) == 1 and transcoders[0].encoders == 1  # shared
            assert transcoders[0].state.status == "online"
        mime = texts[0]["mime"]
        assert mime.startswith('video/mp4; codecs="avc1.') and "mp4a.40.2" in mime
        assert texts[1] == {"transcoded": True, "from": "h265"}
        assert texts2[:2] == texts[:2]
        path = tmp_path / "door-live.mp4"
        path.write_bytes(media)
        assert decode_errors(path) == ""
        streams = {s["codec_type"]: s for s in ffprobe(path)["streams"]}
        assert streams["video"]["codec_name"] == "h264"
        assert (streams["video"]["width"], streams["video"]["height"]) == (640, 360)
        assert streams["audio"]["codec_name"] == "aac"

        # a derived feed is no camera: not listed, not recorded
        assert set(await nvr.cameras()) == {"door", "yard"}
        assert "door/h264" in nvr.nvr.registry
        assert nvr.nvr.supervisor.names("recorder ") == ["recorder door", "recorder yard"]

        # an H.264 camera is served as it is; an unknown transcode is refused
        async with live(nvr, "yard/live?transcode=h264") as ws:
            texts, _ = await take(ws, 1)
        assert texts[0]["mime"].startswith('video/mp4; codecs="avc1.') and len(texts) == 1
        assert "yard/h264" not in nvr.nvr.registry
        async with live(nvr, "door/live?transcode=vp9") as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400


async def _online(nvr, camera: str) -> bool:
    return await nvr.status(camera) == "online"
