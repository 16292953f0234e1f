"""The RTMP server in a real browser: the System page's RTMP section and the
dashboard's "Pushed streams", on a real nvr with ``[rtmp]`` enabled, a simulated
camera ``front`` republished (and pushed to a port where nothing listens) and an
ffmpeg publisher on ``live/studio``.

Checked: the play URLs shown (and what the copy button puts on the clipboard), that
no key appears anywhere in the HTML, no console or CSP errors, nothing wider than
the screen, and that the dashboard marks a pushed stream offline once its publisher
leaves. Screenshots at desktop and phone size in test-artifacts/screenshots/
(``system-rtmp-*``, ``dashboard-pushed-*``).
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from argon2 import PasswordHasher
from conftest import DESKTOP, Console, _chromium, chromium_for
from nvrharness import ADMIN_PASSWORD, REPO, free_port, running_nvr, wait_until
from playwright.async_api import Page, expect
from test_login_pages import PHONE, sign_in

from nvr.auth import passwords
from nvr.sim.server import SimCamera, SimServer

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.peer,
              pytest.mark.skipif(not shutil.which("ffmpeg"), reason="needs ffmpeg")]

SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
SIZES = {"desktop": DESKTOP, "phone": PHONE}
PUBLISH_KEY, PLAY_KEY, PUSH_KEY = "browser-publish-key-1", "browser-play-key-2", "push-key-3"
KEYS = (PUBLISH_KEY, PLAY_KEY, PUSH_KEY)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Any]:
    _chromium()  # skip before starting anything when there is no browser
    port = free_port()
    sim = SimServer(host="127.0.0.1", port=0, cameras=[
        SimCamera(name="cam1", width=320, height=240, fps=10, bitrate_kbps=200)])
    await sim.start()
    cameras = [{"name": "front", "url": sim.url("cam1"), "record": "off", "republish": True,
                "push": [f"rtmp://127.0.0.1:{free_port()}/live/{PUSH_KEY}"]}]
    extra = (f'[rtmp]\nenabled = true\nlisten = "127.0.0.1:{port}"\n'
             f'publish_key = "{PUBLISH_KEY}"\nplay_key = "{PLAY_KEY}"\n')
    passwords.use_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    children: list[asyncio.subprocess.Process] = []
    try:
        async with running_nvr(tmp_path_factory.mktemp("rtmppages"), cameras,
                               extra=extra) as nvr:
            children.append(await asyncio.create_subprocess_exec(
                "ffmpeg", "-nostdin", "-v", "error", "-re", "-f", "lavfi", "-i",
                "testsrc2=size=640x360:rate=25", "-c:v", "libx264", "-preset", "ultrafast",
                "-pix_fmt", "yuv420p", "-g", "50", "-f", "flv",
                f"rtmp://127.0.0.1:{port}/live/studio?key={PUBLISH_KEY}",
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL))
            await wait_until(lambda: "live/studio" in nvr.nvr.registry, 15,
                             "the publisher on live/studio")  # before its player
            player = await asyncio.create_subprocess_exec(  # copies, decodes nothing
                "ffmpeg", "-nostdin", "-v", "error", "-i",
                f"rtmp://127.0.0.1:{port}/live/studio?key={PLAY_KEY}", "-c", "copy",
                "-f", "null", "-", stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL)
            children.append(player)

            async def ready() -> bool:
                rows = {r["name"]: r for r in (await nvr.http.get("/api/rtmp/streams")).json()}
                studio, front = rows.get("live/studio"), rows.get("live/front")
                return bool(studio and studio["status"] == "online" and studio["bitrate_kbps"]
                            and studio["players"]
                            and front and front["status"] == "online"
                            and front["push"] and front["push"][0]["last_error"])

            await wait_until(ready, 30, "front online, live/studio published, push tried")
            async with chromium_for(nvr) as site:
                site.port = port  # type: ignore[attr-defined]
                site.publisher = children[0]  # type: ignore[attr-defined]
                yield site
    finally:
        for child in children:
            if child.returncode is None:
                child.kill()
                await child.wait()
        passwords.use_hasher(PasswordHasher())
        await sim.stop()


async def _open(browse: Any, path: str, size: str) -> tuple[Page, Console]:
    """A page of ``path`` signed in as admin, allowed to use the clipboard."""
    page, console = await browse(permissions=["clipboard-read", "clipboard-write"],
                                 **SIZES[size])
    await page.goto("/login")
    await sign_in(page, "admin", ADMIN_PASSWORD)
    await expect(page).to_have_url(re.compile(r"/$"))
    if path != "/":
        await page.goto(path)
    return page, console


async def _checked(page: Page, console: Console, size: str) -> None:
    html = await page.content()
    assert not [k for k in KEYS if k in html], "a key in the page"
    overflow = await page.evaluate("() => document.documentElement.scrollWidth - innerWidth")
    assert overflow <= 0, f"{page.url} is {overflow} px wider than the {size} screen"
    assert console.problems() == []


async def _shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.evaluate("window.scrollTo(0, 0)")  # else the sticky bar lands mid-page
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True,
                          animations="disabled", caret="hide")


@pytest.mark.parametrize("size", ["desktop", "phone"])
async def test_system_page_rtmp_section(site, browse, size) -> None:
    page, console = await _open(browse, "/system", size)
    section = page.locator("section.sys-rtmp")
    await expect(section.get_by_role("heading", name="RTMP")).to_be_visible()
    await expect(section.get_by_text(f"127.0.0.1:{site.port}").first).to_be_visible()
    base = f"rtmp://127.0.0.1:{site.port}"
    front = section.locator('[data-stream="live/front"]')
    studio = section.locator('[data-stream="live/studio"]')
    await expect(front.locator(".copy-text")).to_have_text(f"{base}/live/front")
    await expect(studio.locator(".copy-text")).to_have_text(f"{base}/live/studio")
    await expect(studio).to_contain_text("Published from 127.0.0.1:")
    await expect(studio).to_contain_text("H264 640×360")
    await expect(studio.locator(".rtmp-players")).to_contain_text(
        re.compile(r"1 player:\s+127\.0\.0\.1:\d+ [\d.]+ [kM]B sent"))
    await expect(front).to_contain_text("Camera front")
    await expect(front.locator(".rtmp-push")).to_contain_text("rtmp://127.0.0.1:")
    await expect(front.locator(".rtmp-push .status")).to_have_text(
        re.compile("Retrying|Connecting"))
    await expect(section.get_by_text("Publish from OBS / ffmpeg")).to_be_visible()
    await expect(section.locator(".rtmp-publish .copy-text")).to_have_text(f"{base}/live")

    copy = studio.get_by_role("button", name="Copy play URL of live/studio")
    await copy.click()
    await expect(copy).to_have_text("Copied")
    assert await page.evaluate("navigator.clipboard.readText()") == f"{base}/live/studio"
    await _checked(page, console, size)
    await _shot(page, f"system-rtmp-{size}")


@pytest.mark.parametrize("size", ["desktop", "phone"])
async def test_dashboard_lists_the_pushed_stream(site, browse, size) -> None:
    page, console = await _open(browse, "/", size)
    pushed = page.locator("section.pushed")
    await expect(pushed.get_by_role("heading", name="Pushed streams")).to_be_visible()
    row = pushed.locator('[data-stream="live/studio"]')
    await expect(row.locator(".status")).to_have_text("Online")
    await expect(row).to_contain_text("H264 640×360")
    url = f"rtmp://127.0.0.1:{site.port}/live/studio"
    await expect(row.locator(".copy-text")).to_have_text(url)
    await expect(pushed).to_contain_text(f'url = "rtmp://127.0.0.1:{site.port}/live/<name>"')
    await expect(page.locator('#tiles [data-camera="front"]')).to_be_visible()
    await expect(page.locator('[data-camera="live/studio"]')).to_have_count(0)
    await row.get_by_role("button").click()
    assert await page.evaluate("navigator.clipboard.readText()") == url
    await _checked(page, console, size)
    await _shot(page, f"dashboard-pushed-{size}")


async def test_dashboard_shows_the_publisher_leaving(site, browse) -> None:
    """Last in the module: it stops the publisher."""
    page, console = await _open(browse, "/", "desktop")
    status = page.locator('.pushed-stream[data-stream="live/studio"] .status')
    await expect(status).to_have_text("Online")
    site.publisher.kill()
    await expect(status).to_have_text("Offline", timeout=15_000)  # polled every 5 s
    assert console.problems() == []
