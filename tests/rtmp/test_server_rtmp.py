"""The RTMP server with real clients: ffmpeg publishes H.264+AAC with the key and
ffmpeg plays it back; wrong keys and a second publisher are refused; a camera feed
is republished to ffprobe and rtmpdump; a player that stops reading is dropped
without disturbing another player."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, cast

import pytest
from fmp4.fmp4_media import decode_errors, encode_video
from nvrharness import free_port, wait_until
from test_protocol_interop import _run

from nvr.config import Config
from nvr.eventhub import EventHub
from nvr.feed import VIDEO_CLOCK, AccessUnit, Feed
from nvr.registry import FeedRegistry
from nvr.rtmp.client import ClientConnection, PublishStarted, Refused
from nvr.rtmp.server import RtmpServer
from nvr.rtmpapp import RtmpApp

pytestmark = [pytest.mark.peer, pytest.mark.skipif(
    not all(shutil.which(b) for b in ("ffmpeg", "ffprobe", "rtmpdump")),
    reason="needs ffmpeg, ffprobe and rtmpdump")]

KEY = "publish-key-1"


class Hub:
    """Records the events the app reports (an EventHub stand-in)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []

    async def instant(self, camera: str, type: str, at_us: int, end_us: int | None = None,
                      details: dict[str, Any] | None = None) -> int:
        self.events.append((camera, type, details or {}))
        return len(self.events)


def _app(registry: FeedRegistry, hub: Hub | None = None, **kw: Any) -> RtmpApp:
    config = Config.model_validate({
        "rtmp": {"enabled": True, "listen": f"127.0.0.1:{free_port()}", "publish_key": KEY},
        "cameras": [{"name": "cam1", "url": "rtsp://127.0.0.1:1/x", "republish": True},
                    {"name": "cam2", "url": "rtsp://127.0.0.1:1/y", "republish": True}]})
    return RtmpApp(config, registry, cast(EventHub, hub), **kw)


def _seconds_sent(app: RtmpApp, name: str, feed: Feed) -> float:
    """Seconds of the feed's 25 fps video sent to the first player of ``name``, by the
    feed's mean frame size."""
    fanout = app.server.fanouts.get(name)
    if fanout is None or not fanout.players or not feed.stats.frames:
        return 0.0
    return fanout.players[0].bytes_sent / (feed.stats.bytes / feed.stats.frames * 25)


def _streams(path: Path) -> list[str]:
    out = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-of", "json",
                          "-show_entries", "stream=codec_name,codec_type,nb_read_frames",
                          str(path)], capture_output=True, text=True, check=True).stdout
    return [s["codec_name"] for s in json.loads(out)["streams"]  # not |RtmpSampleAccess
            if s["codec_type"] in ("video", "audio") and int(s.get("nb_read_frames", 0)) > 0]


def _publisher(url: str, seconds: int) -> list[str]:
    return ["ffmpeg", "-v", "error", "-re", "-f", "lavfi", "-i",
            f"testsrc=size=160x120:rate=15:duration={seconds}", "-f", "lavfi", "-i",
            f"sine=frequency=440:duration={seconds}", "-c:v", "libx264", "-preset",
            "ultrafast", "-g", "15", "-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "flv", url]


async def test_publish_with_key_plays_back_and_refusals(tmp_path):
    registry, hub = FeedRegistry(), Hub()
    app = _app(registry, hub)
    await app.start()
    base = f"rtmp://127.0.0.1:{app.ports[0]}/live"
    try:
        code, out = await _run(*_publisher(f"{base}/x?key=wrong-key-9", 1))
        assert code != 0 and "live/x" not in registry
        code, out = await _run(*_publisher(f"{base}/x", 1))
        assert code != 0 and "live/x" not in registry
        assert hub.events == []
        for bad in ("live/a/b", "live/", "other/x", "live/" + "x" * 65):
            assert isinstance(await app.publish(bad, {"key": KEY}, "peer"), str), bad
        assert len(registry) == 0 and hub.events == []

        publisher = asyncio.create_task(_run(*_publisher(f"{base}/x?key={KEY}", 6)))
        await wait_until(lambda: (f := registry.get("live/x")) is not None and f.stats.frames > 5,
                         15, "the published feed", 0.05)
        source = registry.source("live/x")
        assert source is not None and source.state.codec == "h264"
        # the player starts at once (on a busy machine ffmpeg takes a while to start; the
        # stream must still be on when it asks for it), the second publisher meanwhile
        play = asyncio.create_task(_run("ffmpeg", "-v", "error", "-i", f"{base}/x", "-t",
                                        "1.5", "-c", "copy", str(tmp_path / "x.flv")))
        code, out = await _run(*_publisher(f"{base}/x?key={KEY}", 1))
        assert code != 0, "a second publisher to a live name is refused"
        await wait_until(lambda: any(s["players"] for s in app.streams()), 15, "a player", 0.05)
        [row] = [s for s in app.streams() if s["source"] == "publisher"]  # + cam1, cam2
        assert row["name"] == "live/x" and row["source"] == "publisher"
        assert row["video_codec"] == "h264" and row["audio_codec"] == "aac"
        assert row["publisher"].startswith("127.0.0.1:")
        assert row["players"][0]["bytes_sent"] > 0
        code, out = await play
        assert code == 0, out
        assert sorted(_streams(tmp_path / "x.flv")) == ["aac", "h264"]
        assert decode_errors(tmp_path / "x.flv") == ""
        code, out = await publisher
        assert code == 0, out
        await wait_until(lambda: "live/x" not in registry, 10, "the feed removed", 0.05)
    finally:
        await app.server.close()
    assert [(c, t) for c, t, _ in hub.events] == [("live/x", "rtmp_publish_start"),
                                                  ("live/x", "rtmp_publish_stop")]
    assert all(KEY not in json.dumps(d) for _, _, d in hub.events)


async def _camera(feed: Feed, big: bool = False) -> None:
    """A camera-like producer: 25 fps, a keyframe a second, forever (``big``: 200 kB
    frames of junk, to fill a socket quickly)."""
    params, frames = encode_video("h264", frames=25, gop=25, width=320, height=240)
    feed.begin(None)
    step = frames[-1].dts - frames[0].dts + VIDEO_CLOCK // 25
    loop = 0
    while True:
        for f in frames:
            data = f.data + bytes(200_000) if big else f.data
            feed.publish(AccessUnit(params, f.pts + loop * step, f.dts + loop * step,
                                    f.keyframe, time.time(), data))
            await asyncio.sleep(0.04)
        loop += 1


async def test_republished_camera_to_ffprobe_rtmpdump_and_a_stalled_player(tmp_path):
    registry = FeedRegistry()
    cam1, cam2 = registry.add(Feed("cam1")), registry.add(Feed("cam2"))
    producers = [asyncio.create_task(_camera(cam1)), asyncio.create_task(_camera(cam2, True))]
    app = _app(registry, stall_timeout=1.0)
    await app.start()
    base = f"rtmp://127.0.0.1:{app.ports[0]}/live"
    try:
        await wait_until(lambda: cam1.gop, 10, "cam1's first keyframe", 0.02)
        code, out = await _run("ffprobe", "-v", "error", "-of", "json", "-show_entries",
                               "stream=codec_name,width,height", f"{base}/cam1")
        assert code == 0, out
        assert json.loads(out)["streams"] == [
            {"codec_name": "h264", "width": 320, "height": 240}]
        # rtmpdump ignores --stop on a live stream: stopped by SIGINT once it has had
        # two seconds of video (50 frames sent to it)
        dump = await asyncio.create_subprocess_exec(
            "rtmpdump", "-q", "-v", "-r", f"{base}/cam1", "-o", str(tmp_path / "cam1.flv"),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        await wait_until(lambda: _seconds_sent(app, "live/cam1", cam1) >= 2, 15,
                         "two seconds of video to rtmpdump", 0.05)
        # a second player joins the stream at a later keyframe: its time starts at 0 too
        code, out = await _run("ffprobe", "-v", "error", "-of", "json", "-select_streams",
                               "v", "-show_entries", "packet=dts_time", "-read_intervals",
                               "%+#5", f"{base}/cam1")
        assert code == 0, out
        assert float(json.loads(out)["packets"][0]["dts_time"]) < 0.2, out
        dump.send_signal(signal.SIGINT)
        await dump.wait()
        assert _streams(tmp_path / "cam1.flv") == ["h264"]
        code, out = await _run("ffprobe", "-v", "error", f"{base}/nothing")
        assert code != 0

        # two players of the big stream; one stops reading and is dropped
        argv = ["rtmpdump", "-q", "-v", "-r", f"{base}/cam2", "-o", "/dev/null"]
        slow = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.DEVNULL,
                                                    stderr=asyncio.subprocess.DEVNULL)
        normal = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.DEVNULL,
                                                      stderr=asyncio.subprocess.DEVNULL)
        try:
            await wait_until(lambda: (f := app.server.fanouts.get("live/cam2")) is not None
                             and len(f.players) == 2, 15, "two players", 0.05)
            slow.send_signal(signal.SIGSTOP)
            await wait_until(lambda: len(app.server.fanouts["live/cam2"].players) == 1, 20,
                             "the stalled player dropped", 0.05)
            sent = app.server.fanouts["live/cam2"].players[0].bytes_sent
            await wait_until(lambda: app.server.fanouts["live/cam2"].players[0].bytes_sent
                             > sent, 10, "the other player going on", 0.05)
            assert normal.returncode is None
        finally:
            for proc in (slow, normal):
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
    finally:
        for task in producers:
            task.cancel()
        await asyncio.gather(*producers, return_exceptions=True)
        await app.server.close()
    assert not app.server._tasks


async def test_silent_sockets_are_closed_after_the_handshake_timeout_and_past_the_limit():
    server = RtmpServer(cast(Any, None), max_connections=1, handshake_timeout=0.3)
    port = await server.listen("127.0.0.1", 0)
    try:
        first = await asyncio.open_connection("127.0.0.1", port)
        await wait_until(lambda: server._tasks, 5, "the first connection", 0.02)
        second = await asyncio.open_connection("127.0.0.1", port)
        async with asyncio.timeout(5):
            assert await second[0].read() == b""  # over max_connections: closed at once
            assert await first[0].read() == b""  # no handshake within 0.3 s: closed
        for _, writer in (first, second):
            writer.close()
    finally:
        await server.close()
    assert not server._tasks


async def _publish(port: int, stream_key: str) -> tuple[asyncio.StreamReader,
                                                         asyncio.StreamWriter, list[Any]]:
    """A sans-I/O ClientConnection publishing ``stream_key``; returns after the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    conn = ClientConnection("live", f"rtmp://127.0.0.1:{port}/live", stream_key)
    writer.write(conn.data_to_send())
    events: list[Any] = []
    async with asyncio.timeout(5):
        while not any(isinstance(e, PublishStarted | Refused) for e in events):
            data = await reader.read(65536)
            assert data, f"closed before an answer: {events}"
            events += conn.receive_data(data)
            writer.write(conn.data_to_send())
    return reader, writer, events


async def test_a_silent_publisher_is_dropped_after_the_idle_timeout():
    registry, hub = FeedRegistry(), Hub()
    app = _app(registry, hub, idle_timeout=0.3)
    await app.start()
    try:
        reader, writer, events = await _publish(app.ports[0], f"quiet?key={KEY}")
        assert any(isinstance(e, PublishStarted) for e in events)
        assert "live/quiet" in registry
        async with asyncio.timeout(5):
            while await reader.read(65536):
                pass  # the server closes the socket
        writer.close()
        await wait_until(lambda: "live/quiet" not in registry, 5, "the feed removed", 0.02)
        _, writer, events = await _publish(app.ports[0], "x?key=not-the-key")
        assert [e.code for e in events if isinstance(e, Refused)] == [
            "NetStream.Publish.BadName"]
        writer.close()
    finally:
        await app.server.close()
    assert [t for _, t, _ in hub.events] == ["rtmp_publish_start", "rtmp_publish_stop"]


def test_play_key_and_stream_names():
    registry = FeedRegistry()
    cam1 = registry.add(Feed("cam1"))
    config = Config.model_validate({
        "rtmp": {"enabled": True, "publish_key": KEY, "play_key": "play-key-1"},
        "cameras": [{"name": "cam1", "url": "rtsp://127.0.0.1:1/x", "republish": True,
                     "sub_url": "rtsp://127.0.0.1:1/s"},
                    {"name": "hidden", "url": "rtsp://127.0.0.1:1/y"}]})
    registry.add(Feed("hidden"))
    sub = registry.add(Feed("cam1/sub"))
    app = RtmpApp(config, registry)
    assert app.play("live/cam1", {"key": "play-key-1"}, "p") is cam1
    assert app.play("live/cam1_sub", {"key": "play-key-1"}, "p") is sub
    assert isinstance(app.play("live/cam1", {}, "p"), str)
    assert isinstance(app.play("live/cam1", {"key": "wrong-key-1"}, "p"), str)
    assert isinstance(app.play("live/hidden", {"key": "play-key-1"}, "p"), str)  # no republish
    assert isinstance(app.play("cam1", {"key": "play-key-1"}, "p"), str)
