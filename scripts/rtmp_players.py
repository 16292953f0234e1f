#!/usr/bin/env python3
"""Socket players and a paced publisher for ``scripts/bench_rtmp.py``.

:func:`play` is a light RTMP player (handshake, connect, createStream, play with
nvr's sans-I/O core, then it counts bytes and acknowledges each window); the
benchmark runs many of them in a thread.

Run as a script, this is the latency probe, a child process of the benchmark::

    rtmp_players.py HOST PORT APP STREAM PUBLISH_KEY FILE.flv

It publishes ``FILE.flv`` to ``APP/PUBLISH_KEY`` in a loop, each video tag at its
own time (as ``ffmpeg -re -stream_loop -1 -c copy`` does), noting when each tag
was written to the socket (``time.monotonic()``, CLOCK_MONOTONIC, the same clock
in every process of the machine) under the tag body's last 32 bytes: the end of
the frame's last NAL unit, which a server passes on unchanged whatever it does
to the FLV/AVC headers or the timestamps. On ``probe`` (a line on stdin) it
starts one more player that parses what it receives and, for each video frame,
prints ``lat <probe> <received at> <seconds since published>``, the receive
time taken as the read returns; ``clear`` ends the probes. Its own output is a
few lines a second, so its players read their sockets promptly; it also asks
for a higher scheduling priority (nice -10, when allowed) so the benchmark's
other players on a busy 2-core machine do not delay its reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from nvr.rtmp import amf0, flv  # noqa: E402
from nvr.rtmp import messages as msg  # noqa: E402
from nvr.rtmp.chunks import ChunkReader, ChunkWriter, Message  # noqa: E402
from nvr.rtmp.client import ClientConnection, PublishStarted, Refused  # noqa: E402
from nvr.rtmp.handshake import ClientHandshake  # noqa: E402

ACK_WINDOW = 2_500_000
KEY_BYTES = 32  # a frame's identity: the last bytes of its tag body
VIDEO = 9

OnMedia = Callable[[list[Message], float], None]


@dataclass
class Player:
    received: int = 0
    playing: bool = False
    error: str = ""
    on_playing: Callable[[], None] | None = None  # told at NetStream.Play.Start


async def play(host: str, port: int, app: str, stream: str, player: Player,
               on_media: OnMedia | None = None) -> None:
    """Handshake, connect, createStream, play; then count bytes until cancelled
    (and hand each read's messages with its receive time to ``on_media``)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        hs = ClientHandshake()
        writer.write(hs.start())
        while not hs.done:
            data = await reader.read(65536)
            if not data:
                raise ConnectionError("closed during the handshake")
            writer.write(hs.receive_data(data))
        out, inp = ChunkWriter(), ChunkReader()
        obj = {"app": app, "type": "nonprivate", "flashVer": "LNX 9,0,124,2",
               "tcUrl": f"rtmp://{host}:{port}/{app}"}
        writer.write(out.write(msg.command(0, "connect", 1.0, obj), 3)
                     + out.write(msg.window_ack_size(ACK_WINDOW), 2))
        pending, sid = hs.leftover, 0
        while True:
            for m in inp.feed(pending):
                if m.type_id not in (msg.COMMAND_AMF0, msg.COMMAND_AMF3):
                    continue
                cmd = msg.parse_command(m)
                info = next((a for a in cmd.args if isinstance(a, dict)), {})
                if cmd.name == "_result" and cmd.transaction_id == 1.0:
                    writer.write(out.write(msg.command(0, "createStream", 2.0, None), 3))
                elif cmd.name == "_result" and cmd.transaction_id == 2.0:
                    sid = int(cmd.args[0])
                    writer.write(out.write(msg.command(sid, "play", 3.0, None, stream, -2.0), 8)
                                 + out.write(msg.user_control(msg.SET_BUFFER_LENGTH, sid,
                                                              1000), 2))
                elif cmd.name == "_error" or info.get("level") == "error":
                    raise ConnectionError(f"refused: {cmd.name} {info.get('code', '')}")
                elif info.get("code") == "NetStream.Play.Start":
                    player.playing = True
                    if player.on_playing is not None:
                        player.on_playing()
            if player.playing:
                break
            pending = await reader.read(65536)
            if not pending:
                raise ConnectionError("closed before NetStream.Play.Start")
            player.received += len(pending)
        acked = 0
        while data := await reader.read(262144):
            now = time.monotonic()
            player.received += len(data)
            if on_media is not None:
                on_media(inp.feed(data), now)
            if player.received - acked >= ACK_WINDOW // 2:
                acked = player.received
                writer.write(out.write(msg.acknowledgement(acked & 0xFFFFFFFF), 2))
        player.error = "closed by the server"
    except (OSError, ValueError, ConnectionError) as e:
        player.error = str(e) or type(e).__name__
    except Exception as e:  # a protocol error from the sans-I/O core
        player.error = f"{type(e).__name__}: {e}"
    finally:
        writer.close()


# ----------------------------------------------------------------------------- probe


def frames(path: Path) -> tuple[list[bytes], bytes, list[tuple[int, bytes]], int]:
    """The file's script tags, AVC sequence header, frames (ms from the first) and the
    loop period in ms (last frame + one frame duration)."""
    tags = list(flv.file_tags(path.read_bytes()))
    scripts = [body for kind, _, body in tags if kind == 18]
    video = [(ts, body) for kind, ts, body in tags if kind == VIDEO]
    header = next(body for _, body in video if body[1] == 0)
    media = [(ts, body) for ts, body in video if body[1] == 1]
    first = media[0][0]
    media = [(ts - first, body) for ts, body in media]
    step = media[1][0] - media[0][0] if len(media) > 1 else 40
    return scripts, header, media, media[-1][0] + step


async def publish(host: str, port: int, app: str, key: str, path: Path,
                  sent: dict[bytes, float], started: asyncio.Event) -> None:
    """Publish ``path`` in a loop at its own pace, noting each frame's send time."""
    scripts, header, media, period = frames(path)
    reader, writer = await asyncio.open_connection(host, port)
    conn = ClientConnection(app, f"rtmp://{host}:{port}/{app}", key)
    writer.write(conn.data_to_send())

    async def pump() -> None:
        while data := await reader.read(65536):
            for event in conn.receive_data(data):
                if isinstance(event, Refused):
                    raise ConnectionError(f"publish refused: {event.code} {event.description}")
                if isinstance(event, PublishStarted):
                    started.set()
            writer.write(conn.data_to_send())
        raise ConnectionError("the server closed the publisher's connection")

    task = asyncio.create_task(pump())
    waiting = asyncio.create_task(started.wait())
    try:
        await asyncio.wait([task, waiting], return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()
        for body in scripts:
            conn.send_media("data", 0, amf0.encode("@setDataFrame") + body)
        conn.send_media("video", 0, header)
        writer.write(conn.data_to_send())
        t0, loop = time.monotonic(), 0
        while not task.done():
            for ts, body in media:
                at = loop * period + ts
                delay = t0 + at / 1000 - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                conn.send_media("video", at, body)
                data = conn.data_to_send()
                sent[body[-KEY_BYTES:]] = time.monotonic()
                writer.write(data)
            loop += 1
        task.result()
    finally:
        task.cancel()
        waiting.cancel()
        writer.close()


class Probe:
    """The publisher and the latency players of one server (see the module docstring)."""

    def __init__(self, host: str, port: int, app: str, stream: str) -> None:
        self.host, self.port, self.app, self.stream = host, port, app, stream
        self.sent: dict[bytes, float] = {}
        self.tasks: list[asyncio.Task[None]] = []
        self.misses = 0

    def add(self) -> None:
        index = len(self.tasks)
        player = Player(on_playing=lambda: print(f"playing {index}", flush=True))

        def on_media(messages: list[Message], now: float) -> None:
            for m in messages:
                body = m.payload
                if m.type_id != VIDEO or len(body) <= 5 or body[1] != 1:
                    continue
                at = self.sent.get(bytes(body[-KEY_BYTES:]))
                if at is None:
                    self.misses += 1
                    print(f"miss {index} {self.misses}", flush=True)
                else:
                    print(f"lat {index} {now:.6f} {now - at:.6f}", flush=True)

        async def run() -> None:
            await play(self.host, self.port, self.app, self.stream, player, on_media)
            if player.error:
                print(f"error {index} {player.error}", flush=True)

        self.tasks.append(asyncio.create_task(run()))

    def clear(self) -> None:
        for task in self.tasks:
            task.cancel()
        print("cleared", flush=True)


async def probe_main(host: str, port: int, app: str, stream: str, key: str, path: Path) -> None:
    probe = Probe(host, port, app, stream)
    loop = asyncio.get_running_loop()
    started = asyncio.Event()
    publisher = asyncio.create_task(publish(host, port, app, key, path, probe.sent, started))
    commands: asyncio.Queue[str] = asyncio.Queue()

    def stdin() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(commands.put_nowait, line.strip())
        loop.call_soon_threadsafe(commands.put_nowait, "")

    threading.Thread(target=stdin, daemon=True).start()
    waiting = asyncio.create_task(started.wait())
    await asyncio.wait([waiting, publisher], return_when=asyncio.FIRST_COMPLETED)
    if not started.is_set():
        waiting.cancel()
        publisher.result()  # its error
        return
    print("published", flush=True)
    while True:
        get = asyncio.create_task(commands.get())
        done, _ = await asyncio.wait([get, publisher], return_when=asyncio.FIRST_COMPLETED)
        if publisher in done:
            get.cancel()
            publisher.result()
            return
        command = get.result()
        if command == "probe":
            probe.add()
        elif command == "clear":
            probe.clear()
        elif command == "":
            publisher.cancel()
            return


def main() -> None:
    host, port, app, stream, key, path = sys.argv[1:7]
    with contextlib.suppress(OSError):
        os.nice(-10)
    factory = None
    with contextlib.suppress(ImportError):
        import uvloop
        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(probe_main(host, int(port), app, stream, key, Path(path)))


if __name__ == "__main__":
    main()
