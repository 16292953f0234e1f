"""Feeds as consumers see them: a late joiner starts at a keyframe at once, a sub
stream is pulled only while somebody consumes it."""

from __future__ import annotations

import asyncio

import pytest
from nvrharness import running_nvr, wait_until

from nvr.clock import SkippableClock
from nvr.ondemand import IDLE_NOTE
from nvr.sim.server import SimCamera, SimServer

SMALL = {"width": 320, "height": 240, "fps": 25, "bitrate_kbps": 300}


@pytest.fixture
async def sim():
    server = SimServer(host="127.0.0.1", port=0, cameras=[
        SimCamera(name="main", **SMALL), SimCamera(name="sub", width=160, height=96, fps=25,
                                                   bitrate_kbps=150)])
    await server.start()
    yield server
    await server.stop()


async def test_late_joiner_starts_with_a_keyframe_at_once(sim, tmp_path):
    async with running_nvr(tmp_path, [{"name": "door", "url": sim.url("main")}]) as nvr:
        feed = nvr.nvr.registry.get("door")
        assert feed is not None
        await wait_until(lambda: len(feed.gop) > 10, 20, "a GOP in progress")
        sub = feed.subscribe(start="keyframe")
        first = await asyncio.wait_for(sub.get(), 0.5)  # no wait for the next keyframe
        assert first is not None and first.keyframe and first.kind == "video"
        assert len(sub) >= 9  # the rest of the cached GOP is queued behind it
        sub.close()


async def test_sub_stream_is_pulled_only_while_consumed(sim, tmp_path):
    clock = SkippableClock()
    cam = {"name": "door", "url": sim.url("main"), "sub_url": sim.url("sub")}
    async with running_nvr(tmp_path, [cam], clock=clock) as nvr:
        registry = nvr.nvr.registry
        feed, source = registry.get("door/sub"), registry.source("door/sub")
        assert feed is not None and source is not None
        assert source.state.status == "offline" and source.state.last_error == IDLE_NOTE
        assert source.state.attempts == 0 and sim.clients("sub") == 0
        viewer = feed.subscribe(start="keyframe")
        first = await asyncio.wait_for(viewer.get(), 15)
        assert first is not None and first.keyframe
        assert first.params.width == 160
        viewer.close()
        closed_at = clock.monotonic()

        def skip_and_check() -> float | None:
            if sim.clients("sub") == 0:
                return clock.monotonic() - closed_at
            clock.skip(1)
            return None

        # time passes (skipped a second at a time) until the camera is let go
        held = await wait_until(skip_and_check, 10, "the sub stream released", interval=0.05)
        assert 10 <= held < 14  # the 10 s linger, not at once, not much later
        assert source.state.last_error == IDLE_NOTE
        # the sub stream is never recorded
        assert await nvr.recordings("door/sub") == []
