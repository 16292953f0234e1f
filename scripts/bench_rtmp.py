#!/usr/bin/env python3
"""RTMP fan-out benchmark: nvr's RTMP server against nginx-rtmp, one publisher, many players.

    .venv/bin/python scripts/bench_rtmp.py                      # 10, 50, 200 players
    .venv/bin/python scripts/bench_rtmp.py --players 10,50 --seconds 10

A 1280x720 25 fps H.264 stream (~4 Mbit/s, ultrafast/zerolatency, GOP 50) is
encoded once to an .flv and published in a loop at its own pace by a child process
(``scripts/rtmp_players.py``, like ``ffmpeg -re -stream_loop -1 -c copy``, so no
encoder disturbs the server; it sends with chunk size 4096 as ffmpeg does). Each
server in turn (``nvr run`` with only ``[rtmp]`` and no camera, so on uvloop as
always; Debian's nginx with ``libnginx-mod-rtmp``, one worker, no master) gets the
publisher, then 10, 50 and 200 players. Of those, 4 are latency probes in the
publisher's process and the rest light counting players: asyncio sockets in a
thread of this process that do the RTMP handshake, connect, createStream and play
with nvr's sans-I/O core, then only count bytes (and send an acknowledgement each
window). The probes join spread among the counting players (so they sit early,
middle and late in the server's list of players) and are renewed for each count.

Per player count: the server's CPU over ``--seconds`` (psutil), the bytes each
counting player got per second (starved: < 80% of the file's rate), the server's
RSS growth over its one-publisher baseline per player, and the publisher-to-player
added latency of every video frame the probes received in the window: receive
time minus the time the publisher wrote that frame to its socket, both
``time.monotonic()`` of this machine, the frame recognised by the last 32 bytes
of its tag body (see ``scripts/rtmp_players.py``); p50, p95 and max.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import queue
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
from rtmp_players import Player, play  # noqa: E402

sys.path.insert(0, str(benchlib.ROOT / "tests"))
from peers.nginx_rtmp import NginxRtmp, rtmp_module  # noqa: E402

PUBLISH_KEY = "bench-publish-key"
STREAM = "bench"
PROBES = 4  # of the players at each count, the ones that measure latency


# ----------------------------------------------------------------------------- players


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

    def wait_playing(self, timeout: float) -> None:
        """Until every player got NetStream.Play.Start (or failed)."""
        deadline = time.monotonic() + timeout
        while any(not p.playing and not p.error for p in self.players):
            if time.monotonic() > deadline:
                raise BenchError(f"players not playing after {timeout:.0f} s")
            time.sleep(0.05)

    def close(self) -> None:
        for t in self.tasks:
            t.cancel()
        time.sleep(0.5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class Probe:
    """The child process that publishes and measures latency (scripts/rtmp_players.py):
    ``lat`` lines are kept with their receive time, so a window's samples can be taken."""

    def __init__(self, name: str, port: int, app: str, stream: str, key: str,
                 flv: Path) -> None:
        script = Path(__file__).resolve().parent / "rtmp_players.py"
        self.child = Child(f"publisher+probes -> {name}",
                           [sys.executable, str(script), "127.0.0.1", str(port), app, stream,
                            key, str(flv)], stdin=True)
        self.samples: list[tuple[float, float]] = []  # (received at, latency s)
        self.misses = 0
        self.errors: list[str] = []
        self.probes = 0
        self.wait("published", 15)

    def _line(self, timeout: float) -> str | None:
        try:
            line = self.child.lines.get(timeout=timeout)
        except queue.Empty:
            return None
        if line is None:
            self.child.check("probe")
            raise BenchError("the probe's output ended")
        kind, _, rest = line.partition(" ")
        if kind == "lat":
            _, at, lat = rest.split()
            self.samples.append((float(at), float(lat)))
        elif kind == "miss":
            self.misses += 1
        elif kind == "error":
            self.errors.append(rest)
        return line

    def wait(self, prefix: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            line = self._line(min(left, 0.5))
            if line is not None and line.startswith(prefix):
                return line
            self.child.check("probe")
        raise BenchError(f"probe: no '{prefix}' after {timeout:.0f} s:\n{self.child.tail()}")

    def drain(self) -> None:
        while self._line(0) is not None:
            pass

    def add(self) -> None:
        self.child.send("probe")
        self.wait(f"playing {self.probes}", 30)
        self.probes += 1

    def clear(self) -> None:
        self.child.send("clear")
        self.wait("cleared", 10)
        self.drain()
        self.samples.clear()
        self.errors.clear()
        self.misses = 0

    def latencies(self, t0: float, t1: float) -> list[float]:
        self.drain()
        return sorted(lat for at, lat in self.samples if t0 <= at <= t1)


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
    rate_min: float = 0.0     # bytes/s of the slowest counting player
    rate_mean: float = 0.0
    starved: int = 0
    failed: int = 0
    rss_per_player: float = 0.0
    latency: tuple[float, float, float] | None = None  # p50, p95, max in s
    samples: int = 0
    misses: int = 0
    load: float = 0.0         # the machine's 1-minute load average at the window's end
    note: str = ""


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted ``values``."""
    return values[min(len(values) - 1, max(0, round(q * len(values)) - 1))]


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def run_server(name: str, server: Child, port: int, app: str, play_name: str,
               publish_key: str, flv: Path, rate: float, counts: list[int], seconds: float,
               warmup: float) -> list[Row]:
    """Each player count in turn: the counting players, with the probes spread among
    them (so in both servers' player lists they sit early, middle and late), a warm-up,
    then the window in which CPU, bytes and latency are taken."""
    probe = Probe(name, port, app, play_name, publish_key, flv)
    players = Players()
    rows: list[Row] = []
    try:
        time.sleep(3)
        base_rss = benchlib.tree_rss([server.ps])
        for n in counts:
            row = Row(name, n)
            rows.append(row)
            probe.clear()
            probes = min(PROBES, n)
            for chunk in split(max(0, n - probes - len(players.players)), probes):
                players.add(chunk, port, app, play_name)
                players.wait_playing(30)
                probe.add()
            try:
                time.sleep(warmup)
                before = players.counts()
                t0 = time.monotonic()
                w = benchlib.measure([server], probe.child, 0, seconds, f"{name}, {n} players")
                t1 = time.monotonic()
                after = players.counts()
            except BenchError as e:
                row.note = str(e).splitlines()[0]
                print(f"  {row.note}", flush=True)
                break
            lat = probe.latencies(t0, t1)
            row.load = os.getloadavg()[0]
            got = [(a - b) / w.seconds for a, b in zip(after, before, strict=True)]
            row.cpu = 100 * w.cpu / w.seconds
            if got:
                row.rate_min, row.rate_mean = min(got), sum(got) / len(got)
            row.starved = sum(1 for g in got if g < 0.8 * rate)
            row.failed = sum(1 for p in players.players if p.error) + len(probe.errors)
            row.rss_per_player = (w.rss_mean - base_rss) / n
            row.samples, row.misses = len(lat), probe.misses
            if lat:
                row.latency = (percentile(lat, 0.5), percentile(lat, 0.95), lat[-1])
            errors = {p.error for p in players.players if p.error} | set(probe.errors)
            if errors:
                row.note = "; ".join(sorted(errors))[:120]
            print(f"    cpu {row.cpu:.1f}%  slowest {row.rate_min * 8 / 1e6:.2f} Mbit/s  "
                  f"starved {row.starved}  failed {row.failed}  latency {_lat(row)}  "
                  f"load {row.load:.1f}",
                  flush=True)
    finally:
        players.close()
        probe.child.stop()
    return rows


def _lat(row: Row) -> str:
    if row.latency is None:
        return "-"
    return "/".join(f"{x * 1000:.1f}" for x in row.latency) + " ms"


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
                    publish = f"{STREAM}?key={PUBLISH_KEY}"
                else:
                    server = start_nginx(base / "nginx", port)
                    publish = STREAM
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
         "mean Mbit/s", "starved", "failed", "RSS/player", "latency p50/p95/max",
         "frames", "load"],
        [[r.server, r.players, f"{r.cpu:.1f}", f"{r.cpu / r.players:.3f}",
          benchlib.ratio(r.cpu, nginx_cpu.get(r.players)) if r.server == "nvr" else "",
          f"{r.rate_min * 8 / 1e6:.2f}", f"{r.rate_mean * 8 / 1e6:.2f}", r.starved, r.failed,
          f"{r.rss_per_player / 1024:.0f} KiB", _lat(r), r.samples, f"{r.load:.1f}"]
         for r in rows])
    for r in rows:
        if r.misses:
            print(f"  {r.server} {r.players}: {r.misses} frames not matched to a send time")
        if r.note:
            print(f"  {r.server} {r.players}: {r.note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
