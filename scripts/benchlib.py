"""What the benchmark scripts share: child processes, CPU/memory sampling, the simulator,
running nvr, recordings checked with ffprobe, tables, the event loop (asyncio or uvloop).
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import contextlib
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
ADMIN_PASSWORD = "bench-admin-pw"  # at least 8 characters, as nvr asks


class BenchError(Exception):
    pass


# ----------------------------------------------------------------------------- processes

_children: list[Child] = []


class Child:
    """A child process in its own session, with stdout lines queued and a stderr tail."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str] | None = None,
                 stdin: bool = False) -> None:
        self.name = name
        self.cmd = cmd
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr_tail: deque[str] = deque(maxlen=40)
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env, start_new_session=True, text=True, errors="replace",
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

    def send(self, line: str) -> None:
        """One line to the child's stdin (a Child made with ``stdin=True``)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def tail(self) -> str:
        return "\n".join(f"    {line}" for line in self.stderr_tail) or "    (no stderr)"

    def check(self, what: str) -> None:
        """BenchError (with the stderr tail) if the process has exited."""
        if not self.alive():
            raise BenchError(f"{what}: {self.name} exited with status "
                             f"{self.proc.returncode}:\n{self.tail()}")

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


def kill_all() -> None:
    """Stop every child still running (at exit, on SIGTERM/SIGHUP, on errors)."""
    stop_all(list(_children), signal.SIGTERM, grace=3.0)


def _on_signal(signum: int, _frame: object) -> None:
    kill_all()
    raise SystemExit(128 + signum)


def install_cleanup() -> None:
    """No child outlives the script: at exit, on SIGTERM and on SIGHUP."""
    atexit.register(kill_all)
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


def _tree(root: psutil.Process) -> list[psutil.Process]:
    procs = [root]
    with contextlib.suppress(psutil.Error):
        procs += root.children(recursive=True)
    return procs


class CpuMeter:
    """CPU seconds (user + system) of process trees, including children that come and go."""

    def __init__(self, roots: list[psutil.Process]) -> None:
        self.roots = roots
        self.start: dict[int, float] = {}
        self.last: dict[int, float] = {}

    def _sample(self) -> dict[int, float]:
        out: dict[int, float] = {}
        for p in (p for root in self.roots for p in _tree(root)):
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
    for p in (p for root in roots for p in _tree(root)):
        with contextlib.suppress(psutil.Error):
            total += p.memory_full_info().uss if unique else p.memory_info().rss
    return total


def load_average() -> str:
    """The 1, 5 and 15 minute load averages and the CPU count, as ``uptime`` says them."""
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f} on {psutil.cpu_count()} CPUs"


@dataclass
class Window:
    seconds: float = 0.0
    cpu: float = 0.0
    source_cpu: float = 0.0
    rss_mean: float = 0.0
    rss_max: int = 0
    uss_end: int = 0


def measure(
    procs: list[Child], source: Child | None, warmup: float, seconds: float, what: str
) -> Window:
    """Warm up, then measure CPU and RSS of ``procs`` over ``seconds`` (and the source's
    CPU); raises BenchError if one of them dies."""

    def check() -> None:
        for c in procs:
            c.check(what)
        if source is not None:
            source.check("source")

    end_warmup = time.monotonic() + warmup
    while time.monotonic() < end_warmup:
        check()
        time.sleep(0.5)
    check()
    meter = CpuMeter([c.ps for c in procs])
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
        rss.append(tree_rss([c.ps for c in procs]))
    meter.update()
    src_meter.update()
    return Window(
        seconds=time.monotonic() - t0, cpu=meter.seconds(), source_cpu=src_meter.seconds(),
        rss_mean=sum(rss) / len(rss) if rss else 0.0, rss_max=max(rss) if rss else 0,
        uss_end=tree_rss([c.ps for c in procs], unique=True),
    )


# ----------------------------------------------------------------------------- sources


def read_urls(child: Child, count: int, timeout: float, marker: str) -> list[str]:
    """``count`` stdout lines containing ``marker`` (from the marker on if it is rtsp://)."""
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


def start_sim(
    cameras: int, width: int, height: int, fps: int, bitrate: int
) -> tuple[Child, list[str]]:
    """``nvr sim`` with ``cameras`` cameras (bitrate in kbit/s); returns it and its URLs."""
    cmd = [sys.executable, "-m", "nvr.cli", "sim", "--cameras", str(cameras),
           "--port", str(free_port()), "--width", str(width), "--height", str(height),
           "--fps", str(fps), "--bitrate", str(bitrate)]
    child = Child("nvr sim", cmd)
    return child, read_urls(child, cameras, 60, "rtsp://")


# ----------------------------------------------------------------------------- nvr


def nvr_config(urls: Sequence[str], data: Path, http: str, segment_seconds: int) -> str:
    """A config recording ``urls`` as cam1..camN over TCP, video only."""
    lines = ["[server]", f'data_dir = "{data}"', f'http = "{http}"', "",
             "[recording]", f"segment_seconds = {segment_seconds}"]
    for k, url in enumerate(urls, 1):
        lines += ["", "[[cameras]]", f'name = "cam{k}"', f'url = "{url}"',
                  'transport = "tcp"', "audio = false"]
    return "\n".join(lines) + "\n"


def start_nvr(
    urls: Sequence[str], base: Path, segment_seconds: int, uvloop: bool = True
) -> tuple[Child, str]:
    """``nvr run`` on a fresh config and data dir under ``base``; returns it and host:port.
    nvr runs on uvloop, as it does by default, or with ``uvloop=False`` on asyncio's
    loop (``NVR_EVENT_LOOP=asyncio``)."""
    base.mkdir(parents=True)
    http = f"127.0.0.1:{free_port()}"
    config = base / "nvr.toml"
    config.write_text(nvr_config(urls, base / "data", http, segment_seconds))
    env = dict(os.environ, NVR_ADMIN_PASSWORD=ADMIN_PASSWORD,
               NVR_EVENT_LOOP="uvloop" if uvloop else "asyncio")
    child = Child(f"nvr ({len(urls)} cameras)",
                  [sys.executable, "-m", "nvr.cli", "run", "--config", str(config)], env=env)
    if not wait_port(int(http.rsplit(":", 1)[1]), child, 30):
        rc = child.proc.poll()
        if rc is not None:
            raise BenchError(f"nvr run exited with status {rc} at start-up:\n{child.tail()}")
        print(f"  warning: nvr's HTTP port {http} is not open after 30 s", flush=True)
    return child, http


def api_get(http: str, path: str) -> Any:
    """GET nvr's API as admin; the decoded JSON."""
    token = base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
    req = urllib.request.Request(f"http://{http}{path}",
                                 headers={"Authorization": f"Basic {token}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)


# ----------------------------------------------------------------------------- ffprobe


def video_pts(path: Path) -> list[float]:
    """The first video stream's packet pts in seconds, sorted (ffprobe); BenchError if it fails."""
    cmd = ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
           "packet=pts_time", "-of", "csv=p=0", str(path)]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise BenchError(f"ffprobe {path}: {e}") from None
    if r.returncode != 0:
        raise BenchError(f"ffprobe {path}: {r.stderr.strip()[-500:]}")
    stripped = (line.strip().rstrip(",") for line in r.stdout.split())
    return sorted(float(s) for s in stripped if s and s != "N/A")


# ----------------------------------------------------------------------------- report


def mib(b: float | None) -> str:
    return "-" if b is None else f"{b / 2**20:.1f} MiB"


def ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or not b else f"{a / b:.2f}x"


def print_table(header: Sequence[object], rows: Sequence[Sequence[object]]) -> None:
    """First column left-aligned, the others right-aligned."""
    lines = [tuple(str(x) for x in header), *(tuple(str(x) for x in r) for r in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    for line in lines:
        print("  ".join(x.ljust(widths[i]) if i == 0 else x.rjust(widths[i])
                        for i, x in enumerate(line)))


# ----------------------------------------------------------------------------- event loop


def loop_factory(uvloop: bool) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory (exits with a hint if uvloop is missing), or None: asyncio's."""
    if not uvloop:
        return None
    try:
        import uvloop as uv
    except ImportError:
        raise SystemExit("error: uvloop is not installed (.venv/bin/pip install uvloop)") from None
    return uv.new_event_loop

