"""The System page's Alerts section in a real browser, on a real nvr with two webhooks:
one that answers (delivered) and one whose port is closed (pending, its error shown).
Events go in through nvr's own EventHub. Screenshot: ``system-alerts-desktop``."""

from __future__ import annotations

import asyncio
import time

from argon2 import PasswordHasher
from conftest import DESKTOP, _chromium, chromium_for
from nvrharness import ADMIN_PASSWORD, REPO, free_port, running_nvr, wait_until
from playwright.async_api import expect
from test_login_pages import sign_in

from nvr.auth import passwords

US = 1_000_000
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
SECRET = "browser-test-secret-0123"


async def _answer_204(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A webhook receiver that takes everything (signatures are tested elsewhere)."""
    try:
        while await reader.readline():
            length = 0
            while (header := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = header.decode().partition(":")
                length = int(value) if name.strip().lower() == "content-length" else length
            await reader.readexactly(length)
            writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def test_system_page_lists_deliveries(tmp_path) -> None:
    _chromium()
    server = await asyncio.start_server(_answer_204, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    extra = (f'[[webhooks]]\nname = "home-assistant"\nurl = "http://127.0.0.1:{port}/hook"\n'
             f'secret = "{SECRET}"\n\n[[webhooks]]\nname = "old-server"\n'
             f'url = "http://127.0.0.1:{free_port()}/hook"\nsecret = "{SECRET}"\n')
    passwords.use_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    try:
        async with running_nvr(tmp_path, [], extra=extra) as nvr:
            hub = nvr.nvr.hub
            assert hub is not None
            now_us = int(time.time() * US)
            event = await hub.open("front", "motion", now_us - 20 * US, 0.82, ["door"])
            await hub.close(event, now_us - 8 * US)

            async def settled() -> bool:
                rows = (await nvr.http.get("/api/alerts/deliveries")).json()
                ok = [r for r in rows if r["target"] == "home-assistant"]
                dead = [r for r in rows if r["target"] == "old-server"]
                return ([r["state"] for r in ok] == ["delivered"] * 2
                        and any(r["last_error"] for r in dead))

            await wait_until(settled, 20, "deliveries made and tried")
            async with chromium_for(nvr) as site:
                context = await site.browser.new_context(base_url=site.url, **DESKTOP)
                page = await context.new_page()
                await page.goto("/system")
                await sign_in(page, "admin", ADMIN_PASSWORD)
                section = page.locator("section.sys-alerts")
                await expect(section.get_by_role("heading", name="Alerts")).to_be_visible()
                await expect(section.get_by_text("2 delivered")).to_be_visible()
                await expect(section.locator("tbody tr")).to_have_count(4)  # start and end each
                await expect(section.get_by_text("Connect", exact=False)).to_be_visible()
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                await page.evaluate("window.scrollTo(0, 0)")  # else the sticky bar lands mid-page
                await page.screenshot(path=str(SCREENSHOTS / "system-alerts-desktop.png"),
                                      full_page=True, animations="disabled", caret="hide")
                await context.close()
    finally:
        passwords.use_hasher(PasswordHasher())
        server.close()
        await server.wait_closed()
