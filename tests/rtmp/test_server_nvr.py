"""``nvr run`` with ``[rtmp]``: a simulated camera republished over RTMP and RTMPS
(self-signed certificate), a stream published with ffmpeg listed by
``GET /api/rtmp/streams``, its start and stop stored as events."""

from __future__ import annotations

import asyncio
import json
import shutil

import pytest
from nvrharness import free_port, running_nvr, wait_until
from test_protocol_interop import _run

from nvr.sim.server import SimCamera, SimServer

pytestmark = [pytest.mark.peer, pytest.mark.skipif(
    not all(shutil.which(b) for b in ("ffmpeg", "ffprobe", "openssl")),
    reason="needs ffmpeg, ffprobe and openssl")]

KEY = "publish-key-2"


async def test_nvr_republishes_a_camera_over_rtmp_and_rtmps_and_takes_a_publisher(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    code, out = await _run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                           "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                           "/CN=localhost", "-keyout", str(key), "-out", str(cert))
    assert code == 0, out
    port, tls_port = free_port(), free_port()
    extra = (f'[rtmp]\nenabled = true\nlisten = "127.0.0.1:{port}"\npublish_key = "{KEY}"\n'
             f'rtmps_listen = "127.0.0.1:{tls_port}"\ntls_cert = "{cert}"\n'
             f'tls_key = "{key}"\n')
    sim = SimServer(host="127.0.0.1", port=0, cameras=[
        SimCamera(name="cam1", audio=True, width=320, height=240, fps=25, bitrate_kbps=300)])
    await sim.start()
    try:
        cameras = [{"name": "front", "url": sim.url("cam1"), "audio": True,
                    "republish": True, "record": "off"}]
        async with running_nvr(tmp_path, cameras, extra=extra) as nvr:
            await wait_until(lambda: _online(nvr), 15, "the camera online")
            for url in (f"rtmp://127.0.0.1:{port}/live/front",
                        f"rtmps://127.0.0.1:{tls_port}/live/front"):
                code, out = await _run("ffprobe", "-v", "error", "-of", "json",
                                       "-show_entries", "stream=codec_name,width", url)
                assert code == 0, out
                assert sorted(s["codec_name"] for s in json.loads(out)["streams"]) == [
                    "aac", "h264"], url

            publish = ["ffmpeg", "-v", "error", "-re", "-f", "lavfi", "-i",
                       "testsrc=size=160x120:rate=15:duration=3", "-c:v", "libx264",
                       "-preset", "ultrafast", "-g", "15", "-pix_fmt", "yuv420p", "-f", "flv",
                       f"rtmp://127.0.0.1:{port}/live/studio?key={KEY}"]
            publisher = asyncio.create_task(_run(*publish))

            async def listed() -> list[dict]:
                resp = await nvr.http.get("/api/rtmp/streams")
                resp.raise_for_status()
                return [s for s in resp.json() if s["name"] == "live/studio"
                        and s["video_codec"] == "h264"]

            [row] = await wait_until(listed, 15, "live/studio in /api/rtmp/streams", 0.1)
            assert row["source"] == "publisher" and row["publisher"].startswith("127.0.0.1")
            code, out = await publisher
            assert code == 0, out

            async def events() -> list[str]:
                resp = await nvr.http.get("/api/events", params={"camera": "live/studio"})
                resp.raise_for_status()
                types = sorted(e["type"] for e in resp.json()["events"])
                return types if len(types) == 2 else []

            assert await wait_until(events, 10, "the publish events", 0.1) == [
                "rtmp_publish_start", "rtmp_publish_stop"]
            resp = await nvr.http.get("/api/rtmp/streams")
            assert [s["name"] for s in resp.json()] == ["live/front"]  # listed unplayed
    finally:
        await sim.stop()


async def _online(nvr) -> bool:  # type: ignore[no-untyped-def]
    return await nvr.status("front") == "online"
