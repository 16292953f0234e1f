"""The Recordings and System pages in a real browser, on a real nvr that records a
simulated camera, with weeks of (synthetic) history in its index besides.

One nvr for the module (its own, not the login tests' one: these pages need
recorded days): ``front`` records the simulator, ``garage`` answers nothing and
has 20 days of synthetic segment rows, ``porch`` is disabled. Screenshots at
desktop and phone size go to test-artifacts/screenshots/ (``recordings-*``,
``recordings-camera-*``, ``system-*``).
"""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import av
import pytest
import pytest_asyncio
from argon2 import PasswordHasher
from conftest import DESKTOP, Console, _chromium, chromium_for
from nvrharness import ADMIN_PASSWORD, REPO, free_port, running_nvr, wait_until
from playwright.async_api import Page, expect
from sqlalchemy import insert
from test_login_pages import PHONE, sign_in

from nvr.auth import passwords
from nvr.db.models import Segment
from nvr.db.session import make_engine, make_sessionmaker
from nvr.sim.server import SimCamera, SimServer

pytestmark = pytest.mark.asyncio(loop_scope="module")

US = 1_000_000
VIEWER = ("maria", "maria-front-only-pw")
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
SIZES = {"desktop": DESKTOP, "phone": PHONE}


async def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.evaluate("window.scrollTo(0, 0)")  # else the sticky bar lands mid-page
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True,
                          animations="disabled", caret="hide")


def jpeg_size(data: bytes) -> tuple[int, int]:
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    with av.open(io.BytesIO(data)) as container:
        frame = next(container.decode(video=0))
        return frame.width, frame.height


def _history(database_url: str, now: datetime) -> None:
    """20 days of 60 s rows for garage: mornings off, a few outages, today up to now.
    One bulk insert on nvr's database (in a thread: nvr runs on this event loop)."""
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    starts = []
    for back in range(20):
        day = today - timedelta(days=back)
        for minute in range(6 * 60 if back % 3 else 0, 24 * 60):
            start = day + timedelta(minutes=minute)
            if start + timedelta(minutes=1) > now - timedelta(minutes=5):
                break
            if back % 4 == 1 and 14 * 60 <= minute < 15 * 60 + 20:
                continue  # an outage
            starts.append(int(start.timestamp()) * US)
    rows = [{"camera": "garage", "start_us": s, "end_us": s + 60 * US, "duration": 60.0,
             "bytes": 2_400_000 + (i * 7919) % 900_000, "path": f"recordings/garage/fake/{i}.mp4",
             "video_codec": "h264", "audio_codec": None, "width": 1280, "height": 720}
            for i, s in enumerate(starts)]
    engine = make_engine(database_url)
    try:
        with make_sessionmaker(engine).begin() as session:
            session.execute(insert(Segment), rows)
    finally:
        engine.dispose()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Any]:
    _chromium()  # skip before starting anything when there is no browser
    sim = SimServer(host="127.0.0.1", port=0, cameras=[
        SimCamera(name="cam1", width=320, height=240, fps=10, bitrate_kbps=200)])
    await sim.start()
    cameras = [{"name": "front", "url": sim.url("cam1"), "max_bytes": "200GB"},
               {"name": "garage", "url": f"rtsp://127.0.0.1:{free_port()}/stream",
                "retain_days": 14},
               {"name": "porch", "url": "rtsp://127.0.0.1:9/stream", "enabled": False}]
    passwords.use_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    try:
        async with running_nvr(tmp_path_factory.mktemp("recpages"), cameras,
                               recording={"retain_days": 30, "max_bytes": "1TB"}) as nvr:
            answer = await nvr.http.post("/api/users", json={
                "username": VIEWER[0], "password": VIEWER[1], "role": "viewer",
                "cameras": ["front"]})
            assert answer.status_code == 201, answer.text
            await asyncio.to_thread(_history, nvr.nvr.config.database_url, datetime.now(UTC))
            await wait_until(lambda: _recorded(nvr, "front", 3), 30, "three front segments")
            async with chromium_for(nvr) as site:
                site.nvr = nvr  # type: ignore[attr-defined]
                yield site
    finally:
        passwords.use_hasher(PasswordHasher())
        await sim.stop()


async def _recorded(nvr: Any, camera: str, count: int) -> bool:
    return len(await nvr.recordings(camera)) >= count


@pytest_asyncio.fixture(loop_scope="module")
async def browse(site: Any) -> AsyncIterator[Any]:
    contexts: list[Any] = []

    async def open_page(user: tuple[str, str] = ("admin", ADMIN_PASSWORD), **options: Any):
        context = await site.browser.new_context(base_url=site.url, **(options or DESKTOP))
        contexts.append(context)
        page = await context.new_page()
        console = Console()
        page.on("console", lambda msg: console.messages.append(f"{msg.type}: {msg.text}"))
        page.on("pageerror", lambda exc: console.messages.append(f"pageerror: {exc}"))
        await page.goto("/login")
        await sign_in(page, *user)
        await expect(page).to_have_url(re.compile(r"/$"))
        return page, console

    yield open_page
    for context in contexts:
        await context.close()


async def fits(page: Any, size: str) -> None:
    overflow = await page.evaluate("() => document.documentElement.scrollWidth - innerWidth")
    assert overflow <= 0, f"{page.url} is {overflow} px wider than the {size} screen"


@pytest.mark.parametrize("size", ["desktop", "phone"])
async def test_recordings_pages(site, browse, size):
    page, console = await browse(**SIZES[size])
    await page.get_by_role("link", name="Recordings", exact=True).click()
    await expect(page.get_by_role("heading", name="Recordings", exact=True)).to_be_visible()
    for name in ("front", "garage", "porch"):
        await expect(page.get_by_role("heading", name=name)).to_be_visible()
    await expect(page.get_by_text("Keeps 14 days")).to_be_visible()
    await expect(page.get_by_text("Disabled in the config: not recording")).to_be_visible()
    await expect(page.get_by_text("Keeps 30 days, at most 200 GB")).to_be_visible()
    await fits(page, size)
    await screenshot(page, f"recordings-{size}")

    await page.get_by_role("link", name="garage").first.click()
    await expect(page.get_by_role("heading", name="garage", exact=True)).to_be_visible()
    await expect(page.get_by_role("heading", name="Days")).to_be_visible()
    hours = page.locator("details.rec-hour")
    await expect(page.locator("details.rec-hour[open]")).to_have_count(0)
    await hours.last.locator("summary").click()
    play = hours.last.get_by_role("link", name="Play").first
    await expect(play).to_be_visible()
    assert re.fullmatch(r"/cameras/garage\?t=\d{4}-\d\d-\d\dT[\d%A]+\.000000Z",
                        await play.get_attribute("href"))
    await fits(page, size)
    await screenshot(page, f"recordings-camera-{size}")
    # an earlier day with an outage: two spans and the gap between them
    await page.get_by_role("link", name=re.compile("^Earlier day")).click()
    await expect(page.get_by_text(re.compile(r"^Gaps"))).to_be_visible()
    assert console.problems() == []


async def test_times_follow_the_browsers_zone(site, browse):
    page, console = await browse(timezone_id="America/New_York", viewport={"width": 1280,
                                                                         "height": 800})
    await page.goto("/recordings/garage")
    await expect(page.get_by_text("Times in America/New_York.")).to_be_visible()
    assert await page.locator("#rec-root").get_attribute("data-tz-source") == "cookie"
    await page.goto("/recordings/garage?tz=UTC")  # asked for: no reload to another zone
    await expect(page.get_by_text("Times in UTC.")).to_be_visible()
    assert console.problems() == []


async def test_recorded_frames_and_the_live_snapshot_of_a_real_camera(site, browse):
    page, _ = await browse()
    rows = [r for r in await site.nvr.recordings("front") if r["duration"] >= 1]
    start = datetime.fromisoformat(rows[0]["start"])
    at = (start + timedelta(seconds=0.5)).isoformat().replace("+00:00", "Z")
    frame = await page.request.get(f"/api/cameras/front/frame.jpg?at={at}&width=160")
    assert frame.status == 200, await frame.text()
    assert jpeg_size(await frame.body()) == (160, 120)
    snapshot = await page.request.get("/api/cameras/front/snapshot.jpg")
    assert snapshot.status == 200
    assert jpeg_size(await snapshot.body()) == (320, 240)
    timeline = await page.request.get(f"/api/cameras/front/timeline?day={start.date()}")
    assert (await timeline.json())["spans"]


@pytest.mark.parametrize("size", ["desktop", "phone"])
async def test_system_page(site, browse, size):
    page, console = await browse(**SIZES[size])
    await page.get_by_role("link", name="System", exact=True).click()
    await expect(page.get_by_role("heading", name="System", exact=True)).to_be_visible()
    table = page.get_by_role("table")
    await expect(table.locator("tbody tr")).to_have_count(3)
    await expect(table.get_by_text("Online")).to_be_visible()
    # a disabled camera is in the table as such, not among the things to look at
    await expect(table.locator("tbody tr", has_text="porch")).to_contain_text("Disabled")
    await expect(page.locator(".sys-problems")).not_to_contain_text("porch")
    await fits(page, size)
    await screenshot(page, f"system-{size}")
    assert console.problems() == []


async def test_a_viewer_sees_their_recordings_and_no_system_page(site, browse):
    page, console = await browse(VIEWER)
    await expect(page.get_by_role("link", name="System", exact=True)).to_have_count(0)
    await page.get_by_role("link", name="Recordings", exact=True).click()
    await expect(page.get_by_role("heading", name="front")).to_be_visible()
    await expect(page.get_by_role("heading", name="garage")).to_have_count(0)
    answer = await page.goto("/system")
    assert answer is not None and answer.status == 403
    answer = await page.goto("/recordings/garage")
    assert answer is not None and answer.status == 404
