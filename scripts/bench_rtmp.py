#!/usr/bin/env python3
"""RTMP fan-out benchmark: nvr's RTMP server against nginx-rtmp, one publisher, many players.

    .venv/bin/python scripts/bench_rtmp.py                      # 10, 50, 200 players
    .venv/bin/python scripts/bench_rtmp.py --players 10,50 --seconds 10

A 1280x720 25 fps H.264 stream (~4 Mbit/s, ultrafast/zerolatency, GOP 50) is
encoded once to an .flv and published with ``ffmpeg -re -stream_loop -1 -c copy``
(so the encoder's CPU does not disturb the server). Each server in turn (``nvr run``
with only ``[rtmp]`` and no camera; Debian's nginx with ``libnginx-mod-rtmp``, one
worker, no master) gets the publisher, then 10, 50 and 200 light players: asyncio
sockets in a thread of this process that do the RTMP handshake, connect,
createStream and play with nvr's sans-I/O core, then only count bytes (and send an
acknowledgement each window). Per player count: the server's CPU over ``--seconds``
(psutil), the bytes each player got per second (starved: < 80% of the file's
rate), and the server's RSS growth over its one-publisher baseline per player.
Latency is not measured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402
from benchlib import BenchError, Child, free_port, print_table, wait_port  # noqa: E402

sys.path.insert(0, str(benchlib.ROOT))
from nvr.rtmp import messages as msg  # noqa: E402
from nvr.rtmp.chunks import ChunkReader, ChunkWriter  # noqa: E402
from nvr.rtmp.handshake import ClientHandshake  # noqa: E402
from tests.peers.nginx_rtmp import NginxRtmp, rtmp_module  # noqa: E402

PUBLISH_KEY = "bench-publish-key"
STREAM = "bench"
ACK_WINDOW = 2_500_000


# ----------------------------------------------------------------------------- players


@dataclass
class Player:
    received: int = 0
    playing: bool = False
    error: str = ""


async def play(host: str, port: int, app: str, stream: str, player: Player) -> None:
    """Handshake, connect, createStream, play; then count bytes until cancelled."""
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
        while not player.playing:
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
            pending = await reader.read(65536)
            if not pending:
                raise ConnectionError("closed before NetStream.Play.Start")
            player.received += len(pending)
        acked = 0
        while data := await reader.read(262144):
            player.received += len(data)
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


class Players:
    """An event loop in a thread running the player tasks."""

    def __init__(self) -> None:
        factory = None
        with contextlib.suppress(ImportError):
            import uvloop
            factory = uvloop.new_event_loop
        self.loop = factory() if factory else asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.players: list[Player] = []
        self.tasks: list[asyncio.Future[None]] = []

    def add(self, n: int, port: int, app: str, stream: str) -> None:
        for _ in range(n):
            p = Player()
            self.players.append(p)
            self.tasks.append(asyncio.run_coroutine_threadsafe(
                play("127.0.0.1", port, app, stream, p), self.loop))

    def counts(self) -> list[int]:
        return [p.received for p in self.players]

    def close(self) -> None:
        for t in self.tasks:
            t.cancel()
        time.sleep(0.5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


# ----------------------------------------------------------------------------- servers


def start_nvr(base: Path, port: int) -> Child:
    base.mkdir(parents=True)
    http = free_port()
    config = base / "nvr.toml"
    config.write_text(f'[server]\ndata_dir = "{base / "data"}"\nhttp = "127.0.0.1:{http}"\n\n'
                      f'[rtmp]\nenabled = true\nlisten = "127.0.0.1:{port}"\n'
                      f'publish_key = "{PUBLISH_KEY}"\nmax_connections = 1000\n')
    env = dict(os.environ, NVR_ADMIN_PASSWORD=benchlib.ADMIN_PASSWORD)
    child = Child("nvr", [sys.executable, "-m", "nvr.cli", "run", "--config", str(config)],
                  env=env)
    if not wait_port(port, child, 30):
        child.check("start-up")
        raise BenchError(f"nvr's RTMP port {port} is not open after 30 s:\n{child.tail()}")
    return child


def start_nginx(base: Path, port: int) -> Child:
    """The config tests/peers/nginx_rtmp.py writes, with room for 200+ connections, run as
    a Child (so it is measured and cleaned up like nvr)."""
    if rtmp_module() is None:
        raise BenchError("nginx's rtmp module is not installed (apt-get install libnginx-mod-rtmp)")
    peer = NginxRtmp(base, port)
    text = peer.conf.read_text()
    if "worker_connections 64;" not in text:
        raise BenchError("tests/peers/nginx_rtmp.py's config changed: no worker_connections 64")
    peer.conf.write_text(text.replace("worker_connections 64;", "worker_connections 1024;"))
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    child = Child("nginx-rtmp", [nginx, "-p", str(base), "-c", str(peer.conf),
                                 "-e", str(base / "logs" / "error.log")])
    if not wait_port(port, child, 10):
        child.check("start-up")
        raise BenchError(f"nginx did not listen on {port}:\n{peer.log()}")
    return child


# ----------------------------------------------------------------------------- run


def encode(path: Path, seconds: int) -> float:
    """Encode the test stream once; its rate in bytes/s."""
    cmd = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
           f"testsrc2=size=1280x720:rate=25:duration={seconds}", "-c:v", "libx264",
           "-preset", "ultrafast", "-tune", "zerolatency", "-b:v", "4M", "-maxrate", "4M",
           "-bufsize", "4M", "-g", "50", "-f", "flv", str(path)]
    subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL, timeout=120)
    return path.stat().st_size / seconds


@dataclass
class Row:
    server: str
    players: int
    cpu: float = 0.0          # % of one core
    rate_min: float = 0.0     # bytes/s of the slowest player
    rate_mean: float = 0.0
    starved: int = 0
    failed: int = 0
    rss_per_player: float = 0.0
    note: str = ""


def run_server(name: str, server: Child, port: int, app: str, play_name: str,
               publish_url: str, flv: Path, rate: float, counts: list[int], seconds: float,
               warmup: float) -> list[Row]:
    publisher = Child(f"ffmpeg -> {name}", ["ffmpeg", "-v", "error", "-re", "-stream_loop", "-1",
                                            "-i", str(flv), "-c", "copy", "-f", "flv",
                                            publish_url])
    players = Players()
    rows: list[Row] = []
    try:
        time.sleep(3)
        publisher.check("publishing")
        base_rss = benchlib.tree_rss([server.ps])
        for n in counts:
            row = Row(name, n)
            rows.append(row)
            players.add(n - len(players.players), port, app, play_name)
            try:
                time.sleep(warmup)
                before = players.counts()
                w = benchlib.measure([server], None, 0, seconds, f"{name}, {n} players")
                after = players.counts()
            except BenchError as e:
                row.note = str(e).splitlines()[0]
                print(f"  {row.note}", flush=True)
                break
            publisher.check("publishing")
            got = [(a - b) / w.seconds for a, b in zip(after, before, strict=True)]
            row.cpu = 100 * w.cpu / w.seconds
            row.rate_min, row.rate_mean = min(got), sum(got) / len(got)
            row.starved = sum(1 for g in got if g < 0.8 * rate)
            row.failed = sum(1 for p in players.players if p.error)
            row.rss_per_player = (w.rss_mean - base_rss) / n
            errors = {p.error for p in players.players if p.error}
            if errors:
                row.note = "; ".join(sorted(errors))[:120]
            print(f"    cpu {row.cpu:.1f}%  slowest {row.rate_min * 8 / 1e6:.2f} Mbit/s  "
                  f"starved {row.starved}  failed {row.failed}", flush=True)
    finally:
        players.close()
        publisher.stop()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--players", default="10,50,200", help="player counts, comma-separated")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=4)
    args = parser.parse_args()
    counts = [int(x) for x in args.players.split(",")]
    benchlib.install_cleanup()
    print(benchlib.load_average(), flush=True)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench_rtmp_") as tmp:
        base = Path(tmp)
        flv = base / "stream.flv"
        rate = encode(flv, 10)
        print(f"stream: {rate * 8 / 1e6:.2f} Mbit/s", flush=True)
        try:
            for name in ("nvr", "nginx-rtmp"):
                port = free_port()
                if name == "nvr":
                    server = start_nvr(base / "nvr", port)
                    publish = f"rtmp://127.0.0.1:{port}/live/{STREAM}?key={PUBLISH_KEY}"
                else:
                    server = start_nginx(base / "nginx", port)
                    publish = f"rtmp://127.0.0.1:{port}/live/{STREAM}"
                print(f"{name}:", flush=True)
                try:
                    rows += run_server(name, server, port, "live", STREAM, publish, flv, rate,
                                       counts, args.seconds, args.warmup)
                finally:
                    server.stop()
        except BenchError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
    print()
    nginx_cpu = {r.players: r.cpu for r in rows if r.server == "nginx-rtmp"}
    print_table(
        ["server", "players", "CPU % core", "CPU/player", "vs nginx", "slowest Mbit/s",
         "mean Mbit/s", "starved", "failed", "RSS/player"],
        [[r.server, r.players, f"{r.cpu:.1f}", f"{r.cpu / r.players:.3f}",
          benchlib.ratio(r.cpu, nginx_cpu.get(r.players)) if r.server == "nvr" else "",
          f"{r.rate_min * 8 / 1e6:.2f}", f"{r.rate_mean * 8 / 1e6:.2f}", r.starved, r.failed,
          f"{r.rss_per_player / 1024:.0f} KiB"] for r in rows])
    for r in rows:
        if r.note:
            print(f"  {r.server} {r.players}: {r.note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
