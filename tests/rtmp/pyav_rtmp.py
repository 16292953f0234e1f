"""PyAV's bundled FFmpeg 8 as an Enhanced RTMP (H.265) publisher and player, each in a
child process (PyAV holds the GIL while it connects, which would stall the nvr under
test in this process); and a sans-I/O :class:`ClientConnection` publisher that
writes whatever FLV tags a test makes (e.g. H.265 with the legacy codec id 12)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from typing import Any

from test_protocol_interop import _run

from nvr.rtmp.client import ClientConnection, PublishStarted, Refused

# argv: url, stop file; H.265 160x128 at 25 fps in real time until the stop file exists
# (at most 30 s); FFmpeg 8's FLV muxer writes H.265 as Enhanced RTMP (hvc1)
PUBLISH = """
import os, sys, time, av, numpy as np
url, stop = sys.argv[1], sys.argv[2]
out = av.open(url, "w", format="flv")
st = out.add_stream("libx265", rate=25,
                    options={"x265-params": "log-level=error:keyint=25:bframes=2"})
st.width, st.height, st.pix_fmt = 160, 128, "yuv420p"
t0 = time.monotonic()
for i in range(750):
    if os.path.exists(stop):
        break
    f = av.VideoFrame.from_ndarray(np.full((128, 160, 3), i * 7 % 256, np.uint8),
                                   format="rgb24")
    f.pts = i
    for p in st.encode(f):
        out.mux(p)
    time.sleep(max(0.0, t0 + (i + 1) / 25 - time.monotonic()))
for p in st.encode():
    out.mux(p)
out.close()
"""

# argv: url, pictures to decode, "hvc1" or "" (the fourCcList FFmpeg sends at connect:
# without -rtmp_enhanced_codecs it sends none, like a classic client); prints JSON
PLAY = """
import json, sys, av
av.logging.set_level(av.logging.ERROR)  # FFmpeg's last error goes into the exception
url, want, codecs = sys.argv[1], int(sys.argv[2]), sys.argv[3]
opts = {"analyzeduration": "1000000"}  # 1 s: whether audio comes is not waited on for 5 s
if codecs:
    opts["rtmp_enhanced_codecs"] = codecs
try:
    c = av.open(url, options=opts, timeout=10)
except av.FFmpegError as exc:
    print(json.dumps({"error": str(exc)}))
    sys.exit(3)
s = c.streams.video[0]
n, size = 0, None
for p in c.demux(s):
    for f in p.decode():
        n, size = n + 1, (f.width, f.height)
    if n >= want:
        break
print(json.dumps({"codec": s.codec_context.name, "frames": n, "size": size}))
"""


async def child(script: str, *argv: str) -> tuple[int, str]:
    """Run a script in a child Python (at most 30 s); (exit code, stdout + stderr)."""
    return await _run(sys.executable, "-c", script, *argv)


async def play(url: str, frames: int, codecs: str = "hvc1") -> dict[str, Any]:
    """Decode ``frames`` pictures with PyAV; its JSON report (``error`` if refused)."""
    code, out = await child(PLAY, url, str(frames), codecs)
    reports = [line for line in out.splitlines() if line.startswith("{")]
    assert reports, f"PyAV player exited {code} without a report: {out[-1500:]}"
    report: dict[str, Any] = json.loads(reports[-1])
    report["exit"] = code
    return report


class Publisher:
    """A :class:`ClientConnection` on a socket, answering the server in a task."""

    def __init__(self, port: int, stream_key: str) -> None:
        self.conn = ClientConnection("live", f"rtmp://127.0.0.1:{port}/live", stream_key)
        self.port = port
        self.events: list[Any] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Publisher:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writer.write(self.conn.data_to_send())
        async with asyncio.timeout(10):
            while not any(isinstance(e, PublishStarted | Refused) for e in self.events):
                data = await self.reader.read(65536)
                assert data, f"closed before an answer: {self.events}"
                self.events += self.conn.receive_data(data)
                self.writer.write(self.conn.data_to_send())
        assert self.conn.publishing, self.events
        self._task = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        while data := await self.reader.read(65536):
            self.events += self.conn.receive_data(data)
            self.writer.write(self.conn.data_to_send())

    def send(self, kind: Any, timestamp: int, body: bytes) -> None:
        self.conn.send_media(kind, timestamp, body)
        self.writer.write(self.conn.data_to_send())

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await self._task
        with contextlib.suppress(OSError, RuntimeError):
            self.conn.unpublish()
            self.writer.write(self.conn.data_to_send())
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()

