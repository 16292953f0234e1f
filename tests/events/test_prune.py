"""Old events go with their snapshots and motion grids; recent and ongoing ones stay."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from nvr.config.webhooks import WebhookConfig
from nvr.db.models import Event, MotionSecond, OutboxRow
from nvr.db.session import make_engine, make_sessionmaker, upgrade
from nvr.events.prune import prune_events
from nvr.events.store import EventStore

DAY = 86_400 * 1_000_000


def test_prune_drops_old_events_snapshots_and_grids(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    hook = WebhookConfig.model_validate(
        {"name": "h", "url": "http://127.0.0.1:9/", "secret": "0123456789abcdef"})
    store = EventStore(sessions, [hook])
    now = 100 * DAY
    old = store.open("cam", "motion", now - 40 * DAY)
    store.close(old, now - 40 * DAY + 5_000_000)
    recent = store.open("cam", "motion", now - 2 * DAY)
    store.close(recent, now - 2 * DAY + 5_000_000)
    ongoing = store.open("cam", "camera_offline", now - 50 * DAY)
    for event_id in (old, recent):
        snap = tmp_path / "snapshots" / "cam" / f"{event_id}.jpg"
        snap.parent.mkdir(parents=True, exist_ok=True)
        snap.write_bytes(b"\xff\xd8jpeg")
        store.set_snapshot(event_id, f"snapshots/cam/{event_id}.jpg")
    with sessions.begin() as session:
        session.add_all([MotionSecond(camera="cam", second=(now - 40 * DAY) // 1_000_000,
                                      cells=1, grid=bytes(18)),
                         MotionSecond(camera="cam", second=(now - DAY) // 1_000_000,
                                      cells=1, grid=bytes(18))])

    assert prune_events(sessions, tmp_path, now, keep_days=30) == 1

    with sessions() as session:
        assert sorted(session.scalars(select(Event.id))) == sorted([recent, ongoing])
        assert session.scalar(select(func.count()).select_from(MotionSecond)) == 1
        assert session.scalar(select(func.count()).select_from(OutboxRow)
                              .where(OutboxRow.event_id == old)) == 0
    assert not (tmp_path / "snapshots" / "cam" / f"{old}.jpg").exists()
    assert (tmp_path / "snapshots" / "cam" / f"{recent}.jpg").exists()
    engine.dispose()
