"""Push a camera to a real second RTMP server (Debian's nginx with libnginx-mod-rtmp) and
play it back from there with Debian's ffprobe/ffmpeg: what a platform's viewers would
get. Then nginx goes away mid-push and comes back on the same port: the push says so
(without the stream key) and resumes by itself.

The camera is the simulator over RTSP, taken by nvr's own CameraClient into a Feed,
as in ``nvr run``.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from nvrharness import running_nvr, wait_until
from peers.nginx_rtmp import NginxRtmp, nginx_or_skip

from nvr.feed import Feed
from nvr.rtmp.push import Pusher
from nvr.rtsp.camera import CameraClient
from nvr.sim.server import SimCamera, SimServer

pytestmark = [pytest.mark.peer, pytest.mark.asyncio(loop_scope="module")]
KEY = "secretstreamkey123"


@dataclass
class Rig:
    nginx: NginxRtmp
    feed: Feed
    pusher: Pusher


async def _probe(url: str) -> list[dict[str, Any]]:
    """ffprobe's streams of a live RTMP URL (a short analysis: the stream is live)."""
    rc, out, err = await _run("ffprobe", "-v", "error", "-analyzeduration", "500000",
                              "-of", "json", "-show_streams", url)
    assert rc == 0, err
    streams: list[dict[str, Any]] = json.loads(out)["streams"]
    return streams


async def _run(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 20)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, out.decode(), err.decode()


@dataclass
class Peers:
    nginx: NginxRtmp
    sim: SimServer


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def peers(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Peers]:
    """One nginx-rtmp and one simulated H.264 + AAC camera for the module."""
    reason = nginx_or_skip()
    if reason:
        pytest.skip(reason)
    if not (shutil.which("ffprobe") and shutil.which("ffmpeg")):
        pytest.skip("ffmpeg/ffprobe not installed")
    nginx = NginxRtmp(tmp_path_factory.mktemp("nginx"))
    await asyncio.to_thread(nginx.start)
    sim = SimServer(host="127.0.0.1", port=0, cameras=[
        SimCamera(name="cam1", codec="h264", width=320, height=240, fps=15,
                  bitrate_kbps=300, gop_seconds=1, audio=True)])
    await sim.start()
    try:
        yield Peers(nginx, sim)
    finally:
        await sim.stop()
        await asyncio.to_thread(nginx.stop)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def rig(peers: Peers) -> AsyncIterator[Rig]:
    """nvr's RTSP client into a Feed, pushed to nginx by a Pusher."""
    nginx = peers.nginx
    feed = Feed("yard")
    client = CameraClient("yard", peers.sim.url("cam1"), feed, audio=True)
    pusher = Pusher(feed, nginx.url(KEY), label=f"rtmp://127.0.0.1:{nginx.port}/live/***")
    tasks = [asyncio.create_task(client.run()), asyncio.create_task(pusher.run())]
    try:
        yield Rig(nginx, feed, pusher)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        feed.close()


async def test_a_pushed_camera_plays_back_from_nginx(rig: Rig) -> None:
    await wait_until(lambda: rig.pusher.state.status == "pushing", 15, "pushing", 0.1)
    url = rig.nginx.url(KEY)
    streams = {s["codec_type"]: s for s in await _probe(url)}
    assert streams["video"]["codec_name"] == "h264"
    assert (streams["video"]["width"], streams["video"]["height"]) == (320, 240)
    assert streams["audio"]["codec_name"] == "aac"
    rc, _, err = await _run("ffmpeg", "-v", "error", "-i", url, "-frames:v", "10",
                            "-f", "null", "-")
    assert rc == 0 and err.strip() == "", err
    state = rig.pusher.state
    assert state.bytes_sent > 10_000 and state.last_error is None


async def test_nginx_going_away_and_back_is_retried_without_showing_the_key(rig: Rig) -> None:
    await wait_until(lambda: rig.pusher.state.status == "pushing", 15, "pushing", 0.1)
    before = rig.pusher.state.reconnects
    await asyncio.to_thread(rig.nginx.stop)
    await wait_until(lambda: rig.pusher.state.status == "retrying", 10, "retrying", 0.1)
    error = rig.pusher.state.last_error
    assert error and KEY not in error and KEY not in rig.pusher.state.url
    await asyncio.to_thread(rig.nginx.start)
    await wait_until(lambda: rig.pusher.state.status == "pushing", 20, "pushing again", 0.1)
    assert rig.pusher.state.reconnects > before
    sent = rig.pusher.state.bytes_sent
    assert any(s["codec_name"] == "h264" for s in await _probe(rig.nginx.url(KEY)))
    assert rig.pusher.state.bytes_sent > sent



async def test_nvr_pushes_a_configured_camera_and_shows_it_in_the_api(
        peers: Peers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``push`` in the config, the key from the environment: nvr pushes by itself and
    GET /api/cameras shows the target's state, the key hidden."""
    monkeypatch.setenv("NVR_TEST_PUSH_KEY", "anothersecretkey42")
    url = f"rtmp://127.0.0.1:{peers.nginx.port}/live/${{NVR_TEST_PUSH_KEY}}"
    async with running_nvr(tmp_path, [{"name": "gate", "url": peers.sim.url("cam1"),
                                       "record": "off", "push": [url]}]) as nvr:
        async def pushing() -> list[dict[str, Any]] | None:
            push = (await nvr.cameras())["gate"]["push"]
            return push if push and push[0]["status"] == "pushing" else None
        push = await wait_until(pushing, 20, "the push to nginx")
        assert push[0]["url"] == f"rtmp://127.0.0.1:{peers.nginx.port}/live/***"
        streams = await _probe(peers.nginx.url("anothersecretkey42"))
        assert [s["codec_name"] for s in streams] == ["h264"]
        text = (await nvr.http.get("/api/cameras")).text
        assert "anothersecretkey42" not in text
        assert (await nvr.cameras())["gate"]["push"][0]["bytes_sent"] > 0
