"""The Events page in a real browser, on a real nvr that records a simulated camera.

One nvr for the module: ``front`` records the simulator (2 s segments; motion
padding 2 s before, 2 s after; zones ``driveway`` and ``porch``), ``garage``
answers nothing. Events are written through ``EventStore`` into nvr's database
(motion detection is not what is tested here): front's with snapshots taken from
its live picture, one inside the recorded time, one still going on; garage's
offline/online without snapshots (the placeholder). Screenshots at desktop and
phone size go to test-artifacts/screenshots/ (``events-*``).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio
from argon2 import PasswordHasher
from conftest import DESKTOP, USERS, Console, _chromium, _status_is, chromium_for
from nvrharness import ADMIN_PASSWORD, REPO, ffprobe, free_port, running_nvr, wait_until
from playwright.async_api import Page, expect
from test_login_pages import PHONE, problems, sign_in

from nvr.auth import passwords
from nvr.events.store import EventStore

pytestmark = pytest.mark.asyncio(loop_scope="module")

US = 1_000_000
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
SIZES = {"desktop": DESKTOP, "phone": PHONE}
MARIA = ("maria", USERS["maria"][0])  # a viewer of front only


async def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.evaluate("() => scrollTo(0, 0)")  # the sticky bar at the top of the picture
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True,
                          animations="disabled", caret="hide")


def _write_events(nvr: Any, first_us: int, now_us: int, jpeg: bytes) -> dict[str, int]:
    """The module's events (blocking: run in a thread; nvr runs on this event loop)."""
    store = EventStore(nvr.nvr.sessions, [])
    ids: dict[str, int] = {}

    def add(name: str, camera: str, type_: str, start_us: int, end_us: int | None,
            score: float | None = None, zones: tuple[str, ...] = (),
            snapshot: bool = False) -> None:
        ids[name] = event = store.open(camera, type_, start_us, score=score, zones=zones)
        if end_us is not None:
            store.close(event, end_us)
        if snapshot:
            path = nvr.data_dir / "snapshots" / camera / f"{event}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(jpeg)
            store.set_snapshot(event, f"snapshots/{camera}/{event}.jpg")

    yesterday = now_us - 86_400 * US
    add("old_motion", "front", "motion", yesterday, yesterday + 40 * US, 0.21,
        ("driveway", "porch"), snapshot=True)
    add("old_gap", "front", "recording_gap", yesterday + 3600 * US, yesterday + 3720 * US)
    add("offline", "garage", "camera_offline", first_us - 30 * US, first_us - 5 * US)
    add("online", "garage", "camera_online", first_us - 5 * US, first_us - 5 * US)
    add("recorded", "front", "motion", first_us + 2 * US, first_us + 5 * US, 0.083,
        ("driveway",), snapshot=True)
    add("ongoing", "front", "motion", now_us - 4 * US, None, 0.35, ("porch",), snapshot=True)
    return ids


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Any]:
    _chromium()  # skip before starting anything when there is no browser
    from nvr.sim.server import SimCamera, SimServer

    sim = SimServer(host="127.0.0.1", port=0, cameras=[
        SimCamera(name="cam1", width=320, height=240, fps=10, bitrate_kbps=200,
                  gop_seconds=1)])
    await sim.start()
    zones = [{"name": "driveway", "polygon": [[0, 0], [1, 0], [1, 0.5]]},
             {"name": "porch", "polygon": [[0, 0.5], [1, 0.5], [1, 1]]}]
    cameras = [{"name": "front", "url": sim.url("cam1"),
                "motion": {"pre_seconds": 2, "post_seconds": 2, "zones": zones}},
               {"name": "garage", "url": f"rtsp://127.0.0.1:{free_port()}/stream"}]
    passwords.use_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    try:
        async with running_nvr(tmp_path_factory.mktemp("eventspage"), cameras) as nvr:
            answer = await nvr.http.post("/api/users", json={
                "username": MARIA[0], "password": MARIA[1], "role": "viewer",
                "cameras": ["front"]})
            assert answer.status_code == 201, answer.text
            await wait_until(lambda: _status_is(nvr, "front", "online"), 20, "front online")
            await wait_until(lambda: _recorded(nvr, 4), 30, "four front segments")
            first = (await nvr.recordings("front"))[0]["start"]
            first_us = int(datetime.fromisoformat(first).timestamp() * US)
            jpeg = (await nvr.http.get("/api/cameras/front/snapshot.jpg")).content
            now_us = int(time.time() * US)
            ids = await asyncio.to_thread(_write_events, nvr, first_us, now_us, jpeg)
            async with chromium_for(nvr) as site:
                site.ids = ids  # type: ignore[attr-defined]
                site.first_us = first_us  # type: ignore[attr-defined]
                site.old_us = now_us - 86_400 * US  # type: ignore[attr-defined]
                yield site
    finally:
        passwords.use_hasher(PasswordHasher())
        await sim.stop()


async def _recorded(nvr: Any, count: int) -> bool:
    return len(await nvr.recordings("front")) >= count


@pytest_asyncio.fixture(loop_scope="module")
async def events(browse: Any) -> Any:
    """``await events(user, **context_options)``: a page signed in as ``user`` (admin
    unless told) on /events, in a fresh context (conftest's ``browse`` on this nvr)."""

    async def open_page(user: tuple[str, str] = ("admin", ADMIN_PASSWORD), **options: Any
                        ) -> tuple[Page, Console]:
        page, console = await browse(**options)
        await page.goto("/login?next=/events")
        await sign_in(page, *user)
        await expect(page.get_by_role("heading", name="Events", exact=True)).to_be_visible()
        return page, console

    return open_page


def card(page: Page, site: Any, name: str) -> Any:
    return page.locator(f'li.ev-card[data-event="{site.ids[name]}"]')


async def thumbnails_loaded(page: Page) -> list[int]:
    """The natural widths of the snapshots on the page, once all are loaded."""
    images = page.locator(".ev-thumb img")
    for i in range(await images.count()):
        await images.nth(i).scroll_into_view_if_needed()
    deadline = time.monotonic() + 10
    while True:
        widths = await page.evaluate(
            "() => [...document.querySelectorAll('.ev-thumb img')]"
            ".map(i => i.complete ? i.naturalWidth : -1)")
        if all(w >= 0 for w in widths) or time.monotonic() > deadline:
            return widths
        await asyncio.sleep(0.1)


async def fits(page: Page, size: str) -> None:
    overflow = await page.evaluate("() => document.documentElement.scrollWidth - innerWidth")
    assert overflow <= 0, f"{page.url} is {overflow} px wider than the {size} screen"


async def shown(page: Page) -> list[int]:
    """The events on the page, in order (nvr raises its own too: garage goes offline)."""
    return [int(i) for i in await page.locator("li.ev-card").evaluate_all(
        "cards => cards.map(c => c.dataset.event)")]


@pytest.mark.parametrize("size", ["desktop", "phone"])
async def test_the_page_lists_events_with_thumbnails(site, events, size):
    page, console = await events(**SIZES[size])
    await expect(card(page, site, "old_motion")).to_be_visible()
    ids = await shown(page)
    order = ["ongoing", "recorded", "online", "offline", "old_gap", "old_motion"]  # newest first
    assert [i for i in ids if i in site.ids.values()] == [site.ids[n] for n in order]
    await expect(card(page, site, "ongoing").get_by_text("Ongoing")).to_be_visible()
    await expect(page.get_by_role("heading", name=re.compile("Today"))).to_be_visible()
    assert await thumbnails_loaded(page) == [320, 320, 320]  # front's three snapshots
    offline = card(page, site, "offline")
    await expect(offline.locator("img")).to_have_count(0)  # the placeholder instead
    await expect(offline.locator(".ev-placeholder")).to_contain_text("No snapshot")
    await expect(offline.get_by_text("25 s")).to_be_visible()
    # a clip is offered where there is one: motion, not an offline camera or a gap
    await expect(offline.get_by_role("link", name="Play", exact=True)).to_be_visible()
    await expect(offline.get_by_role("link", name="Download clip")).to_have_count(0)
    await expect(card(page, site, "old_gap").get_by_role("link", name="Download clip")
                 ).to_have_count(0)
    await expect(card(page, site, "old_motion").get_by_role("link", name="Download clip")
                 ).to_have_count(1)
    await expect(card(page, site, "online").locator(".ev-duration")).to_have_count(0)  # instant
    recorded = card(page, site, "recorded")
    await expect(recorded.get_by_text("3.0 s")).to_be_visible()
    await expect(recorded.get_by_text("Score 8.3%")).to_be_visible()
    await expect(recorded.locator(".ev-zones li")).to_have_text(["driveway"])
    await fits(page, size)
    await screenshot(page, f"events-{size}")
    assert problems(console) == []


async def scripted(page: Page) -> None:
    """The page's script has run (it marks the form): a change now applies at once."""
    await expect(page.locator("#ev-filters")).to_have_class(re.compile(r"\bis-auto\b"))


async def test_filters_narrow_the_list(site, events):
    page, console = await events()
    await scripted(page)
    await page.locator("select[name=camera]").select_option("garage")  # applies at once
    await expect(page).to_have_url(re.compile(r"/events\?camera=garage$"))
    await expect(card(page, site, "offline")).to_be_visible()
    await expect(card(page, site, "online")).to_be_visible()
    assert set(await page.locator(".ev-camera").all_inner_texts()) == {"garage"}
    await scripted(page)
    await page.locator("select[name=type]").select_option("camera_offline")
    await expect(page).to_have_url(re.compile(r"camera=garage&type=camera_offline$"))
    await expect(card(page, site, "online")).to_have_count(0)
    await expect(card(page, site, "offline")).to_be_visible()
    assert set(await page.locator(".ev-type").all_inner_texts()) == {"Camera offline"}
    async with page.expect_navigation():
        await page.get_by_role("link", name="Clear").click()
    await scripted(page)
    await page.locator("select[name=zone]").select_option("porch")
    await expect(page).to_have_url(re.compile(r"/events\?zone=porch$"))
    assert await shown(page) == [site.ids["ongoing"], site.ids["old_motion"]]
    day = datetime.fromtimestamp(site.old_us / US, UTC).date().isoformat()
    await page.goto(f"/events?tz=UTC&day={day}")  # yesterday's: not today's
    await expect(card(page, site, "old_motion")).to_have_count(1)
    await expect(card(page, site, "recorded")).to_have_count(0)
    await page.goto("/events?type=disk_low")
    await expect(page.get_by_text("No events match")).to_be_visible()
    await screenshot(page, "events-empty-desktop")
    assert problems(console) == []


async def test_a_viewer_sees_their_cameras_events_only(site, events):
    page, console = await events(MARIA)
    await expect(card(page, site, "recorded")).to_be_visible()
    ids = await shown(page)
    assert {site.ids[n] for n in ("ongoing", "recorded", "old_gap", "old_motion")} <= set(ids)
    assert site.ids["offline"] not in ids
    await expect(page.get_by_text("garage")).to_have_count(0)
    assert problems(console) == []


async def test_clicking_an_event_plays_it_and_the_clip_downloads(site, events, tmp_path):
    page, console = await events()
    recorded = card(page, site, "recorded")
    async with page.expect_download() as info:
        await recorded.get_by_role("link", name="Download clip").click()
    download = await info.value
    assert re.fullmatch(rf"front_event-{site.ids['recorded']}_\d{{4}}-\d\d-\d\dT[\d-]+Z\.mp4",
                        download.suggested_filename)
    await download.save_as(tmp_path / "clip.mp4")
    # from 2 s before the start (2 s into the recordings) to 2 s after the end (5 s)
    assert float(ffprobe(tmp_path / "clip.mp4")["format"]["duration"]) == pytest.approx(
        7, abs=1.1)

    await recorded.locator(".ev-thumb").click()
    await expect(page).to_have_url(re.compile(r"/cameras/front\?t="))
    deadline = time.monotonic() + 20
    state: dict[str, Any] = {}
    while time.monotonic() < deadline:
        state = await page.evaluate("""() => { const v = document.querySelector('#video');
            const s = window.nvrPlayer && window.nvrPlayer.session;
            return {w: v ? v.videoWidth : 0, wall: s ? s.wall : null}; }""")
        if state["w"] > 0 and state["wall"]:
            break
        await asyncio.sleep(0.15)
    assert state["w"] == 320, state
    at = site.first_us / 1000  # the clip's start: 2 s before the event
    assert abs(state["wall"] - at) < 2500, state
    await expect(page.locator("#mode-label")).to_have_text("Playback")
    assert problems(console) == []
