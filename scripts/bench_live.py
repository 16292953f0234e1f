#!/usr/bin/env python3
"""Live view benchmark: what a browser's live viewer costs nvr, and how late it gets
each frame.

    .venv/bin/python scripts/bench_live.py                  # 4 cameras, 20 viewers
    .venv/bin/python scripts/bench_live.py --cameras 16 --viewers 20 --seconds 30

Two parts, each against simulated cameras (``nvr sim``, 1280x720, 25 fps, ~4 Mbit/s
H.264, in their own process):

1. **CPU per viewer.** ``nvr run`` (its own process) records ``--cameras`` cameras.
   Its CPU is measured for ``--seconds`` with no viewer (the anchor: what recording
   costs), then with ``--viewers`` WebSocket clients on ``/api/cameras/camN/live``
   (spread over the cameras; a child process reads and discards the messages, as
   a browser would hand them to MediaSource). CPU per viewer = the difference /
   viewers, in % of one core; and beside it the cost of recording one camera.
2. **Frame latency in nvr.** The same setup with nvr in this process, instrumented:
   the time from a frame's publication on its Feed (the moment the RTSP client
   hands it over) to the end of ``WebSocket.send_bytes`` of its fragment, for every
   frame to every viewer; median, p95 and max.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import queue
import signal
import statistics
import sys
import tempfile
import time
from collections import OrderedDict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402
from benchlib import (  # noqa: E402
    ADMIN_PASSWORD,
    BenchError,
    Child,
    install_cleanup,
    load_average,
    measure,
    print_table,
    start_nvr,
    start_sim,
)

# Prints "<monotonic time> <binary messages so far>" every second: how many fragments
# the viewers got is part of the figure (a viewer that falls behind skips frames, and
# costs nvr less).
VIEWER_SCRIPT = """
import asyncio, base64, sys, time, websockets
port, cams, count, password = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
auth = "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()
got = 0
async def viewer(i):
    global got
    url = f"ws://127.0.0.1:{port}/api/cameras/cam{i % cams + 1}/live"
    async with websockets.connect(url, additional_headers={"Authorization": auth},
                                  max_size=None) as ws:
        async for message in ws:
            got += isinstance(message, bytes)
async def report():
    while True:
        print(time.monotonic(), got, flush=True)
        await asyncio.sleep(1)
async def main():
    asyncio.create_task(report())
    first = asyncio.create_task(viewer(0))  # its Basic check is then cached for the rest
    await asyncio.sleep(2)
    await asyncio.gather(first, *(viewer(i) for i in range(1, count)))
asyncio.run(main())
"""


def start_viewers(http: str, cameras: int, count: int) -> Child:
    port = http.rsplit(":", 1)[1]
    return Child(f"{count} viewers", [sys.executable, "-c", VIEWER_SCRIPT, port, str(cameras),
                                      str(count), ADMIN_PASSWORD])


def received_rate(viewers: Child, since: float) -> float:
    """Binary messages per second the viewers got from ``since`` (monotonic) to now."""
    points: list[tuple[float, int]] = []
    while True:
        try:
            line = viewers.lines.get_nowait()
        except queue.Empty:
            break
        if line is not None:
            t, count = line.split()
            points.append((float(t), int(count)))
    window = [p for p in points if p[0] >= since]
    if len(window) < 2:
        return 0.0
    (t0, c0), (t1, c1) = window[0], window[-1]
    return (c1 - c0) / (t1 - t0)


def cpu_part(args: argparse.Namespace, urls: list[str], sim: Child, base: Path) -> None:
    print(f"\n1. CPU per live viewer ({args.cameras} cameras recording, {args.viewers} viewers)")
    nvr, http = start_nvr(urls, base / "cpu", segment_seconds=60)
    try:
        idle = measure([nvr], sim, args.warmup, args.seconds, "recording, no viewer")
        viewers = start_viewers(http, args.cameras, args.viewers)
        try:
            watched = measure([nvr], sim, args.warmup, args.seconds,
                              f"recording + {args.viewers} viewers")
            rate = received_rate(viewers, time.monotonic() - watched.seconds)
        finally:
            viewers.stop()
    finally:
        nvr.stop()
    idle_pct = 100 * idle.cpu / idle.seconds
    watched_pct = 100 * watched.cpu / watched.seconds
    per_viewer = (watched_pct - idle_pct) / args.viewers
    per_camera = idle_pct / args.cameras
    print_table(["", "nvr CPU (% of a core)", "per unit"], [
        ["recording only (anchor)", f"{idle_pct:.1f}", f"{per_camera:.2f} per camera"],
        [f"+ {args.viewers} live viewers", f"{watched_pct:.1f}",
         f"{per_viewer:.3f} per viewer"],
    ])
    print(f"  the viewers got {rate / args.viewers:.1f} fragments/s each "
          f"(the camera sends 25 frames/s)")
    verdict = "meets" if per_viewer < 0.3 else "MISSES"
    print(f"  one live viewer costs {per_viewer:.3f} % of a core ({verdict} the < 0.3 % "
          f"target), {per_viewer / per_camera:.2f}x the cost of recording one camera")


async def latency_part(args: argparse.Namespace, urls: list[str], base: Path) -> None:
    print(f"\n2. Frame latency: published on the Feed -> sent on the WebSocket "
          f"({args.cameras} cameras recording, {args.viewers} viewers, nvr in this process)")
    from starlette.websockets import WebSocket

    from nvr.config import load_config
    from nvr.feed import Feed
    from nvr.fmp4.live import LiveMuxer
    from nvr.runtime import Nvr

    published: OrderedDict[int, float] = OrderedDict()
    # a fragment goes to every viewer of its camera: kept (bounded) with its frame's time
    fragments: OrderedDict[int, tuple[bytes, float]] = OrderedDict()
    latencies: list[float] = []
    publish, push, send = Feed.publish, LiveMuxer.push, WebSocket.send_bytes

    def timed_publish(self: Feed, au: object) -> None:
        published[id(au)] = time.perf_counter()
        if len(published) > 50_000:
            published.popitem(last=False)
        publish(self, au)  # type: ignore[arg-type]

    def timed_push(self: LiveMuxer, au: object) -> bytes | None:
        fragment = push(self, au)  # type: ignore[arg-type]
        if fragment is not None and id(au) in published:
            fragments[id(fragment)] = (fragment, published[id(au)])
            if len(fragments) > 5_000:
                fragments.popitem(last=False)
        return fragment

    async def timed_send(self: WebSocket, data: bytes) -> None:
        entry = fragments.get(id(data))
        await send(self, data)
        if entry is not None and entry[0] is data:
            latencies.append(time.perf_counter() - entry[1])

    Feed.publish = timed_publish  # type: ignore[method-assign]
    LiveMuxer.push = timed_push  # type: ignore[method-assign]
    WebSocket.send_bytes = timed_send  # type: ignore[method-assign,assignment]
    data = base / "latency"
    data.mkdir()
    http = f"127.0.0.1:{benchlib.free_port()}"
    config = data / "nvr.toml"
    config.write_text(benchlib.nvr_config(urls, data / "data", http, 60))
    os.environ["NVR_ADMIN_PASSWORD"] = ADMIN_PASSWORD
    nvr = Nvr(load_config(config))
    stop = asyncio.Event()
    task = asyncio.create_task(nvr.run(stop))
    viewers: Child | None = None
    try:
        await asyncio.sleep(args.warmup)
        viewers = start_viewers(http, args.cameras, args.viewers)
        await asyncio.sleep(args.warmup)
        latencies.clear()
        print(f"  measuring {args.seconds:.0f} s ...", flush=True)
        await asyncio.sleep(args.seconds)
        sample = sorted(latencies)
    finally:
        if viewers is not None:
            await asyncio.to_thread(viewers.stop, signal.SIGTERM, 5.0)  # the loop runs on
        stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), 30)
        except TimeoutError:
            for t in asyncio.all_tasks():
                print("  still running:", t.get_name(), t.get_coro(), file=sys.stderr)
            raise
    if not sample:
        raise BenchError("no fragment was sent to any viewer")
    p95 = sample[int(0.95 * (len(sample) - 1))]
    print_table(["fragments sent", "median ms", "p95 ms", "max ms"], [[
        len(sample), f"{1000 * statistics.median(sample):.2f}", f"{1000 * p95:.2f}",
        f"{1000 * sample[-1]:.2f}"]])
    verdict = "meets" if p95 < 0.020 else "MISSES"
    print(f"  p95 {1000 * p95:.1f} ms ({verdict} the < 20 ms target)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--viewers", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--bitrate", type=int, default=4000, help="kbit/s per camera")
    parser.add_argument("--only", choices=["cpu", "latency"])
    args = parser.parse_args()
    install_cleanup()
    print(f"bench_live: {args.cameras} cameras 1280x720 25 fps {args.bitrate} kbit/s, "
          f"{args.viewers} viewers; {load_average()}")
    sim, urls = start_sim(args.cameras, 1280, 720, 25, args.bitrate)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp:
            if args.only != "latency":
                cpu_part(args, urls, sim, Path(tmp))
            if args.only != "cpu":
                with asyncio.Runner(loop_factory=benchlib.loop_factory(True)) as runner:
                    runner.run(latency_part(args, urls, Path(tmp)))
    except BenchError as exc:
        print(f"bench_live: {exc}", file=sys.stderr)
        return 1
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
