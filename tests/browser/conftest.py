"""A real browser (Debian's Chromium, driven by Playwright) against one real nvr.

One nvr serves every test of a module: a simulated camera ``front`` that comes
online, a camera ``garage`` whose address answers nothing, the built-in
``admin`` and two viewers added over the API. Each test opens its own browser
context (its own cookies), so tests do not share sessions; ``site.password(name)``
is a user's password.

Playwright never downloads a browser here: it launches ``/usr/bin/chromium``
(``apt-get install chromium``). Without it the tests are skipped, unless
``NVR_REQUIRE_PEERS=1`` (CI), which makes them fail.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from argon2 import PasswordHasher
from nvrharness import ADMIN_PASSWORD, free_port, running_nvr, wait_until

from nvr.auth import passwords
from nvr.sim.server import SimCamera, SimServer

CHROMIUM = Path("/usr/bin/chromium")
DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 800}}

# username -> (password, role, cameras); admin is created by nvr from NVR_ADMIN_PASSWORD
USERS = {
    "admin": (ADMIN_PASSWORD, "admin", []),
    "maria": ("maria-front-only-pw", "viewer", ["front"]),
    "sam": ("sam-two-phones-pw", "viewer", []),
}


@dataclass
class Site:
    url: str
    browser: Any  # playwright.async_api.Browser

    @staticmethod
    def password(username: str) -> str:
        return USERS[username][0]


@dataclass
class Console:
    """What a page said on its console, and the errors it raised."""

    messages: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        return [m for m in self.messages
                if m.startswith(("error:", "pageerror:")) or "Content Security Policy" in m]


def _chromium() -> Path:
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    reason = f"{CHROMIUM} is missing (apt-get install chromium)"
    if os.environ.get("NVR_REQUIRE_PEERS") == "1":
        pytest.fail(f"Chromium required (NVR_REQUIRE_PEERS=1) but {reason}")
    pytest.skip(reason)


@contextlib.asynccontextmanager
async def chromium_for(nvr: Any) -> AsyncIterator[Site]:
    """Debian's Chromium, launched for the running nvr ``nvr`` (a nvrharness.RunningNvr)."""
    executable = _chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(executable))
        try:
            yield Site(str(nvr.http.base_url).rstrip("/"), browser)
        finally:
            await browser.close()


@contextlib.asynccontextmanager
async def one_camera_site(tmp_path: Path, name: str, camera: SimCamera,
                          recording: dict[str, Any] | None = None
                          ) -> AsyncIterator[tuple[Any, SimServer]]:
    """One simulated camera recorded by one nvr as ``name``, online: ``(nvr, sim)`` (a
    nvrharness.RunningNvr, and the simulator for its faults). Chromium comes after,
    with :func:`chromium_for`."""
    _chromium()
    sim = SimServer(host="127.0.0.1", port=0, cameras=[camera])
    await sim.start()
    try:
        async with running_nvr(tmp_path, [{"name": name, "url": sim.url(camera.name)}],
                               recording=recording) as nvr:
            await wait_until(lambda: _status_is(nvr, name, "online"), 20, f"{name} online")
            yield nvr, sim
    finally:
        await sim.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    _chromium()  # skip before starting anything when there is no browser
    sim = SimServer(host="127.0.0.1", port=0, cameras=[
        SimCamera(name="cam1", width=320, height=240, fps=10, bitrate_kbps=200)])
    await sim.start()
    cameras = [{"name": "front", "url": sim.url("cam1")},
               {"name": "garage", "url": f"rtsp://127.0.0.1:{free_port()}/stream"}]
    # cheap hashes: these tests are about the pages, and sign in a dozen times
    passwords.use_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    try:
        async with running_nvr(tmp_path_factory.mktemp("browser"), cameras) as nvr:
            for name, (password, role, visible) in USERS.items():
                if name == "admin":
                    continue
                answer = await nvr.http.post("/api/users", json={
                    "username": name, "password": password, "role": role, "cameras": visible})
                assert answer.status_code == 201, answer.text
            await wait_until(lambda: _status_is(nvr, "front", "online"), 20, "front online")
            async with chromium_for(nvr) as site:
                yield site
    finally:
        passwords.use_hasher(PasswordHasher())  # nvr's default again
        await sim.stop()


async def _status_is(nvr: Any, camera: str, status: str) -> bool:
    return await nvr.status(camera) == status


@pytest_asyncio.fixture(loop_scope="module")
async def browse(site: Site) -> AsyncIterator[Callable[..., Awaitable[tuple[Any, Console]]]]:
    """``await browse(**context_options)``: a page in a fresh browser context (no
    cookies; desktop size unless told), its console recorded. Closed after the test."""
    contexts: list[Any] = []

    async def open_page(**options: Any) -> tuple[Any, Console]:
        context = await site.browser.new_context(base_url=site.url, **(options or DESKTOP))
        contexts.append(context)
        page = await context.new_page()
        console = Console()
        page.on("console", lambda msg: console.messages.append(f"{msg.type}: {msg.text}"))
        page.on("pageerror", lambda exc: console.messages.append(f"pageerror: {exc}"))
        return page, console

    yield open_page
    for context in contexts:
        await context.close()
