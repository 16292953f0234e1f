"""``pause`` on a live stream: the player gets nothing while paused (it is not
dropped as stalled, and other players go on), and after unpausing it goes on from
the next keyframe with its timestamps still rising. Through the real server over a
socket, with a client that speaks RTMP with nvr's sans-I/O parts (ffmpeg pauses
only from ffplay's keyboard)."""

from __future__ import annotations

import asyncio
from typing import Any

from nvrharness import free_port, wait_until
from test_server_rtmp import _camera

from nvr.config import Config
from nvr.feed import Feed
from nvr.registry import FeedRegistry
from nvr.rtmp import messages as msg
from nvr.rtmp.chunks import ChunkReader, ChunkWriter, Message
from nvr.rtmp.handshake import ClientHandshake
from nvr.rtmpapp import RtmpApp


class RawPlayer:
    """Handshake, connect, createStream, play; then every media message kept."""

    def __init__(self) -> None:
        self.out, self.inp = ChunkWriter(), ChunkReader()
        self.media: list[Message] = []
        self.statuses: list[str] = []
        self.sid = 0
        self.writer: asyncio.StreamWriter | None = None

    async def run(self, port: int, stream: str) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        self.writer = writer
        hs = ClientHandshake()
        writer.write(hs.start())
        while not hs.done:
            writer.write(hs.receive_data(await reader.read(65536)))
        writer.write(self.out.write(msg.command(0, "connect", 1.0, {
            "app": "live", "tcUrl": f"rtmp://127.0.0.1:{port}/live"}), 3))
        data = hs.leftover
        try:
            while True:
                for m in self.inp.feed(data):
                    self._message(m)
                data = await reader.read(65536)
                if not data:
                    return
        finally:
            writer.close()

    def _message(self, m: Message) -> None:
        if m.type_id in (msg.AUDIO, msg.VIDEO):
            self.media.append(m)
        elif m.type_id == msg.COMMAND_AMF0:
            cmd = msg.parse_command(m)
            info = next((a for a in cmd.args if isinstance(a, dict)), {})
            if cmd.name == "_result" and cmd.transaction_id == 1.0:
                self.send(msg.command(0, "createStream", 2.0, None))
            elif cmd.name == "_result" and cmd.transaction_id == 2.0:
                self.sid = int(cmd.args[0])
                self.send(msg.command(self.sid, "play", 3.0, None, "cam1", -2.0), 8)
            elif "code" in info:
                self.statuses.append(str(info["code"]))

    def send(self, message: Message, csid: int = 3) -> None:
        assert self.writer is not None
        self.writer.write(self.out.write(message, csid))

    def pause(self, paused: bool, position_ms: float) -> None:
        self.send(msg.command(self.sid, "pause", 4.0, None, paused, position_ms), 8)

    def frames(self) -> list[tuple[int, bool]]:
        """(timestamp, keyframe) of each coded video frame."""
        return [(m.timestamp, m.payload[0] >> 4 == 1) for m in self.media
                if m.type_id == msg.VIDEO and m.payload[1] == 1]


async def test_a_paused_player_gets_nothing_then_goes_on_from_a_keyframe() -> None:
    registry = FeedRegistry()
    cam1 = registry.add(Feed("cam1"))
    producer = asyncio.create_task(_camera(cam1))  # 25 fps, a keyframe a second
    config = Config.model_validate({
        "rtmp": {"enabled": True, "listen": f"127.0.0.1:{free_port()}"},
        "cameras": [{"name": "cam1", "url": "rtsp://127.0.0.1:1/x", "republish": True}]})
    app = RtmpApp(config, registry, None, stall_timeout=0.5)
    await app.start()
    paused, other = RawPlayer(), RawPlayer()
    tasks = [asyncio.create_task(p.run(app.ports[0], "cam1")) for p in (paused, other)]
    try:
        await wait_until(lambda: len(paused.frames()) >= 30, 15, "frames before the pause",
                         0.02)
        paused.pause(True, float(paused.frames()[-1][0]))
        # the server stops the player before it answers: what came before the
        # answer is all there is
        await wait_until(lambda: "NetStream.Pause.Notify" in paused.statuses, 5,
                         "Pause.Notify", 0.02)
        before = len(paused.frames())
        others = len(other.frames())
        # a second of the other player's frames: past stall_timeout (0.5 s) and a stall
        # check, and a paused player is not dropped
        await wait_until(lambda: len(other.frames()) >= others + 25, 10,
                         "the other player going on", 0.02)
        assert len(paused.frames()) == before
        paused.pause(False, 0.0)
        await wait_until(lambda: len(paused.frames()) >= before + 10, 10,
                         "frames after unpausing", 0.02)
        assert "NetStream.Unpause.Notify" in paused.statuses
        frames = paused.frames()
        assert frames[before][1]  # it goes on at a keyframe
        stamps = [ts for ts, _ in frames]
        assert stamps == sorted(stamps) and stamps[before] - stamps[before - 1] >= 1500
        fanout: Any = app.server.fanouts["live/cam1"]
        assert len(fanout.players) == 2
    finally:
        for task in tasks + [producer]:
            task.cancel()
        await asyncio.gather(*tasks, producer, return_exceptions=True)
        await app.server.close()
