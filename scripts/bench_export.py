#!/usr/bin/env python3
"""Export and seek benchmark: nvr's export against ``ffmpeg -f concat -c copy``, and the
time from a playback request to its first fragment, against a plain segment download.

    .venv/bin/python scripts/bench_export.py                  # 60 minutes, 3 runs
    .venv/bin/python scripts/bench_export.py --minutes 10 --runs 5 --seeks 50

Recordings: ``--minutes`` of 1280x720 25 fps H.264 (~4 Mbit/s, a keyframe every 2 s,
the simulator's test clip looped with continuous timestamps) and AAC-LC mono 48 kHz,
written by nvr's own SegmentWriter as 60 s segments (nvr's default), indexed in a
SQLite database, under ``--dir`` (kept, and reused by the next run).

Export, best of ``--runs`` each, alternating, page cache warm (the files are read
once first, so the disk is not what is measured, for either):

* anchor: ``ffmpeg -v error -f concat -safe 0 -i list.txt -c copy`` over the same
  segment files into an MP4, the way one would join them by hand;
* ``nvr export`` as a subprocess (start-up, database, index pass, copy), the same
  time range, into an MP4 in the same directory;
* in process: ``plan_export`` (the index pass) and ``ExportPlan.blocks`` (the copy)
  timed apart.

Printed: wall seconds, CPU seconds (child's user + system), the speed as a multiple
of real time (recorded seconds / wall seconds), nvr/ffmpeg ratios, and what ffprobe
says of each output (duration, frames).

Seek: ``nvr run`` on the same data (the camera disabled, so nothing records), then
``--seeks`` playback WebSockets at random times of the recording: wall time from
opening the connection to the first ``moof`` received. Anchor in the same run: from
sending ``GET /api/recordings/{id}/download`` to the first body byte of a segment
(the server's cheapest answer with media). Both signed in with HTTP Basic (cached
by the server after the first request).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import websockets
from benchlib import (
    ADMIN_PASSWORD,
    ROOT,
    BenchError,
    Child,
    free_port,
    install_cleanup,
    load_average,
    print_table,
    wait_port,
)

from nvr.codec.nal import to_avcc
from nvr.db.session import make_engine, make_sessionmaker, upgrade
from nvr.feed import VIDEO_CLOCK, CodecParams
from nvr.recording.index import SegmentIndex, SegmentInfo
from nvr.recording.probe import segment_relpath
from nvr.recording.writer import SegmentWriter
from nvr.sim.media import MediaParams, encode_clip

T0 = 1_700_000_000  # wall clock of the first frame (2023-11-14T22:13:20Z)
SEGMENT = 60
FPS = 25
TICKS = VIDEO_CLOCK // FPS
CAMERA = "cam1"


def generate(folder: Path, minutes: int) -> None:
    """``minutes`` of recordings under folder/data, indexed in folder/data/nvr.db."""
    data = folder / "data"
    url = f"sqlite:///{data / 'nvr.db'}"
    if (data / "nvr.db").exists():
        engine = make_engine(url)
        rows = SegmentIndex(make_sessionmaker(engine)).query(CAMERA)
        engine.dispose()
        if len(rows) == minutes * 60 // SEGMENT:
            print(f"  reusing {len(rows)} segments in {data}")
            return
        raise BenchError(f"{data} holds another recording: remove it or pick another --dir")
    print(f"  encoding the clip and writing {minutes} minutes of segments ...", flush=True)
    clip = encode_clip(MediaParams(width=1280, height=720, fps=FPS, bitrate_kbps=4000,
                                   gop_seconds=2, loop_gops=5, audio=True))
    video = CodecParams(kind="video", codec="h264", clock_rate=VIDEO_CLOCK, sps=clip.sps,
                        pps=clip.pps, width=1280, height=720)
    audio = CodecParams(kind="audio", codec="aac", clock_rate=48000,
                        audio_config=clip.audio_config, sample_rate=48000, channels=1)
    payloads = [(to_avcc(list(f.nals)), f.keyframe) for f in clip.frames]
    upgrade(url)
    engine = make_engine(url)
    index = SegmentIndex(make_sessionmaker(engine))
    fsync, os.fsync = os.fsync, lambda fd: None  # disk flushes are not what is measured
    try:
        frame = sample = 0  # frames and audio samples written so far
        for k in range(minutes * 60 // SEGMENT):
            start_us = (T0 + k * SEGMENT) * 1_000_000
            rel = f"recordings/{segment_relpath(CAMERA, start_us)}"
            writer = SegmentWriter(data / rel, video, audio, auto_flush=False)
            first_sample = k * SEGMENT * 48000
            for n in range(SEGMENT * FPS):
                data_avcc, key = payloads[frame % len(payloads)]
                if key and n:
                    writer.write_fragment(writer.take_fragment() or b"")
                writer.write_video(data_avcc, n * TICKS, n * TICKS, TICKS, key)
                frame += 1
                while (sample - first_sample) * VIDEO_CLOCK <= n * TICKS * 48000:
                    aac = clip.audio_frames[sample // 1024 % len(clip.audio_frames)]
                    writer.write_audio(aac, sample - first_sample, 1024)
                    sample += 1024
            size = writer.close()
            index.add(SegmentInfo(CAMERA, start_us, start_us + SEGMENT * 1_000_000,
                                  float(SEGMENT), size, rel, "h264", "aac", 1280, 720))
    finally:
        os.fsync = fsync
        engine.dispose()


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall and CPU seconds of a child process; BenchError if it fails."""
    cpu, t0 = child_cpu(), time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    wall, cpu = time.perf_counter() - t0, child_cpu() - cpu
    if done.returncode != 0:
        raise BenchError(f"{' '.join(cmd[:4])} ... failed: {done.stderr.strip()[-500:]}")
    return wall, cpu


def probe(path: Path) -> str:
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "stream=nb_frames,duration:format=duration", "-of",
                          "default=nw=1", str(path)], capture_output=True, text=True)
    return " ".join(out.stdout.split())


def in_process(folder: Path, seconds: int) -> tuple[float, float, float]:
    """(index pass, copy, CPU) seconds of plan_export + blocks into a file."""
    from nvr.playback.export import plan_export
    from nvr.playback.stream import SegmentRef

    data = folder / "data"
    engine = make_engine(f"sqlite:///{data / 'nvr.db'}")
    rows = SegmentIndex(make_sessionmaker(engine)).query(CAMERA)
    engine.dispose()
    refs = [SegmentRef(data / r.path, r.start_us, r.end_us, r.id) for r in rows]
    cpu, t0 = time.process_time(), time.perf_counter()
    plan = plan_export(refs, T0 * 1_000_000, (T0 + seconds) * 1_000_000)
    t1 = time.perf_counter()
    assert plan is not None
    with (folder / "inproc.mp4").open("wb") as out:
        for block in plan.blocks():
            out.write(block)
    return t1 - t0, time.perf_counter() - t1, time.process_time() - cpu


def export_bench(folder: Path, minutes: int, runs: int) -> None:
    seconds = minutes * 60
    files = sorted((folder / "data" / "recordings").rglob("*.mp4"))
    (folder / "list.txt").write_text("".join(f"file '{p}'\n" for p in files))
    total = sum(p.stat().st_size for p in files)
    for p in files:  # warm the page cache: both read the same, from memory
        p.read_bytes()
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(T0))
    end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(T0 + seconds))
    ffmpeg = ["ffmpeg", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i",
              str(folder / "list.txt"), "-c", "copy", str(folder / "ffmpeg.mp4")]
    nvr = [sys.executable, "-m", "nvr", "export", "--config", str(folder / "nvr.toml"),
           "--camera", CAMERA, "--start", iso, "--end", end, "-o", str(folder / "nvr.mp4")]
    results: dict[str, list[tuple[float, float]]] = {"ffmpeg": [], "nvr": []}
    split: list[tuple[float, float, float]] = []
    print(f"  export of {minutes} min ({total / 1e9:.2f} GB in {len(files)} files), "
          f"{runs} runs each ...", flush=True)
    for _ in range(runs):
        results["ffmpeg"].append(timed(ffmpeg))
        results["nvr"].append(timed(nvr))
        split.append(in_process(folder, seconds))
    best = {k: min(v) for k, v in results.items()}
    rows = [[name, f"{wall:.2f}", f"{cpu:.2f}", f"{seconds / wall:.0f}x"]
            for name, (wall, cpu) in best.items()]
    plan_s, copy_s, cpu_s = min(split, key=lambda s: s[0] + s[1])
    rows.append(["nvr in process: index pass + copy", f"{plan_s:.2f} + {copy_s:.2f}",
                 f"{cpu_s:.2f}", f"{seconds / (plan_s + copy_s):.0f}x"])
    print_table(["export (best run)", "wall s", "CPU s", "x real time"], rows)
    print(f"  nvr/ffmpeg: wall {best['nvr'][0] / best['ffmpeg'][0]:.2f}, "
          f"CPU {best['nvr'][1] / best['ffmpeg'][1]:.2f}")
    for name in ("ffmpeg", "nvr"):
        print(f"  {name}.mp4: {(folder / f'{name}.mp4').stat().st_size / 1e9:.3f} GB, "
              f"{probe(folder / f'{name}.mp4')}")


async def seeks(http: str, minutes: int, count: int) -> tuple[list[float], list[float]]:
    auth = "Basic " + base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
    rng = random.Random(1)
    ws_times: list[float] = []
    get_times: list[float] = []
    async with httpx.AsyncClient(base_url=f"http://{http}", headers={"Authorization": auth},
                                 timeout=30) as client:
        rows = (await client.get("/api/recordings", params={"camera": CAMERA})).json()
        for n in range(count + 1):  # the first of each is a warm-up (Basic check, imports)
            at = T0 + rng.uniform(0, minutes * 60 - 1)
            whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at))
            start = f"{whole}.{int(at % 1 * 1e6):06d}Z"
            t0 = time.perf_counter()
            async with websockets.connect(f"ws://{http}/api/cameras/{CAMERA}/playback"
                                          f"?start={start}", additional_headers={
                                              "Authorization": auth}, max_size=None) as ws:
                async for message in ws:
                    if isinstance(message, bytes) and message[4:8] == b"moof":
                        break
            elapsed = time.perf_counter() - t0
            row = rows[int((at - T0) // SEGMENT)]
            t0 = time.perf_counter()
            async with client.stream("GET", row["url"]) as answer:
                async for _ in answer.aiter_raw():
                    break
            if n:
                ws_times.append(elapsed)
                get_times.append(time.perf_counter() - t0)
    return ws_times, get_times


def write_config(folder: Path, http: str) -> Path:
    """nvr's config for the recordings: the camera disabled, nothing deleted."""
    config = folder / "nvr.toml"
    config.write_text(f'[server]\ndata_dir = "{folder / "data"}"\nhttp = "{http}"\n\n'
                      '[recording]\nmin_free = "0"\n\n[[cameras]]\nname = "cam1"\n'
                      'url = "rtsp://127.0.0.1:9/none"\nenabled = false\n')
    return config


def seek_bench(folder: Path, minutes: int, count: int) -> None:
    http = f"127.0.0.1:{free_port()}"
    config = write_config(folder, http)
    env = dict(os.environ, NVR_ADMIN_PASSWORD=ADMIN_PASSWORD)
    child = Child("nvr run", [sys.executable, "-m", "nvr", "run", "--config", str(config)],
                  env=env)
    try:
        if not wait_port(int(http.rsplit(":", 1)[1]), child, 60):
            raise BenchError(f"nvr run did not open {http}:\n{child.tail()}")
        ws_times, get_times = asyncio.run(seeks(http, minutes, count))
    finally:
        child.stop()

    def ms(values: list[float]) -> list[str]:
        ordered = sorted(values)
        return [f"{statistics.median(ordered) * 1e3:.1f}",
                f"{ordered[int(len(ordered) * 0.9) - 1] * 1e3:.1f}", f"{ordered[-1] * 1e3:.1f}"]

    print_table(["seek (ms)", "median", "p90", "max"], [
        ["playback: connect → first fragment", *ms(ws_times)],
        ["anchor: segment download → first byte", *ms(get_times)]])
    print(f"  playback/download (medians): "
          f"{statistics.median(ws_times) / statistics.median(get_times):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seeks", type=int, default=30)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/nvr-bench-export"))
    args = parser.parse_args()
    install_cleanup()
    folder: Path = args.dir
    folder.mkdir(parents=True, exist_ok=True)
    write_config(folder, f"127.0.0.1:{free_port()}")
    print(load_average())
    try:
        generate(folder, args.minutes)
        export_bench(folder, args.minutes, args.runs)
        seek_bench(folder, args.minutes, args.seeks)
    except BenchError as exc:
        raise SystemExit(f"error: {exc}") from None
    print(load_average())


if __name__ == "__main__":
    main()
