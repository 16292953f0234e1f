"""Benchmark: the CPU of one live transcoder (H.265 → H.264), against ffmpeg doing the same.

Makes ``--seconds`` of camera-like H.265 with ffmpeg (``testsrc2`` with sensor
noise, 25 fps, a keyframe every 2 s, no B-frames) at each ``--sizes``, then
for each:

* ``nvr``: a :class:`~nvr.live.transcode.Transcoder` in this process, its source
  feed published in real time (one frame every 40 ms, as a camera sends them),
  a viewer subscribed to the derived feed; CPU = this process's CPU seconds
  (every thread: the worker, FFmpeg's and x264's threads, the event loop) over
  the wall time;
* ``ffmpeg``: the anchor, ``ffmpeg -re`` decoding the same file and encoding it
  with the same x264 settings (``ultrafast``, ``zerolatency``, 1 s GOP, no
  B-frames, same bitrate and scale), output discarded; CPU of the process.

CPU is in percent of one core (200 % = both cores of a 2-core machine). Also
shown: how late the event loop woke the publisher (99th percentile), with the
transcoder and with publishing only (the same loop without a transcoder).

    .venv/bin/python scripts/bench_transcode.py [--seconds 20] [--sizes 1280x720,1920x1080]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import psutil

from nvr.codec.nal import split_annexb, to_avcc
from nvr.feed import VIDEO_CLOCK, AccessUnit, CodecParams, Feed
from nvr.live.recode import DEFAULT_SETTINGS, bitrate, scaled_size
from nvr.live.transcode import Transcoder

FPS = 25
_PARAMS = {32: "vps", 33: "sps", 34: "pps"}


def make_h265(path: Path, width: int, height: int, seconds: int) -> None:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi",
         "-i", f"testsrc2=size={width}x{height}:rate={FPS}", "-t", str(seconds),
         "-vf", "noise=alls=12:allf=t", "-c:v", "libx265", "-preset", "fast",
         "-x265-params", f"log-level=none:keyint={2 * FPS}:bframes=0:repeat-headers=1",
         "-b:v", "3M", "-f", "hevc", str(path)], check=True)


def feed_form(path: Path, width: int, height: int) -> list[AccessUnit]:
    """The file's frames as a camera's feed carries them."""
    params: dict[str, bytes] = {}
    frames: list[tuple[bytes, bool]] = []
    with av.open(str(path)) as container:
        for packet in container.demux(video=0):
            if packet.size == 0:
                continue
            nals = []
            for nal in split_annexb(bytes(packet)):
                name = _PARAMS.get((nal[0] >> 1) & 0x3F)
                if name:
                    params.setdefault(name, nal)
                else:
                    nals.append(nal)
            frames.append((to_avcc(nals), packet.is_keyframe))
    video = CodecParams(kind="video", codec="h265", clock_rate=VIDEO_CLOCK, width=width,
                        height=height, vps=params["vps"], sps=params["sps"], pps=params["pps"])
    step = VIDEO_CLOCK // FPS
    return [AccessUnit(video, i * step, i * step, key, 0.0, data)
            for i, (data, key) in enumerate(frames)]


async def run_nvr(aus: list[AccessUnit], transcode: bool = True) -> tuple[float, int, int, float]:
    """CPU % of this process while one transcoder runs in real time (or, without
    ``transcode``, while the frames are only published); frames out, dropped; the
    event loop's 99th percentile lateness (ms) in waking the publisher."""
    transcoder = Transcoder(Feed("cam"))
    viewer = (transcoder.feed if transcode else transcoder.upstream).subscribe(maxsize=10_000)
    task = asyncio.create_task(transcoder.run()) if transcode else None
    await asyncio.sleep(0.1)
    out = 0
    loop = asyncio.get_running_loop()
    start_wall, start_cpu = time.monotonic(), time.process_time()
    t0 = loop.time()
    late = []
    for i, au in enumerate(aus):
        au.wallclock = time.time()
        transcoder.upstream.publish(au)
        due = t0 + (i + 1) / FPS
        await asyncio.sleep(max(0.0, due - loop.time()))
        late.append(loop.time() - due)
        out += len(viewer.drain())
    cpu = (time.process_time() - start_cpu) / (time.monotonic() - start_wall) * 100
    transcoder.upstream.close()
    if task is not None:
        await task
    out += len(viewer.drain())
    late.sort()
    return cpu, out, transcoder.dropped, late[int(len(late) * 0.99)] * 1000


def run_ffmpeg(path: Path, width: int, height: int) -> float:
    w, h = scaled_size(width, height)
    rate = bitrate(w, h, DEFAULT_SETTINGS)
    cmd = ["ffmpeg", "-v", "error", "-re", "-i", str(path), "-vf", f"scale={w}:{h}",
           "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-bf", "0",
           "-g", str(FPS), "-b:v", str(rate), "-maxrate", str(rate), "-bufsize", str(rate),
           "-f", "null", "-"]
    start = time.monotonic()
    proc = psutil.Popen(cmd)
    cpu = 0.0
    while proc.poll() is None:
        times = proc.cpu_times()
        cpu = times.user + times.system
        time.sleep(0.2)
    return cpu / (time.monotonic() - start) * 100


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--sizes", default="1280x720,1920x1080")
    args = parser.parse_args()
    print(f"{psutil.cpu_count()} CPUs; {args.seconds} s of {FPS} fps H.265 per size")
    print(f"{'source':>10} {'output':>10} {'nvr CPU %':>10} {'ffmpeg CPU %':>13} "
          f"{'ratio':>6} {'frames':>7} {'dropped':>8} {'loop late p99':>13}")
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes.split(","):
            width, height = (int(v) for v in size.split("x"))
            path = Path(tmp) / f"{size}.hevc"
            make_h265(path, width, height, args.seconds)
            aus = feed_form(path, width, height)
            idle, _, _, idle_late = asyncio.run(run_nvr(aus, transcode=False))
            ours, frames, dropped, late = asyncio.run(run_nvr(aus))
            anchor = run_ffmpeg(path, width, height)
            w, h = scaled_size(width, height)
            print(f"{size:>10} {f'{w}x{h}':>10} {ours:>10.0f} {anchor:>13.0f} "
                  f"{ours / anchor:>6.2f} {frames:>7} {dropped:>8} {late:>9.1f} ms "
                  f"(publishing only: {idle:.0f} % CPU, {idle_late:.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
