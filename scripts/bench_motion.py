#!/usr/bin/env python3
"""Motion benchmarks, one section each (``--only NAME`` runs one):

    .venv/bin/python scripts/bench_motion.py                 # both sections, ~3 minutes
    .venv/bin/python scripts/bench_motion.py --only cpu --seconds 60

``cpu``: the CPU one camera's motion detection costs. ``nvr sim --scene moving``
serves 640x360 15 fps H.264 (a keyframe every 2 s) in a child process. In this
process (uvloop): nvr's RTSP client → Feed → the runtime's
``nvr.motionwatch.MotionWatch`` (batches to its worker thread: FrameSampler —
every frame decoded, 5 a second to 320x180 grayscale — MotionDetector,
EventTracker, SecondGrids, the JPEG snapshot of each event's strongest frame,
written to a temp dir; a stand-in for the EventHub, no database). CPU = this
process's CPU seconds (every thread) over the window. The anchor, in the same
run and at the same time: ``ffmpeg -rtsp_transport tcp -i URL -an -f null -``
receiving and decoding the same stream (the floor: decoding is unavoidable),
its CPU read from /proc. Windows alternate: the client and Feed alone
(receiving), then with motion detection; ``--repeat`` pairs. Target: with
motion ≤ 1.3x ffmpeg.

``accuracy``: precision and recall of event start and end on the scripted scenes
(nvr.sim.scenes) at 640x360 15 fps, analysed at 5 fps: each scene's encoding
played ``--loops`` times through the same ``Analyser`` faster than real time, on
made-up wall clocks (frame i at T0 + i/15), default settings but
``post_seconds`` 2 (so one loop's events stay apart from the next's). A start
counts when it is within 1 s of a scripted start (the object appears), an end
within 1 s of a scripted end (the object's last frame in view); ``masked``
runs with its region masked, ``zone`` with a zone on its region and one
elsewhere (an event naming the wrong zones is counted apart). Every event of
``static``, ``ramp`` and ``masked`` is a false one. Target: 100 % / 100 %.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from benchlib import (
    BenchError,
    Child,
    free_port,
    install_cleanup,
    load_average,
    loop_factory,
    print_table,
    read_urls,
)

from nvr.feed import AccessUnit, Feed
from nvr.motion.detector import (
    MotionEvent,
    MotionSettings,
    Zone,
)
from nvr.motionwatch import BATCH, Analyser, MotionWatch, Outcome
from nvr.rtsp.camera import CameraClient
from nvr.sim.media import encode_clip
from nvr.sim.scenes import SCENES, Box, access_units
from nvr.sim.server import SimCamera

WIDTH, HEIGHT, FPS, BITRATE = 640, 360, 15, 1000
T0 = 1_700_000_000.0
TOLERANCE = 1.0
STREET = Box(0.0, 0.0, 0.4, 0.3)  # a second zone, away from the zone scene's region


# ----------------------------------------------------------------------------- cpu


def start_scene_sim(scene: str) -> tuple[Child, str]:
    cmd = [sys.executable, "-m", "nvr.cli", "sim", "--cameras", "1", "--port", str(free_port()),
           "--width", str(WIDTH), "--height", str(HEIGHT), "--fps", str(FPS),
           "--bitrate", str(BITRATE), "--scene", scene, "--no-udp"]
    child = Child("nvr sim", cmd)
    return child, read_urls(child, 1, 120, "rtsp://")[0]


def ffmpeg_decoder(url: str) -> Child:
    return Child("ffmpeg", ["ffmpeg", "-nostdin", "-v", "error", "-rtsp_transport", "tcp",
                            "-i", url, "-an", "-f", "null", "-"])


def cpu_seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system


class CountingHub:
    """Stands in for the runtime's EventHub (no database): counts the events."""

    def __init__(self) -> None:
        self.opened = 0
        self.closed = 0

    async def open(self, *_args: object, **_kw: object) -> int:
        self.opened += 1
        return self.opened

    async def update(self, *_args: object, **_kw: object) -> None:
        pass

    async def set_snapshot(self, *_args: object, **_kw: object) -> None:
        pass

    async def close(self, *_args: object, **_kw: object) -> None:
        self.closed += 1


@dataclass
class CpuWindow:
    label: str
    seconds: float
    ours: float  # CPU seconds of this process
    ffmpeg: float
    frames: int
    events: int  # started in the window (the scene moves twice in every 30 s)


async def cpu_window(url: str, ffmpeg: Child, sim: Child, label: str, analyse: bool,
                     warmup: float, seconds: float, data_dir: Path) -> CpuWindow:
    feed = Feed("bench")
    client = CameraClient("bench", url, feed)
    hub = CountingHub()
    watch = MotionWatch("bench", feed, MotionSettings(), hub,  # type: ignore[arg-type]
                        data_dir) if analyse else None
    tasks = [asyncio.create_task(client.run())]
    if watch is not None:
        tasks.append(asyncio.create_task(watch.run()))
    me = psutil.Process()
    try:
        await asyncio.sleep(warmup)
        ffmpeg.check(label)
        sim.check(label)
        if client.state.status != "online":
            raise BenchError(f"{label}: the camera is {client.state.status} "
                             f"({client.state.last_error})")
        ours0, theirs0, wall0 = cpu_seconds(me), cpu_seconds(ffmpeg.ps), time.monotonic()
        frames0 = feed.stats.frames
        opened0 = hub.opened
        print(f"  {label}: measuring {seconds:.0f} s ...", flush=True)
        await asyncio.sleep(seconds)
        ours, theirs = cpu_seconds(me) - ours0, cpu_seconds(ffmpeg.ps) - theirs0
        wall = time.monotonic() - wall0
        frames = feed.stats.frames - frames0
        events = hub.opened - opened0
    finally:
        tasks[0].cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await tasks[0]
        feed.close()  # the motion watch ends with its feed
        await asyncio.gather(*tasks[1:])
    return CpuWindow(label, wall, ours, theirs, frames, events)


def bench_cpu(args: argparse.Namespace) -> None:
    print(f"== cpu: one camera, {WIDTH}x{HEIGHT} {FPS} fps H.264 ~{BITRATE} kbit/s "
          f"(nvr sim --scene moving), analysed at 5 fps; {load_average()}")
    sim, url = start_scene_sim("moving")
    ffmpeg = ffmpeg_decoder(url)
    windows: list[CpuWindow] = []
    try:
        with (asyncio.Runner(loop_factory=loop_factory(True)) as runner,
              tempfile.TemporaryDirectory() as tmp):
            for _ in range(args.repeat):  # alternated, so a change of load hits both
                for label, analyse in (("client + Feed only", False),
                                       ("client + Feed + motion", True)):
                    windows.append(runner.run(cpu_window(
                        url, ffmpeg, sim, label, analyse, args.warmup, args.seconds,
                        Path(tmp))))
        sim_cpu = cpu_seconds(sim.ps)
    finally:
        ffmpeg.stop()
        sim.stop()
    rows = []
    for w in windows:
        rows.append([w.label, f"{w.seconds:.1f}", f"{w.frames / w.seconds:.1f}", w.events,
                     f"{100 * w.ours / w.seconds:.1f}", f"{100 * w.ffmpeg / w.seconds:.1f}",
                     f"{w.ours / w.ffmpeg:.2f}x"])
    print_table(["nvr", "window s", "frames/s", "events", "nvr CPU %", "ffmpeg CPU %",
                 "nvr/ffmpeg"], rows)

    def total(analyse: bool) -> tuple[float, float, float]:
        chosen = [w for w in windows if (w.label.endswith("motion")) == analyse]
        return (sum(w.ours for w in chosen), sum(w.ffmpeg for w in chosen),
                sum(w.seconds for w in chosen))

    (bare, _, bare_s), (full, anchor, full_s) = total(False), total(True)
    extra = (full / full_s - bare / bare_s) * 100
    print(f"  the motion watch alone (decode, 5 fps to grayscale, detect, track): {extra:.1f} % "
          f"of a core; the simulator used {sim_cpu:.0f} CPU s in all")
    print(f"  with motion, all windows: nvr/ffmpeg {full / anchor:.2f}x; target <= 1.3x: "
          f"{'met' if full / anchor <= 1.3 else 'MISSED'}")


# ----------------------------------------------------------------------------- accuracy


@dataclass
class Score:
    expected: int = 0  # scripted starts (and as many ends)
    events: int = 0
    starts: int = 0  # matched within the tolerance
    ends: int = 0
    wrong_zones: int = 0
    errors: list[float] = field(default_factory=list)  # of the matched starts and ends


def scene_settings(name: str) -> MotionSettings:
    scene = SCENES[name]
    base = MotionSettings(post_seconds=2.0)
    if name == "masked" and scene.region is not None:
        return MotionSettings(post_seconds=2.0, mask=(scene.region.polygon(),))
    if name == "zone" and scene.region is not None and scene.zone is not None:
        return MotionSettings(post_seconds=2.0, zones=(
            Zone(scene.zone, scene.region.polygon()), Zone("street", STREET.polygon())))
    return base


def match(times: list[float], scripted: list[float], errors: list[float]) -> int:
    """How many of ``times`` are within the tolerance of a scripted time, each used once
    (the matched ones' errors in seconds appended to ``errors``)."""
    left = list(scripted)
    hits = 0
    for t in times:
        near = [s for s in left if abs(t - s) <= TOLERANCE]
        if near:
            best = min(near, key=lambda s: abs(t - s))
            left.remove(best)
            errors.append(abs(t - best))
            hits += 1
    return hits


def ended(outcome: Outcome) -> list[MotionEvent]:
    return [event for kind, event, _ in outcome.changes if kind == "end"]


def score_scene(name: str, loops: int) -> Score:
    scene = SCENES[name]
    camera = SimCamera("bench", width=WIDTH, height=HEIGHT, fps=FPS, bitrate_kbps=BITRATE,
                       scene=name)
    clip = encode_clip(camera.media_params())
    analyser = Analyser(scene_settings(name))  # as the runtime runs it, minus the thread
    events: list[MotionEvent] = []
    batch: list[AccessUnit] = []
    for au in access_units(clip, T0, loops):
        batch.append(au)
        if len(batch) == BATCH:
            events += ended(analyser.process(batch))
            batch = []
    events += ended(analyser.process(batch)) + ended(analyser.close())
    starts, ends = [], []
    if name not in ("masked",):  # masked: its motion must not count
        for k in range(loops):
            base = T0 + k * scene.seconds
            starts += [base + m.start for m in scene.moves]
            ends += [base + m.end - 1 / FPS for m in scene.moves]
    errors: list[float] = []
    score = Score(len(starts), len(events),
                  match([e.start for e in events], starts, errors),
                  match([e.end for e in events if e.end is not None], ends, errors),
                  errors=errors)
    if scene.zone is not None:
        score.wrong_zones = sum(e.zones != {scene.zone} for e in events)
    return score


def percent(part: int, whole: int) -> str:
    return "-" if not whole else f"{100 * part / whole:.0f} %"


def worst(errors: list[float]) -> str:
    return f"{max(errors):.2f}" if errors else "-"


def bench_accuracy(args: argparse.Namespace) -> None:
    print(f"== accuracy: scripted scenes at {WIDTH}x{HEIGHT} {FPS} fps, analysed at 5 fps, "
          f"{args.loops} loops each, tolerance {TOLERANCE:.0f} s; {load_average()}")
    rows, total = [], Score()
    for name in SCENES:
        started = time.monotonic()
        s = score_scene(name, args.loops)
        for key in ("expected", "events", "starts", "ends", "wrong_zones", "errors"):
            setattr(total, key, getattr(total, key) + getattr(s, key))
        rows.append([name, s.expected, s.events, percent(s.starts, s.events),
                     percent(s.starts, s.expected), percent(s.ends, s.events),
                     percent(s.ends, s.expected), s.wrong_zones, worst(s.errors),
                     f"{time.monotonic() - started:.1f}"])
    rows.append(["all", total.expected, total.events, percent(total.starts, total.events),
                 percent(total.starts, total.expected), percent(total.ends, total.events),
                 percent(total.ends, total.expected), total.wrong_zones, worst(total.errors),
                 ""])
    print_table(["scene", "scripted", "events", "start precision", "start recall",
                 "end precision", "end recall", "wrong zones", "worst error s",
                 "run s"], rows)
    perfect = (total.starts == total.ends == total.expected == total.events
               and not total.wrong_zones)
    print(f"  target 100 % / 100 % within {TOLERANCE:.0f} s: {'met' if perfect else 'MISSED'}")


SECTIONS: dict[str, Callable[[argparse.Namespace], None]] = {
    "cpu": bench_cpu,
    "accuracy": bench_accuracy,
}


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--only", choices=sorted(SECTIONS), action="append",
                    help="run only this section (repeatable)")
    ap.add_argument("--seconds", type=float, default=30.0, help="cpu: each measuring window")
    ap.add_argument("--repeat", type=int, default=1, help="cpu: pairs of windows, alternated")
    ap.add_argument("--warmup", type=float, default=5.0, help="cpu: seconds before measuring")
    ap.add_argument("--loops", type=int, default=3, help="accuracy: loops of each scene")
    args = ap.parse_args()
    install_cleanup()
    try:
        for name in args.only or list(SECTIONS):
            SECTIONS[name](args)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
