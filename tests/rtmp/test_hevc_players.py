"""Which players get H.265, in process (no outside tools): a minimal sans-I/O player
connects to :class:`RtmpServer` with or without ``hvc1`` in ``fourCcList`` (v1),
``"*"``, or v2's ``videoFourCcInfoMap``; a feed that changes codec mid-play ends
each play before the new codec's first byte (see test_hevc_server.py for the same
with real clients)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from fmp4.fmp4_media import encode_video
from nvrharness import wait_until

from nvr.feed import VIDEO_CLOCK, AccessUnit, Feed
from nvr.rtmp import amf0
from nvr.rtmp import messages as msg
from nvr.rtmp.chunks import ChunkReader, ChunkWriter, Message
from nvr.rtmp.handshake import ClientHandshake
from nvr.rtmp.publish import Publication
from nvr.rtmp.server import HEVC_REFUSED, RtmpServer

H265_TAG = b"hvc1"


class App:
    """Every name plays ``feed``."""

    def __init__(self, feed: Feed) -> None:
        self.feed = feed

    async def publish(self, name: str, query: dict[str, str], peer: str) -> Publication | str:
        return "no publishing here"

    def play(self, name: str, query: dict[str, str], peer: str) -> Feed | str:
        return self.feed

    async def unpublished(self, publication: Publication) -> None:
        pass


class Player:
    """connect (with ``extra`` properties), createStream and play, pipelined; then
    what the server sends, as messages."""

    def __init__(self, port: int, extra: dict[str, Any]) -> None:
        self.port, self.extra = port, extra
        self.messages: list[Message] = []
        self.closed = False

    async def start(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        hs = ClientHandshake()
        self.writer.write(hs.start())
        c2 = b""
        while not hs.done:
            c2 = hs.receive_data(await self.reader.read(65536))
        self.chunks = ChunkReader()
        writer = ChunkWriter()
        obj = {"app": "live", "tcUrl": f"rtmp://127.0.0.1:{self.port}/live"} | self.extra
        self.writer.write(c2 + b"".join(writer.write(m, 3) for m in (
            msg.command(0, "connect", 1.0, obj), msg.command(0, "createStream", 2.0),
            msg.command(1, "play", 3.0, None, "cam"))))
        self.messages += self.chunks.feed(hs.leftover)
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while data := await self.reader.read(65536):
            self.messages += self.chunks.feed(data)
        self.closed = True

    def statuses(self) -> list[tuple[str, str, str]]:
        out = []
        for m in self.messages:
            if m.type_id == msg.COMMAND_AMF0:
                values = amf0.decode(m.payload)
                if values[0] == "onStatus":
                    info = values[3]
                    out.append((info["level"], info["code"], info["description"]))
        return out

    def video(self) -> list[bytes]:
        return [m.payload for m in self.messages if m.type_id == msg.VIDEO]

    def eof(self) -> bool:
        return any(m.type_id == msg.USER_CONTROL and m.payload[:2] == b"\x00\x01"
                   for m in self.messages)

    async def stop(self) -> None:
        self.writer.close()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, OSError):
            await self._task


@contextlib.asynccontextmanager
async def _serving(feed: Feed) -> AsyncIterator[int]:
    server = RtmpServer(App(feed))
    port = await server.listen("127.0.0.1", 0)
    try:
        yield port
    finally:
        await server.close()


async def _camera(feed: Feed, switch: asyncio.Event) -> None:
    """10 frames a GOP at 100 fps, H.264 until ``switch`` is set, then H.265."""
    clips = {c: encode_video(c, frames=10, gop=10, width=160, height=128)
             for c in ("h264", "h265")}
    feed.begin(None)
    n = 0
    while True:
        params, frames = clips["h265" if switch.is_set() else "h264"]
        for f in frames:
            dts = n * VIDEO_CLOCK // 100
            feed.publish(AccessUnit(params, dts + f.pts - f.dts, dts, f.keyframe, time.time(),
                                    f.data))
            n += 1
            await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def _camera_feed(h265: bool) -> AsyncIterator[tuple[Feed, asyncio.Event]]:
    """A feed and its camera; setting the event (set at once with ``h265``) switches
    it to H.265 at the next GOP."""
    feed, switch = Feed("cam"), asyncio.Event()
    if h265:
        switch.set()
    task = asyncio.create_task(_camera(feed, switch))
    try:
        yield feed, switch
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _hevc(video: list[bytes]) -> bool:
    return any(body[0] & 0x80 and body[1:5] == H265_TAG for body in video)


async def test_h265_goes_only_to_clients_that_ask_for_it() -> None:
    async with _camera_feed(h265=True) as (feed, _), _serving(feed) as port:
        # the codec is known before the players ask: refusals happen at play
        await wait_until(lambda: feed.video is not None, 10, "the camera", 0.01)
        players = {name: Player(port, extra) for name, extra in {
            "classic": {}, "other codecs": {"fourCcList": ["av01", "vp09"]},
            "v1": {"fourCcList": ["hvc1"]}, "any": {"fourCcList": ["*"]},
            "v2": {"videoFourCcInfoMap": amf0.EcmaArray({"hvc1": 1.0})},
            "v2 encode only": {"videoFourCcInfoMap": amf0.EcmaArray({"hvc1": 2.0})},
        }.items()}
        for p in players.values():
            await p.start()
        takers = [players[n] for n in ("v1", "any", "v2")]
        await wait_until(lambda: all(_hevc(p.video()) for p in takers), 10,
                         "H.265 to takers", 0.01)
        for name in ("classic", "other codecs", "v2 encode only"):
            player = players[name]
            await wait_until(lambda p=player: p.closed or p.statuses(), 10, name, 0.01)
            assert player.statuses() == [("error", "NetStream.Play.Failed", HEVC_REFUSED)]
            assert player.video() == [], name
        for p in takers:
            assert [s[1] for s in p.statuses()] == ["NetStream.Play.Reset",
                                                     "NetStream.Play.Start"]
        for p in players.values():
            await p.stop()


async def test_a_codec_change_ends_each_play_before_the_new_codec() -> None:
    async with _camera_feed(h265=False) as (feed, switch), _serving(feed) as port:
        classic, taker = Player(port, {}), Player(port, {"fourCcList": ["hvc1"]})
        await classic.start()
        await taker.start()
        await wait_until(lambda: len(classic.video()) > 5 and len(taker.video()) > 5, 10,
                         "H.264", 0.01)
        switch.set()
        await wait_until(lambda: classic.closed and taker.eof(), 10, "the plays ended", 0.01)
        assert classic.statuses()[-1] == ("error", "NetStream.Play.Failed", HEVC_REFUSED)
        assert taker.statuses()[-1][:2] == ("status", "NetStream.Play.UnpublishNotify")
        assert not _hevc(classic.video()) and not _hevc(taker.video())
        late = Player(port, {"fourCcList": ["hvc1"]})  # playing again: the new codec
        await late.start()
        await wait_until(lambda: _hevc(late.video()), 10, "H.265 to a new player", 0.01)
        for p in (classic, taker, late):
            await p.stop()
