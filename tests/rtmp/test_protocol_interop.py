"""Real clients against ServerConnection in a minimal asyncio relay (``rtmp_relay.py``):
Debian's ffmpeg publishes 5 H.264 frames, then ffmpeg and rtmpdump (an independent
RTMP implementation) play them back into FLV files that ffprobe must read whole."""

import asyncio
import json
import shutil
from pathlib import Path

import pytest
from rtmp_relay import Relay

from nvr.rtmp.events import ConnectionFailed, PublishRequested

pytestmark = [pytest.mark.peer, pytest.mark.skipif(
    not all(shutil.which(b) for b in ("ffmpeg", "ffprobe", "rtmpdump")),
    reason="needs ffmpeg, ffprobe and rtmpdump")]


async def _run(*argv: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(30):
            out, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, (out + err).decode(errors="replace")


async def _frames(path: Path) -> list[str]:
    code, out = await _run("ffprobe", "-v", "error", "-count_frames", "-of", "json",
                           "-show_entries", "stream=codec_name,nb_read_frames", str(path))
    assert code == 0, out
    return [f"{s['codec_name']}:{s['nb_read_frames']}" for s in json.loads(out)["streams"]]


async def test_ffmpeg_publishes_and_ffmpeg_and_rtmpdump_play_back(tmp_path):
    relay = Relay()
    await relay.start()
    try:
        url = f"rtmp://127.0.0.1:{relay.port}/live/test"
        code, out = await _run(
            "ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10",
            "-c:v", "libx264", "-preset", "ultrafast", "-g", "5", "-frames:v", "5",
            "-pix_fmt", "yuv420p", "-f", "flv", url)
        assert code == 0, out
        code, out = await _run("ffmpeg", "-v", "error", "-i", url, "-c", "copy",
                               str(tmp_path / "ffmpeg.flv"))
        assert code == 0, out
        code, out = await _run("rtmpdump", "-q", "-r", url, "-o", str(tmp_path / "dump.flv"))
        # 2: "incomplete download" — rtmpdump's word for a live stream that ended; the
        # frame count below says whether all of it arrived
        assert code in (0, 2), out
    finally:
        await relay.stop()
    published = relay.sessions[0].events
    assert [e.stream_key for e in published if isinstance(e, PublishRequested)] == ["test"]
    assert not any(isinstance(e, ConnectionFailed) for s in relay.sessions for e in s.events)
    assert await _frames(tmp_path / "ffmpeg.flv") == ["h264:5"]
    assert await _frames(tmp_path / "dump.flv") == ["h264:5"]
