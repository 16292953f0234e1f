"""Open live and playback WebSockets end when their viewer is signed out: the
credentials were checked at the handshake only, and a live view can stay open for
days. "Log out everywhere" from another browser closes them with 4401 within a
recheck; a viewer still signed in keeps watching. A running nvr, a simulated
camera, real WebSocket clients with a browser's session cookie."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from nvrharness import ADMIN_PASSWORD, running_nvr, wait_until
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from nvr.sim.server import SimCamera, SimServer
from nvr.web import ws_signed_in


async def _signed_in(base: str) -> httpx.AsyncClient:
    """A browser-like client with a session for admin."""
    client = httpx.AsyncClient(base_url=base, timeout=10)
    page = await client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    answer = await client.post("/login", data={
        "username": "admin", "password": ADMIN_PASSWORD, "csrf_token": token.group(1)},
        follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return client


def _socket(base: str, path: str, client: httpx.AsyncClient) -> Any:
    cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    return connect(base.replace("http://", "ws://") + path, origin=base,  # type: ignore[arg-type]
                   additional_headers={"Cookie": cookie}, max_queue=None, max_size=None)


async def _closed_with(ws: ClientConnection) -> int | None:
    """Read (and drop) messages until the socket closes; its close code."""
    try:
        while True:
            await ws.recv()
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


async def test_log_out_everywhere_closes_the_open_sockets(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(ws_signed_in, "RECHECK_SECONDS", 0.3)
    sim = SimServer(host="127.0.0.1", port=0, cameras=[
        SimCamera(name="cam1", width=320, height=240, fps=10, bitrate_kbps=200)])
    await sim.start()
    try:
        async with running_nvr(tmp_path, [{"name": "front", "url": sim.url("cam1")}],
                               recording={"segment_seconds": 60}) as nvr:
            await wait_until(lambda: _online(nvr), 20, "front online")
            base = str(nvr.http.base_url).rstrip("/")
            phone, laptop, leaving = [await _signed_in(base) for _ in range(3)]
            span = await wait_until(lambda: nvr.recorded("front"), 20, "a GOP on disk")
            start = datetime.fromtimestamp(span[0], UTC).isoformat()
            async with _socket(base, "/api/cameras/front/live", phone) as live, \
                    _socket(base, f"/api/cameras/front/playback?start={quote(start)}",
                            phone) as playback, \
                    _socket(base, "/api/cameras/front/live", laptop) as other:
                await asyncio.wait_for(live.recv(), 10)
                # another browser logs out (that session only): the phone goes on
                answer = await leaving.post("/logout", data={
                    "csrf_token": leaving.cookies["nvr_csrf"]}, follow_redirects=False)
                assert answer.status_code == 303
                assert await _frames_for(live, 1.5) >= 5  # several rechecks passed
                assert live.close_code is None and playback.close_code is None
                # "log out everywhere" from the laptop: every socket of the user ends
                answer = await laptop.post("/logout", data={
                    "csrf_token": laptop.cookies["nvr_csrf"], "everywhere": "1"},
                    follow_redirects=False)
                assert answer.status_code == 303
                codes = await asyncio.wait_for(asyncio.gather(
                    _closed_with(live), _closed_with(playback), _closed_with(other)), 10)
                assert codes == [4401, 4401, 4401]
            for client in (phone, laptop, leaving):
                await client.aclose()
    finally:
        await sim.stop()


async def _frames_for(ws: ClientConnection, seconds: float) -> int:
    """Binary messages read within ``seconds``."""
    frames = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if isinstance(await asyncio.wait_for(ws.recv(), 5), bytes):
            frames += 1
    return frames


async def _online(nvr: Any) -> bool:
    return (await nvr.status("front")) == "online"
