"""EventStore: events and their outbox rows in one transaction (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from nvr.clock import ManualClock
from nvr.config.webhooks import WebhookConfig
from nvr.db.models import OutboxRow
from nvr.db.session import make_engine, make_sessionmaker, upgrade
from nvr.events.store import EventStore

SECRET = "0123456789abcdef"
S = 1_000_000


def hook(name: str, **kw: object) -> WebhookConfig:
    return WebhookConfig.model_validate(
        {"name": name, "url": f"http://127.0.0.1:9/{name}", "secret": SECRET, **kw})


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    upgrade(db_url)
    engine = make_engine(db_url)
    yield make_sessionmaker(engine)
    engine.dispose()


def rows(sessions: sessionmaker[Session], target: str | None = None) -> list[OutboxRow]:
    with sessions() as session:
        query = select(OutboxRow).order_by(OutboxRow.id)
        if target:
            query = query.where(OutboxRow.target == target)
        return list(session.scalars(query))


def test_lifecycle_writes_start_update_end_for_matching_webhooks(sessions) -> None:
    hooks = [hook("all"), hook("front", cameras=["front"], events=["motion"]),
             hook("door", zones=["door"]), hook("disk", events=["disk_low"])]
    store = EventStore(sessions, hooks, ManualClock())
    event = store.open("front", "motion", 100 * S, score=0.4, zones=["yard"],
                       details={"pixels": 12})
    assert store.update(event, score=0.9, zones=["door"])
    store.close(event, 130 * S)
    assert store.event(event) == {
        "id": event, "camera": "front", "type": "motion", "start_us": 100 * S,
        "end_us": 130 * S, "score": 0.9, "zones": ["yard", "door"], "snapshot_path": None,
        "details": {"pixels": 12}}
    assert [(r.phase, r.idempotency_key) for r in rows(sessions, "all")] == [
        ("start", f"nvr-{event}-start"), ("update", f"nvr-{event}-update-1"),
        ("end", f"nvr-{event}-end")]
    assert [r.phase for r in rows(sessions, "front")] == ["start", "update", "end"]
    assert rows(sessions, "door") == []  # "door" was not touched at the start
    assert rows(sessions, "disk") == []
    end = json.loads(rows(sessions, "all")[-1].payload)
    assert end == {
        "version": 1, "event_id": event, "phase": "end", "type": "motion", "camera": "front",
        "start": "1970-01-01T00:01:40.000000Z", "end": "1970-01-01T00:02:10.000000Z",
        "score": 0.9, "zones": ["yard", "door"], "snapshot_url": None, "clip_url": None}


def test_update_only_on_change_and_coalesced(sessions) -> None:
    store = EventStore(sessions, [hook("a")], ManualClock())
    event = store.open("cam", "motion", 0, score=0.5)
    assert not store.update(event, score=0.3)  # below the peak, no new zone
    assert store.update(event, score=0.6)
    assert store.update(event, score=0.7, zones=["z"])
    updates = [r for r in rows(sessions) if r.phase == "update"]
    assert len(updates) == 1 and updates[0].state == "pending"
    assert json.loads(updates[0].payload)["score"] == 0.7
    assert updates[0].idempotency_key == f"nvr-{event}-update-2"
    with sessions.begin() as session:  # the worker sent it
        session.execute(update(OutboxRow).where(OutboxRow.id == updates[0].id)
                        .values(state="delivered"))
    assert store.update(event, score=0.8)
    updates = [r for r in rows(sessions) if r.phase == "update"]
    assert [(r.state, r.idempotency_key) for r in updates] == [
        ("delivered", f"nvr-{event}-update-2"), ("pending", f"nvr-{event}-update-3")]
    store.close(event, 10 * S)
    assert [r.phase for r in rows(sessions)] == ["start", "update", "update", "end"]
    store.close(event, 11 * S)  # closing twice changes nothing
    assert len(rows(sessions)) == 4


def test_cooldown_skips_starts_but_stores_events(sessions) -> None:
    store = EventStore(sessions, [hook("slow", cooldown_seconds=60), hook("every")],
                       ManualClock())
    first = store.open("front", "motion", 0, score=1)
    store.close(first, 5 * S)
    second = store.open("front", "motion", 30 * S, score=1)  # within 60 s of the first
    other = store.open("back", "motion", 31 * S, score=1)  # another camera
    store.update(second, score=2)
    store.close(second, 40 * S)
    third = store.open("front", "motion", 61 * S, score=1)
    assert store.event(second)["end_us"] == 40 * S
    slow = [(r.event_id, r.phase) for r in rows(sessions, "slow")]
    assert slow == [(first, "start"), (first, "end"), (other, "start"), (third, "start")]
    every = [(r.event_id, r.phase) for r in rows(sessions, "every")]
    assert [p for e, p in every if e == second] == ["start", "update", "end"]


def test_unknown_type_is_refused(sessions) -> None:
    store = EventStore(sessions, [hook("a")], ManualClock())
    with pytest.raises(ValueError, match="unknown event type"):
        store.open("cam", "explosion", 0)


def test_snapshot_path_is_kept(sessions) -> None:
    store = EventStore(sessions, [])
    event_id = store.open("cam1", "motion", 1_000_000)
    store.set_snapshot(event_id, f"snapshots/cam1/{event_id}.jpg")
    assert store.event(event_id)["snapshot_path"] == f"snapshots/cam1/{event_id}.jpg"


def test_public_url_links_snapshot_and_clip(sessions) -> None:
    store = EventStore(sessions, [hook("a")], ManualClock(), public_url="https://nvr.example")
    motion = store.open("front", "motion", 0, score=0.5)
    offline = store.open("front", "camera_offline", 0)
    bodies = {r.event_id: json.loads(r.payload) for r in rows(sessions)}
    base = f"https://nvr.example/api/events/{motion}"
    assert (bodies[motion]["snapshot_url"], bodies[motion]["clip_url"]) == (
        f"{base}/snapshot.jpg", f"{base}/clip.mp4")
    assert (bodies[offline]["snapshot_url"], bodies[offline]["clip_url"]) == (None, None)
