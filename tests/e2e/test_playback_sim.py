"""Playback and export against a real running nvr recording the simulator (one nvr for
the module): what a browser and a download get over the network."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import websockets
from nvrharness import ADMIN_PASSWORD, RunningNvr, decode_errors, running_nvr, wait_until

from nvr.fmp4.boxes import find, read_boxes
from nvr.sim.server import SimCamera, SimServer

pytestmark = pytest.mark.asyncio(loop_scope="module")
AUTH = {"Authorization": "Basic " + base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def nvr(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningNvr]:
    sim = SimServer(host="127.0.0.1", port=0, cameras=[
        SimCamera(name="cam1", audio=True, width=320, height=240, fps=25, bitrate_kbps=300)])
    await sim.start()
    try:
        cameras = [{"name": "front", "url": sim.url("cam1"), "audio": True}]
        async with running_nvr(tmp_path_factory.mktemp("playback"), cameras) as nvr:
            await wait_until(lambda: _segments(nvr, 4), 40, "4 segments of front")
            yield nvr
    finally:
        await sim.stop()


async def _segments(nvr: RunningNvr, n: int) -> bool:
    return len(await nvr.recordings("front")) >= n


def _seconds(a: str, b: str) -> float:
    return (datetime.fromisoformat(b.replace("Z", "+00:00"))
            - datetime.fromisoformat(a.replace("Z", "+00:00"))).total_seconds()


def _video_tfdts(fragment: bytes) -> list[tuple[int, int]]:
    """(decode time, duration sum) of the video traf."""
    for traf in find(read_boxes(fragment), b"traf"):
        tfhd = next(b for b in traf.children if b.kind == b"tfhd")
        if tfhd.payload[4:8] != b"\x00\x00\x00\x01":
            continue
        tfdt = next(b for b in traf.children if b.kind == b"tfdt")
        trun = next(b for b in traf.children if b.kind == b"trun").payload
        count = int.from_bytes(trun[4:8], "big")
        width = 16 if int.from_bytes(trun[1:4], "big") & 0x800 else 12
        total = sum(int.from_bytes(trun[12 + i * width : 16 + i * width], "big")
                    for i in range(count))
        return [(int.from_bytes(tfdt.payload[4:12], "big"), total)]
    return []


async def test_playback_over_a_real_websocket(nvr: RunningNvr, tmp_path: Path) -> None:
    rows = await nvr.recordings("front")
    start = rows[1]["start"]
    url = str(nvr.http.base_url).replace("http", "ws", 1).rstrip("/")
    messages: list[Any] = []
    async with websockets.connect(f"{url}/api/cameras/front/playback?start={start}",
                                  additional_headers=AUTH, max_size=None) as ws:
        asked = False
        async for message in ws:
            messages.append(message)
            if not asked and sum(isinstance(m, bytes) for m in messages) > 3:
                await ws.send(json.dumps({"more": 3600}))
                asked = True
        assert ws.close_code == 1000
    texts = [json.loads(m) for m in messages if isinstance(m, str)]
    assert 'avc1.' in texts[0]["mime"] and "mp4a.40.2" in texts[0]["mime"]
    assert texts[-1] == {"end": True}
    spans = [t["span"] for t in texts if "span" in t]
    assert spans[0]["wall"] == start and spans[0]["media"] == 0.0
    for before, after in zip(spans, spans[1:], strict=False):  # unbroken: media = wall
        assert after["media"] == pytest.approx(
            before["media"] + _seconds(before["wall"], after["wall"]), abs=1e-3)
    video = [t for m in messages if isinstance(m, bytes) and m[4:8] == b"moof"
             for t in _video_tfdts(m)]
    for (time, length), (following, _) in zip(video, video[1:], strict=False):
        assert following == time + length
    path = tmp_path / "played.mp4"
    path.write_bytes(b"".join(m for m in messages if isinstance(m, bytes)))
    assert await asyncio.to_thread(decode_errors, path) == ""  # nvr runs in this loop


async def test_export_of_a_real_recording(nvr: RunningNvr, tmp_path: Path) -> None:
    rows = await nvr.recordings("front")
    start, end = rows[0]["start"], rows[2]["end"]
    answer = await nvr.http.get("/api/cameras/front/export.mp4",
                                params={"start": start, "end": end})
    assert answer.status_code == 200
    path = tmp_path / "clip.mp4"
    path.write_bytes(answer.content)
    assert await asyncio.to_thread(decode_errors, path) == ""
    out = await asyncio.to_thread(
        subprocess.run, ["ffprobe", "-v", "error", "-show_entries",
                         "stream=codec_type,start_time:format=duration", "-of", "json",
                         str(path)], capture_output=True, text=True, timeout=60)
    info = json.loads(out.stdout)
    assert {s["codec_type"] for s in info["streams"]} == {"video", "audio"}
    assert float(info["format"]["duration"]) == pytest.approx(_seconds(start, end), abs=0.05)
