"""ffmpeg and ffprobe as real RTSP clients of the simulated camera."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from nvr.sim.server import SimServer

pytestmark = [
    pytest.mark.peer,
    pytest.mark.skipif(
        not (shutil.which("ffmpeg") and shutil.which("ffprobe")), reason="ffmpeg not installed"
    ),
]


async def ffmpeg_record(url: str, out: Path, transport: str = "tcp", seconds: float = 2) -> int:
    proc = await asyncio.create_subprocess_exec(
        "ffmpeg", "-nostdin", "-v", "error", "-y", "-rtsp_transport", transport,
        "-i", url, "-t", str(seconds), "-c", "copy", str(out),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode


async def ffprobe_streams(path: Path) -> list[dict]:
    proc = await asyncio.create_subprocess_exec(
        "ffprobe", "-v", "error", "-count_packets", "-show_streams", "-of", "json", str(path),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await proc.communicate()
    return json.loads(out)["streams"]


@pytest.mark.parametrize("transport", ["tcp", "udp"])
@pytest.mark.parametrize("camera", ["audio"])
async def test_record_ffmpeg_h264_aac_stream(sim: SimServer, tmp_path, transport, camera):
    out = tmp_path / "out.mp4"
    assert await ffmpeg_record(sim.url(camera), out, transport, seconds=3) == 0
    streams = {s["codec_type"]: s for s in await ffprobe_streams(out)}
    video, audio = streams["video"], streams["audio"]
    assert (video["codec_name"], video["width"], video["height"]) == ("h264", 320, 240)
    assert 65 <= int(video["nb_read_packets"]) <= 85
    assert audio["codec_name"] == "aac" and audio["sample_rate"] == "48000"


async def test_record_ffmpeg_h265_stream(sim: SimServer, tmp_path):
    out = tmp_path / "out.mp4"
    assert await ffmpeg_record(sim.url("hevc"), out) == 0
    (video,) = await ffprobe_streams(out)
    assert video["codec_name"] == "hevc" and video["width"] == 320


@pytest.mark.parametrize("camera", ["digest", "basic", "both"])
async def test_record_ffmpeg_with_credentials_succeeds(sim: SimServer, tmp_path, camera):
    out = tmp_path / "out.mp4"
    assert await ffmpeg_record(sim.url(camera, "admin", "s3cret"), out, seconds=1) == 0
    (video,) = await ffprobe_streams(out)
    assert int(video["nb_read_packets"]) >= 20


async def test_record_ffmpeg_wrong_password_fails(sim: SimServer, tmp_path):
    out = tmp_path / "out.mp4"
    assert await ffmpeg_record(sim.url("digest", "admin", "nope"), out, seconds=1) != 0
    assert not out.exists()
