"""GET /api/cameras/{name}/timeline: spans, gaps, local days, today, who may ask."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from authkit import PASSWORDS, basic, make_site
from mediakit import add_rows

from nvr.clock import ManualClock
from nvr.db.models import Event
from nvr.db.session import make_engine, make_sessionmaker
from nvr.events.motion_index import MotionIndex

US = 1_000_000
H = 3600 * US


def us(text: str) -> int:
    return round(datetime.fromisoformat(text).timestamp() * US)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site = make_site(tmp_path_factory.mktemp("timeline"))
    index = site.services.index
    # 2024-05-01 UTC: 00:00-02:00 in 60 s segments, then a 5 s hole, 02:00:05-03:00
    add_rows(index, "cam1", us("2024-05-01T00:00:00+00:00"), 120)
    add_rows(index, "cam1", us("2024-05-01T02:00:05+00:00"), 1, seconds=3595)
    # a segment over midnight into 2024-05-02, and one that nearly touches (50 ms)
    add_rows(index, "cam1", us("2024-05-01T23:59:30+00:00"), 1)
    add_rows(index, "cam1", us("2024-05-02T00:00:30.050000+00:00"), 1)
    # Europe/Berlin's short day (2024-03-31, 23 h): 22:30-23:30 UTC on the 30th
    add_rows(index, "cam1", us("2024-03-30T22:30:00+00:00"), 60)
    add_rows(index, "cam2", us("2024-05-01T00:00:00+00:00"), 10)
    site.services.clock = ManualClock(start=us("2024-06-01T12:00:00+00:00") / US)
    if site.services.sessions is None:
        site.services.sessions = make_sessionmaker(
            make_engine(f"sqlite:///{site.services.data_dir / 'nvr.db'}"))
    add_events_and_motion(site.services.sessions)
    return site


def add_events_and_motion(sessions):
    def event(camera, type, start, end, score=None, zones="[]"):
        return Event(camera=camera, type=type, start_us=us(start),
                     end_us=us(end) if end else None, score=score, zones=zones)

    with sessions.begin() as session:
        session.add_all([
            event("cam1", "motion", "2024-05-01T01:00:00+00:00", "2024-05-01T01:00:30+00:00",
                  0.8, '["door"]'),
            # from the day before into this one; ongoing at the end of the day
            event("cam1", "camera_offline", "2024-04-30T23:00:00+00:00",
                  "2024-05-01T00:10:00+00:00"),
            event("cam1", "motion", "2024-05-01T23:50:00+00:00", None, 0.3),
            # not this day's, not this camera's
            event("cam1", "motion", "2024-04-30T22:00:00+00:00", "2024-05-01T00:00:00+00:00"),
            event("cam1", "motion", "2024-05-02T01:00:00+00:00", "2024-05-02T01:00:10+00:00"),
            event("cam2", "motion", "2024-05-01T01:00:00+00:00", "2024-05-01T01:00:10+00:00"),
        ])
    motion = MotionIndex(sessions)
    one_cell = (1).to_bytes(18, "big")
    t = us("2024-05-01T01:00:00+00:00") // US
    motion.add("cam1", [(t + s, one_cell) for s in range(30)] + [(t + 60, one_cell)])
    motion.add("cam2", [(t + s, one_cell) for s in range(60)])


@pytest.fixture(scope="module")
def admin(site):
    return site.client(headers=basic("admin", PASSWORDS["admin"]))


def test_a_day_in_utc(admin):
    answer = admin.get("/api/cameras/cam1/timeline", params={"day": "2024-05-01"})
    assert answer.status_code == 200
    body = answer.json()
    assert {"spans": body["spans"], "gaps": body["gaps"]} == {
        "spans": [
            {"start": "2024-05-01T00:00:00.000000Z", "end": "2024-05-01T02:00:00.000000Z"},
            {"start": "2024-05-01T02:00:05.000000Z", "end": "2024-05-01T03:00:00.000000Z"},
            {"start": "2024-05-01T23:59:30.000000Z", "end": "2024-05-02T00:00:00.000000Z"},
        ],
        "gaps": [
            {"start": "2024-05-01T02:00:00.000000Z", "end": "2024-05-01T02:00:05.000000Z"},
            {"start": "2024-05-01T03:00:00.000000Z", "end": "2024-05-01T23:59:30.000000Z"},
        ],
    }


def test_events_overlapping_the_day_ongoing_ones_without_end(admin):
    body = admin.get("/api/cameras/cam1/timeline", params={"day": "2024-05-01"}).json()
    assert body["events"] == [
        {"id": 2, "type": "camera_offline", "start": "2024-04-30T23:00:00.000000Z",
         "end": "2024-05-01T00:10:00.000000Z", "score": None, "zones": []},
        {"id": 1, "type": "motion", "start": "2024-05-01T01:00:00.000000Z",
         "end": "2024-05-01T01:00:30.000000Z", "score": 0.8, "zones": ["door"]},
        {"id": 3, "type": "motion", "start": "2024-05-01T23:50:00.000000Z", "end": None,
         "score": 0.3, "zones": []},
    ]
    next_day = admin.get("/api/cameras/cam1/timeline", params={"day": "2024-05-02"}).json()
    assert [e["id"] for e in next_day["events"]] == [3, 5]  # the ongoing one goes on


def test_motion_bars_are_per_minute_of_the_local_day(admin):
    body = admin.get("/api/cameras/cam1/timeline", params={"day": "2024-05-01"}).json()
    assert body["motion_step"] == 60 and len(body["motion"]) == 1440
    assert {i: v for i, v in enumerate(body["motion"]) if v} == {60: 50, 61: 2}
    # Berlin's day starts at 22:00Z the day before: 01:00Z is minute 180
    berlin = admin.get("/api/cameras/cam1/timeline",
                       params={"day": "2024-05-01", "tz": "Europe/Berlin"}).json()
    assert {i: v for i, v in enumerate(berlin["motion"]) if v} == {180: 50, 181: 2}
    short = admin.get("/api/cameras/cam1/timeline",
                      params={"day": "2024-03-31", "tz": "Europe/Berlin"}).json()
    assert len(short["motion"]) == 23 * 60 and not any(short["motion"])


def test_the_next_day_starts_with_the_segment_over_midnight_and_joins_a_near_one(admin):
    body = admin.get("/api/cameras/cam1/timeline", params={"day": "2024-05-02"}).json()
    assert body["spans"] == [
        {"start": "2024-05-02T00:00:00.000000Z", "end": "2024-05-02T00:01:30.050000Z"}]
    assert body["gaps"] == [
        {"start": "2024-05-02T00:01:30.050000Z", "end": "2024-05-03T00:00:00.000000Z"}]


def test_a_local_day_in_another_zone(admin):
    # 2024-05-01 in Berlin (UTC+2) is 2024-04-30T22:00Z .. 2024-05-01T22:00Z
    body = admin.get("/api/cameras/cam1/timeline",
                     params={"day": "2024-05-01", "tz": "Europe/Berlin"}).json()
    assert body["spans"][0]["start"] == "2024-05-01T00:00:00.000000Z"
    assert body["gaps"][0] == {"start": "2024-04-30T22:00:00.000000Z",
                               "end": "2024-05-01T00:00:00.000000Z"}
    assert body["gaps"][-1]["end"] == "2024-05-01T22:00:00.000000Z"
    assert body["spans"][-1]["end"] == "2024-05-01T03:00:00.000000Z"


def test_a_daylight_saving_day_has_23_hours(admin):
    body = admin.get("/api/cameras/cam1/timeline",
                     params={"day": "2024-03-31", "tz": "Europe/Berlin"}).json()
    # local midnight is 23:00Z on the 30th; the day ends at 22:00Z on the 31st
    assert body["spans"] == [{"start": "2024-03-30T23:00:00.000000Z",
                              "end": "2024-03-30T23:30:00.000000Z"}]
    assert body["gaps"] == [{"start": "2024-03-30T23:30:00.000000Z",
                             "end": "2024-03-31T22:00:00.000000Z"}]


def test_today_has_gaps_only_up_to_now(site, admin):
    clock = site.services.clock
    saved = clock._wall0
    clock._wall0 = us("2024-05-01T04:00:00+00:00") / US
    try:
        body = admin.get("/api/cameras/cam1/timeline").json()  # no day: today
    finally:
        clock._wall0 = saved
    assert body["gaps"] == [
        {"start": "2024-05-01T02:00:00.000000Z", "end": "2024-05-01T02:00:05.000000Z"},
        {"start": "2024-05-01T03:00:00.000000Z", "end": "2024-05-01T04:00:00.000000Z"}]


def test_a_day_without_recordings_is_one_gap_and_the_future_has_none(admin):
    body = admin.get("/api/cameras/cam1/timeline", params={"day": "2024-05-20"}).json()
    assert body["spans"] == [] and body["gaps"] == [
        {"start": "2024-05-20T00:00:00.000000Z", "end": "2024-05-21T00:00:00.000000Z"}]
    future = admin.get("/api/cameras/cam1/timeline", params={"day": "2030-01-01"}).json()
    assert future == {"spans": [], "gaps": [], "events": [], "motion": [], "motion_step": 60}


def test_bad_days_and_zones_are_422(admin):
    for params in ({"day": "2024-13-01"}, {"day": "May 1"}, {"day": "0001-01-01"},
                   {"tz": "Mars/Olympus"}, {"tz": "../../etc/passwd"}):
        answer = admin.get("/api/cameras/cam1/timeline", params=params)
        assert answer.status_code == 422, params
        assert "detail" in answer.json()


def test_a_viewer_gets_404_for_cameras_not_theirs(site):
    viewer = site.client(headers=basic("viewer1", PASSWORDS["viewer1"]))
    assert viewer.get("/api/cameras/cam1/timeline", params={"day": "2024-05-01"}).json()[
        "spans"]
    other = viewer.get("/api/cameras/cam2/timeline", params={"day": "2024-05-01"})
    unknown = viewer.get("/api/cameras/nothere/timeline")
    assert other.status_code == unknown.status_code == 404
    assert other.json() == unknown.json() == {"detail": "no such camera"}
    assert site.client().get("/api/cameras/cam1/timeline").status_code == 401


def test_a_busy_day_is_still_a_few_spans(tmp_path):
    site = make_site(tmp_path)
    add_rows(site.services.index, "cam1", us("2024-05-01T00:00:00+00:00"), 1440)
    admin = site.client(headers=basic("admin", PASSWORDS["admin"]))
    body = admin.get("/api/cameras/cam1/timeline",
                     params={"day": "2024-05-01", "tz": "UTC"}).json()
    assert body["spans"] == [{"start": "2024-05-01T00:00:00.000000Z",
                              "end": "2024-05-02T00:00:00.000000Z"}]
    assert body["gaps"] == []
    assert datetime.fromisoformat(body["spans"][0]["end"]).tzinfo == UTC


def test_events_and_motion_bars_on_both_databases(tmp_path, db_url):
    site = make_site(tmp_path, db_url)
    assert site.services.sessions is not None
    add_events_and_motion(site.services.sessions)
    admin = site.client(headers=basic("admin", PASSWORDS["admin"]))
    body = admin.get("/api/cameras/cam1/timeline", params={"day": "2024-05-01"}).json()
    assert [(e["type"], e["end"]) for e in body["events"]] == [
        ("camera_offline", "2024-05-01T00:10:00.000000Z"),
        ("motion", "2024-05-01T01:00:30.000000Z"), ("motion", None)]
    assert {i: v for i, v in enumerate(body["motion"]) if v} == {60: 50, 61: 2}
