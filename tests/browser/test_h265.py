"""An H.265 camera in a browser that cannot play H.265 (Chromium): the page asks
for H.264, nvr converts while someone watches, and the page says so."""

from __future__ import annotations

import asyncio
import time

import pytest
import pytest_asyncio
from conftest import USERS, chromium_for, one_camera_site
from nvrharness import REPO
from playwright.async_api import expect
from test_login_pages import problems, sign_in

from nvr.sim.server import SimCamera

pytestmark = pytest.mark.asyncio(loop_scope="module")
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory):
    camera = SimCamera(name="cam1", codec="h265", width=320, height=240, fps=10,
                       bitrate_kbps=200, gop_seconds=1)
    async with one_camera_site(tmp_path_factory.mktemp("h265"), "yard", camera) as (nvr, _), \
            chromium_for(nvr) as site:
        yield site


async def test_an_h265_camera_plays_through_the_h264_fallback(site, browse):
    page, console = await browse()
    hevc = await page.evaluate(
        "() => MediaSource.isTypeSupported('video/mp4; codecs=\"hvc1.1.6.L60.90\"')")
    if hevc:
        pytest.skip("this Chromium plays H.265 itself: no fallback to see")
    await page.goto("/cameras/yard")
    await sign_in(page, "admin", USERS["admin"][0])
    note = page.locator("#stage-note")
    await expect(note).to_contain_text("H.264")
    deadline = time.monotonic() + 20
    first = None
    while time.monotonic() < deadline:
        state = await page.evaluate(
            "() => { const v = document.querySelector('#video');"
            " return {t: v.currentTime, w: v.videoWidth}; }")
        if state["w"] > 0:
            first = first or state
            if state["t"] > first["t"] + 1:
                break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError(f"the converted video did not play: {state}")
    assert state["w"] == 320
    await page.screenshot(path=SCREENSHOTS / "camera-h265-fallback-desktop.png")
    assert problems(console) == []
