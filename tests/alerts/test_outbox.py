"""OutboxWorker against a real HTTP receiver: retries, signatures, isolation, restart,
giving up after 24 h (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest
from receiver import Receiver
from sqlalchemy.orm import Session, sessionmaker

from nvr.alerts.outbox import OutboxWorker, list_deliveries
from nvr.alerts.webhook import request_headers, sign, verify
from nvr.clock import ManualClock
from nvr.config.webhooks import WebhookConfig
from nvr.db.session import make_engine, make_sessionmaker, upgrade
from nvr.events.store import EventStore

SECRET = "0123456789abcdef"
S = 1_000_000


def hook(name: str, url: str) -> WebhookConfig:
    return WebhookConfig(name=name, url=url, secret=SECRET)


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    upgrade(db_url)
    engine = make_engine(db_url)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = await Receiver(SECRET).start()
    yield server
    await server.stop()


def fast_worker(sessions: sessionmaker[Session], hooks: list[WebhookConfig],
                **kw: object) -> OutboxWorker:
    options: dict = {"poll": 0.02, "base": 0.02, "cap": 0.1, "timeout": 0.5,
                     "rng": random.Random(1)} | kw
    return OutboxWorker(sessions, hooks, **options)


async def until(check: Callable[[], bool], seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"not within {seconds} s")


def states(sessions: sessionmaker[Session]) -> list[str]:
    return [d.state for d in list_deliveries(sessions)]


def test_sign_and_verify() -> None:
    body = b'{"version":1}'
    header = request_headers(SECRET, 1_700_000_000, body, "nvr-1-start")["X-NVR-Signature"]
    assert header == f"t=1700000000,v1={sign(SECRET, 1_700_000_000, body)}"
    assert verify(SECRET, header, body, now=1_700_000_100)
    assert not verify(SECRET, header, body + b" ", now=1_700_000_100)
    assert not verify("another-secret-123", header, body, now=1_700_000_100)
    assert not verify(SECRET, header, body, now=1_700_001_000)  # too old
    assert not verify(SECRET, "v1=abc", body, now=1_700_000_000)


async def test_retries_then_each_phase_once(sessions, receiver: Receiver) -> None:
    receiver.scripts["/a"] = deque([500, "hang", 503])
    hooks = [hook("a", receiver.url("/a"))]
    store = EventStore(sessions, hooks)
    event = await asyncio.to_thread(store.open, "front", "motion", 1 * S, 0.5, ["door"])
    worker = fast_worker(sessions, hooks)
    async with asyncio.TaskGroup() as group:
        task = group.create_task(worker.run())
        await until(lambda: len(receiver.accepted["/a"]) == 1)
        await asyncio.to_thread(store.update, event, 0.9)
        worker.notify()
        await until(lambda: len(receiver.accepted["/a"]) == 2)
        await asyncio.to_thread(store.close, event, 9 * S)
        worker.notify()
        await until(lambda: len(receiver.accepted["/a"]) == 3)
        await until(lambda: states(sessions) == ["delivered"] * 3)
        task.cancel()
    assert receiver.bad_signatures == 0 and receiver.hanging == 1
    assert [(b["phase"], b["event_id"], b["score"]) for b in receiver.accepted["/a"]] == [
        ("start", event, 0.5), ("update", event, 0.9), ("end", event, 0.9)]
    assert receiver.keys["/a"] == [f"nvr-{event}-start", f"nvr-{event}-update-1",
                                   f"nvr-{event}-end"]
    start = list_deliveries(sessions)[-1]
    assert start.phase == "start" and start.attempts == 4 and start.last_error is None


async def test_slow_target_does_not_delay_another(sessions, receiver: Receiver) -> None:
    receiver.scripts["/slow"] = deque(["hang"] * 3)
    hooks = [hook("slow", receiver.url("/slow")), hook("fast", receiver.url("/fast"))]
    store = EventStore(sessions, hooks)
    worker = fast_worker(sessions, hooks, timeout=30.0)
    async with asyncio.TaskGroup() as group:
        task = group.create_task(worker.run())
        for n in range(3):
            await asyncio.to_thread(store.open, f"cam{n}", "camera_offline", n * S)
            worker.notify()
        await until(lambda: len(receiver.accepted["/fast"]) == 3)
        # the slow target holds its per-target limit (2) of requests, the fast got all 3
        assert receiver.hanging == 2 and receiver.accepted["/slow"] == []
        receiver.release.set()
        task.cancel()


async def test_new_worker_delivers_what_was_pending(db_url, sessions,
                                                    receiver: Receiver) -> None:
    receiver.scripts["/a"] = deque([500, 500])
    hooks = [hook("a", receiver.url("/a"))]
    store = EventStore(sessions, hooks)
    event = await asyncio.to_thread(store.open, "front", "disk_low", 0)
    await asyncio.to_thread(store.close, event, 1 * S)
    assert await fast_worker(sessions, hooks).deliver_due() == 1  # the end waits for the start
    assert receiver.accepted["/a"] == [] and states(sessions) == ["pending", "pending"]
    engine = make_engine(db_url)  # "restart": a new engine and worker on the same database
    try:
        worker = fast_worker(make_sessionmaker(engine), hooks)
        async with asyncio.TaskGroup() as group:
            task = group.create_task(worker.run())
            await until(lambda: len(receiver.accepted["/a"]) == 2)
            task.cancel()
    finally:
        engine.dispose()
    assert [b["phase"] for b in receiver.accepted["/a"]] == ["start", "end"]
    assert receiver.bad_signatures == 0


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_gives_up_after_24_hours(sessions) -> None:
    clock = ManualClock()
    hooks = [hook("dead", f"http://127.0.0.1:{_closed_port()}/")]
    store = EventStore(sessions, hooks, clock)
    await asyncio.to_thread(store.open, "front", "camera_offline", 0)
    elapsed = 0.0
    async with httpx.AsyncClient() as client:
        worker = OutboxWorker(sessions, hooks, clock, client=client, timeout=1.0,
                              rng=random.Random(2))
        while states(sessions) == ["pending"]:
            await worker.deliver_due()
            await clock.advance(600, step=600)
            elapsed += 600
            assert elapsed <= 25 * 3600
    [row] = list_deliveries(sessions)
    assert row.state == "failed" and elapsed >= 23.5 * 3600
    assert row.attempts > 50 and row.last_error and "Connect" in row.last_error
    assert worker.backoff(1) <= 1.0 and 300 <= worker.backoff(30) <= 600


async def test_crash_mid_delivery_is_sent_again_after_the_lease(sessions,
                                                               receiver: Receiver) -> None:
    receiver.scripts["/a"] = deque(["hang"])
    hooks = [hook("a", receiver.url("/a"))]
    store = EventStore(sessions, hooks)
    event = await asyncio.to_thread(store.open, "front", "motion", 0, 0.3)
    async with asyncio.TaskGroup() as group:  # the "crash": cancelled mid-request
        task = group.create_task(fast_worker(sessions, hooks, timeout=5.0).run())
        await until(lambda: receiver.hanging == 1)
        task.cancel()
    assert states(sessions) == ["pending"]
    early = fast_worker(sessions, hooks, clock=ManualClock(start=time.time() + 5))
    assert await early.deliver_due() == 0  # still leased to the crashed worker
    later = fast_worker(sessions, hooks, clock=ManualClock(start=time.time() + 60))
    assert await later.deliver_due() == 1
    assert [b["event_id"] for b in receiver.accepted["/a"]] == [event]
    assert states(sessions) == ["delivered"] and receiver.bad_signatures == 0
