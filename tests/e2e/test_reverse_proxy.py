"""nvr behind a real HTTPS reverse proxy (Debian's nginx), the setup the System page
recommends: a browser-like client signs in through the proxy, its session cookie is
Secure, the audit log has the client's own address (not the proxy's), and the live
view's WebSocket opens through the proxy. Forwarded headers from anyone but the
configured proxy are ignored, and a cross-site page is still refused.

The client connects from 127.0.0.3 (Linux routes all of 127.0.0.0/8 to loopback),
nginx from 127.0.0.1, the one address in ``trusted_proxies``. nginx sends its
default ``Host`` (nvr's own address), so the browser's ``Origin`` matches only
``public_url``.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from nvrharness import ADMIN_PASSWORD, free_port, running_nvr, wait_until
from peers.nginx_proxy import NginxProxy, nginx_http_or_skip
from test_https import _certificate, _trust
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from nvr.sim.server import SimCamera, SimServer

CLIENT = "127.0.0.3"  # the browser's address
FORGED = "198.51.100.7"  # what a client claims to be in its own X-Forwarded-For


def _client(base: str, verify: ssl.SSLContext | bool = False) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(local_address=CLIENT, verify=verify)
    return httpx.AsyncClient(base_url=base, transport=transport, timeout=10)


async def _sign_in(client: httpx.AsyncClient, origin: str) -> httpx.Response:
    page = await client.get("/login")
    assert page.status_code == 200, page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    return await client.post("/login", data={
        "username": "admin", "password": ADMIN_PASSWORD, "csrf_token": token.group(1)},
        headers={"Origin": origin}, follow_redirects=False)


async def _logins(nvr: Any) -> list[dict[str, Any]]:
    answer = await nvr.http.get("/api/audit", params={"action": "login"})
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.fixture
async def proxied(tmp_path: Path) -> AsyncIterator[tuple[Any, NginxProxy, Path]]:
    reason = nginx_http_or_skip()
    if reason:
        pytest.skip(reason)
    cert, key = await asyncio.to_thread(_certificate, tmp_path)
    sim = SimServer(host="127.0.0.1", port=0, cameras=[
        SimCamera(name="cam1", width=320, height=240, fps=10, bitrate_kbps=200)])
    await sim.start()
    port = free_port()
    proxy = NginxProxy(tmp_path / "nginx", port, cert, key)
    try:
        async with running_nvr(tmp_path, [{"name": "front", "url": sim.url("cam1")}],
                               port=port, server={"trusted_proxies": ["127.0.0.1"],
                                                  "public_url": proxy.url}) as nvr:
            await asyncio.to_thread(proxy.start)
            try:
                yield nvr, proxy, cert
            finally:
                await asyncio.to_thread(proxy.stop)
    finally:
        await sim.stop()


async def test_sign_in_and_live_view_through_an_https_proxy(proxied) -> None:
    nvr, proxy, cert = proxied
    async with _client(proxy.url, _trust(cert)) as browser:
        answer = await _sign_in(browser, proxy.url)
        assert answer.status_code == 303, answer.text
        session = next(c for c in answer.headers.get_list("set-cookie")
                       if c.startswith("nvr_session="))
        assert "Secure" in session  # nvr knows the browser used https
        assert (await browser.get("/api/me")).json()["username"] == "admin"
        logins = await _logins(nvr)
        assert logins[0]["address"] == CLIENT  # the browser, not nginx (127.0.0.1)

        # the live view's WebSocket through nginx, with the session cookie
        await wait_until(lambda: _online(nvr), 20, "front online")
        cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
        url = proxy.url.replace("https://", "wss://") + "/api/cameras/front/live"
        async with connect(url, ssl=_trust(cert), origin=proxy.url,
                           additional_headers={"Cookie": cookie}, max_queue=None,
                           local_addr=(CLIENT, 0)) as ws:
            media = None
            while media is None:
                message = await asyncio.wait_for(ws.recv(), 10)
                if isinstance(message, bytes):
                    media = message
            assert media[4:8] == b"ftyp"  # the init segment came through the proxy

        # a page on another site, through the same proxy, with the right cookie: refused
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, ssl=_trust(cert),
                               origin="https://evil.example",
                               additional_headers={"Cookie": cookie},
                               local_addr=(CLIENT, 0)):
                pass
        assert refused.value.response.status_code == 403
        answer = await browser.post("/api/tokens", json={"name": "x"}, headers={
            "Origin": "https://evil.example", "X-CSRF-Token": browser.cookies["nvr_csrf"]})
        assert answer.status_code == 403


async def test_forwarded_headers_from_others_are_ignored(proxied) -> None:
    nvr, _, _ = proxied
    base = str(nvr.http.base_url).rstrip("/")
    async with _client(base) as direct:
        direct.headers.update({"X-Forwarded-For": FORGED, "X-Forwarded-Proto": "https"})
        answer = await _sign_in(direct, base)
        assert answer.status_code == 303, answer.text
        session = next(c for c in answer.headers.get_list("set-cookie")
                       if c.startswith("nvr_session="))
        assert "Secure" not in session  # plain http, whatever the client claims
    logins = await _logins(nvr)
    assert logins[0]["address"] == CLIENT  # not FORGED


async def _online(nvr: Any) -> bool:
    cameras = (await nvr.http.get("/api/cameras")).json()
    return any(c["name"] == "front" and c["status"] == "online" for c in cameras)

