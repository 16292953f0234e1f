"""H.265 through nvr's RTMP server (one ``nvr run`` for the module): PyAV's FFmpeg 8
publishes Enhanced RTMP and plays it back; a simulated H.265 camera is republished
to PyAV; H.265 published with the legacy FLV codec id 12 plays as Enhanced RTMP;
clients that did not list ``hvc1`` in ``fourCcList`` (Debian's ffmpeg 5.1, rtmpdump,
FFmpeg 8 without ``-rtmp_enhanced_codecs``) are refused with NetStream.Play.Failed,
also when a stream they play turns to H.265, while the others play on."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from fmp4.fmp4_media import encode_video
from nvrharness import RunningNvr, free_port, running_nvr, wait_until
from pyav_rtmp import PUBLISH, Publisher, child, play
from test_protocol_interop import _run

from nvr.feed import VIDEO_CLOCK, AccessUnit
from nvr.rtmp import flv
from nvr.sim.server import SimCamera, SimServer

pytestmark = [pytest.mark.peer, pytest.mark.asyncio(loop_scope="module"),
              pytest.mark.skipif(not all(shutil.which(b) for b in ("ffmpeg", "rtmpdump")),
                                 reason="needs ffmpeg and rtmpdump")]

KEY = "publish-key-5"
REFUSED = "H.265 needs an Enhanced RTMP client"


class Server:
    def __init__(self, nvr: RunningNvr, port: int) -> None:
        self.nvr, self.port = nvr, port

    def url(self, name: str) -> str:
        return f"rtmp://127.0.0.1:{self.port}/live/{name}"

    async def streams(self) -> dict[str, dict[str, Any]]:
        resp = await self.nvr.http.get("/api/rtmp/streams")
        resp.raise_for_status()
        return {s["name"]: s for s in resp.json()}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    tmp = tmp_path_factory.mktemp("hevc")
    port = free_port()
    extra = (f'[rtmp]\nenabled = true\nlisten = "127.0.0.1:{port}"\n'
             f'publish_key = "{KEY}"\n')
    sim = SimServer(host="127.0.0.1", port=0, cameras=[
        SimCamera(name="hcam", codec="h265", width=320, height=240, fps=25, gop_seconds=1,
                  bitrate_kbps=300)])
    await sim.start()
    try:
        cameras = [{"name": "hcam", "url": sim.url("hcam"), "republish": True,
                    "record": "off"}]
        async with running_nvr(tmp, cameras, extra=extra) as nvr:
            await wait_until(lambda: _online(nvr), 20, "the H.265 camera online")
            yield Server(nvr, port)
    finally:
        await sim.stop()


async def _online(nvr: RunningNvr) -> bool:
    return await nvr.status("hcam") == "online"


async def _refused(argv: list[str]) -> str:
    code, out = await _run(*argv)
    assert code != 0, out
    return out


def _ffmpeg(url: str) -> list[str]:
    return ["ffmpeg", "-v", "error", "-i", url, "-t", "2", "-f", "null", "-"]


def _rtmpdump(url: str) -> list[str]:
    return ["rtmpdump", "-r", url, "-o", "/dev/null", "-B", "2"]


async def test_pyav_publishes_enhanced_h265_and_plays_it_back(server: Server,
                                                              tmp_path: Path) -> None:
    stop = tmp_path / "stop"
    publisher = asyncio.create_task(child(PUBLISH, server.url(f"hevcpub?key={KEY}"),
                                          str(stop)))
    try:
        async def listed() -> dict[str, Any] | None:
            row = (await server.streams()).get("live/hevcpub")
            return row if row is not None and row["video_codec"] else None

        row = await wait_until(listed, 20, "live/hevcpub listed with its codec", 0.1)
        assert row["source"] == "publisher" and row["video_codec"] == "h265"
        # FFmpeg 8 itself, without listing hvc1, is refused like any classic client
        got, unlisted, ffmpeg = await asyncio.gather(
            play(server.url("hevcpub"), 10), play(server.url("hevcpub"), 1, codecs=""),
            _refused(_ffmpeg(server.url("hevcpub"))))
        assert got == {"codec": "hevc", "frames": 10, "size": [160, 128], "exit": 0}
        assert REFUSED in unlisted["error"] and REFUSED in ffmpeg
        assert "live/hevcpub" in await server.streams()  # the publisher carries on
    finally:
        stop.touch()
        code, out = await publisher
    assert code == 0, out[-1500:]


async def test_republished_h265_camera_plays_in_pyav_classic_players_refused(
        server: Server, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "nvr.rtmp")
    url = server.url("hcam")
    player = asyncio.create_task(play(url, 40))  # more than the cached GOP

    async def playing() -> bool:
        row = (await server.streams()).get("live/hcam")
        return row is not None and any(p["bytes_sent"] for p in row["players"])

    await wait_until(playing, 20, "the PyAV player of live/hcam", 0.1)
    ffmpeg, dump = await asyncio.gather(_refused(_ffmpeg(url)), _refused(_rtmpdump(url)))
    assert f"Server error: {REFUSED}" in ffmpeg
    assert "NetStream.Play.Failed" in dump
    assert await player == {"codec": "hevc", "frames": 40, "size": [320, 240], "exit": 0}
    logged = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(logged) == 2 and all("play live/hcam" in m and REFUSED in m for m in logged)


def _legacy_hevc(au: AccessUnit | None, params: Any) -> bytes:
    """A tag as older encoders send H.265: FLV codec id 12, AVC-style packet types."""
    if au is None:  # the sequence header: the HEVCDecoderConfigurationRecord
        return bytes((0x1C, 0, 0, 0, 0)) + flv.video_sequence_header(params)[5:]
    cts = (au.pts - au.dts) * 1000 // VIDEO_CLOCK
    return bytes(((1 if au.keyframe else 2) << 4 | 12, 1)) + cts.to_bytes(
        3, "big", signed=True) + au.data


def _classic(au: AccessUnit | None, params: Any) -> bytes:
    return flv.video_sequence_header(params) if au is None else flv.video_tag(au)


Tags = Callable[[AccessUnit | None, Any], bytes]


async def _feed(pub: Publisher, codec: str, tags: Tags, until: Callable[[], bool],
                start_ms: int = 0) -> int:
    """Publish a 1 s loop of ``codec`` at 25 fps (a keyframe every 0.2 s) in real time
    until ``until()`` (checked at keyframes; at most 12 s); returns the next
    timestamp."""
    params, frames = encode_video(codec, frames=25, gop=5, width=160, height=128)
    pub.send("video", start_ms, tags(None, params))
    base, t0, sent = start_ms, time.monotonic(), 0
    while True:
        for f in frames:
            if f.keyframe and until():
                return base + f.dts * 1000 // VIDEO_CLOCK
            assert time.monotonic() - t0 < 12, f"{codec}: still waiting after 12 s"
            au = AccessUnit(params, f.pts, f.dts, f.keyframe, time.time(), f.data)
            pub.send("video", base + f.dts * 1000 // VIDEO_CLOCK, tags(au, params))
            sent += 1
            await asyncio.sleep(max(0.0, t0 + sent / 25 - time.monotonic()))
        base += 1000


async def test_legacy_codec_id_12_publish_plays_as_enhanced_rtmp(server: Server) -> None:
    async with Publisher(server.port, f"legacy?key={KEY}") as pub:
        player = asyncio.create_task(play(server.url("legacy"), 10))
        await _feed(pub, "h265", _legacy_hevc, player.done)
        assert (await server.streams())["live/legacy"]["video_codec"] == "h265"
    assert await player == {"codec": "hevc", "frames": 10, "size": [160, 128], "exit": 0}


async def test_a_codec_change_ends_plays_classic_ones_with_play_failed(
        server: Server) -> None:
    """The publisher switches from H.264 to H.265 mid-stream: ffmpeg 5.1 gets
    NetStream.Play.Failed, the hvc1 player the end of the stream, both before any
    H.265 byte (FFmpeg's FLV demuxer fails on a codec change within a stream); a
    new hvc1 player gets the H.265."""
    seen: dict[str, int] = {}

    async def watch() -> None:
        nonlocal seen
        while True:
            row = (await server.streams()).get("live/switch", {})
            seen = {p["address"]: p["bytes_sent"] for p in row.get("players", [])}
            await asyncio.sleep(0.1)

    watcher = asyncio.create_task(watch())
    try:
        async with Publisher(server.port, f"switch?key={KEY}") as pub:
            classic = asyncio.create_task(_run("ffmpeg", "-v", "error", "-i",
                                               server.url("switch"), "-f", "null", "-"))
            ts = await _feed(pub, "h264", _classic, lambda: len(seen) == 1)
            enhanced = asyncio.create_task(play(server.url("switch"), 10_000))
            ts = await _feed(pub, "h264", _classic, lambda: len(seen) == 2, ts)
            ts = await _feed(pub, "h265", _classic, lambda: classic.done() and enhanced.done(),
                             ts)
            later = asyncio.create_task(play(server.url("switch"), 10))
            await _feed(pub, "h265", _classic, later.done, ts)
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    _, out = await classic  # its exit code depends on when it noticed: not asserted
    assert f"Server error: {REFUSED}" in out, out
    ended = await enhanced
    assert ended["exit"] == 0 and ended["codec"] == "h264" and ended["frames"] < 10_000
    assert await later == {"codec": "hevc", "frames": 10, "size": [160, 128], "exit": 0}
