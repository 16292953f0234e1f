"""[[notify]] through the outbox: Apprise's json:// to a real local HTTP endpoint sees
each phase once, with the snapshot attached, after retries; filters, cooldown, pruning;
the Apprise URL (its token) never in logs, errors or repr."""

from __future__ import annotations

import asyncio
import base64
import logging
import random
from collections import deque
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from receiver import Receiver
from sqlalchemy.orm import Session, sessionmaker

from nvr.alerts.notify import message, scrub
from nvr.alerts.outbox import OutboxWorker, list_deliveries
from nvr.clock import ManualClock
from nvr.config.notify import NotifyConfig
from nvr.db.session import make_engine, make_sessionmaker, upgrade
from nvr.events.store import EventStore

S = 1_000_000
TOKEN = "tok3nSecretXYZ"  # in the URL path, as Apprise services carry their tokens
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4 + b"\xff\xd9"


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    url = f"sqlite:///{tmp_path / 'nvr.db'}"
    upgrade(url)
    engine = make_engine(url)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def root_log() -> Iterator[list[str]]:
    """Every message that reaches the root logger's handlers, as nvr's log file would
    see them. (pytest's caplog also hooks non-propagating loggers, such as Apprise's
    after ``quiet_apprise``; a real root handler does not get those.)"""
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(f"{record.name}: {record.getMessage()}")

    root, handler = logging.getLogger(), Keep(logging.DEBUG)
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield lines
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
async def endpoint() -> AsyncIterator[Receiver]:
    server = await Receiver("unused-secret-0123").start()  # Apprise does not sign
    yield server
    await server.stop()


def entry(endpoint: Receiver, name: str | None = "phone", **kw: object) -> NotifyConfig:
    return NotifyConfig.model_validate(
        {"name": name, "urls": [f"json://127.0.0.1:{endpoint.port}/{TOKEN}/{name}"], **kw})


def worker(sessions: sessionmaker[Session], notify: list[NotifyConfig], clock: ManualClock,
           data_dir: Path | None = None) -> OutboxWorker:
    return OutboxWorker(sessions, [], clock, notify=notify, data_dir=data_dir, timeout=2.0,
                        notify_timeout=5.0, rng=random.Random(1))


async def test_start_and_end_once_with_snapshot_after_a_refusal(
        sessions, endpoint: Receiver, tmp_path: Path, root_log: list[str]) -> None:
    (tmp_path / "snapshots" / "front").mkdir(parents=True)
    clock = ManualClock(start=1_800_000_000)
    phone = entry(endpoint)
    path = f"/{TOKEN}/phone"
    endpoint.scripts[path] = deque([503])
    store = EventStore(sessions, [], clock, notify=[phone], public_url="https://nvr.example")
    out = worker(sessions, [phone], clock, data_dir=tmp_path)
    event = await asyncio.to_thread(store.open, "front", "motion", int(clock.time() * S),
                                    0.82, ["door"])
    assert await out.deliver_due() == 0  # the start waits for the snapshot
    (tmp_path / "snapshots" / "front" / f"{event}.jpg").write_bytes(JPEG)
    await asyncio.to_thread(store.set_snapshot, event, f"snapshots/front/{event}.jpg")
    assert await out.deliver_due() == 1  # due at once now; the endpoint refuses it
    [row] = list_deliveries(sessions)
    assert (row.state, row.attempts) == ("pending", 1)
    assert row.last_error and row.last_error.startswith("JSON: ") and "503" in row.last_error
    await asyncio.to_thread(store.update, event, 0.95, ["gate"])  # no update for phones
    await asyncio.to_thread(store.close, event, int(clock.time() * S) + 12 * S)
    await clock.advance(5, step=5)
    assert await out.deliver_due() == 1  # the end waits for its start
    assert await out.deliver_due() == 1
    got = endpoint.accepted[path]
    assert [m["title"] for m in got] == ["Motion on front", "Motion on front ended"]
    assert got[0]["message"].startswith("Motion on front (zones: door) at ")
    assert got[1]["message"].startswith("Motion on front ended (zones: door, gate) after 12 s")
    assert f"https://nvr.example/api/events/{event}/clip.mp4" in got[0]["message"]
    for sent in got:
        [attachment] = sent["attachments"]
        assert base64.b64decode(attachment["base64"]) == JPEG
        assert attachment["mimetype"] == "image/jpeg"
    assert [d.state for d in list_deliveries(sessions)] == ["delivered", "delivered"]
    assert [d.target for d in list_deliveries(sessions)] == ["notify:phone"] * 2
    assert endpoint.requests == 3
    assert not [line for line in root_log if TOKEN in line]
    assert TOKEN not in repr(phone)


async def test_start_goes_without_snapshot_after_the_wait(sessions, endpoint) -> None:
    clock = ManualClock(start=1_800_000_000)
    phone = entry(endpoint, name=None)
    store = EventStore(sessions, [], clock, notify=[phone])
    out = worker(sessions, [phone], clock)
    await asyncio.to_thread(store.open, "back", "motion", int(clock.time() * S), 0.5)
    await asyncio.to_thread(store.open, "back", "camera_offline", int(clock.time() * S))
    assert await out.deliver_due() == 1  # camera_offline has no snapshot to wait for
    await clock.advance(3, step=3)
    assert await out.deliver_due() == 1
    got = endpoint.accepted[f"/{TOKEN}/None"]
    assert [m["title"] for m in got] == ["Camera offline on back", "Motion on back"]
    assert [m["attachments"] for m in got] == [[], []]
    assert {d.target for d in list_deliveries(sessions)} == {"notify:0"}


async def test_filters_and_cooldown(sessions, endpoint) -> None:
    clock = ManualClock(start=1_800_000_000)
    door = entry(endpoint, "door", zones=["door"], events=["motion"], cooldown_seconds=60)
    store = EventStore(sessions, [], clock, notify=[door])
    base = int(clock.time() * S)
    store.open("front", "motion", base, 0.5, ["door"])
    store.open("front", "motion", base + 30 * S, 0.5, ["door"])  # cooling down
    store.open("front", "motion", base + 31 * S, 0.5, ["yard"])  # another zone
    store.open("front", "disk_low", base + 32 * S)  # another type
    store.open("front", "motion", base + 61 * S, 0.5, ["door"])
    assert [(d.event_id, d.phase) for d in list_deliveries(sessions)] == [(5, "start"),
                                                                          (1, "start")]


async def test_refused_url_and_failure_text_show_no_secret(sessions, root_log) -> None:
    clock = ManualClock(start=1_800_000_000)
    dead = NotifyConfig(name="dead", urls=[f"json://{TOKEN}.invalid:1/{TOKEN}"])
    store = EventStore(sessions, [], clock, notify=[dead])
    await asyncio.to_thread(store.open, "front", "camera_offline", int(clock.time() * S))
    assert await worker(sessions, [dead], clock).deliver_due() == 1
    [row] = list_deliveries(sessions)
    assert row.state == "pending" and row.attempts == 1 and row.last_error
    assert TOKEN not in row.last_error, row.last_error
    assert not [line for line in root_log if TOKEN in line]


def test_message_and_scrub() -> None:
    title, text = message({"type": "disk_low", "camera": "", "phase": "start",
                           "start": "2026-11-30T04:12:05.250000Z", "zones": [],
                           "score": None})
    assert title == "Disk space low" and text.startswith("Disk space low at ")
    assert scrub("sent to abc123 via abc123.example", ["ntfy://abc123"]) == (
        "sent to *** via ***.example")


async def test_prune_forgets_finished_rows_only(sessions, endpoint) -> None:
    clock = ManualClock(start=1_800_000_000)
    phone, gone = entry(endpoint), entry(endpoint, "gone")
    store = EventStore(sessions, [], clock, notify=[phone, gone])
    store.open("front", "camera_offline", 0)  # a start for each
    assert await worker(sessions, [phone], clock).deliver_due() == 1  # "gone": failed
    store.open("front", "camera_online", 0)  # two pending rows
    assert sorted(d.state for d in list_deliveries(sessions)) == [
        "delivered", "failed", "pending", "pending"]
    out = worker(sessions, [phone], clock)
    now_us = int(clock.time() * S)
    assert await asyncio.to_thread(out.prune, now_us + 6 * 86_400 * S) == 0
    assert await asyncio.to_thread(out.prune, now_us + 8 * 86_400 * S) == 2
    assert [d.state for d in list_deliveries(sessions)] == ["pending", "pending"]
    assert await asyncio.to_thread(out.prune, now_us + 2 * 86_400 * S, 1) == 0


async def test_a_hung_service_delays_only_its_own_entry(sessions, endpoint) -> None:
    slow, fast = entry(endpoint, "slow"), entry(endpoint, "fast")
    endpoint.scripts[f"/{TOKEN}/slow"] = deque(["hang"] * 3)
    store = EventStore(sessions, [], notify=[slow, fast])
    out = OutboxWorker(sessions, [], notify=[slow, fast], poll=0.02, notify_timeout=30.0)
    async with asyncio.TaskGroup() as group:
        task = group.create_task(out.run())
        for n in range(3):
            await asyncio.to_thread(store.open, f"cam{n}", "camera_offline", n * S)
            out.notify()
        for _ in range(1000):
            if len(endpoint.accepted[f"/{TOKEN}/fast"]) == 3:
                break
            await asyncio.sleep(0.01)
        # the slow entry holds its 2 requests in flight; the fast one got all 3
        assert endpoint.hanging == 2 and endpoint.accepted[f"/{TOKEN}/slow"] == []
        assert len(endpoint.accepted[f"/{TOKEN}/fast"]) == 3
        endpoint.release.set()
        task.cancel()
