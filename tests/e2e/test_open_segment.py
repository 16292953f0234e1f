"""The last minute, before its segment is closed: with 60 s segments, what a camera
recorded seconds ago is on the timeline and plays (following the file as it grows),
exports and shows a frame, though the index has no row for it yet (the recorder's
open segment, up to its last fsynced GOP). A running nvr, a simulated camera, real
WebSocket and ffprobe.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from nvrharness import ADMIN_PASSWORD, decode_errors, ffprobe, running_nvr, wait_until
from websockets.asyncio.client import connect

from nvr.sim.server import SimCamera, SimServer

AUTH = {"Authorization": "Basic " + base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()}


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def _seconds(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


@pytest.fixture
async def sim():
    server = SimServer(host="127.0.0.1", port=0, cameras=[SimCamera(
        name="cam1", width=320, height=240, fps=10, bitrate_kbps=200, gop_seconds=1,
        audio=True)])
    await server.start()
    yield server
    await server.stop()


async def test_seconds_ago_plays_before_the_segment_is_indexed(sim, tmp_path: Path) -> None:
    async with running_nvr(tmp_path, [{"name": "front", "url": sim.url("cam1"), "audio": True}],
                           recording={"segment_seconds": 60}) as nvr:
        await wait_until(lambda: _recorded_since(nvr, 6), 30, "6 s on the timeline")
        assert await nvr.recordings("front") == []  # no segment closed yet
        now = time.time()

        # playback from 3 s ago: the init segment and what is on disk, then it follows
        # the file as it grows: 8 fragments (GOPs of 1 s) where 3 s were on disk
        messages = await _play(nvr, now - 3, fragments=8)
        texts = [json.loads(m) for m in messages if isinstance(m, str)]
        assert "avc1." in texts[0]["mime"] and {"end": True} not in texts
        spans = [t["span"] for t in texts if "span" in t]
        assert now - 4.5 < _seconds(spans[0]["wall"]) <= now - 3 + 0.01
        assert len(spans) >= 2 and _seconds(spans[-1]["end"]) > _seconds(spans[0]["end"]) + 3
        for span in spans[1:]:  # one timeline: media time and wall time move together
            assert span["media"] - spans[0]["media"] == pytest.approx(
                _seconds(span["wall"]) - _seconds(spans[0]["wall"]), abs=0.01)
        media = [m for m in messages if isinstance(m, bytes)]
        assert media[0][4:8] == b"ftyp"
        clip = tmp_path / "played.mp4"
        clip.write_bytes(b"".join(media))
        assert decode_errors(clip) == ""
        assert float(ffprobe(clip)["format"]["duration"]) >= 7

        # the last 5 s as an MP4 download
        answer = await nvr.http.get("/api/cameras/front/export.mp4", params={
            "start": _iso(now - 5), "end": _iso(now)})
        assert answer.status_code == 200, answer.text
        export = tmp_path / "export.mp4"
        export.write_bytes(answer.content)
        probed = ffprobe(export)
        assert sorted(s["codec_type"] for s in probed["streams"]) == ["audio", "video"]
        assert float(probed["format"]["duration"]) >= 2.5
        assert decode_errors(export) == ""

        # a frame from 2 s ago
        frame = await nvr.http.get("/api/cameras/front/frame.jpg", params={
            "at": _iso(now - 2)})
        assert frame.status_code == 200 and frame.content[:2] == b"\xff\xd8"
        # a time well past what was recorded is not in it
        later = await nvr.http.get("/api/cameras/front/frame.jpg", params={
            "at": _iso(now + 60)})
        assert later.status_code == 404


async def _play(nvr: Any, start: float, fragments: int) -> list[Any]:
    """The playback WebSocket's messages from ``start`` until ``fragments`` fragments."""
    url = str(nvr.http.base_url).replace("http://", "ws://").rstrip("/")
    messages: list[Any] = []
    async with connect(f"{url}/api/cameras/front/playback?start={_iso(start)}",
                       additional_headers=AUTH, max_size=None) as ws:
        while sum(isinstance(m, bytes) and m[4:8] == b"moof" for m in messages) < fragments:
            messages.append(await asyncio.wait_for(ws.recv(), 10))
    return messages


async def _recorded_since(nvr: Any, seconds: float) -> bool:
    """The timeline shows the camera recorded for ``seconds`` up to a few seconds ago."""
    span = await nvr.recorded("front")
    return span is not None and span[1] - span[0] >= seconds and time.time() - span[1] < 4


async def test_playback_a_moment_behind_live_goes_on_across_segments(sim, tmp_path: Path
                                                                     ) -> None:
    """Followed to its close, the segment being written hands over to the next one
    (whose first fragment is on disk a GOP later): playback a second behind live
    does not run out at a segment's end."""
    async with running_nvr(tmp_path, [{"name": "front", "url": sim.url("cam1")}],
                           recording={"segment_seconds": 3}) as nvr:
        await wait_until(lambda: _recorded_since(nvr, 2), 30, "2 s on the timeline")
        messages = await _play(nvr, time.time() - 1, fragments=9)
        texts = [json.loads(m) for m in messages if isinstance(m, str)]
        assert {"end": True} not in texts
        walls = {t["span"]["wall"][:19] for t in texts if "span" in t}
        rows = await nvr.recordings("front")
        assert len(rows) >= 2  # segments closed while it played
        clip = tmp_path / "followed.mp4"
        clip.write_bytes(b"".join(m for m in messages if isinstance(m, bytes)))
        assert decode_errors(clip) == ""
        assert float(ffprobe(clip)["format"]["duration"]) >= 8
        assert len(walls) >= 3  # a span per segment (and per look at a growing one)
