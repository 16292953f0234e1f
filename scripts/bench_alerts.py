#!/usr/bin/env python3
"""Alert delivery benchmarks: how fast the outbox drains, how soon a webhook arrives.

    .venv/bin/python scripts/bench_alerts.py [drain] [latency] [--rows N] [--events N]
                                             [--database URL]

``drain``: N events (default 10,000 deliveries: 5,000 events x start+end) are queued
through the EventStore while nothing delivers, then one OutboxWorker drains them to a
local HTTP receiver that checks every signature; deliveries per second.
``latency``: events opened one at a time through the EventHub (as a motion watch does)
with the worker running: the time from the event firing to its ``start`` arriving at
the receiver, p50/p95/max (target p95 < 1 s).
The receiver is a minimal HTTP/1.1 server on asyncio streams in this process; SQLite
by default (``--database`` for PostgreSQL).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Engine  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from nvr.alerts.outbox import OutboxWorker  # noqa: E402
from nvr.alerts.webhook import verify  # noqa: E402
from nvr.config.webhooks import WebhookConfig  # noqa: E402
from nvr.db.session import make_engine, make_sessionmaker, upgrade  # noqa: E402
from nvr.eventhub import EventHub  # noqa: E402
from nvr.events.store import EventStore  # noqa: E402

SECRET = "bench-webhook-secret"


class Receiver:
    """Answers 200 to every POST; counts bodies and bad signatures, notes arrival times."""

    def __init__(self) -> None:
        self.count = 0
        self.bad = 0
        self.arrived: dict[int, float] = {}  # event id → when its start arrived
        self.port = 0
        self.got = asyncio.Event()  # set at each delivery
        self._server: asyncio.Server | None = None

    async def until(self, done: Callable[[], bool], within: float) -> None:
        """Wait for deliveries until ``done()`` (or ``within`` seconds pass)."""
        deadline = time.monotonic() + within
        while not done() and (left := deadline - time.monotonic()) > 0:
            self.got.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.got.wait(), left)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.readline():
                headers: dict[str, str] = {}
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    key, _, value = line.decode().partition(":")
                    headers[key.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                now = time.monotonic()
                if not verify(SECRET, headers.get("x-nvr-signature", ""), body, time.time()):
                    self.bad += 1
                payload = json.loads(body)
                if payload["phase"] == "start":
                    self.arrived.setdefault(payload["event_id"], now)
                self.count += 1
                self.got.set()
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


def _database(url: str | None, tmp: Path) -> str:
    url = url or f"sqlite:///{tmp / 'bench.db'}"
    upgrade(url)
    return url


async def _setup(url: str) -> tuple[Receiver, WebhookConfig, Engine, sessionmaker[Session]]:
    """A started receiver, the webhook pointing at it, and the database."""
    receiver = Receiver()
    await receiver.start()
    hook = WebhookConfig(name="bench", url=f"http://127.0.0.1:{receiver.port}/",
                         secret=SECRET)
    engine = make_engine(url)
    return receiver, hook, engine, make_sessionmaker(engine)


async def drain(url: str, rows: int) -> None:
    receiver, hook, engine, sessions = await _setup(url)
    store = EventStore(sessions, [hook])
    began = time.monotonic()
    events = rows // 2
    for i in range(events):
        event_id = store.open("cam", "motion", 1_700_000_000_000_000 + i * 1_000_000)
        store.close(event_id, 1_700_000_000_500_000 + i * 1_000_000)
    queued = time.monotonic() - began
    worker = OutboxWorker(sessions, [hook], per_target=8)
    began = time.monotonic()
    task = asyncio.create_task(worker.run())
    await receiver.until(lambda: receiver.count >= events * 2, 600)
    took = time.monotonic() - began
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await receiver.stop()
    engine.dispose()
    print(f"drain: {events * 2} deliveries queued in {queued:.1f} s "
          f"({events * 2 / queued:.0f}/s, two transactions per event)")
    print(f"drain: {receiver.count} delivered in {took:.1f} s = {receiver.count / took:.0f} "
          f"deliveries/s; bad signatures: {receiver.bad}")


async def latency(url: str, count: int) -> None:
    receiver, hook, engine, sessions = await _setup(url)
    worker = OutboxWorker(sessions, [hook])
    hub = EventHub(EventStore(sessions, [hook]), worker.notify)
    task = asyncio.create_task(worker.run())
    fired: dict[int, float] = {}
    for i in range(count):
        began = time.monotonic()
        event_id = await hub.open("cam", "motion", int(time.time() * 1e6))
        fired[event_id] = began
        await receiver.until(lambda e=event_id: e in receiver.arrived, 10)  # type: ignore[misc]
        await hub.close(event_id, int(time.time() * 1e6))
        await asyncio.sleep(0.02 if i % 10 else 0.3)  # sometimes the worker sits idle
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await receiver.stop()
    engine.dispose()
    delays = sorted((receiver.arrived[e] - fired[e]) * 1000 for e in fired
                    if e in receiver.arrived)
    lost = len(fired) - len(delays)
    p95 = delays[int(len(delays) * 0.95) - 1] if delays else float("nan")
    print(f"latency: {len(delays)} events, event fired → start at the receiver: "
          f"p50 {statistics.median(delays):.1f} ms, p95 {p95:.1f} ms, max {delays[-1]:.1f} ms "
          f"(target p95 < 1000 ms); missing {lost}; bad signatures {receiver.bad}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sections", nargs="*", help="drain, latency (default: both)")
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--database", default=None, help="SQLAlchemy URL (default SQLite)")
    args = parser.parse_args()
    args.sections = args.sections or ["drain", "latency"]
    if unknown := set(args.sections) - {"drain", "latency"}:
        parser.error(f"unknown sections: {sorted(unknown)}")
    with tempfile.TemporaryDirectory() as tmp:
        url = _database(args.database, Path(tmp))
        if "drain" in args.sections:
            asyncio.run(drain(url, args.rows))
        if "latency" in args.sections:
            asyncio.run(latency(url, args.events))


if __name__ == "__main__":
    main()
