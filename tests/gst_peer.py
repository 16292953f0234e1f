"""Helpers to run a real RTSP camera (GStreamer's RTSP server) from tests.

The server is ``tests/peers/gst_rtsp_server.py``; it needs the *system* python3 with
``gi`` and GstRtspServer 1.0 (Debian: python3-gi, gir1.2-gst-rtsp-server-1.0), which
the project venv does not have, so it always runs as a child process.

Usage::

    from gst_peer import require_gst, start_gst_camera

    async def test_something():
        async with start_gst_camera(codec="h264", audio=True, user="admin",
                                    password="secret") as cam:
            ...  # cam.url, cam.url_with_credentials, cam.urls, cam.proc

``start_gst_camera`` skips the test when GStreamer is missing, or fails it when the
environment sets ``NVR_REQUIRE_PEERS=1`` (CI does).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest

SERVER_SCRIPT = Path(__file__).resolve().parent / "peers" / "gst_rtsp_server.py"
SYSTEM_PYTHON = os.environ.get("NVR_GST_PYTHON", "/usr/bin/python3")
READY_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0

_PROBE = (
    "import gi\n"
    "gi.require_version('Gst', '1.0')\n"
    "gi.require_version('GstRtsp', '1.0')\n"
    "gi.require_version('GstRtspServer', '1.0')\n"
    "from gi.repository import Gst, GstRtspServer\n"
    "Gst.init(None)\n"
    "missing = [e for e in ('videotestsrc', 'x264enc', 'rtph264pay', 'rtpmp4gpay')\n"
    "           if Gst.ElementFactory.find(e) is None]\n"
    "raise SystemExit(1 if missing else 0)\n"
)


def peers_required() -> bool:
    """True when missing peers must fail tests instead of skipping them."""
    return os.environ.get("NVR_REQUIRE_PEERS", "") == "1"


@functools.cache
def gst_available() -> bool:
    """Whether the system python3 can import gi + GstRtspServer (and the encoders)."""
    if not Path(SYSTEM_PYTHON).exists():
        return False
    try:
        result = subprocess.run(
            [SYSTEM_PYTHON, "-c", _PROBE],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def ffmpeg_available() -> bool:
    return shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None


def _missing(what: str) -> None:
    if peers_required():
        pytest.fail(f"{what} is not available but NVR_REQUIRE_PEERS=1")
    pytest.skip(f"{what} is not available")


def require_gst() -> None:
    """Skip the current test without GStreamer's RTSP server (fail under NVR_REQUIRE_PEERS=1)."""
    if not gst_available():
        _missing(f"GStreamer RTSP server ({SYSTEM_PYTHON} + gi + GstRtspServer 1.0)")


def require_ffmpeg() -> None:
    """Skip the current test without ffmpeg/ffprobe (fail under NVR_REQUIRE_PEERS=1)."""
    if not ffmpeg_available():
        _missing("ffmpeg/ffprobe")


def with_credentials(url: str, user: str | None, password: str | None) -> str:
    """``rtsp://host/p`` -> ``rtsp://user:password@host/p`` (percent-encoded)."""
    if user is None:
        return url
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{quote(user, safe='')}:{quote(password or '', safe='')}@{rest}"


@dataclass
class GstCamera:
    """A running GStreamer RTSP camera."""

    url: str
    """First mount, without credentials."""
    url_with_credentials: str
    """First mount, with ``user:password@`` when auth is on (else same as ``url``)."""
    proc: asyncio.subprocess.Process
    urls: list[str] = field(default_factory=list)
    """Every mount, without credentials."""
    user: str | None = None
    password: str | None = None
    stderr_lines: list[str] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])

    def credentials_url(self, url: str) -> str:
        return with_credentials(url, self.user, self.password)

    @property
    def stderr(self) -> str:
        return "".join(self.stderr_lines)


async def _drain(stream: asyncio.StreamReader, sink: list[str], keep: int = 200) -> None:
    while line := await stream.readline():
        sink.append(line.decode(errors="replace"))
        if len(sink) > keep:
            del sink[: len(sink) - keep]


async def stop_process(proc: asyncio.subprocess.Process, grace: float = STOP_TIMEOUT) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; always reaps the child."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
    await proc.wait()


@contextlib.asynccontextmanager
async def start_gst_camera(
    codec: str = "h264",
    audio: bool = False,
    user: str | None = None,
    password: str | None = None,
    auth: str = "digest",
    width: int = 320,
    height: int = 240,
    fps: int = 25,
    mounts: Sequence[str] = ("/stream",),
    extra_args: Sequence[str] = (),
) -> AsyncIterator[GstCamera]:
    """Run ``tests/peers/gst_rtsp_server.py`` for the duration of the ``async with``."""
    require_gst()
    args = [
        str(SERVER_SCRIPT),
        "--port",
        "0",
        "--codec",
        codec,
        "--width",
        str(width),
        "--height",
        str(height),
        "--fps",
        str(fps),
        "--auth",
        auth,
    ]
    if audio:
        args.append("--audio")
    if user is not None:
        args += ["--user", user, "--password", password or ""]
    for mount in mounts:
        args += ["--mount", mount]
    args += list(extra_args)

    proc = await asyncio.create_subprocess_exec(
        SYSTEM_PYTHON,
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    stderr_lines: list[str] = []
    stderr_task = asyncio.create_task(_drain(proc.stderr, stderr_lines))
    stdout_task: asyncio.Task[None] | None = None
    try:
        urls: list[str] = []

        async def wait_ready() -> None:
            assert proc.stdout is not None
            while len(urls) < len(mounts):
                line = (await proc.stdout.readline()).decode(errors="replace")
                if not line:
                    return  # exited
                if line.startswith("READY "):
                    urls.append(line.split(None, 1)[1].strip())

        try:
            await asyncio.wait_for(wait_ready(), READY_TIMEOUT)
        except TimeoutError:
            pass
        if len(urls) < len(mounts):
            await stop_process(proc)
            await asyncio.wait_for(stderr_task, 5)
            raise RuntimeError(
                f"GStreamer RTSP server did not become ready within {READY_TIMEOUT:.0f} s "
                f"(exit status {proc.returncode}); stderr:\n{''.join(stderr_lines)}"
            )
        stdout_task = asyncio.create_task(_drain(proc.stdout, []))
        yield GstCamera(
            url=urls[0],
            url_with_credentials=with_credentials(urls[0], user, password),
            proc=proc,
            urls=urls,
            user=user,
            password=password,
            stderr_lines=stderr_lines,
        )
    finally:
        await stop_process(proc)
        for task in (stderr_task, stdout_task):
            if task is None:
                continue
            try:
                await asyncio.wait_for(task, 5)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()
