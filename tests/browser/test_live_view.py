"""The dashboard and the camera page's live view in a real browser: video plays
through our MSE player and stays near the live edge."""

from __future__ import annotations

import asyncio

import pytest
from nvrharness import REPO
from playwright.async_api import Page, expect
from test_login_pages import PHONE, problems, sign_in

pytestmark = pytest.mark.asyncio(loop_scope="module")

SCREENSHOTS = REPO / "test-artifacts" / "screenshots"

PLAYING = """(selector) => {
  const v = document.querySelector(selector);
  return v ? {t: v.currentTime, w: v.videoWidth, end: v.buffered.length ?
              v.buffered.end(v.buffered.length - 1) : 0, paused: v.paused} : null;
}"""


async def _video(page: Page, selector: str) -> dict:
    return await page.evaluate(PLAYING, selector)


async def _plays(page: Page, selector: str, within: float = 15) -> dict:
    """Wait until the video shows frames and its clock advances."""
    deadline = asyncio.get_running_loop().time() + within
    first = None
    while asyncio.get_running_loop().time() < deadline:
        state = await _video(page, selector)
        if state and state["w"] > 0:
            if first is None:
                first = state
            elif state["t"] > first["t"] + 0.5:
                return state
        await asyncio.sleep(0.2)
    raise AssertionError(f"{selector} did not play: {await _video(page, selector)}")


async def test_dashboard_tiles_play_live(site, browse):
    page, console = await browse()
    await page.goto("/")
    await sign_in(page, "admin", site.password("admin"))
    tiles = page.get_by_role("list", name="Cameras").get_by_role("listitem")
    await expect(tiles).to_have_count(2)
    state = await _plays(page, '[data-camera="front"] video')
    assert state["w"] == 320
    await expect(tiles.filter(has_text="garage")).to_contain_text("Offline")
    reason = tiles.filter(has_text="garage").locator(".tile-message")
    await expect(reason).to_contain_text("connection refused")  # in words, not errno
    assert "Errno" not in (await reason.text_content() or "")
    await page.screenshot(path=SCREENSHOTS / "dashboard-desktop.png")
    await page.get_by_role("button", name="1", exact=True).click()
    await expect(page.locator("#tiles")).to_have_class("tiles layout-1")
    assert problems(console) == []


async def test_camera_page_live_stays_near_the_live_edge(site, browse):
    page, console = await browse()
    await page.goto("/cameras/front")
    await sign_in(page, "maria", site.password("maria"))
    await expect(page.get_by_role("heading", name="front")).to_be_visible()
    await _plays(page, "#video")
    worst = 0.0
    for _ in range(60):  # 30 s of watching
        state = await _video(page, "#video")
        worst = max(worst, state["end"] - state["t"])
        await asyncio.sleep(0.5)
    assert worst < 1.0, f"fell {worst:.2f} s behind the newest frame"
    await expect(page.locator("#lag")).to_contain_text("behind live")
    await page.screenshot(path=SCREENSHOTS / "camera-desktop.png")
    sound = page.get_by_role("button", name="Sound off")
    await sound.click()
    await expect(page.get_by_role("button", name="Sound on")).to_have_attribute(
        "aria-pressed", "true")
    assert await page.evaluate("() => document.querySelector('#video').muted") is False
    assert problems(console) == []


async def test_an_offline_camera_says_why_in_plain_words(site, browse):
    page, _ = await browse()
    await page.goto("/cameras/garage")
    await sign_in(page, "admin", site.password("admin"))
    message = page.locator("#stage-message")
    await expect(message).to_be_visible()
    text = await message.text_content() or ""
    assert "Errno" not in text and "Connect call failed" not in text, text
    await page.screenshot(path=SCREENSHOTS / "camera-offline-desktop.png")


async def test_account_page(site, browse):
    for name, options in (("desktop", {}), ("phone", PHONE)):
        page, console = await browse(**options)
        await page.goto("/account")
        await sign_in(page, "maria", site.password("maria"))
        await expect(page.get_by_role("heading", name="Signed in as maria")).to_be_visible()
        await expect(page.get_by_text("front", exact=False).first).to_be_visible()
        await page.screenshot(path=SCREENSHOTS / f"account-{name}.png", full_page=True)
        assert problems(console) == []


async def test_a_viewer_cannot_open_another_camera(site, browse):
    page, _ = await browse()
    await page.goto("/cameras/garage")
    await sign_in(page, "maria", site.password("maria"))
    await expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    assert "No such camera." in await page.content()
    await page.screenshot(path=SCREENSHOTS / "error-desktop.png")


async def test_phone_layout(site, browse):
    page, console = await browse(**PHONE)
    await page.goto("/")
    await sign_in(page, "sam", site.password("sam"))
    await _plays(page, '[data-camera="front"] video')
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    await page.screenshot(path=SCREENSHOTS / "dashboard-phone.png", full_page=True)
    await page.goto("/cameras/front")
    await _plays(page, "#video")
    await page.screenshot(path=SCREENSHOTS / "camera-phone.png", full_page=True)
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    assert problems(console) == []
