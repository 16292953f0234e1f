"""Helpers for end-to-end tests: run the NVR in-process or as a process, probe files."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from nvr.clock import SYSTEM_CLOCK, Clock
from nvr.config import load_config
from nvr.runtime import Nvr

ADMIN_PASSWORD = "test-admin-pw"
REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    return json.dumps(str(value))


def write_config(path: Path, data_dir: Path, cameras: list[dict[str, Any]], http_port: int,
                 recording: dict[str, Any] | None = None, extra: str = "",
                 server: dict[str, Any] | None = None) -> Path:
    """A config file; a camera's dict values become its sub-tables (``[cameras.motion]``),
    ``server``: more ``[server]`` keys, ``extra``: TOML appended as is (``[[webhooks]]``...)."""
    lines = ["[server]", f"data_dir = {toml_value(data_dir)}",
             f'http = "127.0.0.1:{http_port}"']
    lines += [f"{k} = {toml_value(v)}" for k, v in (server or {}).items()]
    lines += ["", "[recording]"]
    rec = {"segment_seconds": 2, "min_free": "0"} | (recording or {})
    lines += [f"{k} = {toml_value(v)}" for k, v in rec.items()]
    for cam in cameras:
        flat = {k: v for k, v in cam.items() if not isinstance(v, dict)}
        lines += ["", "[[cameras]]"] + [f"{k} = {toml_value(v)}" for k, v in flat.items()]
        for key, table in cam.items():
            if isinstance(table, dict):
                lines += [f"[cameras.{key}]"] + [f"{k} = {toml_value(v)}"
                                                 for k, v in table.items()]
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


async def wait_until(check: Callable[[], Awaitable[Any] | Any], within: float,
                     what: str, interval: float = 0.2) -> Any:
    """Poll ``check`` until it returns something truthy; fail with ``what`` after ``within`` s."""
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {within:.0f} s waiting for {what} (last: {last!r})")


@dataclass
class RunningNvr:
    nvr: Nvr
    http: httpx.AsyncClient
    data_dir: Path

    async def cameras(self) -> dict[str, dict[str, Any]]:
        resp = await self.http.get("/api/cameras")
        resp.raise_for_status()
        return {c["name"]: c for c in resp.json()}

    async def recordings(self, camera: str | None = None) -> list[dict[str, Any]]:
        resp = await self.http.get("/api/recordings", params={"camera": camera} if camera else {})
        resp.raise_for_status()
        return resp.json()

    async def status(self, camera: str) -> str:
        return (await self.cameras())[camera]["status"]

    async def recorded(self, camera: str) -> tuple[float, float] | None:
        """Today's (UTC) recorded time on the camera's timeline, first start to last
        end in epoch seconds (the segment being written included); None before any."""
        resp = await self.http.get(f"/api/cameras/{camera}/timeline", params={"tz": "UTC"})
        resp.raise_for_status()
        spans = resp.json()["spans"]
        if not spans:
            return None
        return (datetime.fromisoformat(spans[0]["start"]).timestamp(),
                datetime.fromisoformat(spans[-1]["end"]).timestamp())


@contextlib.asynccontextmanager
async def running_nvr(tmp_path: Path, cameras: list[dict[str, Any]],
                      recording: dict[str, Any] | None = None,
                      clock: Clock = SYSTEM_CLOCK, extra: str = "",
                      port: int | None = None,
                      server: dict[str, Any] | None = None) -> AsyncIterator[RunningNvr]:
    """The NVR in this event loop, on a config written to tmp_path; stopped on exit.
    ``clock``: e.g. a :class:`~nvr.clock.SkippableClock`, to skip over waits."""
    port = port or free_port()
    data_dir = tmp_path / "data"
    cfg_path = write_config(tmp_path / "config.toml", data_dir, cameras, port, recording,
                            extra, server)
    old = os.environ.get("NVR_ADMIN_PASSWORD")
    os.environ["NVR_ADMIN_PASSWORD"] = ADMIN_PASSWORD
    nvr = Nvr(load_config(cfg_path), clock=clock)
    stop = asyncio.Event()
    task = asyncio.create_task(nvr.run(stop))
    # idle connections dropped after 2 s, before uvicorn's 5 s keep-alive closes them:
    # else a request sent as the server closes the connection fails with ReadError
    client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}",
                               auth=("admin", ADMIN_PASSWORD), timeout=10,
                               limits=httpx.Limits(keepalive_expiry=2.0))
    try:
        await wait_until(lambda: _healthy(client, task), 20, "the HTTP server")
        yield RunningNvr(nvr, client, data_dir)
    finally:
        stop.set()
        await client.aclose()
        await asyncio.wait_for(task, 15)
        if old is None:
            os.environ.pop("NVR_ADMIN_PASSWORD", None)
        else:
            os.environ["NVR_ADMIN_PASSWORD"] = old


async def _healthy(client: httpx.AsyncClient, task: asyncio.Task) -> bool:
    if task.done():
        task.result()  # raises what stopped it
        raise AssertionError("nvr stopped during start-up")
    try:
        return (await client.get("/healthz")).status_code == 200
    except httpx.HTTPError:
        return False


def nvr_process(config: Path, log: Path) -> subprocess.Popen:
    """``nvr run`` as a real process (for signals and kill -9)."""
    env = dict(os.environ, NVR_ADMIN_PASSWORD=ADMIN_PASSWORD)
    return subprocess.Popen([sys.executable, "-m", "nvr", "run", "--config", str(config)],
                            stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env, cwd=REPO)


def ffprobe(path: Path) -> dict[str, Any]:
    """Streams and per-stream packet counts as ffprobe (an outside tool) reads the file."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_packets", "-show_entries",
         "stream=codec_type,codec_name,width,height,sample_rate,channels,nb_read_packets"
         ":format=duration", "-of", "json", str(path)],
        capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"ffprobe failed on {path}: {out.stderr}"
    return json.loads(out.stdout)


def decode_errors(path: Path) -> str:
    """ffmpeg's complaints when decoding the whole file (empty string: clean)."""
    out = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"],
                         capture_output=True, text=True, timeout=120)
    return out.stderr if out.returncode else out.stderr.strip()


def segments_on_disk(data_dir: Path, camera: str) -> list[Path]:
    return sorted((data_dir / "recordings" / camera).rglob("*.mp4"))
