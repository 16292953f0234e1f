"""Playback in a real browser: seek on the timeline, speeds, frame steps both ways,
segment boundaries, grid playback in step, clip download.

One nvr records two cameras (2 s segments) for the module — ``front`` from our
simulator (with sound), ``back`` from GStreamer's RTSP server (a camera nobody
here wrote); the tests start once about 25 s are recorded.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import pytest_asyncio
from conftest import USERS, Site, _chromium, _status_is, chromium_for
from gst_peer import start_gst_camera
from nvrharness import REPO, ffprobe, running_nvr, wait_until
from playwright.async_api import Page, expect
from test_login_pages import problems, sign_in

from nvr.sim.server import SimCamera, SimServer

pytestmark = pytest.mark.asyncio(loop_scope="module")
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
RECORDED = 25  # seconds recorded before the tests start


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory):
    _chromium()
    # front has sound: trick play then switches to video only (a new init mid-stream)
    sim = SimServer(host="127.0.0.1", port=0, cameras=[
        SimCamera(name="cam1", width=320, height=240, fps=10, bitrate_kbps=200, gop_seconds=1,
                  audio=True)])
    await sim.start()
    try:
        async with start_gst_camera(fps=10) as gst, running_nvr(
                tmp_path_factory.mktemp("playback"),
                [{"name": "front", "url": sim.url("cam1")},
                 {"name": "back", "url": gst.url}]) as nvr:
            for camera in ("front", "back"):
                await wait_until(lambda c=camera: _status_is(nvr, c, "online"), 20, "online")
            started = time.time()
            await asyncio.sleep(RECORDED)
            async with chromium_for(nvr) as site:
                site.started = started  # type: ignore[attr-defined]
                yield site
    finally:
        await sim.stop()


VIDEO = """() => { const v = document.querySelector('#video');
  const c = document.createElement('canvas'); c.width = 64; c.height = 48;
  let hash = 0;
  if (v.videoWidth) { const g = c.getContext('2d'); g.drawImage(v, 0, 0, 64, 48);
    const d = g.getImageData(0, 0, 64, 48).data;
    for (let i = 0; i < d.length; i += 4) hash = (hash * 31 + d[i] + d[i + 1] * 7) >>> 0; }
  const s = window.nvrPlayer && window.nvrPlayer.session;
  return {t: v.currentTime, w: v.videoWidth, paused: v.paused, rate: v.playbackRate,
          wall: s ? s.wall : null, hash, shown: window.nvrPlayer ? nvrPlayer.shown : null}; }"""


async def state(page: Page) -> dict[str, Any]:
    return await page.evaluate(VIDEO)


async def until(page: Page, check, within: float = 15, what: str = "") -> dict[str, Any]:
    deadline = time.monotonic() + within
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        last = await state(page)
        if check(last):
            return last
        await asyncio.sleep(0.15)
    raise AssertionError(f"timed out waiting for {what}: {last}")


async def open_camera(site: Site, browse, user: str = "admin", camera: str = "front",
                      reported_fps: float | None = None,
                      size: dict[str, Any] | None = None) -> tuple[Page, Any]:
    """The camera page, signed in; ``reported_fps``: what /api/cameras says the camera's
    measured frame rate is (a camera's measure is rough on a busy machine); ``size``:
    the browser context's viewport options (desktop by default)."""
    page, console = await browse(**(size or {}))
    if reported_fps is not None:
        async def rough_fps(route: Any) -> None:
            response = await route.fetch()
            body = [dict(c, fps=reported_fps) for c in await response.json()]
            await route.fulfill(response=response, json=body)

        await page.route("**/api/cameras", rough_fps)
    await page.goto(f"/cameras/{camera}")
    await sign_in(page, user, USERS[user][0])
    await expect(page.get_by_role("heading", name=camera)).to_be_visible()
    deadline = time.monotonic() + 10  # (wait_for_function would eval: the CSP forbids it)
    while not await page.evaluate("() => window.nvrPlayer !== undefined"):
        assert time.monotonic() < deadline, "the playback controls did not load"
        await asyncio.sleep(0.1)
    return page, console


async def click_timeline(page: Page, target_ms: float) -> None:
    """Zoom the timeline to 10 minutes and click it at ``target_ms``: playback starts."""
    await page.get_by_role("button", name="10 min").click()
    await page.locator("#timeline").scroll_into_view_if_needed()
    box = await page.locator("#timeline").bounding_box()
    assert box is not None
    view = await page.evaluate("[nvrPlayer.timeline.viewStart, nvrPlayer.timeline.span]")
    x = box["x"] + (target_ms - view[0]) / view[1] * box["width"]
    await page.mouse.click(x, box["y"] + box["height"] * 0.7)
    await expect(page.locator("#mode-label")).to_have_text("Playback")


async def test_click_on_the_timeline_plays_the_recording_there(site, browse):
    page, console = await open_camera(site, browse)
    target = (site.started + 5) * 1000  # five seconds into the recordings
    await click_timeline(page, target)
    first = await until(page, lambda s: s["w"] > 0 and s["wall"] and not s["paused"],
                        what="playback to start")
    assert abs(first["wall"] - target) < 3000  # where we clicked (one timeline pixel ~0.5 s)
    # 2 s segments: 2.5 s of media played crosses at least one boundary without a stall
    # (the wall clock may run further: a gap the camera left under load is skipped)
    later = await until(page, lambda s: s["t"] > first["t"] + 2.5 and not s["paused"],
                        what="2.5 s of media played")
    assert later["wall"] > first["wall"] + 2000
    await page.screenshot(path=SCREENSHOTS / "camera-playback-desktop.png")
    assert problems(console) == []


async def test_speeds_and_frame_steps_both_ways(site, browse):
    # GStreamer's camera, 10 fps, reported as 4 fps: a step is still one frame
    page, console = await open_camera(site, browse, camera="back", reported_fps=4)
    await page.evaluate(f"nvrPlayer.seek({(site.started + 3) * 1000})")
    start = await until(page, lambda s: s["w"] > 0 and s["wall"] and not s["paused"],
                        what="playback")
    await page.select_option("#speed", "4")
    await asyncio.sleep(1.0)
    fast = await state(page)
    assert fast["rate"] == 4
    assert fast["wall"] - start["wall"] > 2500  # 4x: ~4 s of recording per second
    # frame steps: pause, then one frame forward and one back; the picture changes
    await page.select_option("#speed", "1")
    await page.keyboard.press("Space")
    paused = await until(page, lambda s: s["paused"], what="pause")
    await asyncio.sleep(0.3)
    paused = await state(page)
    await page.keyboard.press(".")
    forward = await until(page, lambda s: s["t"] > paused["t"] + 0.05, what="a frame forward")
    # the frame on screen (its media time, as the browser presents it) is another one
    await until(page, lambda s: s["shown"] != paused["shown"], what="the next frame shown")
    forward = await state(page)
    await page.keyboard.press(",")
    back = await until(page, lambda s: s["t"] < forward["t"] - 0.05, what="a frame back")
    await until(page, lambda s: s["shown"] != forward["shown"],
                what="the previous frame shown")
    assert 0.05 < forward["t"] - paused["t"] < 0.2  # 10 fps: one frame (0.1 s), not two
    assert 0.05 < forward["t"] - back["t"] < 0.2
    assert problems(console) == []


async def test_32x_skims_keyframes(site, browse):
    page, console = await open_camera(site, browse)
    await page.evaluate(f"nvrPlayer.seek({(site.started + 1) * 1000})")
    start = await until(page, lambda s: s["w"] > 0 and s["wall"] and not s["paused"],
                        what="playback")
    await page.select_option("#speed", "32")
    skimmed = await until(page, lambda s: s["wall"] > start["wall"] + 12000, within=4,
                          what="12 s of recording within a few seconds")
    assert skimmed["rate"] == 16  # the browser's most; the rest by skipping keyframes
    assert problems(console) == []


async def test_grid_playback_keeps_two_cameras_in_step(site, browse):
    page, console = await browse()
    await page.goto("/")
    await sign_in(page, "admin", USERS["admin"][0])
    await page.get_by_role("button", name="Playback").click()
    when = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(site.started + 4))
    await page.fill("#grid-time", when)
    await page.get_by_role("button", name="Play", exact=True).click()
    walls = """() => [...nvrGrid.sessions.entries()].map(([tile, s]) => s.positioned ?
        s.wallAt(tile.querySelector('video').currentTime) : null)"""
    deadline = time.monotonic() + 15
    spread = None
    while time.monotonic() < deadline:
        values = await page.evaluate(walls)
        if all(values) and len(values) == 2:
            spread = abs(values[0] - values[1])
            if spread < 500:
                break
        await asyncio.sleep(0.2)
    assert spread is not None and spread < 500, f"tiles {spread} ms apart"
    await asyncio.sleep(3)  # still in step a few seconds on
    values = await page.evaluate(walls)
    assert abs(values[0] - values[1]) < 500
    await page.screenshot(path=SCREENSHOTS / "dashboard-grid-playback.png")
    assert problems(console) == []


async def test_select_a_range_and_download_the_clip(site, browse, tmp_path):
    page, console = await open_camera(site, browse)
    await page.get_by_role("button", name="10 min").click()
    await page.get_by_role("button", name="Select clip").click()
    await page.locator("#timeline").scroll_into_view_if_needed()
    box = await page.locator("#timeline").bounding_box()
    view = await page.evaluate("[nvrPlayer.timeline.viewStart, nvrPlayer.timeline.span]")

    def x(t: float) -> float:
        return box["x"] + (t * 1000 - view[0]) / view[1] * box["width"]

    y = box["y"] + box["height"] * 0.7
    await page.mouse.move(x(site.started + 4), y)
    await page.mouse.down()
    await page.mouse.move(x(site.started + 14), y, steps=5)
    await page.mouse.up()
    link = page.get_by_role("link", name="Download clip")
    await expect(link).to_be_visible()
    async with page.expect_download() as info:
        await link.click()
    download = await info.value
    path = tmp_path / "clip.mp4"
    await download.save_as(path)
    probe = ffprobe(path)
    duration = float(probe["format"]["duration"])
    assert 8 <= duration <= 13, duration  # ~10 s, from the keyframe before the start
    video = next(s for s in probe["streams"] if s["codec_type"] == "video")
    assert video["width"] == 320 and int(video["nb_read_packets"]) >= 80
    assert problems(console) == []
