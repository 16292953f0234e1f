"""Signing in and out in a real browser: what a user sees on the login and home pages.

Every page is also checked for console errors and Content-Security-Policy
violations (the policy allows no inline script or style). Screenshots of each
page at desktop and phone size go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from nvrharness import REPO
from playwright.async_api import Page, expect

from nvr.web import ws_signed_in

pytestmark = pytest.mark.asyncio(loop_scope="module")

SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
DESKTOP = {"viewport": {"width": 1280, "height": 800}}
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2,
         "is_mobile": True, "has_touch": True}

ON_LOGIN_FOR_HOME = re.compile(r"/login\?next=%2F$")
ON_LOGIN = re.compile(r"/login(\?.*)?$")
# Chromium logs the status of the page itself; a wrong password's page is a 401
REFUSED_PAGE = "error: Failed to load resource: the server responded with a status of 401"


def problems(console) -> list[str]:
    """Console errors and CSP violations, leaving out the 401 of a refused login."""
    return [m for m in console.problems() if not m.startswith(REFUSED_PAGE)]


def after_logout(console) -> list[str]:
    """:func:`problems` once the session has ended, leaving out what the page asked of
    nvr in the meantime and nvr rightly refused: a live tile's WebSocket handshake
    (403) and the dashboard's status poll (401); the browser reports each on the
    console."""
    return [m for m in problems(console)
            if not ("WebSocket connection to" in m and "Unexpected response code: 403" in m)]


def on_home(site) -> str:
    return f"{site.url}/"


async def sign_in(page: Page, username: str, password: str) -> None:
    """Fill in and submit the login form the page shows."""
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()


async def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True, animations="disabled", caret="hide")
    return path


async def test_home_without_a_session_shows_the_login_form(site, browse):
    page, console = await browse()
    await page.goto("/")
    await expect(page).to_have_url(ON_LOGIN_FOR_HOME)
    await expect(page).to_have_title("Sign in · nvr")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await expect(page.get_by_label("Username")).to_be_focused()
    await expect(page.get_by_label("Password")).to_be_visible()
    await expect(page.locator('input[name="next"]')).to_have_value("/")
    assert console.problems() == []


async def test_the_console_check_sees_a_csp_violation(site, browse):
    """The listener every other test relies on does notice an inline style."""
    page, console = await browse()
    await page.goto("/login")
    async with page.expect_console_message(lambda m: "Content Security Policy" in m.text):
        await page.evaluate("""() => {
            const style = document.createElement('style');
            style.textContent = 'body { background: red }';
            document.head.append(style);
        }""")
    assert any("Content Security Policy" in m for m in console.problems())


async def test_a_wrong_password_shows_the_error_and_keeps_the_form(site, browse):
    page, console = await browse()
    await page.goto("/")
    await sign_in(page, "maria", "not-marias-password")
    await expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await expect(page.get_by_label("Username")).to_have_value("maria")
    await expect(page.get_by_label("Password")).to_have_value("")
    await expect(page.get_by_label("Password")).to_be_focused()
    await expect(page.locator('input[name="next"]')).to_have_value("/")
    # the page asked for is still where the right password leads
    await sign_in(page, "maria", site.password("maria"))
    await expect(page).to_have_url(on_home(site))
    await expect(page.get_by_role("alert")).to_have_count(0)
    assert problems(console) == []


async def test_a_viewer_sees_their_name_and_only_their_cameras(site, browse):
    page, console = await browse()
    await page.goto("/")
    await sign_in(page, "maria", site.password("maria"))
    await expect(page).to_have_url(on_home(site))
    await expect(page).to_have_title("Cameras · nvr")
    await expect(page.get_by_role("banner")).to_contain_text("maria")
    await expect(page.get_by_role("heading", name="Cameras")).to_be_visible()
    cameras = page.get_by_role("list", name="Cameras").get_by_role("listitem")
    await expect(cameras).to_have_count(1)
    await expect(cameras.first).to_contain_text("front")
    await expect(cameras.first).to_contain_text("Online")
    await expect(page.get_by_text("garage")).to_have_count(0)
    assert console.problems() == []


async def test_an_admin_sees_every_camera_and_its_state(site, browse):
    page, console = await browse()
    await page.goto("/")
    await sign_in(page, "admin", site.password("admin"))
    await expect(page).to_have_url(on_home(site))
    await expect(page.get_by_role("banner")).to_contain_text("admin")
    cameras = page.get_by_role("list", name="Cameras").get_by_role("listitem")
    await expect(cameras).to_have_count(2)
    await expect(cameras.filter(has_text="front")).to_contain_text("Online")
    await expect(cameras.filter(has_text="garage")).to_contain_text(
        re.compile("Connecting|Offline"))
    assert console.problems() == []


async def test_log_out_returns_to_the_login_page_for_good(site, browse):
    page, console = await browse()
    await page.goto("/")
    await sign_in(page, "maria", site.password("maria"))
    await expect(page).to_have_url(on_home(site))
    await page.get_by_role("button", name="Log out", exact=True).click()
    await expect(page).to_have_url(ON_LOGIN)
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await page.goto("/")
    await expect(page).to_have_url(ON_LOGIN_FOR_HOME)
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert after_logout(console) == []


async def test_log_out_everywhere_ends_the_other_browsers_session(site, browse,
                                                                  monkeypatch):
    monkeypatch.setattr(ws_signed_in, "RECHECK_SECONDS", 0.3)
    laptop, laptop_console = await browse()
    phone, phone_console = await browse(**PHONE)
    for page in (laptop, phone):
        await page.goto("/")
        await sign_in(page, "sam", site.password("sam"))
        await expect(page.get_by_role("heading", name="Cameras")).to_be_visible()
    await expect(phone.locator("video").first).to_have_js_property("paused", False)
    await laptop.get_by_role("link", name="Your account").click()
    await laptop.get_by_role("button", name="Log out everywhere").click()
    await expect(laptop).to_have_url(ON_LOGIN)
    # the phone, left open on the live view, is cut off and goes to the login page
    await expect(phone).to_have_url(ON_LOGIN_FOR_HOME, timeout=10_000)
    await expect(phone.get_by_role("heading", name="Sign in")).to_be_visible()
    assert after_logout(laptop_console) == [] and after_logout(phone_console) == []


async def test_guessing_is_stopped_with_a_message(site, browse):
    page, _ = await browse()
    await page.goto("/")
    for _attempt in range(5):
        await sign_in(page, "intruder", "guess-guess-guess")
        await expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    await sign_in(page, "intruder", "guess-guess-guess")
    await expect(page.get_by_role("alert")).to_have_text(
        re.compile(r"^Too many failed attempts\. Try again in \d+ minutes?\.$"))
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


@pytest.mark.parametrize("size", ["desktop", "phone"])
async def test_screenshots_of_each_page(site, browse, size):
    """Each page at this size: shot for review, nothing wider than the screen."""
    page, console = await browse(**(DESKTOP if size == "desktop" else PHONE))

    async def fits() -> None:
        overflow = await page.evaluate(
            "() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{page.url} is {overflow} px wider than the {size} screen"

    await page.goto("/")
    await expect(page.get_by_label("Username")).to_be_visible()
    await fits()
    await screenshot(page, f"login-{size}")
    await sign_in(page, "admin", "a-wrong-password")
    await expect(page.get_by_role("alert")).to_be_visible()
    await fits()
    await screenshot(page, f"login-error-{size}")
    await sign_in(page, "admin", site.password("admin"))
    await expect(page.get_by_role("list", name="Cameras").get_by_role("listitem")).to_have_count(2)
    await fits()
    await screenshot(page, f"home-{size}")
    assert problems(console) == []
