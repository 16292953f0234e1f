"""H.264 with B-frames (libx264 ``-bf 2``) and AAC through nvr's RTMP server with
Debian's ffmpeg at both ends: the stream played back keeps its B-frames in the right
order (pts >= dts, pts not monotonic in decode order), ffmpeg complains of no DTS/PTS
trouble, and about as many frames arrive as were sent since the player joined."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
from nvrharness import wait_until
from test_protocol_interop import _run
from test_server_rtmp import KEY, _app

from nvr.registry import FeedRegistry

pytestmark = [pytest.mark.peer, pytest.mark.skipif(
    not all(shutil.which(b) for b in ("ffmpeg", "ffprobe")),
    reason="needs ffmpeg and ffprobe")]

FPS, SECONDS = 25, 3
TROUBLE = ("DTS", "non monoton", "Non-monoton", "out of order", "Invalid")


async def test_h264_b_frames_and_aac_play_back_in_order(tmp_path: Path) -> None:
    registry = FeedRegistry()
    app = _app(registry)
    await app.start()
    base = f"rtmp://127.0.0.1:{app.ports[0]}/live"
    out = tmp_path / "played.flv"
    try:
        publisher = asyncio.create_task(_run(
            "ffmpeg", "-v", "error", "-re", "-f", "lavfi", "-i",
            f"testsrc=size=160x120:rate={FPS}:duration={SECONDS}", "-f", "lavfi", "-i",
            f"sine=frequency=440:duration={SECONDS}", "-c:v", "libx264", "-preset",
            "veryfast", "-bf", "2", "-g", str(FPS), "-pix_fmt", "yuv420p", "-c:a", "aac",
            "-f", "flv", f"{base}/bframes?key={KEY}"))
        await wait_until(lambda: (f := registry.get("live/bframes")) is not None
                         and f.stats.frames > 0, 15, "the published feed", 0.05)
        # plays until the publisher leaves (UnpublishNotify), copying into an FLV file
        code, played = await _run("ffmpeg", "-v", "warning", "-i", f"{base}/bframes",
                                  "-c", "copy", str(out))
        assert code == 0, played
        assert not [w for w in TROUBLE if w in played], played
        code, sent = await publisher
        assert code == 0, sent
    finally:
        await app.server.close()
    code, probe = await _run("ffprobe", "-v", "error", "-of", "json", "-show_entries",
                             "packet=pts,dts,flags:stream=codec_name", "-select_streams", "v",
                             str(out))
    assert code == 0, probe
    info = json.loads(probe)
    assert [s["codec_name"] for s in info["streams"]] == ["h264"]
    packets = [(int(p["dts"]), int(p["pts"])) for p in info["packets"]]
    assert FPS <= len(packets) <= FPS * SECONDS  # from the joined GOP to the end
    assert all(pts >= dts for dts, pts in packets)
    assert all(b[0] > a[0] for a, b in zip(packets, packets[1:], strict=False))  # dts rises
    assert any(b[1] < a[1] for a, b in zip(packets, packets[1:], strict=False)), (
        "B-frames: pts goes back in decode order")
    code, decoded = await _run("ffmpeg", "-v", "error", "-i", str(out), "-f", "null", "-")
    assert code == 0 and decoded.strip() == "", decoded
    code, probe = await _run("ffprobe", "-v", "error", "-of", "json", "-show_entries",
                             "stream=codec_name", str(out))
    assert code == 0 and sorted(s["codec_name"] for s in json.loads(probe)["streams"]) == [
        "aac", "h264"], probe
