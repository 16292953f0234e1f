"""A camera that records what an encoder publishes: ``url = "rtmp://.../live/<name>"``.

Debian's ffmpeg publishes H.264 with B-frames and AAC to a running nvr, twice (the
encoder restarts); the camera is listed with its state, served live over the
WebSocket and over RTMP, recorded into segments ffprobe reads, exported, and its
motion detected; the publish events carry the camera's name.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from nvrharness import RunningNvr, decode_errors, free_port, running_nvr, wait_until
from test_live_transcode import live, take
from test_protocol_interop import _run

pytestmark = [pytest.mark.peer, pytest.mark.skipif(
    not all(shutil.which(b) for b in ("ffmpeg", "ffprobe")), reason="needs ffmpeg and ffprobe")]

KEY = "publish-key-9"


def _publish(port: int, seconds: float) -> list[str]:
    """ffmpeg sending a moving test picture (H.264 with B-frames) and a tone (AAC)."""
    return ["ffmpeg", "-v", "error", "-re", "-f", "lavfi", "-i",
            f"testsrc2=size=320x240:rate=25:duration={seconds}", "-f", "lavfi", "-i",
            f"sine=frequency=440:sample_rate=44100:duration={seconds}",
            "-c:v", "libx264", "-preset", "ultrafast", "-bf", "2", "-g", "25",
            "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k", "-f", "flv",
            f"rtmp://127.0.0.1:{port}/live/dji?key={KEY}"]


async def _camera(nvr: RunningNvr) -> dict[str, Any]:
    return (await nvr.cameras())["drone"]


async def _codecs(url_or_path: str) -> list[str]:
    code, out = await _run("ffprobe", "-v", "error", "-of", "json", "-show_entries",
                           "stream=codec_name", url_or_path)
    assert code == 0, out
    return sorted(s["codec_name"] for s in json.loads(out)["streams"])


async def test_a_camera_records_what_an_encoder_publishes(tmp_path: Path) -> None:
    port = free_port()
    extra = f'[rtmp]\nenabled = true\nlisten = "127.0.0.1:{port}"\npublish_key = "{KEY}"\n'
    cameras = [{"name": "drone", "url": f"rtmp://127.0.0.1:{port}/live/dji", "audio": True,
                "republish": True,
                "motion": {"enabled": True, "fps": 5, "post_seconds": 1}}]
    async with running_nvr(tmp_path, cameras, extra=extra) as nvr:
        cam = await _camera(nvr)
        assert cam["status"] == "connecting"
        assert "waiting for a publisher at live/dji" in cam["last_error"]

        publisher = asyncio.create_task(_run(*_publish(port, 7)))
        await wait_until(lambda: _status(nvr, "online"), 15, "the camera online")
        cam = await _camera(nvr)
        assert (cam["codec"], cam["width"], cam["height"]) == ("h264", 320, 240)

        # a second encoder on the same stream is refused; the first goes on
        code, out = await _run(*_publish(port, 1))
        assert code != 0, out
        # live: the camera's WebSocket view and RTMP at both names, from the same feed
        async with live(nvr, "drone/live") as ws:
            _, media = await take(ws, 3)
        clip = tmp_path / "live.mp4"
        clip.write_bytes(media)
        assert await _codecs(str(clip)) == ["aac", "h264"]
        for name in ("dji", "drone"):
            assert await _codecs(f"rtmp://127.0.0.1:{port}/live/{name}") == ["aac", "h264"]

        code, out = await publisher
        assert code == 0, out
        cam = await wait_until(lambda: _status(nvr, "offline"), 10, "the camera offline")
        assert "disconnected" in cam["last_error"]

        # the encoder comes back: the same camera goes on recording
        code, out = await _run(*_publish(port, 3))
        assert code == 0, out
        rows = await wait_until(lambda: _recorded(nvr, 9), 15, "9 s of recordings")
        for row in rows:
            assert (row["video_codec"], row["audio_codec"]) == ("h264", "aac")
            assert await asyncio.to_thread(decode_errors, nvr.data_dir / row["path"]) == ""
        answer = await nvr.http.get("/api/cameras/drone/export.mp4",
                                    params={"start": rows[0]["start"], "end": rows[-1]["end"]})
        assert answer.status_code == 200
        export = tmp_path / "export.mp4"
        export.write_bytes(answer.content)
        assert await _codecs(str(export)) == ["aac", "h264"]
        assert await asyncio.to_thread(decode_errors, export) == ""

        events = await wait_until(lambda: _events(nvr), 10, "the events of camera drone")
        assert events.count("rtmp_publish_start") == 2
        assert events.count("rtmp_publish_stop") == 2
        assert "motion" in events


async def _status(nvr: RunningNvr, status: str) -> dict[str, Any] | None:
    cam = await _camera(nvr)
    return cam if cam["status"] == status else None


async def _recorded(nvr: RunningNvr, seconds: float) -> list[dict[str, Any]]:
    rows = await nvr.recordings("drone")
    return rows if sum(r["duration"] for r in rows) >= seconds else []


async def _events(nvr: RunningNvr) -> list[str]:
    resp = await nvr.http.get("/api/events", params={"camera": "drone"})
    resp.raise_for_status()
    types = [e["type"] for e in resp.json()["events"]]
    return types if types.count("rtmp_publish_stop") == 2 and "motion" in types else []
