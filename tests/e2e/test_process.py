"""``nvr run`` as a real process: clean stop on SIGTERM, nothing lost but a GOP on kill -9."""

from __future__ import annotations

import asyncio
import signal
import time

import httpx
import pytest
from nvrharness import (
    ADMIN_PASSWORD,
    decode_errors,
    ffprobe,
    free_port,
    nvr_process,
    segments_on_disk,
    wait_until,
    write_config,
)

from nvr.sim.server import SimCamera, SimServer

SMALL = {"width": 320, "height": 240, "fps": 25, "bitrate_kbps": 300}


@pytest.fixture
async def sim():
    server = SimServer(host="127.0.0.1", port=0, cameras=[
        SimCamera(name="cam1", audio=True, **SMALL), SimCamera(name="cam2", **SMALL)])
    await server.start()
    yield server
    await server.stop()


async def _api(port: int, path: str):
    async with httpx.AsyncClient(auth=("admin", ADMIN_PASSWORD), timeout=5) as client:
        try:
            resp = await client.get(f"http://127.0.0.1:{port}{path}")
        except httpx.HTTPError:
            return None
        return resp.json() if resp.status_code == 200 else None


async def _wait_exit(proc, within: float) -> int | None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return proc.returncode
        await asyncio.sleep(0.05)
    return None


async def test_sigterm_finishes_segments_and_exits_0_within_10s(sim, tmp_path):
    port = free_port()
    cfg = write_config(tmp_path / "c.toml", tmp_path / "data", [
        {"name": "a", "url": sim.url("cam1"), "audio": True},
        {"name": "b", "url": sim.url("cam2")}], port, {"segment_seconds": 60})
    proc = nvr_process(cfg, tmp_path / "nvr.log")
    try:
        await wait_until(lambda: _api(port, "/healthz"), 30, "nvr to serve HTTP")
        for name in ("a", "b"):
            await wait_until(lambda n=name: segments_on_disk(tmp_path / "data", n), 20, "files")
        await asyncio.sleep(3)
        proc.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        code = await _wait_exit(proc, 10)
        assert code == 0, (tmp_path / "nvr.log").read_text()[-3000:]
        assert time.monotonic() - sent < 10
    finally:
        if proc.poll() is None:
            proc.kill()
    # the open segments were closed and indexed on the way out
    proc = nvr_process(cfg, tmp_path / "nvr2.log")
    try:
        rows = await wait_until(lambda: _api(port, "/api/recordings"), 30, "the API")
    finally:
        proc.send_signal(signal.SIGTERM)
        await _wait_exit(proc, 10)
    assert {r["camera"] for r in rows} == {"a", "b"}
    for r in rows:
        assert r["duration"] >= 2.9
        path = tmp_path / "data" / r["path"]
        assert decode_errors(path) == ""
    log = (tmp_path / "nvr.log").read_text()
    assert "Traceback" not in log


async def test_kill9_keeps_every_complete_fragment_and_reconcile_indexes_it(sim, tmp_path):
    port = free_port()
    cfg = write_config(tmp_path / "c.toml", tmp_path / "data", [
        {"name": "cam", "url": sim.url("cam2")}], port, {"segment_seconds": 600})
    proc = nvr_process(cfg, tmp_path / "nvr.log")
    try:
        await wait_until(lambda: _api(port, "/healthz"), 30, "nvr to serve HTTP")
        files = await wait_until(lambda: segments_on_disk(tmp_path / "data", "cam"), 20, "file")
        await asyncio.sleep(7.5)  # three or four 2 s GOPs
        proc.kill()  # SIGKILL: no chance to close anything
        proc.wait(5)
    finally:
        if proc.poll() is None:
            proc.kill()
    path = files[0]
    info = ffprobe(path)
    frames = int(info["streams"][0]["nb_read_packets"])
    # every GOP but the one in progress is on disk and decodes
    assert frames >= 100, frames
    assert frames % 50 == 0, frames  # whole fragments only (a GOP is 50 frames)
    assert decode_errors(path) == ""
    proc = nvr_process(cfg, tmp_path / "nvr2.log")
    try:
        rows = await wait_until(lambda: _api(port, "/api/recordings?camera=cam"), 30, "API")
        rows = await wait_until(lambda: _api(port, "/api/recordings?camera=cam"), 10, "API")
    finally:
        proc.send_signal(signal.SIGTERM)
        await _wait_exit(proc, 10)
    crashed = [r for r in rows if (tmp_path / "data" / r["path"]) == path]
    assert len(crashed) == 1
    assert abs(crashed[0]["duration"] - frames / 25) < 0.1
