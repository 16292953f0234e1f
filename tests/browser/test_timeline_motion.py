"""The camera page's timeline in a real browser: motion bars (per minute; per
second once zoomed in), event markers (a click plays from just before the event)
and motion search (a box dragged on the picture
highlights the matching seconds; "Next match" plays them).

One nvr for the module records the simulator as ``front`` (2 s segments). Motion
rows and events go straight into nvr's database (detection is not what is tested
here): a burst in the picture's bottom right during the recordings with a motion
event over it, and, for the bars, bursts in the middle of the picture every
20 minutes of the past hours with an event each and a camera_offline. Screenshots
at desktop and phone size: test-artifacts/screenshots/timeline-motion-*.png.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
import pytest_asyncio
from conftest import DESKTOP, USERS, _chromium, _status_is, chromium_for
from nvrharness import REPO, running_nvr, wait_until
from playwright.async_api import Page, expect
from test_login_pages import PHONE, problems, sign_in

from nvr.events.motion_index import MotionIndex
from nvr.events.store import EventStore

pytestmark = pytest.mark.asyncio(loop_scope="module")

US = 1_000_000
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"


def cells(cols: range, rows: range) -> bytes:
    bits = 0
    for row in rows:
        for col in cols:
            bits |= 1 << (143 - (row * 16 + col))
    return bits.to_bytes(18, "big")


CORNER = cells(range(12, 16), range(6, 9))  # bottom right: x 0.75-1, y 0.67-1
MIDDLE = cells(range(7, 9), range(4, 5))  # x 0.44-0.56, y 0.44-0.56


def _write(nvr: Any, first_s: int, now_s: int) -> dict[str, int]:
    """Motion rows and events (blocking: run in a thread; nvr runs on this loop)."""
    motion, store = MotionIndex(nvr.nvr.sessions), EventStore(nvr.nvr.sessions, [])
    motion.add("front", [(first_s + s, CORNER) for s in range(3, 7)])
    ids = {"recorded": store.open("front", "motion", (first_s + 3) * US, score=0.42,
                                  zones=["porch"])}
    store.close(ids["recorded"], (first_s + 7) * US)
    for k in range(1, 13):  # the past four hours: something every 20 minutes
        start = now_s - k * 1200
        motion.add("front", [(start + s, MIDDLE) for s in range(5 + 4 * k)])
        event = store.open("front", "motion", start * US, score=0.2)
        store.close(event, (start + 5 + 4 * k) * US)
    ids["offline"] = store.open("front", "camera_offline", (now_s - 2 * 3600) * US)
    store.close(ids["offline"], (now_s - 2 * 3600 + 900) * US)
    return ids


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Any]:
    _chromium()
    from nvr.sim.server import SimCamera, SimServer

    sim = SimServer(host="127.0.0.1", port=0, cameras=[
        SimCamera(name="cam1", width=320, height=240, fps=10, bitrate_kbps=200,
                  gop_seconds=1)])
    await sim.start()
    try:
        async with running_nvr(tmp_path_factory.mktemp("timelinemotion"),
                               [{"name": "front", "url": sim.url("cam1")}]) as nvr:
            await wait_until(lambda: _status_is(nvr, "front", "online"), 20, "front online")
            await wait_until(lambda: _recorded(nvr, 2), 30, "two segments")
            first = (await nvr.recordings("front"))[0]["start"]
            first_s = int(datetime.fromisoformat(first).timestamp()) + 1
            site_ids = await asyncio.to_thread(_write, nvr, first_s, int(time.time()))
            async with chromium_for(nvr) as site:
                site.first_s = first_s  # type: ignore[attr-defined]
                site.ids = site_ids  # type: ignore[attr-defined]
                yield site
    finally:
        await sim.stop()


async def _recorded(nvr: Any, count: int) -> bool:
    return len(await nvr.recordings("front")) >= count


async def open_camera(browse: Any, size: dict[str, Any]) -> tuple[Page, Any]:
    page, console = await browse(**size)
    await page.goto("/cameras/front")
    await sign_in(page, "admin", USERS["admin"][0])
    await expect(page.get_by_role("heading", name="front")).to_be_visible()
    await poll(page, "() => !!(window.nvrPlayer && nvrPlayer.timeline.events.length)",
               "the timeline with its events")
    return page, console


async def poll(page: Page, script: str, what: str, within: float = 15) -> Any:
    """(wait_for_function would eval a string: the CSP forbids it)"""
    deadline = time.monotonic() + within
    while True:
        value = await page.evaluate(script)
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.15)


async def marker_point(page: Page, start_ms: float) -> tuple[float, float]:
    await page.locator("#timeline").scroll_into_view_if_needed()
    box = await page.locator("#timeline").bounding_box()
    assert box is not None
    view = await page.evaluate("[nvrPlayer.timeline.viewStart, nvrPlayer.timeline.span]")
    return box["x"] + (start_ms + 1500 - view[0]) / view[1] * box["width"], box["y"] + 19


async def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.evaluate("() => scrollTo(0, 0)")  # the sticky bar at the top of the picture
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True,
                          animations="disabled", caret="hide")


async def wall(page: Page) -> float:
    return await poll(page, "() => nvrPlayer.session && nvrPlayer.session.positioned"
                            " && nvrPlayer.session.wall", "playback to start")


async def test_bars_and_markers_and_a_marker_click_plays_from_before_the_event(site, browse):
    page, console = await open_camera(browse, DESKTOP)
    timeline = await page.evaluate("""() => { const t = nvrPlayer.timeline;
        return {types: t.events.map((e) => e.type), busy: t.motion.filter((v) => v).length,
                minutes: t.motion.length}; }""")
    assert "camera_offline" in timeline["types"] and timeline["types"].count("motion") >= 2
    assert timeline["busy"] >= 2 and timeline["minutes"] in (1380, 1440, 1500)
    await screenshot(page, "timeline-motion-desktop-day")
    await page.get_by_role("button", name="10 min").click()
    # zoomed in, the bars are per second: the four seconds of the burst
    seconds = await poll(page, "() => nvrPlayer.timeline.detail"
                               " && nvrPlayer.timeline.detail.seconds", "motion per second")
    assert [t for t in seconds if t >= site.first_s * 1000] == [
        (site.first_s + s) * 1000 for s in range(3, 7)]
    x, y = await marker_point(page, (site.first_s + 3) * 1000)
    await page.mouse.move(x, y)
    title = await page.locator("#timeline-canvas").get_attribute("title")
    assert title and title.startswith("Motion ") and "porch" in title and "42 %" in title
    await page.mouse.click(x, y)
    await expect(page.locator("#mode-label")).to_have_text("Playback")
    started = await wall(page)
    assert abs(started - site.first_s * 1000) < 2500  # the event's start less 3 s
    # "[": the event before it (20 minutes earlier), from 3 s before it too
    await page.keyboard.press("[")
    earlier = await page.evaluate("nvrPlayer.session.target")
    assert earlier == await page.evaluate(
        "(first) => Math.max(...nvrPlayer.timeline.events.map((e) => e.start)"
        ".filter((t) => t < first)) - 3000", (site.first_s - 1) * 1000)
    assert problems(console) == []


@pytest.mark.parametrize("size", ["desktop", "phone"])
async def test_motion_search_marks_the_matches_and_plays_them(site, browse, size):
    page, console = await open_camera(browse, DESKTOP if size == "desktop" else PHONE)
    await poll(page, "() => document.querySelector('#video').videoWidth > 0", "the picture")
    stage = await page.locator(".stage").bounding_box()
    assert stage is not None
    # the 4:3 picture sits in the middle of the 16:9 stage
    height = stage["height"]
    width = height * 4 / 3
    left = stage["x"] + (stage["width"] - width) / 2

    async def drag(x0: float, y0: float, x1: float, y1: float) -> None:
        await page.get_by_role("button", name="Motion search").click()
        await page.mouse.move(left + x0 * width, stage["y"] + y0 * height)
        await page.mouse.down()
        await page.mouse.move(left + x1 * width, stage["y"] + y1 * height, steps=4)
        await page.mouse.up()

    await drag(0.05, 0.05, 0.3, 0.3)  # top left: nothing moved there
    await expect(page.locator("#search-note")).to_have_text(
        "No motion in the marked area on this day.")
    await page.get_by_role("button", name="Clear search").click()
    await drag(0.6, 0.6, 0.95, 0.95)
    await expect(page.locator("#search-note")).to_contain_text("1 movement in the marked area")
    matches = await page.evaluate("nvrPlayer.timeline.matches")
    assert matches == [[(site.first_s + 3) * 1000, (site.first_s + 7) * 1000]]
    region = await page.evaluate("nvrPlayer.search.region")
    assert 0.55 < region[0] < 0.65 and 0.9 < region[3] < 1.0
    await page.get_by_role("button", name="Next match").click()
    started = await wall(page)
    assert abs(started - site.first_s * 1000) < 2500
    await page.get_by_role("button", name="10 min").click()
    await poll(page, "() => nvrPlayer.timeline.detail", "motion per second")
    await screenshot(page, f"timeline-motion-{size}-search")
    assert problems(console) == []
