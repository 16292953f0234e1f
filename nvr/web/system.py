"""``GET /system`` and ``GET /api/system`` (admins): one snapshot of nvr's health,
as a page and as JSON.

Version and uptime, the process's CPU and memory (from ``/proc/self``, or
``resource`` where there is no /proc), every camera's state and counters, the
disk under data_dir, the database's size and the config's problems; the page also
lists the latest alert deliveries (``nvr.web.api.alerts``) and the RTMP server's
streams with their play URLs (``nvr.web.rtmp_view``). Gathering
touches the disk and the database: :func:`gather` runs in a thread.
"""

from __future__ import annotations

import asyncio
import os
import resource
import shutil
import threading
import time
from dataclasses import dataclass

from fastapi import APIRouter
from pydantic import BaseModel
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from nvr import __version__
from nvr.config.problems import config_problems, size_text
from nvr.web.api.alerts import latest as latest_deliveries
from nvr.web.api.deps import AdminDep, ServicesDep
from nvr.web.api.recordings import iso
from nvr.web.pages.recordings import duration_text
from nvr.web.pages.render import render
from nvr.web.rtmp_view import play_host
from nvr.web.rtmp_view import summary as rtmp_summary
from nvr.web.services import Services

router = APIRouter()


class ProcessInfo(BaseModel):
    pid: int
    cpu_percent: float  # of one core, since the previous look (or since start)
    cpu_seconds: float
    memory_bytes: int  # resident set
    threads: int


class DiskInfo(BaseModel):
    path: str
    total_bytes: int
    used_bytes: int
    free_bytes: int
    recordings_bytes: int


class DatabaseInfo(BaseModel):
    kind: str  # "sqlite", "postgresql", ...
    bytes: int | None


class CameraHealth(BaseModel):
    name: str  # a camera, or its sub stream "<camera>/sub"
    enabled: bool
    record: str  # "continuous" | "off"
    status: str  # a source status, or "disabled"
    last_error: str | None
    codec: str | None
    width: int | None
    height: int | None
    fps: float
    bitrate_kbps: float
    frames: int
    dropped: int  # frames lost by slow consumers
    corrupt: int  # frames from the camera found invalid
    segments: int
    recorded_bytes: int


class SystemInfo(BaseModel):
    version: str
    started: str
    uptime_seconds: float
    process: ProcessInfo
    disk: DiskInfo
    database: DatabaseInfo
    cameras: list[CameraHealth]
    problems: list[str]


@dataclass
class _Proc:
    cpu_seconds: float
    memory_bytes: int
    threads: int
    started: float | None  # epoch seconds, when /proc tells


def _read_proc() -> _Proc:
    """This process's CPU time, resident memory, threads and start time."""
    try:
        with open("/proc/self/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
        fields = stat[stat.rindex(")") + 2 :].split()  # fields from the 3rd on
        ticks = os.sysconf("SC_CLK_TCK")
        boot = _boot_time()
        return _Proc(
            cpu_seconds=(int(fields[11]) + int(fields[12])) / ticks,
            memory_bytes=int(fields[21]) * resource.getpagesize(),
            threads=int(fields[17]),
            started=boot + int(fields[19]) / ticks if boot is not None else None)
    except (OSError, ValueError, IndexError):
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return _Proc(usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024,
                     threading.active_count(), None)


def _boot_time() -> float | None:
    with open("/proc/stat", "rb") as f:
        for line in f:
            if line.startswith(b"btime "):
                return float(line.split()[1])
    return None


class CpuMeter:
    """CPU % of one core between two looks at least ``interval`` apart."""

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self._last: tuple[float, float] | None = None  # (monotonic, cpu seconds)
        self._percent: float | None = None

    def percent(self, cpu_seconds: float, uptime: float) -> float:
        now = time.monotonic()
        with self._lock:
            if self._last is None:
                self._last = (now, cpu_seconds)
                self._percent = 100 * cpu_seconds / uptime if uptime > 0 else 0.0
            elif now - self._last[0] >= self.interval:
                then, cpu_then = self._last
                self._percent = 100 * (cpu_seconds - cpu_then) / (now - then)
                self._last = (now, cpu_seconds)
            return round(self._percent or 0.0, 1)


def _cameras(services: Services, recorded: dict[str, tuple[int, int, int, int]]
             ) -> list[CameraHealth]:
    configs = services.config.cameras if services.config is not None else []
    known = {c.name: c for c in configs}
    out = []
    for name in services.configured:
        cam = known.get(name)
        enabled = cam.enabled if cam is not None else name in services.registry
        record = cam.record if cam is not None else "continuous"
        segments, size = recorded.get(name, (0, 0, 0, 0))[:2]
        feeds = [name] + ([f"{name}/sub"] if f"{name}/sub" in services.registry else [])
        for feed_name in feeds:
            source, feed = services.registry.source(feed_name), services.registry.get(feed_name)
            main = feed_name == name
            if source is None or feed is None:
                out.append(CameraHealth(
                    name=feed_name, enabled=enabled, record=record,
                    status="disabled" if not enabled else "offline",
                    last_error=None if not enabled else "not running", codec=None, width=None,
                    height=None, fps=0.0, bitrate_kbps=0.0, frames=0, dropped=0, corrupt=0,
                    segments=segments, recorded_bytes=size))
                continue
            st = source.state
            out.append(CameraHealth(
                name=feed_name, enabled=enabled, record=record if main else "off",
                status=st.status, last_error=st.last_error, codec=st.codec,
                width=st.width or None, height=st.height or None, fps=round(st.fps, 2),
                bitrate_kbps=round(st.bitrate_kbps, 1), frames=feed.stats.frames,
                dropped=feed.stats.dropped, corrupt=st.corrupt,
                segments=segments if main else 0, recorded_bytes=size if main else 0))
    return out


def gather(services: Services, meter: CpuMeter) -> SystemInfo:
    """Everything on the System page (blocking: disk and database)."""
    now = time.time()
    proc = _read_proc()
    started = proc.started if proc.started is not None else services.started
    uptime = max(0.0, now - started)
    recorded = services.index.summary()
    disk = shutil.disk_usage(services.data_dir)
    kind, db_bytes = services.index.database_size()
    problems = config_problems(services.config) if services.config is not None else []
    if services.config is not None:
        min_free = services.config.recording.min_free
        if min_free and disk.free < min_free:
            problems.insert(0, f"data_dir: {size_text(disk.free)} free, below "
                               f"recording.min_free ({size_text(min_free)}): the oldest "
                               "recordings are being deleted")
    return SystemInfo(
        version=__version__,
        started=iso(int(started * 1_000_000)),
        uptime_seconds=round(uptime, 1),
        process=ProcessInfo(pid=os.getpid(), cpu_percent=meter.percent(proc.cpu_seconds, uptime),
                            cpu_seconds=round(proc.cpu_seconds, 2),
                            memory_bytes=proc.memory_bytes, threads=proc.threads),
        disk=DiskInfo(path=str(services.data_dir), total_bytes=disk.total,
                      used_bytes=disk.used, free_bytes=disk.free,
                      recordings_bytes=sum(v[1] for v in recorded.values())),
        database=DatabaseInfo(kind=kind, bytes=db_bytes),
        cameras=_cameras(services, recorded),
        problems=problems,
    )


async def system_info(conn: HTTPConnection, services: Services) -> SystemInfo:
    """Gathered in a thread (disk and database); the CPU meter lives with the app."""
    meter = getattr(conn.app.state, "cpu_meter", None)
    if meter is None:
        meter = conn.app.state.cpu_meter = CpuMeter()
    return await asyncio.to_thread(gather, services, meter)


@router.get("/api/system", response_model=SystemInfo)
async def get_system(conn: HTTPConnection, services: ServicesDep, _: AdminDep) -> SystemInfo:
    return await system_info(conn, services)


def uptime_text(seconds: float) -> str:
    """``3 d 4 h``, ``5 h 12 min``, ``42 s``."""
    s = int(seconds)
    if s < 3600:
        return duration_text(s)
    days, rest = divmod(s, 86400)
    hours, rest = divmod(rest, 3600)
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {rest // 60} min"


@router.get("/system", include_in_schema=False)
async def system_page(request: Request, services: ServicesDep, user: AdminDep) -> Response:
    info = await system_info(request, services)
    alerts = await latest_deliveries(services)
    return render(request, "system.html", user=user, csrf_token=user.csrf or "",
                  section="system", info=info, size=size_text, uptime=uptime_text,
                  alerts=alerts, mqtt=services.mqtt() if services.mqtt else None,
                  rtmp=rtmp_summary(services, play_host(request, services.config)))
