"""Capture real clients' bytes into ``tests/vectors/rtmp/`` (run by hand, not by pytest).

    .venv/bin/python tests/rtmp/capture_vectors.py

Starts :class:`rtmp_relay.Relay` and runs, one after the other: ffmpeg publishing
5 frames of H.264 (``ffmpeg_publish_h264.bin``), ffmpeg publishing H.264 + AAC
(``ffmpeg_publish_h264_aac.bin``), then against a relay holding the first
stream ffmpeg playing (``ffmpeg_play.bin``) and rtmpdump playing
(``rtmpdump_play.bin``), and PyAV's bundled FFmpeg 8 publishing 5 frames of H.265
with B-frames as Enhanced RTMP (``pyav_publish_hevc.bin``). Each file is
everything the client sent, handshake included. Needs Debian's ffmpeg and rtmpdump.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rtmp_relay import Relay  # noqa: E402

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "rtmp"
VIDEO = ["-f", "lavfi", "-i", "testsrc=size=160x120:rate=10"]
AUDIO = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"]
H264 = ["-c:v", "libx264", "-preset", "ultrafast", "-g", "5", "-frames:v", "5",
        "-pix_fmt", "yuv420p"]


async def _run(*argv: str, seconds: float = 20) -> None:
    proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.PIPE)
    try:
        _, err = await asyncio.wait_for(proc.communicate(), seconds)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    if proc.returncode:
        print(err.decode(errors="replace")[-2000:], file=sys.stderr)


async def _capture(name: str, relay: Relay, *argv: str) -> None:
    before = len(relay.sessions)
    await _run(*argv)
    await asyncio.sleep(0.2)
    data = bytes(relay.sessions[before].received)
    (VECTORS / name).write_bytes(data)
    print(f"{name}: {len(data)} bytes, {len(relay.sessions[before].events)} events")


# PyAV holds the GIL while it connects, so it publishes from a child process
PYAV_PUBLISH = """
import sys, av, numpy as np
out = av.open(sys.argv[1], "w", format="flv")
st = out.add_stream("libx265", rate=10, options={"x265-params": "log-level=error:keyint=5"})
st.width, st.height, st.pix_fmt = 160, 128, "yuv420p"
for i in range(5):
    f = av.VideoFrame.from_ndarray(np.full((128, 160, 3), i * 40, np.uint8), format="rgb24")
    f.pts = i
    for p in st.encode(f):
        out.mux(p)
for p in st.encode():
    out.mux(p)
out.close()
"""


async def main() -> None:
    VECTORS.mkdir(parents=True, exist_ok=True)
    relay = Relay()
    await relay.start()
    url = f"rtmp://127.0.0.1:{relay.port}/live/test"
    await _capture("ffmpeg_publish_h264.bin", relay, "ffmpeg", "-v", "error", *VIDEO, *H264,
                   "-f", "flv", url)
    audio_relay = Relay()
    await audio_relay.start()
    await _capture("ffmpeg_publish_h264_aac.bin", audio_relay, "ffmpeg", "-v", "error",
                   *VIDEO, *AUDIO, *H264, "-c:a", "aac", "-t", "0.5", "-f", "flv",
                   f"rtmp://127.0.0.1:{audio_relay.port}/live/test?key=secret")
    await audio_relay.stop()
    await _capture("ffmpeg_play.bin", relay, "ffmpeg", "-v", "error", "-i", url,
                   "-t", "0.4", "-c", "copy", "-f", "null", "-")
    out = VECTORS / "rtmpdump_out.flv"
    await _capture("rtmpdump_play.bin", relay, "rtmpdump", "-q", "-r", url, "-B", "0.4",
                   "-o", str(out))
    out.unlink(missing_ok=True)
    await relay.stop()
    hevc_relay = Relay()
    await hevc_relay.start()
    await _capture("pyav_publish_hevc.bin", hevc_relay, sys.executable, "-c", PYAV_PUBLISH,
                   f"rtmp://127.0.0.1:{hevc_relay.port}/live/hevc")
    await hevc_relay.stop()


if __name__ == "__main__":
    asyncio.run(main())
