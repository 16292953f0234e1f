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
is reported too, since it shares the machine.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import io
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
GST_SERVER = ROOT / "tests" / "peers" / "gst_rtsp_server.py"
SYSTEM_PYTHON = os.environ.get("NVR_GST_PYTHON", "/usr/bin/python3")
ADMIN_PASSWORD = "bench"

_children: list[Child] = []


# ----------------------------------------------------------------------------- processes


class Child:
    """A child process in its own session, with stdout lines queued and a stderr tail."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str] | None = None) -> None:
        self.name = name
        self.cmd = cmd
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr_tail: deque[str] = deque(maxlen=40)
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,
            text=True,
            errors="replace",
        )
        _children.append(self)
        self.ps = psutil.Process(self.proc.pid)
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr_tail.append(line.rstrip("\n"))

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self) -> str:
        return "\n".join(f"    {line}" for line in self.stderr_tail) or "    (no stderr)"

    def stop(self, sig: int = signal.SIGINT, grace: float = 15.0) -> int:
        """Signal, wait ``grace`` s, then SIGTERM, then SIGKILL the whole process group."""
        for s, wait in ((sig, grace), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            if self.proc.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if s == signal.SIGKILL:
                    os.killpg(self.proc.pid, s)
                else:
                    self.proc.send_signal(s)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(wait)
        # Anything left in the group (grandchildren) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        rc = self.proc.wait()
        if self in _children:
            _children.remove(self)
        return rc


def stop_all(children: list[Child], sig: int = signal.SIGINT, grace: float = 10.0) -> None:
    """Signal every child at once (so they stop recording together), then reap each."""
    for c in children:
        if c.alive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                c.proc.send_signal(sig)
    deadline = time.monotonic() + grace
    for c in children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            c.proc.wait(max(0.1, deadline - time.monotonic()))
        c.stop(signal.SIGTERM, grace=3.0)


def _kill_all() -> None:
    stop_all(list(_children), signal.SIGTERM, grace=3.0)


def _on_signal(signum: int, _frame: object) -> None:
    _kill_all()
    raise SystemExit(128 + signum)


atexit.register(_kill_all)
signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGHUP, _on_signal)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, child: Child, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and child.alive():
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return True
        time.sleep(0.2)
    return False


# ----------------------------------------------------------------------------- measuring


class CpuMeter:
    """CPU seconds (user + system) of process trees, including children that come and go."""

    def __init__(self, roots: list[psutil.Process]) -> None:
        self.roots = roots
        self.start: dict[int, float] = {}
        self.last: dict[int, float] = {}

    def _sample(self) -> dict[int, float]:
        out: dict[int, float] = {}
        for root in self.roots:
            procs = [root]
            with contextlib.suppress(psutil.Error):
                procs += root.children(recursive=True)
            for p in procs:
                with contextlib.suppress(psutil.Error):
                    t = p.cpu_times()
                    out[p.pid] = t.user + t.system
        return out

    def begin(self) -> None:
        self.start = self._sample()
        self.last = dict(self.start)

    def update(self) -> None:
        self.last.update(self._sample())

    def seconds(self) -> float:
        return sum(v - self.start.get(pid, 0.0) for pid, v in self.last.items())


def tree_rss(roots: list[psutil.Process], unique: bool = False) -> int:
    """Sum of RSS (or USS, memory not shared with any other process) of process trees."""
    total = 0
    for root in roots:
        procs = [root]
        with contextlib.suppress(psutil.Error):
            procs += root.children(recursive=True)
        for p in procs:
            with contextlib.suppress(psutil.Error):
                total += p.memory_full_info().uss if unique else p.memory_info().rss
    return total


@dataclass
class Window:
    seconds: float = 0.0
    cpu: float = 0.0
    source_cpu: float = 0.0
    rss_mean: float = 0.0
    rss_max: int = 0
    uss_end: int = 0


def measure(
    recorders: list[Child], source: Child | None, warmup: float, seconds: float, what: str
) -> Window:
    """Warm up, then measure CPU and RSS over ``seconds``; fails if a recorder dies."""

    def check() -> None:
        for c in recorders:
            if not c.alive():
                raise BenchError(
                    f"{what}: {c.name} exited with status {c.proc.returncode}:\n{c.tail()}"
                )
        if source is not None and not source.alive():
            raise BenchError(
                f"source exited with status {source.proc.returncode}:\n{source.tail()}"
            )

    end_warmup = time.monotonic() + warmup
    while time.monotonic() < end_warmup:
        check()
        time.sleep(0.5)
    check()
    meter = CpuMeter([c.ps for c in recorders])
    src_meter = CpuMeter([source.ps] if source else [])
    meter.begin()
    src_meter.begin()
    t0 = time.monotonic()
    rss: list[int] = []
    print(f"  {what}: measuring {seconds:.0f} s ...", flush=True)
    while (elapsed := time.monotonic() - t0) < seconds:
        time.sleep(min(1.0, seconds - elapsed))
        check()
        meter.update()
        src_meter.update()
        rss.append(tree_rss([c.ps for c in recorders]))
    meter.update()
    src_meter.update()
    uss = tree_rss([c.ps for c in recorders], unique=True)
    return Window(
        uss_end=uss,
        seconds=time.monotonic() - t0,
        cpu=meter.seconds(),
        source_cpu=src_meter.seconds(),
        rss_mean=sum(rss) / len(rss) if rss else 0.0,
        rss_max=max(rss) if rss else 0,
    )


class BenchError(Exception):
    pass


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


def video_pts(path: Path) -> list[float]:
    r = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=pts_time",
            "-of",
            "csv=p=0",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    if r.returncode != 0:
        raise BenchError(f"ffprobe {path}: {r.stderr.strip()[-500:]}")
    out = []
    for line in r.stdout.split():
        line = line.strip().rstrip(",")
        if line and line != "N/A":
            out.append(float(line))
    return sorted(out)


def continuity(files: list[Path], fps: float) -> Continuity:
    c = Continuity(files=len(files))
    frame = 1.0 / fps
    for f in files:
        c.bytes += f.stat().st_size
        try:
            pts = video_pts(f)
        except (BenchError, subprocess.TimeoutExpired) as e:
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
    url = f"http://{http}/api/recordings?camera={camera}"
    token = base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
    req = urllib.request.Request(url, headers={"Authorization": f"Basic {token}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            rows = json.load(resp)
    except (urllib.error.URLError, OSError, ValueError) as e:
        return None, f"GET {url}: {e}"
    if isinstance(rows, dict):  # tolerate {"items": [...]} / {"recordings": [...]}
        rows = rows.get("items") or rows.get("recordings") or []
    try:
        spans = sorted((parse_time(r["start"]), parse_time(r["end"])) for r in rows)
    except (KeyError, TypeError, ValueError) as e:
        return None, f"GET {url}: unexpected rows ({e})"
    gaps = 0
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        if abs((start - end).total_seconds()) > 1.5 / fps:
            gaps += 1
    return gaps, ""


# ----------------------------------------------------------------------------- sources


def start_source(args: argparse.Namespace) -> tuple[Child, list[str]]:
    n = args.cameras
    if args.source == "sim":
        port = free_port()
        cmd = [
            sys.executable,
            "-m",
            "nvr.cli",
            "sim",
            "--cameras",
            str(n),
            "--port",
            str(port),
            "--width",
            str(args.width),
            "--height",
            str(args.height),
            "--fps",
            str(args.fps),
            "--bitrate",
            str(args.bitrate),
        ]
        child = Child("nvr sim", cmd)
        urls = read_urls(child, n, 60, "rtsp://")
        return child, urls
    # GStreamer: one shared mount by default, so the encoder runs once whatever N is.
    mounts = [f"cam{k}" for k in range(1, n + 1)] if args.gst_per_camera else ["cam"]
    cmd = [
        SYSTEM_PYTHON,
        str(GST_SERVER),
        "--port",
        "0",
        "--width",
        str(args.width),
        "--height",
        str(args.height),
        "--fps",
        str(args.fps),
        "--bitrate",
        str(args.bitrate),
        "--gop",
        str(args.fps * 2),
        "--pattern",
        args.gst_pattern,
    ]
    for m in mounts:
        cmd += ["--mount", m]
    child = Child("gst server", cmd)
    ready = read_urls(child, len(mounts), 30, "READY ")
    urls = [line.split(None, 1)[1] for line in ready]
    if len(urls) == 1:
        urls = urls * n
    return child, urls


def read_urls(child: Child, count: int, timeout: float, marker: str) -> list[str]:
    found: list[str] = []
    deadline = time.monotonic() + timeout
    while len(found) < count:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            line = child.lines.get(timeout=min(remaining, 0.5))
        except queue.Empty:
            continue
        if line is None:
            break
        line = line.strip()
        if marker in line:
            found.append(line[line.index(marker) :] if marker == "rtsp://" else line)
    if len(found) < count:
        rc = child.proc.poll()
        child.stop()
        raise BenchError(
            f"{child.name} did not print {count} URLs within {timeout:.0f} s "
            f"(got {len(found)}, exit status {rc}): {' '.join(child.cmd)}\n{child.tail()}"
        )
    return found


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
            cmd = [
                "ffmpeg",
                "-nostdin",
                "-loglevel",
                "error",
                "-rtsp_transport",
                "tcp",
                "-i",
                url,
                "-map",
                "0:v:0",
                "-c",
                "copy",
                "-f",
                "segment",
                "-segment_time",
                str(args.segment_seconds),
                "-reset_timestamps",
                "1",
                str(out / "%03d.mp4"),
            ]
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


def nvr_config(args: argparse.Namespace, urls: list[str], data: Path, http: str) -> str:
    lines = [
        "[server]",
        f'data_dir = "{data}"',
        f'http = "{http}"',
        "",
        "[recording]",
        f"segment_seconds = {args.segment_seconds}",
    ]
    for k, url in enumerate(urls, 1):
        lines += [
            "",
            "[[cameras]]",
            f'name = "cam{k}"',
            f'url = "{url}"',
            'transport = "tcp"',
            "audio = false",
        ]
    return "\n".join(lines) + "\n"


def start_nvr(args: argparse.Namespace, urls: list[str], base: Path) -> tuple[Child, str]:
    base.mkdir(parents=True)
    http = f"127.0.0.1:{free_port()}"
    config = base / "nvr.toml"
    config.write_text(nvr_config(args, urls, base / "data", http))
    env = dict(os.environ, NVR_ADMIN_PASSWORD=ADMIN_PASSWORD)
    child = Child(
        f"nvr ({len(urls)} cameras)",
        [sys.executable, "-m", "nvr.cli", "run", "--config", str(config)],
        env=env,
    )
    port = int(http.rsplit(":", 1)[1])
    if not wait_port(port, child, 30):
        rc = child.proc.poll()
        if rc is not None:
            raise BenchError(f"nvr run exited with status {rc} at start-up:\n{child.tail()}")
        print(f"  warning: nvr's HTTP port {http} is not open after 30 s", flush=True)
    return child, http


def run_nvr(args: argparse.Namespace, urls: list[str], source: Child, tmp: Path) -> Result:
    n = args.cameras
    rss_one = None
    if n > 1 and not args.no_baseline:
        print("nvr: 1 camera (memory baseline)")
        child, _ = start_nvr(args, urls[:1], tmp / "nvr1")
        try:
            w1 = measure([child], source, args.warmup, args.baseline_seconds, "nvr x1")
            rss_one = w1.rss_mean
        finally:
            child.stop(signal.SIGINT, grace=20)

    print(f"nvr: {n} cameras")
    t_start = time.monotonic()
    child, http = start_nvr(args, urls, tmp / "nvr")
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


def mib(b: float | None) -> str:
    return "-" if b is None else f"{b / 2**20:.1f} MiB"


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


def report(args: argparse.Namespace, results: list[Result]) -> dict:
    sums = {r.name: summarize(r, args.fps) for r in results}
    rows: list[tuple[str, ...]] = []

    def row(label: str, fmt, key: str) -> None:
        vals = []
        for r in results:
            v = sums[r.name][key]
            vals.append("-" if v is None else fmt(v))
        rows.append((label, *vals))

    row("CPU s per camera-minute", lambda v: f"{v:.2f}", "cpu_s_per_camera_minute")
    row("% of one core per camera", lambda v: f"{v:.1f} %", "core_pct_per_camera")
    row("RSS total (mean)", mib, "rss_total")
    row("USS total (end of window)", mib, "uss_total")
    row("RSS per camera", mib, "rss_per_camera")
    row("RSS per extra camera", mib, "rss_per_extra_camera")
    row("frames recorded", lambda v: f"{v}", "frames")
    row("frames expected (recorded span)", lambda v: f"{v}", "frames_expected_in_span")
    row("frames expected (wall time)", lambda v: f"{v}", "frames_expected_wall")
    row("gaps > 1.5 frames (in segments)", lambda v: f"{v}", "gaps")
    row("time lost in gaps", lambda v: f"{v:.2f} s", "gap_seconds")
    row("gaps between segments", lambda v: f"{v}", "boundary_gaps")
    row("segment files", lambda v: f"{v}", "files")
    row("recorded Mbit/s per camera", lambda v: f"{v:.2f}", "mbit_s_per_camera")
    row("cameras with no frames", lambda v: f"{v}", "cameras_without_frames")
    row("source CPU (% of one core)", lambda v: f"{v:.1f} %", "source_core_pct")

    header = ("", *[r.name for r in results])
    if len(results) == 2 and results[0].name == "ffmpeg":
        ff, nv = sums["ffmpeg"], sums["nvr"]
        header = (*header, "nvr/ffmpeg")

        def ratio(a: float | None, b: float | None) -> str:
            return "-" if a is None or not b else f"{a / b:.2f}x"

        ratios = {
            "CPU s per camera-minute": ratio(
                nv["cpu_s_per_camera_minute"], ff["cpu_s_per_camera_minute"]
            ),
            "% of one core per camera": ratio(nv["core_pct_per_camera"], ff["core_pct_per_camera"]),
            "RSS total (mean)": ratio(nv["rss_total"], ff["rss_total"]),
            "RSS per extra camera": ratio(nv["rss_per_extra_camera"], ff["rss_per_camera"]),
            "frames recorded": ratio(nv["frames"], ff["frames"]),
        }
        rows = [(*r, ratios.get(r[0], "")) for r in rows]

    widths = [max(len(str(x[i])) for x in [header, *rows]) for i in range(len(header))]
    print()
    print(
        f"{args.cameras} cameras, {args.width}x{args.height} @ {args.fps} fps, "
        f"{args.bitrate} kbit/s, source {args.source}, warm-up {args.warmup:.0f} s, "
        f"window {args.seconds:.0f} s, {psutil.cpu_count()} CPUs"
    )
    for line in [header, *rows]:
        print(
            "  ".join(
                str(x).ljust(widths[i]) if i == 0 else str(x).rjust(widths[i])
                for i, x in enumerate(line)
            )
        )
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
    p.add_argument("--keep", action="store_true", help="keep the recordings")
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args(argv)
    if args.cameras < 1:
        p.error("--cameras must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
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
        _kill_all()
        if args.keep:
            print(f"recordings kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
