#!/usr/bin/env python3
"""What authentication adds per request: nvr's Guard against no authentication.

    .venv/bin/python scripts/bench_auth.py                      # ~1 minute
    .venv/bin/python scripts/bench_auth.py --requests 20000 --asyncio

One process builds a site in a temp dir (SQLite, production argon2id parameters,
one admin, a session and an API token) and calls the ASGI app directly with a
minimal HTTP scope (no client library, no socket), timing each ``await app(...)``
with ``perf_counter_ns``. The anchor, in the same run: the same app and route
with the Guard replaced by a middleware that puts a fixed admin ``Principal`` in
``scope["state"]["principal"]`` ("disabled": no header parsed, no lookup, no
CSRF/origin check; the security-headers middleware and the route are the same).
Variants: session cookie, Bearer token, cached Basic, uncached Basic (the Basic
cache is cleared before each request, so each pays one argon2id check). Variants
run interleaved in blocks, the order rotated per round. First, the Guard alone
around a no-op app (its own work, without FastAPI's noise). ``--socket N`` (0
skips) adds N round trips over a real uvicorn socket (http.client, keep-alive)
for cookie vs disabled. Last, the KDF: ``hash_password`` / ``verify_password``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import http.client
import platform
import statistics
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psutil
import uvicorn
from argon2 import extract_parameters
from benchlib import load_average, loop_factory, print_table
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nvr.auth.accounts import Accounts
from nvr.auth.audit import AuditLog
from nvr.auth.authenticator import Authenticator
from nvr.auth.passwords import hash_password, verify_password
from nvr.auth.principal import SESSION, Principal
from nvr.auth.sessions import SessionStore
from nvr.db.session import make_engine, make_sessionmaker, upgrade
from nvr.recording.index import SegmentIndex
from nvr.web.app import create_app
from nvr.web.guard import Guard
from nvr.web.services import Services

PASSWORD = "bench-admin-pass-1"
TARGET_US = 200.0
Call = Callable[[], Awaitable[int]]


class NoAuth:
    """The anchor: every request is the admin, nothing is checked."""

    def __init__(self, app: ASGIApp, principal: Principal) -> None:
        self.app, self.principal = app, principal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope.setdefault("state", {})["principal"] = self.principal
        await self.app(scope, receive, send)


def build_site(base: Path) -> tuple[Any, Any, Authenticator, dict[str, list[tuple[bytes, bytes]]]]:
    """The app, the same app without the Guard, the authenticator, headers per variant."""
    url = f"sqlite:///{base / 'nvr.db'}"
    upgrade(url)
    sessions = make_sessionmaker(make_engine(url))
    accounts = Accounts(sessions)
    accounts.add_user("admin", PASSWORD, "admin", (), 1)
    user = accounts.user("admin")
    assert user is not None
    auth = Authenticator(accounts, SessionStore(sessions), AuditLog(sessions))
    cookie, _ = auth.sessions.create(user.id, auth.now_us(), "127.0.0.1", "bench")
    token, _ = accounts.create_token("admin", "bench", auth.now_us(), None)
    services = Services(data_dir=base, index=SegmentIndex(sessions), auth=auth,
                        configured=[f"cam{i}" for i in range(1, 5)])
    guarded, bare = create_app(services), create_app(services)
    fixed = Principal(user_id=user.id, username="admin", role="admin", cameras=(),
                      method=SESSION)
    bare.state.fixed = fixed
    bare.user_middleware = [Middleware(NoAuth, principal=fixed) if m.cls is Guard else m
                            for m in bare.user_middleware]
    basic = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    headers = {"disabled": [], "cookie": [(b"cookie", f"nvr_session={cookie}".encode())],
               "token": [(b"authorization", f"Bearer {token}".encode())],
               "basic (cached)": [(b"authorization", f"Basic {basic}".encode())]}
    headers["basic (uncached)"] = headers["basic (cached)"]
    return guarded, bare, auth, headers


async def noop(scope: Scope, receive: Receive, send: Send) -> None:
    """An app that answers 200 with no body at once (to time the middleware alone)."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def asgi_call(target: ASGIApp, path: str, headers: list[tuple[bytes, bytes]],
              before: Callable[[], None] | None = None, **extra: Any) -> Call:
    """One GET through the ASGI app; returns its status."""
    base = {**extra, "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
            "root_path": "", "query_string": b"", "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8080)}
    request: Message = {"type": "http.request", "body": b"", "more_body": False}

    async def receive() -> Message:
        return request

    async def call() -> int:
        status = 0

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        if before is not None:
            before()
        await target(dict(base, headers=[(b"host", b"nvr.test"), *headers]), receive, send)
        return status

    return call


async def timed(calls: dict[str, Call], total: int, block: int) -> dict[str, list[float]]:
    """µs per request; variants interleaved in blocks, the order rotated each round."""
    names = list(calls)
    out: dict[str, list[float]] = {n: [] for n in names}
    for name, call in calls.items():  # warm-up; also checks every variant gets in
        for _ in range(min(block, 20)):
            if (status := await call()) != 200:
                raise SystemExit(f"error: {name} answered {status}")
    gc.collect()
    for rnd in range(max(1, total // block)):
        for name in names[rnd % len(names):] + names[:rnd % len(names)]:
            call, samples = calls[name], out[name]
            for _ in range(block):
                t0 = time.perf_counter_ns()
                await call()
                samples.append((time.perf_counter_ns() - t0) / 1000)
    return out


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def socket_round_trips(apps: dict[str, ASGIApp], total: int, block: int, uvloop: bool,
                       headers: dict[str, list[tuple[bytes, bytes]]]) -> dict[str, list[float]]:
    """GET /api/me over uvicorn (in a thread) with http.client, keep-alive."""
    servers = {n: uvicorn.Server(uvicorn.Config(a, host="127.0.0.1", port=0, lifespan="off",
                                                log_level="warning", access_log=False))
               for n, a in apps.items()}

    async def serve() -> None:
        await asyncio.gather(*(s.serve() for s in servers.values()))

    def thread() -> None:
        with asyncio.Runner(loop_factory=loop_factory(uvloop)) as loop:
            loop.run(serve())

    runner = threading.Thread(target=thread, daemon=True)
    runner.start()
    while not all(s.started for s in servers.values()):
        time.sleep(0.05)
    conns = {n: http.client.HTTPConnection(
        "127.0.0.1", s.servers[0].sockets[0].getsockname()[1]) for n, s in servers.items()}
    out: dict[str, list[float]] = {n: [] for n in servers}
    for rnd in range(-1, max(1, total // block)):
        for name, conn in (conns.items() if rnd % 2 else reversed(conns.items())):
            hdrs = {k.decode(): v.decode() for k, v in headers[name]}
            for _ in range(block):
                t0 = time.perf_counter_ns()
                conn.request("GET", "/api/me", headers=hdrs)
                resp = conn.getresponse()
                resp.read()
                if rnd >= 0:
                    out[name].append((time.perf_counter_ns() - t0) / 1000)
                elif resp.status != 200:
                    raise SystemExit(f"error: {name} over the socket answered {resp.status}")
    for s in servers.values():
        s.should_exit = True
    runner.join(10)
    return out


def report(title: str, samples: dict[str, list[float]], target: set[str]) -> None:
    anchor = samples["disabled"]
    a50, a90 = statistics.median(anchor), pct(anchor, 0.9)
    rows = []
    for name, s in samples.items():
        m, p90 = statistics.median(s), pct(s, 0.9)
        added = f"{m - a50:.1f} µs = {(m - a50) / 1000:.3f} ms"
        added = "(anchor)" if name == "disabled" else added
        verdict = ("met" if m - a50 < TARGET_US else "MISSED") if name in target else "-"
        rows.append((name, len(s), f"{m:.1f}", f"{p90:.1f}", f"{statistics.fmean(s):.1f}",
                     f"{m / a50:.2f}x", added,
                     "-" if name == "disabled" else f"{p90 - a90:.1f}", verdict))
    print(f"\n{title}")
    print_table(("variant", "n", "median µs", "p90 µs", "mean µs", "vs anchor",
                 "added (median)", "added p90 µs", "< 0.2 ms"), rows)


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench_auth.") as tmp:
        t0 = time.monotonic()
        guarded, bare, auth, headers = build_site(Path(tmp))
        print(f"site built in {time.monotonic() - t0:.1f} s (one argon2id hash)\n")
        fast = ("cookie", "token", "basic (cached)")
        alone = {"disabled": asgi_call(NoAuth(noop, bare.state.fixed), "/api/me", [])}
        alone |= {n: asgi_call(Guard(noop), "/api/me", headers[n], app=guarded) for n in fast}
        report("the middleware alone (Guard or NoAuth around a no-op app; scope['app'] set)",
               await timed(alone, args.requests, args.block), set(fast))
        for path in ("/api/me", "/api/cameras"):
            calls = {"disabled": asgi_call(bare, path, headers["disabled"])}
            calls |= {n: asgi_call(guarded, path, headers[n]) for n in fast}
            samples = await timed(calls, args.requests, args.block)
            slow = asgi_call(guarded, path, headers["basic (uncached)"], auth._basic.clear)
            samples |= await timed({"basic (uncached)": slow}, args.kdf_requests, 1)
            report(f"GET {path}, in-process ASGI call", samples, set(fast))
        if args.socket:
            print("\n  (socket round trips: uvicorn in a thread, http.client in this one)")
            trips = await asyncio.to_thread(socket_round_trips, {"disabled": bare,
                                            "cookie": guarded}, args.socket, args.block,
                                            args.loop == "uvloop", headers)
            report("GET /api/me over a uvicorn socket (keep-alive)", trips, {"cookie"})


def kdf_cost(n: int) -> None:
    """Wall and CPU (all threads) ms per hash_password and per verify_password."""
    wall: dict[str, list[float]] = {"hash_password": [], "verify_password": []}
    cpu: dict[str, list[float]] = {"hash_password": [], "verify_password": []}
    stored = ""
    for _ in range(n):
        for name in wall:
            t0, c0 = time.perf_counter(), time.process_time()
            if name == "hash_password":
                stored = hash_password(PASSWORD)
            else:
                assert verify_password(stored, PASSWORD)
            wall[name].append((time.perf_counter() - t0) * 1000)
            cpu[name].append((time.process_time() - c0) * 1000)
    p = extract_parameters(stored)
    print(f"\nargon2id per login ({p.type.name}, t={p.time_cost}, m={p.memory_cost // 1024} MiB, "
          f"p={p.parallelism}: nvr's production parameters), aim 50-250 ms wall:")
    print_table(("operation", "n", "median ms", "min ms", "max ms", "CPU ms (median)",
                 "50-250 ms"), [
        (name, n, f"{statistics.median(v):.1f}", f"{min(v):.1f}", f"{max(v):.1f}",
         f"{statistics.median(cpu[name]):.1f}",
         "met" if 50 <= statistics.median(v) <= 250 else "MISSED")
        for name, v in wall.items()])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=6000, help="per variant and route")
    ap.add_argument("--block", type=int, default=100, help="requests per interleaved block")
    ap.add_argument("--kdf-requests", type=int, default=10, help="uncached Basic, per route")
    ap.add_argument("--kdf", type=int, default=10, help="hash/verify pairs for the KDF cost")
    ap.add_argument("--socket", type=int, default=3000, help="socket round trips per variant "
                    "(0: skip)")
    ap.add_argument("--asyncio", dest="loop", action="store_const", const="asyncio",
                    default="uvloop", help="asyncio's own loop (default: uvloop, as nvr runs)")
    args = ap.parse_args()
    print(f"bench_auth: {platform.python_implementation()} {platform.python_version()}, "
          f"{platform.processor() or platform.machine()}, {psutil.cpu_count()} CPUs, "
          f"{load_average()}, {args.loop} loop")
    print('"disabled": the Guard replaced by a middleware that sets a fixed admin Principal '
          "(nothing parsed or checked);\nthe security-headers middleware, routing and the "
          "route (sync, so run in anyio's thread pool) are the same.")
    with asyncio.Runner(loop_factory=loop_factory(args.loop == "uvloop")) as runner:
        runner.run(run(args))
    if args.kdf:
        kdf_cost(args.kdf)


if __name__ == "__main__":
    main()
