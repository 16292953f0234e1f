#!/usr/bin/env python3
"""Web benchmarks, one section each (``--only NAME`` runs one):

    .venv/bin/python scripts/bench_web.py                       # every section, ~1 minute
    .venv/bin/python scripts/bench_web.py --only timeline --requests 500

``timeline``: ``GET /api/cameras/{name}/timeline`` for one day, on an index of 10
cameras x 30 days of 60 s segments (432 000 rows, SQLite in a temp dir; a few
outages per day so that there are gaps to find), with motion in 3 % of the
seconds (``motion_seconds``, ~780 000 rows: the day's per-minute bars) and 20
events per camera and day (the markers). Target: < 20 ms a request. Each
request asks for a random camera and day (today included). Timed, per request:
the whole route through the app (httpx's ASGI transport; Bearer token, Guard,
JSON), and on its own the work the route does in its thread (two columns
through the (camera, start_us) index + merge). The anchor, in the same run: the
same day through the index's general ``query`` (whole ORM rows, no lower bound
on start_us) + the same merge. Medians and p95 in ms, anchor/ours ratio.

``frames``: ``GET /api/cameras/{name}/frame.jpg`` on a real recorded segment
(1280x720 H.264, 60 s, a keyframe every 2 s) at random times, width 320: a cold
request (keyframe times from the file's boxes, then FFmpeg opens, seeks, decodes
one keyframe; scale, JPEG, store) against the same request answered from the
disk cache (keyframe times, read the stored JPEG: no FFmpeg).

More sections (live view) are to come; each is a function in ``SECTIONS``.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
from argon2 import PasswordHasher
from benchlib import load_average, loop_factory, print_table
from sqlalchemy import insert

from nvr.auth import passwords
from nvr.auth.accounts import Accounts
from nvr.auth.audit import AuditLog
from nvr.auth.authenticator import Authenticator
from nvr.auth.sessions import SessionStore
from nvr.db.models import Event, MotionSecond, Segment
from nvr.db.session import make_engine, make_sessionmaker, upgrade
from nvr.recording.index import SegmentIndex
from nvr.recording.timeline import day_bounds, merge, zone
from nvr.web.app import create_app
from nvr.web.services import Services

US = 1_000_000
CAMERAS = [f"cam{i:02d}" for i in range(1, 11)]
DAYS = 30
TARGET_MS = 20.0


# ----------------------------------------------------------------------------- shared


def make_site(root: Path, cameras: list[str]) -> tuple[Any, Services, str, SegmentIndex]:
    """An app on SQLite in ``root``: one admin with an API token. Returns (app,
    services, token, index)."""
    passwords.use_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    url = f"sqlite:///{root / 'nvr.db'}"
    upgrade(url)
    sessions = make_sessionmaker(make_engine(url))
    accounts = Accounts(sessions)
    accounts.add_user("admin", "bench-admin-pass-1", "admin", (), 1)
    auth = Authenticator(accounts, SessionStore(sessions), AuditLog(sessions))
    token, _ = accounts.create_token("admin", "bench", auth.now_us(), None)
    index = SegmentIndex(sessions)
    services = Services(data_dir=root, index=index, auth=auth, configured=list(cameras),
                        sessions=sessions)
    return create_app(services), services, token, index


def ms(values: list[float]) -> tuple[str, str]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"{statistics.median(ordered) * 1e3:.2f}", f"{p95 * 1e3:.2f}"


async def timed(calls: int, call: Callable[[int], Awaitable[None]]) -> list[float]:
    out = []
    for i in range(calls):
        start = time.perf_counter()
        await call(i)
        out.append(time.perf_counter() - start)
    return out


def client(app: Any, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench",
                             headers={"Authorization": f"Bearer {token}"})


# ----------------------------------------------------------------------------- timeline


def fill_index(url: str, today: date) -> int:
    """10 cameras x 30 days of touching 60 s segments, with 3 outages a day."""
    engine = make_engine(url)
    rnd = random.Random(1)
    total = 0
    try:
        first = int(datetime.combine(today - timedelta(days=DAYS - 1), datetime.min.time(),
                                     tzinfo=UTC).timestamp()) * US
        for camera in CAMERAS:
            rows = []
            outages = set()
            for day in range(DAYS):
                for _ in range(3):
                    start = day * 1440 + rnd.randrange(1440 - 30)
                    outages.update(range(start, start + rnd.randrange(1, 30)))
            for minute in range(DAYS * 1440):
                if minute in outages:
                    continue
                start_us = first + minute * 60 * US
                rows.append({"camera": camera, "start_us": start_us,
                             "end_us": start_us + 60 * US, "duration": 60.0,
                             "bytes": 30_000_000, "path": f"recordings/{camera}/{minute}.mp4",
                             "video_codec": "h264", "audio_codec": None, "width": 1920,
                             "height": 1080})
            with make_sessionmaker(engine).begin() as session:
                session.execute(insert(Segment), rows)
                session.execute(insert(MotionSecond), motion_rows(rnd, camera, first // US))
                session.execute(insert(Event), [
                    {"camera": camera, "type": "motion", "start_us": t * US,
                     "end_us": (t + 30) * US, "score": 0.5, "zones": "[]", "details": "{}"}
                    for t in range(first // US, first // US + DAYS * 86_400, 86_400 // 20)])
            total += len(rows)
    finally:
        engine.dispose()
    return total


def motion_rows(rnd: random.Random, camera: str, first_s: int) -> list[dict[str, Any]]:
    """Bursts of 1-30 seconds of motion covering about 3 % of the seconds."""
    out: list[dict[str, Any]] = []
    second, grid = first_s, (0xFFF).to_bytes(18, "big")
    while second < first_s + DAYS * 86_400:
        second += rnd.randrange(1, 1000)
        for s in range(second, second + rnd.randrange(1, 31)):
            out.append({"camera": camera, "second": s, "cells": 12, "grid": grid})
        second += 31
    return out


async def bench_timeline(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        app, _, token, index = make_site(root, CAMERAS)
        today = datetime.now(UTC).date()
        start = time.perf_counter()
        rows = await asyncio.to_thread(fill_index, f"sqlite:///{root / 'nvr.db'}", today)
        size = (root / "nvr.db").stat().st_size
        print(f"\n== timeline: {rows} segment rows ({len(CAMERAS)} cameras x {DAYS} days), "
              f"SQLite {size / 1e6:.0f} MB, filled in {time.perf_counter() - start:.1f} s")
        rnd = random.Random(2)
        asks = [(rnd.choice(CAMERAS), today - timedelta(days=rnd.randrange(DAYS)),
                 rnd.choice(["UTC", "Europe/Berlin", "America/New_York"]))
                for _ in range(args.requests)]
        asks[:20] = [(c, today, "UTC") for c in CAMERAS] * 2  # today, every camera
        async with client(app, token) as http:
            for camera, day, tz in asks[:20]:  # warm up: caches, prepared statements
                (await http.get(f"/api/cameras/{camera}/timeline",
                                params={"day": day.isoformat(), "tz": tz})).raise_for_status()

            async def route(i: int) -> None:
                camera, day, tz = asks[i]
                answer = await http.get(f"/api/cameras/{camera}/timeline",
                                        params={"day": day.isoformat(), "tz": tz})
                assert answer.status_code == 200 and answer.json()["spans"], answer.text

            def ours(i: int) -> int:
                camera, day, tz = asks[i]
                lo, hi = day_bounds(day, zone(tz))
                return len(merge(index.ranges(camera, lo, hi)))

            def anchor(i: int) -> int:
                camera, day, tz = asks[i]
                lo, hi = day_bounds(day, zone(tz))
                return len(merge((r.start_us, r.end_us) for r in index.query(camera, lo, hi)))

            async def in_thread(fn: Callable[[int], int]) -> Callable[[int], Awaitable[None]]:
                async def call(i: int) -> None:
                    await asyncio.to_thread(fn, i)
                return call

            results: dict[str, list[float]] = {"route": [], "ours": [], "anchor": []}
            calls = {"route": route, "ours": await in_thread(ours),
                     "anchor": await in_thread(anchor)}
            for block in range(0, args.requests, 50):  # interleaved, so drift hits all
                for name, call in calls.items():
                    results[name] += await timed(min(50, args.requests - block),
                                                 lambda i, c=call, b=block: c(b + i))
        med = {k: statistics.median(v) for k, v in results.items()}
        print_table(["timeline, one day", "median ms", "p95 ms", "vs anchor"], [
            ["route (HTTP through the app)", *ms(results["route"]),
             f"{med['anchor'] / med['route']:.2f}x"],
            ["ranges + merge (the route's query)", *ms(results["ours"]),
             f"{med['anchor'] / med['ours']:.2f}x"],
            ["anchor: query (ORM rows) + merge", *ms(results["anchor"]), "1.00x"],
        ])
        verdict = "meets" if med["route"] * 1e3 < TARGET_MS else "MISSES"
        print(f"target < {TARGET_MS:.0f} ms a request: {verdict} it "
              f"(median {med['route'] * 1e3:.2f} ms)")


# ----------------------------------------------------------------------------- frames


def record_segment(root: Path, index: SegmentIndex, start_us: int, seconds: int) -> None:
    """A real 1280x720 segment, written as the recorder does (one fragment per GOP)."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_fmp4 import FPS, TICKS, encode_video

    from nvr.recording.index import SegmentInfo
    from nvr.recording.probe import segment_relpath
    from nvr.recording.writer import SegmentWriter

    params, frames = encode_video(seconds * FPS)
    relpath = f"recordings/{segment_relpath('cam01', start_us).as_posix()}"
    writer = SegmentWriter(root / relpath, params, None, auto_flush=False)
    for data, pts, dts, key in frames:
        if key and (fragment := writer.take_fragment()):
            writer.write_fragment(fragment)
        writer.write_video(data, pts, dts, TICKS, key)
    size = writer.close()
    index.add(SegmentInfo(camera="cam01", start_us=start_us, end_us=start_us + seconds * US,
                          duration=float(seconds), bytes=size, path=relpath,
                          video_codec="h264", audio_codec=None, width=1280, height=720))


async def bench_frames(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        app, _, token, index = make_site(root, ["cam01"])
        start_us = 1_714_521_600 * US
        await asyncio.to_thread(record_segment, root, index, start_us, 60)
        print("\n== frames: one 60 s 1280x720 H.264 segment, a keyframe every 2 s, width 320")
        rnd = random.Random(3)
        keyframes = list(range(0, 60, 2))
        rnd.shuffle(keyframes)
        count = min(args.frames, len(keyframes))

        def at(i: int) -> str:  # somewhere inside the GOP of keyframe i
            us = start_us + keyframes[i] * US + rnd.randrange(2 * US)
            return datetime.fromtimestamp(us / US, UTC).isoformat().replace("+00:00", "Z")

        async with client(app, token) as http:
            async def ask(i: int) -> None:
                answer = await http.get("/api/cameras/cam01/frame.jpg",
                                        params={"at": at(i), "width": 320})
                assert answer.status_code == 200, answer.text

            cold = await timed(count, ask)
            warm = await timed(count, ask)
        print_table(["frame.jpg, width 320", "median ms", "p95 ms"], [
            ["cold: decode + scale + JPEG + store", *ms(cold)],
            ["cached: keyframe times + stored JPEG", *ms(warm)],
        ])
        print(f"cold/cached: {statistics.median(cold) / statistics.median(warm):.1f}x")


SECTIONS: dict[str, Callable[[argparse.Namespace], Awaitable[None]]] = {
    "timeline": bench_timeline,
    "frames": bench_frames,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", choices=sorted(SECTIONS), action="append",
                    help="run this section (repeatable); default: all")
    ap.add_argument("--requests", type=int, default=300, help="timeline requests per variant")
    ap.add_argument("--frames", type=int, default=30, help="frame.jpg requests (at most 30)")
    ap.add_argument("--asyncio", dest="loop", action="store_const", const="asyncio",
                    default="uvloop", help="asyncio's own loop (default: uvloop, as nvr runs)")
    args = ap.parse_args()
    print(f"bench_web: {platform.python_implementation()} {platform.python_version()}, "
          f"{platform.processor() or platform.machine()}, {psutil.cpu_count()} CPUs, "
          f"{load_average()}, {args.loop} loop")
    with asyncio.Runner(loop_factory=loop_factory(args.loop == "uvloop")) as runner:
        for name in args.only or SECTIONS:
            runner.run(SECTIONS[name](args))


if __name__ == "__main__":
    main()
