"""MotionWatch in the running NVR's shape: a Feed of real H.264 → one motion event in
the database with its webhook deliveries queued, a JPEG snapshot of its strongest
frame, and the per-second grids handed to the motion index."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import cv2
import pytest
from sqlalchemy import select
from test_sampler import MOVING, T0, _encode

from nvr.config.webhooks import WebhookConfig
from nvr.db.models import OutboxRow
from nvr.db.session import make_engine, make_sessionmaker, upgrade
from nvr.eventhub import EventHub
from nvr.events.store import EventStore
from nvr.feed import Feed
from nvr.motion.detector import MotionSettings
from nvr.motionwatch import MotionWatch

SECRET = "0123456789abcdef"


@pytest.fixture(scope="module")
def frames():
    return _encode(6.0)


def test_a_moving_square_becomes_one_event_with_snapshot_grids_and_deliveries(
        tmp_path: Path, frames) -> None:
    url = f"sqlite:///{tmp_path / 'nvr.db'}"
    upgrade(url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    hook = WebhookConfig.model_validate(
        {"name": "h", "url": "http://127.0.0.1:9/", "secret": SECRET})
    woken: list[int] = []
    hub = EventHub(EventStore(sessions, [hook]), lambda: woken.append(1))
    told: list[tuple[str, str]] = []
    hub.listen(lambda payload, phase: told.append((json.loads(payload)["type"], phase)))
    grids: list[tuple[int, bytes]] = []
    moves: list[tuple[bool, bool]] = []
    feed = Feed("cam")
    watch = MotionWatch("cam", feed, MotionSettings(post_seconds=1.0), hub, tmp_path,
                        grids=lambda cam, rows: grids.extend(rows),
                        listener=lambda cam, moving, jpeg: moves.append((moving, jpeg is not None)))

    async def scenario() -> None:
        task = asyncio.create_task(watch.run())
        await asyncio.sleep(0)
        feed.begin(None)
        for au in frames:
            feed.publish(au)
            await asyncio.sleep(0)
        feed.close()
        await asyncio.wait_for(task, 30)

    asyncio.run(scenario())

    event = hub.store.event(1)
    assert event["type"] == "motion" and event["camera"] == "cam"
    assert abs(event["start_us"] / 1e6 - (T0 + MOVING[0])) <= 0.5
    assert event["end_us"] is not None
    assert abs(event["end_us"] / 1e6 - (T0 + MOVING[1])) <= 1.0
    assert event["score"] and event["score"] > 0
    snapshot = tmp_path / event["snapshot_path"]
    assert event["snapshot_path"] == "snapshots/cam/1.jpg"
    image = cv2.imread(str(snapshot))
    assert image is not None and image.shape[1] == 320  # the full (small) picture, in colour
    with sessions() as session:
        phases = [r.phase for r in session.scalars(select(OutboxRow).order_by(OutboxRow.id))]
    assert phases[0] == "start" and phases[-1] == "end" and phases.count("end") == 1
    assert woken and ("motion", "start") in told and ("motion", "end") in told
    assert [m for m, _ in moves] == [True, False] and moves[0][1]
    seconds = sorted(s for s, _ in grids)
    assert seconds and seconds[0] >= int(T0 + MOVING[0]) - 1
    assert seconds[-1] <= int(T0 + MOVING[1])
    engine.dispose()
