"""The last minute in a real browser, with 60 s segments (the default): from the live
view, "previous frame" goes into playback of what was recorded a moment ago, and a
click on the timeline a few seconds back plays there, before any segment is closed.
Frame steps go on over a frame the camera never sent.
"""

from __future__ import annotations

import time

import pytest
import pytest_asyncio
from conftest import Site, chromium_for, one_camera_site
from nvrharness import REPO, wait_until
from playwright.async_api import expect
from test_login_pages import PHONE, problems
from test_playback import click_timeline, open_camera, state, until

from nvr.feed import VIDEO_CLOCK
from nvr.sim.server import SimCamera

pytestmark = pytest.mark.asyncio(loop_scope="module")
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory):
    camera = SimCamera(name="cam1", width=320, height=240, fps=10, bitrate_kbps=200,
                       gop_seconds=1)
    async with one_camera_site(tmp_path_factory.mktemp("recent"), "front", camera,
                               recording={"segment_seconds": 60}) as (nvr, sim):
        await wait_until(lambda: _recorded_for(nvr, 3), 30, "3 s recorded")
        # the camera skips a frame: its timestamps jump one frame period (10 fps)
        sim.fault("cam1").ts_jump(VIDEO_CLOCK // 10)
        gap = time.time()
        await wait_until(lambda: _recorded_for(nvr, 4, after=gap), 30, "4 s more recorded")
        assert await nvr.recordings("front") == []  # nothing indexed yet
        gap_ms = gap * 1000
        async with chromium_for(nvr) as site:
            site.gap_ms = gap_ms  # type: ignore[attr-defined]
            yield site


async def _recorded_for(nvr, seconds: float, after: float | None = None) -> bool:
    """The timeline shows ``seconds`` recorded (after ``after``, else in all)."""
    span = await nvr.recorded("front")
    return span is not None and span[1] - max(span[0], after or 0) >= seconds


async def test_previous_frame_from_live_plays_the_moment_before(site: Site, browse) -> None:
    page, console = await open_camera(site, browse)
    await until(page, lambda s: s["w"] > 0 and not s["paused"], what="live video")
    await page.locator("#step-back").click()
    await expect(page.locator("#mode-label")).to_have_text("Playback")
    shown = await until(page, lambda s: s["w"] > 0 and s["wall"] is not None,
                        what="a recorded frame")
    assert time.time() * 1000 - shown["wall"] < 8000  # a moment ago, not long ago
    await expect(page.locator("#stage-message")).not_to_contain_text("No recording")
    assert problems(console) == []


async def test_a_click_seconds_back_on_the_timeline_plays_there(site: Site, browse) -> None:
    page, console = await open_camera(site, browse)
    target = (time.time() - 5) * 1000
    await click_timeline(page, target)
    first = await until(page, lambda s: s["w"] > 0 and s["wall"] and not s["paused"],
                        what="playback to start")
    assert abs(first["wall"] - target) < 3000  # where we clicked
    await expect(page.locator("#badge-live")).to_be_hidden()  # not live: no LIVE badge
    await until(page, lambda s: s["t"] > first["t"] + 1.0, what="a second played")
    await page.screenshot(path=SCREENSHOTS / "camera-recent-playback-desktop.png")
    assert problems(console) == []


async def test_frame_steps_go_over_a_frame_the_camera_never_sent(site: Site, browse) -> None:
    page, console = await open_camera(site, browse)
    await page.evaluate(f"nvrPlayer.seek({site.gap_ms - 1500})")  # type: ignore[attr-defined]
    await until(page, lambda s: s["w"] > 0 and s["wall"] and not s["paused"], what="playback")
    await page.locator("#play").click()
    await until(page, lambda s: s["paused"] and s["shown"] is not None, what="pause")
    pictures = []
    for _ in range(25):  # 2.5 s of 10 fps frames, the missing one among them
        before = await state(page)
        await page.locator("#step-forward").click()
        after = await until(page, lambda s, b=before: s["shown"] > b["shown"] + 0.05,
                            what="the next picture after a step")
        pictures.append(after["shown"])
    steps = [round(b - a, 2) for a, b in zip(pictures, pictures[1:], strict=False)]
    assert max(steps) >= 0.15, steps  # one step went over the missing frame
    assert all(step <= 0.25 for step in steps), steps  # and never over a real one
    assert problems(console) == []


async def test_playback_of_a_moment_ago_on_a_phone(site: Site, browse) -> None:
    page, console = await open_camera(site, browse, size=PHONE)
    await page.evaluate(f"nvrPlayer.seek({(time.time() - 4) * 1000})")
    await expect(page.locator("#mode-label")).to_have_text("Playback")
    await until(page, lambda s: s["w"] > 0 and s["wall"] and not s["paused"], what="playback")
    await expect(page.locator("#badge-live")).to_be_hidden()
    await page.screenshot(path=SCREENSHOTS / "camera-playback-phone.png", full_page=True)
    assert problems(console) == []
