#!/usr/bin/env python3
"""Recording benchmark: nvr against the anchor, N ffmpeg processes doing codec copy.

    python scripts/bench_record.py --cameras 4 --seconds 60
    python scripts/bench_record.py --cameras 16 --seconds 60 --width 1280 --height 720 \
        --fps 25 --bitrate 4000 --only ffmpeg --source gst

Both sides record the same RTSP cameras (``nvr sim`` by default, or GStreamer's RTSP
server with ``--source gst``) for a warm-up (excluded) and a measurement window, and
the script prints, per side: CPU seconds per camera-minute, % of one core per camera,
resident memory per camera (ffmpeg) or per extra camera (nvr), frames recorded against
frames expected, and timestamp gaps; then the ratios nvr/ffmpeg. The source's own CPU
is reported too, since it shares the machine. nvr runs on uvloop, as it does by
default; ``--asyncio`` runs it on asyncio's own loop instead, to compare.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import psutil
from benchlib import (
    ROOT,
    BenchError,
    Child,
    Window,
    api_get,
    install_cleanup,
    kill_all,
    measure,
    mib,
    print_table,
    ratio,
    read_urls,
    start_nvr,
    start_sim,
    stop_all,
    video_pts,
)

GST_SERVER = ROOT / "tests" / "peers" / "gst_rtsp_server.py"
SYSTEM_PYTHON = os.environ.get("NVR_GST_PYTHON", "/usr/bin/python3")


# ----------------------------------------------------------------------------- sources


def start_source(args: argparse.Namespace) -> tuple[Child, list[str]]:
    n = args.cameras
    if args.source == "sim":
        return start_sim(n, args.width, args.height, args.fps, args.bitrate)
    # GStreamer: one shared mount by default, so the encoder runs once whatever N is.
    mounts = [f"cam{k}" for k in range(1, n + 1)] if args.gst_per_camera else ["cam"]
    cmd = [SYSTEM_PYTHON, str(GST_SERVER), "--port", "0", "--width", str(args.width),
           "--height", str(args.height), "--fps", str(args.fps), "--bitrate", str(args.bitrate),
           "--gop", str(args.fps * 2), "--pattern", args.gst_pattern]
    for m in mounts:
        cmd += ["--mount", m]
    child = Child("gst server", cmd)
    ready = read_urls(child, len(mounts), 30, "READY ")
    urls = [line.split(None, 1)[1] for line in ready]
    if len(urls) == 1:
        urls = urls * n
    return child, urls


# ----------------------------------------------------------------------------- recordings


@dataclass
class Continuity:
    packets: int = 0
    span: float = 0.0  # seconds covered by the video packets (sum over segments)
    gaps: int = 0  # inside segments: consecutive pts further apart than 1.5 frames
    gap_seconds: float = 0.0
    boundary_gaps: int | None = None  # between segments (start[i+1] != end[i]); None: unknown
    files: int = 0
    bytes: int = 0
    errors: list[str] = field(default_factory=list)


def continuity(files: list[Path], fps: float) -> Continuity:
    """Frames, covered span and timestamp gaps of a camera's segment files."""
    c = Continuity(files=len(files))
    frame = 1.0 / fps
    for f in files:
        c.bytes += f.stat().st_size
        try:
            pts = video_pts(f)
        except BenchError as e:
            c.errors.append(str(e))
            continue
        if not pts:
            continue
        c.packets += len(pts)
        c.span += pts[-1] - pts[0] + frame
        for a, b in zip(pts, pts[1:], strict=False):
            if b - a > 1.5 * frame:
                c.gaps += 1
                c.gap_seconds += b - a - frame
    return c


def parse_time(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def api_boundary_gaps(http: str, camera: str, fps: float) -> tuple[int | None, str]:
    """Count start[i+1] != end[i] (beyond 1.5 frames) in nvr's segment index."""
    path = f"/api/recordings?camera={camera}"
    try:
        rows = api_get(http, path)
    except (urllib.error.URLError, OSError, ValueError) as e:
        return None, f"GET http://{http}{path}: {e}"
    if isinstance(rows, dict):  # tolerate {"items": [...]} / {"recordings": [...]}
        rows = rows.get("items") or rows.get("recordings") or []
    try:
        spans = sorted((parse_time(r["start"]), parse_time(r["end"])) for r in rows)
    except (KeyError, TypeError, ValueError) as e:
        return None, f"GET http://{http}{path}: unexpected rows ({e})"
    gaps = sum(1 for (_, end), (start, _) in zip(spans, spans[1:], strict=False)
               if abs((start - end).total_seconds()) > 1.5 / fps)
    return gaps, ""


# ----------------------------------------------------------------------------- the sides


@dataclass
class Result:
    name: str
    cameras: int
    window: Window
    recorded_for: float  # wall seconds between recorder start and stop
    cams: list[Continuity]
    rss_per_camera: float | None = None  # ffmpeg: RSS / N
    rss_per_extra_camera: float | None = None  # nvr: (RSS(N) - RSS(1)) / (N - 1)
    rss_one: float | None = None
    notes: list[str] = field(default_factory=list)


def run_ffmpeg(args: argparse.Namespace, urls: list[str], source: Child, tmp: Path) -> Result:
    n = args.cameras
    print(f"ffmpeg: {n} processes, codec copy to {args.segment_seconds} s MP4 segments")
    procs: list[Child] = []
    t_start = time.monotonic()
    try:
        for k, url in enumerate(urls, 1):
            out = tmp / "ff" / f"cam{k}"
            out.mkdir(parents=True)
            cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-rtsp_transport", "tcp",
                   "-i", url, "-map", "0:v:0", "-c", "copy", "-f", "segment",
                   "-segment_time", str(args.segment_seconds), "-reset_timestamps", "1",
                   str(out / "%03d.mp4")]
            procs.append(Child(f"ffmpeg cam{k}", cmd))
        window = measure(procs, source, args.warmup, args.seconds, "ffmpeg")
    finally:
        recorded_for = time.monotonic() - t_start
        stop_all(procs, signal.SIGINT, grace=10)
    cams = [
        continuity(sorted((tmp / "ff" / f"cam{k}").glob("*.mp4")), args.fps)
        for k in range(1, n + 1)
    ]
    res = Result("ffmpeg", n, window, recorded_for, cams)
    res.rss_per_camera = window.rss_mean / n
    res.notes.append("gaps between ffmpeg's segments are not checked (timestamps reset)")
    return res


def run_nvr(args: argparse.Namespace, urls: list[str], source: Child, tmp: Path) -> Result:
    n = args.cameras
    rss_one = None
    if n > 1 and not args.no_baseline:
        print("nvr: 1 camera (memory baseline)")
        child, _ = start_nvr(urls[:1], tmp / "nvr1", args.segment_seconds, not args.asyncio)
        try:
            w1 = measure([child], source, args.warmup, args.baseline_seconds, "nvr x1")
            rss_one = w1.rss_mean
        finally:
            child.stop(signal.SIGINT, grace=20)

    print(f"nvr: {n} cameras")
    t_start = time.monotonic()
    child, http = start_nvr(urls, tmp / "nvr", args.segment_seconds, not args.asyncio)
    boundary: list[int | None] = []
    notes: list[str] = []
    try:
        window = measure([child], source, args.warmup, args.seconds, "nvr")
        for k in range(1, n + 1):
            gaps, err = api_boundary_gaps(http, f"cam{k}", args.fps)
            boundary.append(gaps)
            if err and err not in notes:
                notes.append(err)
    finally:
        recorded_for = time.monotonic() - t_start
        rc = child.stop(signal.SIGINT, grace=20)
    if rc not in (0, -signal.SIGINT, 130):
        notes.append(f"nvr exited with status {rc} on SIGINT; stderr tail:\n{child.tail()}")
    rec = tmp / "nvr" / "data" / "recordings"
    cams = []
    for k in range(1, n + 1):
        c = continuity(sorted((rec / f"cam{k}").glob("**/*.mp4")), args.fps)
        c.boundary_gaps = boundary[k - 1] if boundary else None
        cams.append(c)
    res = Result("nvr", n, window, recorded_for, cams, notes=notes)
    res.rss_one = rss_one
    if rss_one is not None:
        res.rss_per_extra_camera = (window.rss_mean - rss_one) / (n - 1)
    return res


# ----------------------------------------------------------------------------- report


def summarize(r: Result, fps: float) -> dict[str, float | int | None]:
    w = r.window
    cams = r.cams
    packets = sum(c.packets for c in cams)
    span = sum(c.span for c in cams)
    known = [c.boundary_gaps for c in cams if c.boundary_gaps is not None]
    return {
        "cpu_s_per_camera_minute": w.cpu / r.cameras / (w.seconds / 60),
        "core_pct_per_camera": 100 * w.cpu / w.seconds / r.cameras,
        "rss_total": w.rss_mean,
        "rss_max": w.rss_max,
        "uss_total": w.uss_end,
        "rss_per_camera": r.rss_per_camera,
        "rss_per_extra_camera": r.rss_per_extra_camera,
        "source_core_pct": 100 * w.source_cpu / w.seconds,
        "frames": packets,
        "frames_expected_in_span": round(span * fps),
        "frames_expected_wall": round(r.recorded_for * fps * r.cameras),
        "gaps": sum(c.gaps for c in cams),
        "gap_seconds": sum(c.gap_seconds for c in cams),
        "boundary_gaps": sum(known) if known else None,
        "files": sum(c.files for c in cams),
        "mbit_s_per_camera": sum(c.bytes for c in cams) * 8 / 1e6 / span if span else 0.0,
        "probe_errors": sum(len(c.errors) for c in cams),
        "cameras_without_frames": sum(1 for c in cams if c.packets == 0),
    }


def _count(v: float) -> str:
    return f"{v}"


ROWS: list[tuple[str, Callable[[float], str], str]] = [
    ("CPU s per camera-minute", lambda v: f"{v:.2f}", "cpu_s_per_camera_minute"),
    ("% of one core per camera", lambda v: f"{v:.1f} %", "core_pct_per_camera"),
    ("RSS total (mean)", mib, "rss_total"),
    ("USS total (end of window)", mib, "uss_total"),
    ("RSS per camera", mib, "rss_per_camera"),
    ("RSS per extra camera", mib, "rss_per_extra_camera"),
    ("frames recorded", _count, "frames"),
    ("frames expected (recorded span)", _count, "frames_expected_in_span"),
    ("frames expected (wall time)", _count, "frames_expected_wall"),
    ("gaps > 1.5 frames (in segments)", _count, "gaps"),
    ("time lost in gaps", lambda v: f"{v:.2f} s", "gap_seconds"),
    ("gaps between segments", _count, "boundary_gaps"),
    ("segment files", _count, "files"),
    ("recorded Mbit/s per camera", lambda v: f"{v:.2f}", "mbit_s_per_camera"),
    ("cameras with no frames", _count, "cameras_without_frames"),
    ("source CPU (% of one core)", lambda v: f"{v:.1f} %", "source_core_pct"),
]

# nvr/ffmpeg ratios: row label -> (nvr key, ffmpeg key)
RATIOS = {
    "CPU s per camera-minute": ("cpu_s_per_camera_minute", "cpu_s_per_camera_minute"),
    "% of one core per camera": ("core_pct_per_camera", "core_pct_per_camera"),
    "RSS total (mean)": ("rss_total", "rss_total"),
    "RSS per extra camera": ("rss_per_extra_camera", "rss_per_camera"),
    "frames recorded": ("frames", "frames"),
}


def report(args: argparse.Namespace, results: list[Result]) -> dict:
    sums = {r.name: summarize(r, args.fps) for r in results}
    rows: list[tuple[str, ...]] = []
    for label, fmt, key in ROWS:
        vals = [sums[r.name][key] for r in results]
        rows.append((label, *("-" if v is None else fmt(v) for v in vals)))
    header: tuple[str, ...] = ("", *[r.name for r in results])
    if len(results) == 2 and results[0].name == "ffmpeg":
        ff, nv = sums["ffmpeg"], sums["nvr"]
        header = (*header, "nvr/ffmpeg")
        rows = [
            (*row, ratio(nv[RATIOS[row[0]][0]], ff[RATIOS[row[0]][1]]) if row[0] in RATIOS else "")
            for row in rows
        ]
    print()
    print(
        f"{args.cameras} cameras, {args.width}x{args.height} @ {args.fps} fps, "
        f"{args.bitrate} kbit/s, source {args.source}, warm-up {args.warmup:.0f} s, "
        f"window {args.seconds:.0f} s, {psutil.cpu_count()} CPUs"
        + (", nvr on asyncio's loop" if args.asyncio else ", nvr on uvloop")
    )
    print_table(header, rows)
    for r in results:
        errs = [e for c in r.cams for e in c.errors]
        for note in r.notes + errs[:3]:
            print(f"note ({r.name}): {note}")
    return sums


# ----------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cameras", type=int, default=4)
    p.add_argument("--seconds", type=float, default=60, help="measurement window")
    p.add_argument("--warmup", type=float, default=10, help="excluded from the measurement")
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=720)
    p.add_argument("--fps", type=int, default=25)
    p.add_argument("--bitrate", type=int, default=4000, help="kbit/s")
    p.add_argument("--segment-seconds", type=int, default=60)
    p.add_argument("--only", choices=["nvr", "ffmpeg"])
    p.add_argument("--source", choices=["sim", "gst"], default="sim")
    p.add_argument(
        "--gst-per-camera",
        action="store_true",
        help="gst source: one encoder per camera (default: all cameras share one mount)",
    )
    p.add_argument("--gst-pattern", default="snow", help="videotestsrc pattern (snow: full rate)")
    p.add_argument("--baseline-seconds", type=float, default=10, help="nvr 1-camera run")
    p.add_argument("--no-baseline", action="store_true", help="skip nvr's 1-camera run")
    p.add_argument("--asyncio", action="store_true",
                   help="run nvr on asyncio's own event loop instead of uvloop")
    p.add_argument("--keep", action="store_true", help="keep the recordings")
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args(argv)
    if args.cameras < 1:
        p.error("--cameras must be >= 1")
    if args.asyncio and args.only == "ffmpeg":
        p.error("--asyncio is about nvr; it makes no sense with --only ffmpeg")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    install_cleanup()
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)
    for tool in ("ffmpeg", "ffprobe"):
        if shutil.which(tool) is None:
            print(f"error: {tool} not found on PATH", file=sys.stderr)
            return 2
    tmp = Path(tempfile.mkdtemp(prefix="bench_record_"))
    results: list[Result] = []
    try:
        print(f"source: {args.source}, work dir {tmp}")
        source, urls = start_source(args)
        try:
            if args.only in (None, "ffmpeg"):
                results.append(run_ffmpeg(args, urls, source, tmp))
            if args.only in (None, "nvr"):
                try:
                    results.append(run_nvr(args, urls, source, tmp))
                except BenchError as e:
                    print(f"error: nvr side failed: {e}", file=sys.stderr)
                    if not results:
                        return 1
        finally:
            source.stop(signal.SIGTERM, grace=5)
        sums = report(args, results)
        if args.json:
            args.json.write_text(
                json.dumps({"args": vars(args) | {"json": None}, **sums}, indent=2)
            )
        return 0 if len(results) == (1 if args.only else 2) else 1
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        if args.source == "sim":
            print("hint: try --source gst (GStreamer RTSP server)", file=sys.stderr)
        return 1
    finally:
        kill_all()
        if args.keep:
            print(f"recordings kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
