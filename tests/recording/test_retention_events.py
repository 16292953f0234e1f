"""Event-based recording and retention: ``record = "events"`` and ``events_retain_days``.

Real rows (segments and events, on SQLite and PostgreSQL) and real files, as the
recorder and the event store leave them; each pass is one ``Retention.run_once``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from nvr.config import load_config
from nvr.db import make_engine, make_sessionmaker, upgrade
from nvr.events.store import EventStore
from nvr.recording.event_windows import FOREVER_US, WindowCursor, merge
from nvr.recording.index import SegmentIndex, SegmentInfo
from nvr.recording.probe import segment_relpath
from nvr.recording.retention import (
    OPEN_LAG_US,
    US_PER_DAY,
    CameraRetention,
    Retention,
    RetentionPolicy,
    policy_from_config,
)

S = 1_000_000
MIN = 60 * S
T0 = 1_714_521_600 * S  # 2024-05-01T00:00:00Z
EVENTS = CameraRetention(events_only=True, pre_seconds=5, post_seconds=10)


class Site:
    """A data dir with segment files and rows, and the events table beside them."""

    def __init__(self, data_dir: Path, sessions: sessionmaker[Session]) -> None:
        self.data_dir = data_dir
        self.index = SegmentIndex(sessions)
        self.events = EventStore(sessions, [])

    def minutes(self, camera: str, start_us: int, count: int) -> list[str]:
        """``count`` touching 60 s segments from ``start_us``, like an unbroken stream."""
        return [self.segment(camera, start_us + i * MIN) for i in range(count)]

    def segment(self, camera: str, start_us: int, length_us: int = MIN) -> str:
        rel = "recordings/" + segment_relpath(camera, start_us).as_posix()
        (self.data_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (self.data_dir / rel).write_bytes(b"x" * 100)
        self.index.add(SegmentInfo(camera, start_us, start_us + length_us, length_us / S, 100,
                                   rel, "h264", None, 640, 480))
        return rel

    def event(self, camera: str, start_us: int, end_us: int | None,
              type: str = "motion") -> int:
        event_id = self.events.open(camera, type, start_us)
        if end_us is not None:
            self.events.close(event_id, end_us)
        return event_id

    def run(self, policy: RetentionPolicy, now_us: int, active: frozenset[str] = frozenset(),
            free: int = 10**12) -> dict[str, int]:
        report = Retention(self.index, self.data_dir, policy, lambda _: free).run_once(
            now_us, active)
        return dict(report.reasons)

    def paths(self) -> set[str]:
        """What is left, checked on disk and in the index alike."""
        rows = self.index.paths()
        files = {p.relative_to(self.data_dir).as_posix()
                 for p in (self.data_dir / "recordings").rglob("*.mp4")}
        assert rows == files, "rows and files disagree"
        return rows


@pytest.fixture
def site(db_url: str, tmp_path: Path) -> Iterator[Site]:
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        yield Site(tmp_path / "data", make_sessionmaker(engine))
    finally:
        engine.dispose()


def test_events_camera_keeps_exactly_the_footage_around_its_events(
        site: Site, tmp_path: Path) -> None:
    (tmp_path / "nvr.toml").write_text(
        '[server]\ndata_dir = "data"\n'
        '[[cameras]]\nname = "door"\nurl = "rtsp://10.0.0.5/s"\nrecord = "events"\n'
        '[cameras.motion]\nenabled = true\npre_seconds = 5\npost_seconds = 10\n'
        '[[cameras]]\nname = "yard"\nurl = "rtsp://10.0.0.6/s"\n')
    policy = policy_from_config(load_config(tmp_path / "nvr.toml", env={}))
    door = site.minutes("door", T0, 60)  # an hour
    yard = site.minutes("yard", T0, 10)
    site.event("door", T0 + 10 * MIN + 30 * S, T0 + 11 * MIN + 10 * S)  # clip 10:25-11:20
    site.event("door", T0 + 40 * MIN + 2 * S, T0 + 40 * MIN + 30 * S)  # pre-roll: 39:57
    site.event("door", T0 + 45 * MIN, T0 + 55 * MIN, type="camera_offline")  # keeps nothing
    site.event("yard", T0 + 5 * MIN, T0 + 6 * MIN)  # another camera's event
    now = T0 + 60 * MIN + 20 * S  # the last segment ended 20 s ago

    assert site.run(policy, now) == {"no_event": 55}

    recent = door[59]  # ends within pre_seconds + OPEN_LAG of now: an event may yet claim it
    assert site.paths() == {door[10], door[11], door[39], door[40], recent, *yard}
    assert site.run(policy, now + 10 * MIN) == {"no_event": 1}  # no event did
    assert site.paths() == {door[10], door[11], door[39], door[40], *yard}


def test_events_camera_ongoing_event_claims_everything_from_its_pre_roll(site: Site) -> None:
    door = site.minutes("door", T0, 30)
    event = site.event("door", T0 + 20 * MIN + 3 * S, None)
    policy = RetentionPolicy(per_camera={"door": EVENTS})

    assert site.run(policy, T0 + 60 * MIN) == {"no_event": 19}
    assert site.paths() == set(door[19:])  # 19:58 on: pre-roll and the event so far

    site.events.close(event, T0 + 25 * MIN)  # clip ends 25:10
    assert site.run(policy, T0 + 60 * MIN) == {"no_event": 4}
    assert site.paths() == set(door[19:26])


def test_events_camera_keeps_recent_footage_for_an_event_stored_late(site: Site) -> None:
    """An event is stored a little after its first moving frame; until then the
    footage its pre-roll will want must stay."""
    door = site.minutes("door", T0, 10)
    policy = RetentionPolicy(per_camera={"door": EVENTS})
    now = T0 + 10 * MIN
    assert now - 5 * S - OPEN_LAG_US == T0 + 8 * MIN + 55 * S  # the horizon

    assert site.run(policy, now) == {"no_event": 8}
    assert site.paths() == {door[8], door[9]}  # segment 8 ends at 9:00, after the horizon

    # motion from 9:01, stored 59 s later: its pre-roll from 8:56 is in segment 8
    site.event("door", T0 + 9 * MIN + 1 * S, T0 + 9 * MIN + 20 * S)
    assert site.run(policy, now + 60 * MIN) == {}
    assert site.paths() == {door[8], door[9]}


def test_events_camera_window_edges_pre_and_post_seconds(site: Site) -> None:
    site.event("door", T0 + MIN, T0 + 3 * MIN)  # clip: 0:55 to 3:10
    before = site.segment("door", T0, 55 * S)  # ends as the clip starts
    first = site.segment("door", T0 + 55 * S + 1, MIN)  # starts 1 µs into it
    last = site.segment("door", T0 + 3 * MIN + 10 * S - 1, 1)  # its last microsecond
    after_end = site.segment("door", T0 + 3 * MIN + 10 * S, MIN)  # starts as it ends
    policy = RetentionPolicy(per_camera={"door": EVENTS})

    site.run(policy, T0 + US_PER_DAY)

    assert site.paths() == {first, last}
    assert before not in site.paths() and after_end not in site.paths()


def test_events_camera_never_deletes_the_segment_being_written(site: Site) -> None:
    active = site.segment("door", T0, 24 * 3600 * S)  # a long one, claimed by nothing
    policy = RetentionPolicy(per_camera={"door": EVENTS}, retain_days=0.5)
    assert site.run(policy, T0 + 2 * US_PER_DAY, active=frozenset({active})) == {}
    assert site.paths() == {active}


def test_events_retain_days_keeps_event_footage_past_retain_days(site: Site) -> None:
    door = site.minutes("door", T0, 4)  # 0:00-4:00 on day 0
    old = site.minutes("door", T0 - 40 * US_PER_DAY, 2)  # past events_retain_days
    site.event("door", T0 + MIN + 30 * S, T0 + MIN + 40 * S)  # clip 1:25-1:50: door[1]
    site.event("door", T0 - 40 * US_PER_DAY, T0 - 40 * US_PER_DAY + MIN)
    site.event("door", T0 + 3 * MIN, T0 + 3 * MIN + 20 * S, type="disk_low")  # keeps nothing
    policy = RetentionPolicy(retain_days=7, events_retain_days=30,
                             per_camera={"door": CameraRetention(retain_days=5)})

    assert site.run(policy, T0 + 10 * US_PER_DAY) == {"age": 5}
    assert site.paths() == {door[1]}
    assert not set(old) & site.paths()

    assert site.run(policy, T0 + 30 * US_PER_DAY + 2 * MIN) == {"age": 1}  # its 30 days passed
    assert site.paths() == set()


def test_byte_caps_and_min_free_delete_event_footage_oldest_first(site: Site) -> None:
    door = site.minutes("door", T0, 6)
    for i in range(6):  # every minute has motion
        site.event("door", T0 + i * MIN + 20 * S, T0 + i * MIN + 30 * S)
    policy = RetentionPolicy(events_retain_days=30, max_bytes=450, min_free=300,
                             per_camera={"door": CameraRetention(max_bytes=550)})

    reasons = site.run(policy, T0 + MIN * 7, free=100)

    assert reasons == {"camera_bytes": 1, "total_bytes": 1, "min_free": 2}
    assert site.paths() == set(door[4:])


def test_byte_caps_take_footage_without_events_first(site: Site) -> None:
    door = site.minutes("door", T0, 6)
    yard = site.minutes("yard", T0, 3)
    site.event("door", T0 + 20 * S, T0 + 90 * S)  # claims door[0] and door[1]
    policy = RetentionPolicy(events_retain_days=30, max_bytes=500, min_free=100,
                             per_camera={"door": CameraRetention(max_bytes=400)})

    reasons = site.run(policy, T0 + 7 * MIN, free=50)

    assert reasons == {"camera_bytes": 2, "total_bytes": 2, "min_free": 1}
    # door's cap took door[2], door[3]; the global one yard[0], yard[1]; min_free the
    # oldest of all, event or not: door[0]
    assert site.paths() == {door[1], door[4], door[5], yard[2]}


def test_byte_cap_on_events_camera_spares_footage_an_event_may_still_claim(site: Site) -> None:
    door = site.minutes("door", T0, 6)
    site.event("door", T0 + 20 * S, T0 + 90 * S)  # claims door[0] and door[1]
    policy = RetentionPolicy(events_retain_days=30, per_camera={"door": CameraRetention(
        events_only=True, pre_seconds=5, post_seconds=10, max_bytes=200)})

    reasons = site.run(policy, T0 + 6 * MIN + 10 * S)  # horizon 5:05

    assert reasons == {"no_event": 3, "camera_bytes": 1}
    assert site.paths() == {door[1], door[5]}  # the cap took the oldest event footage


def test_event_retain_days_for_is_the_longer_limit() -> None:
    policy = RetentionPolicy(retain_days=7, events_retain_days=30, per_camera={
        "long": CameraRetention(retain_days=60), "short": CameraRetention(retain_days=2),
        "ev": CameraRetention(events_only=True)})
    assert policy.event_retain_days_for("short") == 30
    assert policy.event_retain_days_for("long") == 60  # never shorter than the rest
    assert policy.event_retain_days_for("gone") == 30  # a camera no longer configured

    unlimited = RetentionPolicy(events_retain_days=30, per_camera={
        "ev": CameraRetention(events_only=True)})
    assert unlimited.event_retain_days_for("ev") == 30  # all it has is event footage
    assert unlimited.event_retain_days_for("cont") is None  # keeps everything: events too
    assert RetentionPolicy(retain_days=7).event_retain_days_for("x") == 7


def test_window_cursor_sweeps_merged_windows() -> None:
    windows = merge([(50, 60), (10, 20), (15, 30), (30, 40), (70, FOREVER_US)])
    assert windows == [(10, 40), (50, 60), (70, FOREVER_US)]
    cursor = WindowCursor(windows)
    spans = [(0, 10), (0, 11), (40, 50), (45, 45), (55, 55), (60, 70), (69, 71), (2**60, 2**61)]
    answers = [cursor.overlaps(start, end) for start, end in spans]
    assert answers == [False, True, False, False, True, False, True, True]
