#!/usr/bin/env python3
"""Fan-out benchmark: nvr's Feed against a plain asyncio.Queue per subscriber.

    .venv/bin/python scripts/bench_feed.py                       # S = 1, 10, 50, paced
    .venv/bin/python scripts/bench_feed.py --pace both --repeat 3 --both-loops

16 feeds carry 720p-like H.264 access units at 25 fps (a ~100 kB keyframe every
50 frames, 15-20 kB P-frames, ~3.9 Mbit/s; every payload a fresh bytes object, as
the depacketizer makes them), each with S subscriber tasks:

- viewer: ``Feed.subscribe()`` and ``await sub.get()`` per frame (a live viewer);
- recorder: ``subscribe(wake_on="keyframe")``, ``await sub.wait(1.0)``, ``drain()``
  (as nvr's recorder does).

The anchor, in the same run: the same producers and consumers on one
``asyncio.Queue`` per subscriber (``put_nowait`` / ``await get()``, the recorder
draining with ``get_nowait``), without a GOP cache. Every case runs in a fresh
child process (clean heap, so RSS growth means something) for ``--seconds`` of
stream time, paced in real time (``--pace real``) and/or as fast as the loop goes
(``--pace fast``). CPU is the child's process time from the first publish to the
last delivery. Per case: µs of CPU per delivered frame (total, and marginal: minus
the same run with no subscriber), % of one core per subscriber of one 25 fps feed
(marginal), Feed/Queue ratio of the marginal cost, the GOP caches' bytes
(``sum(feed.gop_bytes)``, mean and max) and the growth of RSS over the run. At S=1
the subscribers' cost is below the run-to-run noise of the producers' (16 paced
feeds); read the marginal figures at S=10 and 50.

``--uvloop`` runs every case on uvloop; ``--both-loops`` runs every case on both
loops, interleaved, and adds a uvloop/asyncio table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass
from typing import Any

import psutil
from benchlib import load_average, loop_factory, mib, print_table

from nvr.feed import VIDEO_CLOCK, AccessUnit, CodecParams, Feed, Subscription

FEEDS = 16
FPS = 25
GOP = 50
KEY_BYTES = 100_000
P_BYTES = (15_000, 20_000)
MAXSIZE = {"viewer": 512, "recorder": 2048}  # nvr's defaults (recorder: recording/recorder.py)
SPS = bytes.fromhex("6764001facd9405005bb011000000300100000030320f1831960")
PPS = bytes.fromhex("68ebecb22c")


@dataclass(frozen=True)
class Case:
    impl: str  # "feed" | "queue"
    consumer: str  # "viewer" | "recorder"
    subscribers: int  # per feed
    pace: str  # "real" | "fast"
    uvloop: bool
    seconds: float


@dataclass
class Outcome:
    cpu: float  # process seconds, first publish to last delivery
    wall: float
    published: int
    deliveries: int
    dropped: int
    late: int  # paced: frames published more than a frame interval after their time
    gop_mean: float  # sum over the feeds of gop_bytes, sampled every frame time
    gop_max: int
    rss_growth: int  # max RSS during the run minus RSS before the first publish
    sys_cpu: float = 0.0  # of cpu: in the kernel (page faults, epoll, timers)
    minor_faults: int = 0


# ----------------------------------------------------------------------------- one case


class Source:
    """Access units for one feed: fresh payloads cut from a random pool."""

    def __init__(self, seed: int) -> None:
        rnd = random.Random(seed)
        self.pool = rnd.randbytes(KEY_BYTES + P_BYTES[1] + 4096)
        self.sizes = [KEY_BYTES if i == 0 else rnd.randint(*P_BYTES) for i in range(GOP)]
        self.offsets = [rnd.randrange(4096) for _ in range(GOP)]
        self.params = CodecParams("video", "h264", VIDEO_CLOCK, sps=SPS, pps=PPS,
                                  width=1280, height=720)

    def au(self, i: int) -> AccessUnit:
        k = i % GOP
        off = self.offsets[k]
        pts = i * (VIDEO_CLOCK // FPS)
        return AccessUnit(self.params, pts, pts, k == 0, time.time(),
                          self.pool[off : off + self.sizes[k]], VIDEO_CLOCK // FPS)


async def feed_viewer(sub: Subscription) -> int:
    n = 0
    while await sub.get() is not None:
        n += 1
    return n


async def feed_recorder(sub: Subscription) -> int:
    n = 0
    while True:
        await sub.wait(1.0)
        batch = sub.drain()
        n += len(batch)
        if not batch and sub.closed:
            return n


async def queue_viewer(q: asyncio.Queue[AccessUnit | None]) -> int:
    n = 0
    while await q.get() is not None:
        n += 1
    return n


async def queue_recorder(q: asyncio.Queue[AccessUnit | None]) -> int:
    n = 0
    while True:
        batch = [await q.get()]
        while not q.empty():
            batch.append(q.get_nowait())
        n += sum(1 for au in batch if au is not None)
        if batch[-1] is None:
            return n


class QueueFanout:
    """The anchor: one asyncio.Queue per subscriber, full queues drop."""

    def __init__(self, subscribers: int, maxsize: int) -> None:
        self.queues: list[asyncio.Queue[AccessUnit | None]] = [
            asyncio.Queue(maxsize) for _ in range(subscribers)]
        self.dropped = 0

    def publish(self, au: AccessUnit) -> None:
        for q in self.queues:
            try:
                q.put_nowait(au)
            except asyncio.QueueFull:
                self.dropped += 1

    def close(self) -> None:
        for q in self.queues:
            if q.full():
                q.get_nowait()
                self.dropped += 1
            q.put_nowait(None)


async def run_case(case: Case) -> Outcome:
    me = psutil.Process()
    sources = [Source(k) for k in range(FEEDS)]
    maxsize = MAXSIZE[case.consumer]
    consumers: list[Coroutine[Any, Any, int]] = []
    publishers: list[Callable[[AccessUnit], None]] = []
    closers: list[Callable[[], None]] = []
    feeds: list[Feed] = []
    anchors: list[QueueFanout] = []
    for k in range(FEEDS):
        if case.impl == "feed":
            feed = Feed(f"cam{k}")
            feeds.append(feed)
            wake_on = "frame" if case.consumer == "viewer" else "keyframe"
            consume = feed_viewer if case.consumer == "viewer" else feed_recorder
            consumers += [consume(feed.subscribe(maxsize, wake_on))
                          for _ in range(case.subscribers)]
            publishers.append(feed.publish)
            closers.append(feed.close)
        else:
            fan = QueueFanout(case.subscribers, maxsize)
            anchors.append(fan)
            qconsume = queue_viewer if case.consumer == "viewer" else queue_recorder
            consumers += [qconsume(q) for q in fan.queues]
            publishers.append(fan.publish)
            closers.append(fan.close)
    tasks = [asyncio.create_task(c) for c in consumers]
    await asyncio.sleep(0)  # every consumer reaches its first await
    frames = round(case.seconds * FPS)
    gop: list[int] = []
    rss_base = rss_max = me.memory_info().rss

    def sample(i: int) -> None:
        nonlocal rss_max
        gop.append(sum(f.gop_bytes for f in feeds))
        if i % 5 == 0:
            rss_max = max(rss_max, me.memory_info().rss)

    loop = asyncio.get_running_loop()
    late = 0
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if case.pace == "fast":
        for i in range(frames):
            for k in range(FEEDS):
                publishers[k](sources[k].au(i))
            sample(i)
            await asyncio.sleep(0)
    else:
        t0 = loop.time() + 0.05

        async def produce(k: int) -> None:
            nonlocal late
            phase = k / FEEDS / FPS  # the cameras' frames do not arrive together
            for i in range(frames):
                due = t0 + phase + i / FPS
                delay = due - loop.time()
                await asyncio.sleep(max(0.0, delay))
                if delay < -1 / FPS:
                    late += 1
                publishers[k](sources[k].au(i))
                if k == 0:
                    sample(i)

        await asyncio.gather(*(produce(k) for k in range(FEEDS)))
    for close in closers:
        close()
    counts = await asyncio.gather(*tasks)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    ru = resource.getrusage(resource.RUSAGE_SELF)
    rss_max = max(rss_max, me.memory_info().rss)
    dropped = sum(f.stats.dropped for f in feeds) + sum(a.dropped for a in anchors)
    return Outcome(cpu, wall, frames * FEEDS, sum(counts), dropped, late,
                   statistics.fmean(gop) if gop else 0.0, max(gop, default=0),
                   rss_max - rss_base, ru.ru_stime - ru0.ru_stime, ru.ru_minflt - ru0.ru_minflt)


def child_main(spec: str) -> int:
    case = Case(**json.loads(spec))
    with asyncio.Runner(loop_factory=loop_factory(case.uvloop)) as runner:
        out = runner.run(run_case(case))
    print(json.dumps(asdict(out)))
    return 0


def run_in_child(case: Case) -> Outcome:
    cmd = [sys.executable, os.path.abspath(__file__), "--case", json.dumps(asdict(case))]
    r = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                       timeout=case.seconds * 20 + 60)
    if r.returncode != 0:
        raise SystemExit(f"error: case {case} failed:\n{r.stderr[-2000:]}")
    return Outcome(**json.loads(r.stdout.strip().splitlines()[-1]))


# ----------------------------------------------------------------------------- report


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def _range(values: list[float], fmt: str = ".2f") -> str:
    return f"{min(values):{fmt}}-{max(values):{fmt}}" if len(values) > 1 else "-"


Runs = dict[Case, list[Outcome]]


def _case(args: argparse.Namespace, pace: str, uvloop: bool, impl: str, consumer: str,
          s: int) -> Case:
    return Case(impl, "viewer" if s == 0 else consumer, s, pace, uvloop, args.seconds)


def _marginal(args: argparse.Namespace, runs: Runs, c: Case) -> list[float]:
    """µs of CPU per delivery beyond the same run without subscribers (its median)."""
    zero = _median([o.cpu for o in runs[_case(args, c.pace, c.uvloop, c.impl, "viewer", 0)]])
    return [(o.cpu - zero) / o.deliveries * 1e6 for o in runs[c] if o.deliveries]


def _rows(args: argparse.Namespace) -> list[tuple[str, int]]:
    return [("(none)", 0), *((c, s) for c in args.consumers for s in args.subscribers)]


def report(args: argparse.Namespace, pace: str, uvloop: bool, runs: Runs) -> None:
    how = "paced in real time" if pace == "real" else "as fast as possible"
    print()
    print(f"{FEEDS} feeds x {FPS} fps, keyframe {KEY_BYTES // 1000} kB every {GOP} frames, "
          f"P {P_BYTES[0] // 1000}-{P_BYTES[1] // 1000} kB; {args.seconds:g} s of stream time "
          f"{how}; {'uvloop' if uvloop else 'asyncio'} loop; {args.repeat} run(s) per case, "
          f"medians; {load_average()}")
    header = ["consumer", "S", "impl", "delivered", "dropped",
              "CPU %" if pace == "real" else "x real time", "CPU s (range)", "us/frame",
              "marginal us/frame (range)", "% core/sub", "feed/queue", "GOP cache mean/max",
              "RSS growth"]
    rows: list[list[str]] = []
    noisy = False
    for consumer, s in _rows(args):
        ratio_col = ""
        for impl in ("feed", "queue"):
            c = _case(args, pace, uvloop, impl, consumer, s)
            outs = runs[c]
            cpus = [o.cpu for o in outs]
            load = (100 * _median([o.cpu / o.wall for o in outs]) if pace == "real"
                    else _median([args.seconds / o.wall for o in outs]))
            per_frame = marginal = core = "-"
            if s:
                m = _marginal(args, runs, c)
                mm = _median(m)
                noisy = noisy or min(m) < 0.5 * mm or max(m) > 1.5 * mm
                per_frame = f"{_median([o.cpu / o.deliveries * 1e6 for o in outs]):.2f}"
                marginal = f"{mm:.2f} ({_range(m)})"
                core = f"{mm * FPS / 1e4:.3f}"
                if impl == "feed":
                    q = _median(_marginal(args, runs, _case(args, pace, uvloop, "queue",
                                                            consumer, s)))
                    ratio_col = f"{mm / q:.2f}x" if q > 0 and mm > 0 else "-"
            rows.append([
                consumer, str(s), impl, str(int(_median([float(o.deliveries) for o in outs]))),
                str(sum(o.dropped for o in outs)), f"{load:.1f}",
                f"{_median(cpus):.3f} ({_range(cpus, '.3f')})", per_frame, marginal, core,
                ratio_col if impl == "feed" else "",
                f"{mib(_median([o.gop_mean for o in outs]))}/{mib(max(o.gop_max for o in outs))}",
                mib(_median([float(o.rss_growth) for o in outs])),
            ])
    print_table(header, rows)
    if noisy:
        print("note: where the marginal range is wide (S=1 above all) the subscribers' cost is "
              "within the run-to-run noise of the producers' cost; trust the larger S")
    late = sum(o.late for c, outs in runs.items() if c.uvloop == uvloop for o in outs)
    if late and pace == "real":
        print(f"note: {late} frames were published more than a frame interval late "
              "(the machine did not keep up)")


def report_loops(args: argparse.Namespace, pace: str, runs: Runs) -> None:
    """uvloop against asyncio, case by case (same invocation, interleaved runs)."""
    print()
    print(f"uvloop/asyncio, {'paced' if pace == 'real' else 'as fast as possible'}; "
          f"{load_average()}")
    header = ["consumer", "S", "impl", "CPU s asyncio (range)", "CPU s uvloop (range)",
              "uvloop/asyncio", "marginal us asyncio", "marginal us uvloop", "uvloop/asyncio"]
    rows: list[list[str]] = []
    for consumer, s in _rows(args):
        for impl in ("feed", "queue"):
            a = _case(args, pace, False, impl, consumer, s)
            b = _case(args, pace, True, impl, consumer, s)
            ca, cb = [o.cpu for o in runs[a]], [o.cpu for o in runs[b]]
            row = [consumer, str(s), impl, f"{_median(ca):.3f} ({_range(ca, '.3f')})",
                   f"{_median(cb):.3f} ({_range(cb, '.3f')})",
                   f"{_median(cb) / _median(ca):.2f}x", "-", "-", "-"]
            if s:
                ma, mb = _median(_marginal(args, runs, a)), _median(_marginal(args, runs, b))
                row[6:] = [f"{ma:.2f}", f"{mb:.2f}", f"{mb / ma:.2f}x" if ma > 0 else "-"]
            rows.append(row)
    print_table(header, rows)


# ----------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=10, help="stream time per case")
    p.add_argument("--subscribers", type=int, nargs="+", default=[1, 10, 50],
                   help="subscribers per feed")
    p.add_argument("--consumers", nargs="+", choices=["viewer", "recorder"],
                   default=["viewer", "recorder"])
    p.add_argument("--pace", choices=["real", "fast", "both"], default="real")
    p.add_argument("--repeat", type=int, default=1, help="runs per case (interleaved)")
    p.add_argument("--uvloop", action="store_true", help="run the event loop on uvloop")
    p.add_argument("--both-loops", action="store_true",
                   help="run every case on asyncio's loop and on uvloop, and compare")
    p.add_argument("--json", help="also write every run's figures to this file")
    p.add_argument("--case", help=argparse.SUPPRESS)  # internal: run one case, print JSON
    args = p.parse_args(argv)
    if any(s < 1 for s in args.subscribers):
        p.error("--subscribers: at least 1 (S=0 is always run as the producers' cost)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.case:
        return child_main(args.case)
    loops = [False, True] if args.both_loops else [args.uvloop]
    loop_factory(any(loops))  # fails early if uvloop is missing
    paces = ["real", "fast"] if args.pace == "both" else [args.pace]
    print(f"bench_feed: {load_average()} at start", flush=True)
    everything: list[dict[str, Any]] = []
    for pace in paces:
        cases = [_case(args, pace, uv, impl, consumer, s) for consumer, s in _rows(args)
                 for impl in ("feed", "queue") for uv in loops]
        runs: Runs = {c: [] for c in cases}
        for r in range(args.repeat):
            for c in cases if r % 2 == 0 else cases[::-1]:  # drift hits both sides alike
                print(f"  {pace} run {r + 1}/{args.repeat}: {c.impl} {c.consumer} "
                      f"S={c.subscribers}{' uvloop' if c.uvloop else ''} ...", end="",
                      flush=True)
                out = run_in_child(c)
                runs[c].append(out)
                everything.append({"case": asdict(c), **asdict(out)})
                print(f" {out.cpu:.3f} s CPU, {out.deliveries} delivered", flush=True)
        for uv in loops:
            report(args, pace, uv, runs)
        if args.both_loops:
            report_loops(args, pace, runs)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(everything, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
