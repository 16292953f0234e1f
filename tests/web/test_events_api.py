"""The events API and the /events page (TestClient), on events written by EventStore
into a real SQLite database, with real recorded segments for the clip."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime

import pytest
from authkit import PASSWORDS, basic, make_site
from mediakit import write_segment

from nvr.config import load_config
from nvr.db.models import Event
from nvr.events.store import EventStore

US = 1_000_000
ADMIN = basic("admin", PASSWORDS["admin"])
VIEWER = basic("viewer1", PASSWORDS["viewer1"])  # may see cam1 only
T0 = 1_700_000_000 * US  # 2023-11-14T22:13:20Z: cam1's recordings start here
CONFIG = """
[server]
data_dir = "{data}"
[[cameras]]
name = "cam1"
url = "rtsp://10.0.0.1/stream"
[cameras.motion]
pre_seconds = 2
post_seconds = 3
zones = [{{name = "Door", polygon = [[0, 0], [0.5, 0], [0.5, 0.5]]}},
         {{name = "yard_1", polygon = [[0, 0.5], [1, 0.5], [1, 1]]}}]
[[cameras]]
name = "cam2"
url = "rtsp://10.0.0.2/stream"
"""


def iso(us: int) -> str:
    return datetime.fromtimestamp(us / US, UTC).isoformat(timespec="microseconds").replace(
        "+00:00", "Z")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """cam1: three touching 4 s segments from T0 (1 s GOPs); events:

    ====  ======  ==============  ========================  =========  ========
    name  camera  type            start .. end (s from T0)  zones      snapshot
    ====  ======  ==============  ========================  =========  ========
    m1    cam1    motion          5 .. 6                    Door       yes
    off   cam2    camera_offline  6 .. 7                    -          no
    m2    cam1    motion          8 .. ongoing              yard_1     no
    m3    cam2    motion          9 .. 10                   door       yes
    far   cam1    motion          -3600 .. -3590            Door       no
    ====  ======  ==============  ========================  =========  ========
    """
    root = tmp_path_factory.mktemp("events")
    site = make_site(root)
    (root / "config.toml").write_text(CONFIG.format(data=root))
    site.services.config = load_config(root / "config.toml")
    for i in range(3):
        write_segment(root, site.services.index, "cam1", T0 + i * 4 * US)
    store = EventStore(site.services.sessions, [])
    ids = {}
    for name, camera, type_, start, end, zones in [
            ("far", "cam1", "motion", -3600, -3590, ["Door"]),
            ("m1", "cam1", "motion", 5, 6, ["Door"]),
            ("off", "cam2", "camera_offline", 6, 7, []),
            ("m2", "cam1", "motion", 8, None, ["yard_1"]),
            ("m3", "cam2", "motion", 9, 10, ["door"])]:
        ids[name] = store.open(camera, type_, T0 + start * US, score=0.25, zones=zones,
                               details={"name": name})
        if end is not None:
            store.close(ids[name], T0 + end * US)
    for name in ("m1", "m3"):
        path = f"snapshots/{'cam1' if name == 'm1' else 'cam2'}/{ids[name]}.jpg"
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(b"\xff\xd8\xff\xe0 a jpeg of " + name.encode())
        store.set_snapshot(ids[name], path)
    site.ids = ids  # type: ignore[attr-defined]
    return site


def names(site, events) -> list[str]:
    by_id = {v: k for k, v in site.ids.items()}
    return [by_id[e["id"]] for e in events]


def listed(site, headers=ADMIN, **params) -> dict:
    answer = site.client().get("/api/events", headers=headers, params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_events_are_listed_newest_first_with_their_links(site):
    page = listed(site)
    assert names(site, page["events"]) == ["m3", "m2", "off", "m1", "far"]
    assert page["next_before"] is None
    m2, m1 = page["events"][1], page["events"][3]
    assert m1 == {
        "id": site.ids["m1"], "camera": "cam1", "type": "motion",
        "start": "2023-11-14T22:13:25.000000Z", "end": "2023-11-14T22:13:26.000000Z",
        "score": 0.25, "zones": ["Door"], "details": {"name": "m1"},
        "snapshot_url": f"/api/events/{site.ids['m1']}/snapshot.jpg",
        "clip_url": f"/api/events/{site.ids['m1']}/clip.mp4"}
    assert m2["end"] is None and m2["snapshot_url"] is None
    one = site.client().get(f"/api/events/{site.ids['m1']}", headers=ADMIN)
    assert one.status_code == 200 and one.json() == m1


@pytest.mark.parametrize(("params", "expected"), [
    ({"camera": "cam1"}, ["m2", "m1", "far"]),
    ({"type": "camera_offline"}, ["off"]),
    ({"zone": "Door"}, ["m1", "far"]),  # exact: not cam2's "door"
    ({"zone": "door"}, ["m3"]),
    ({"zone": "yard_1", "camera": "cam1"}, ["m2"]),
    ({"zone": "yard%1"}, []),  # no wildcards
    ({"camera": "cam1", "type": "motion", "zone": "Door"}, ["m1", "far"]),
    # start: still going on at or after it (the ongoing m2 too); end: started before it
    ({"start": "2023-11-14T22:13:26Z"}, ["m3", "m2", "off", "m1"]),
    ({"start": "2023-11-14T22:13:26.5Z"}, ["m3", "m2", "off"]),
    ({"end": "2023-11-14T22:13:28Z"}, ["off", "m1", "far"]),
    ({"start": "2023-11-14T22:13:00Z", "end": "2023-11-14T22:13:28Z"}, ["off", "m1"]),
    ({"camera": "cam9"}, []),  # not a camera (an admin sees every camera's events)
])
def test_filters_combine(site, params, expected):
    assert names(site, listed(site, **params)["events"]) == expected


def test_paging_with_next_before_walks_every_event_once(site):
    seen, before = [], None
    while True:
        page = listed(site, limit=2, **({"before": before} if before else {}))
        assert len(page["events"]) <= 2
        seen += names(site, page["events"])
        before = page["next_before"]
        if before is None:
            break
        assert before == page["events"][-1]["id"]
    assert seen == ["m3", "m2", "off", "m1", "far"]
    # a page of a filtered list; and a time: the events that started before it
    page = listed(site, camera="cam1", limit=1, before=str(site.ids["m2"]))
    assert names(site, page["events"]) == ["m1"] and page["next_before"] == site.ids["m1"]
    page = listed(site, before="2023-11-14T22:13:26Z")
    assert names(site, page["events"]) == ["m1", "far"]


@pytest.mark.parametrize(("params", "field"), [
    ({"limit": "0"}, "limit"), ({"limit": "501"}, "limit"), ({"limit": "many"}, "limit"),
    ({"type": "earthquake"}, "type"), ({"start": "yesterday"}, "start"),
    ({"end": "2023-13-01"}, "end"), ({"before": "999999"}, "before"),
    ({"before": "last tuesday"}, "before"),
])
def test_bad_values_are_422_naming_the_field(site, params, field):
    answer = site.client().get("/api/events", headers=ADMIN, params=params)
    assert answer.status_code == 422
    assert field in answer.json()["detail"]


def test_limit_500_is_allowed(site):
    assert len(listed(site, limit=500)["events"]) == 5


def test_a_viewer_sees_the_events_of_their_cameras_only(site):
    assert names(site, listed(site, VIEWER)["events"]) == ["m2", "m1", "far"]
    client = site.client()
    assert client.get("/api/events", headers=VIEWER, params={"camera": "cam2"}
                      ).status_code == 404
    # another camera's event does not exist for them, nor as a page cursor
    other = site.ids["m3"]
    for path in ("", "/snapshot.jpg", "/clip.mp4"):
        answer = client.get(f"/api/events/{other}{path}", headers=VIEWER)
        assert answer.status_code == 404, path
    answer = client.get("/api/events", headers=VIEWER, params={"before": str(other)})
    assert answer.status_code == 422


def test_unknown_event_is_404(site):
    for path in ("", "/snapshot.jpg", "/clip.mp4"):
        assert site.client().get(f"/api/events/987654{path}", headers=ADMIN
                                 ).status_code == 404


def test_the_snapshot_is_served_and_cacheable(site):
    client = site.client()
    answer = client.get(f"/api/events/{site.ids['m1']}/snapshot.jpg", headers=VIEWER)
    assert answer.status_code == 200
    assert answer.content == b"\xff\xd8\xff\xe0 a jpeg of m1"
    assert answer.headers["content-type"] == "image/jpeg"
    assert "immutable" in answer.headers["cache-control"]
    missing = client.get(f"/api/events/{site.ids['m2']}/snapshot.jpg", headers=ADMIN)
    assert missing.status_code == 404 and "no snapshot" in missing.json()["detail"]


def test_a_snapshot_path_outside_data_dir_is_refused(site, tmp_path):
    store = EventStore(site.services.sessions, [])
    event = store.open("cam1", "motion", T0 - 7200 * US)
    store.set_snapshot(event, "../../../../etc/hostname")
    try:
        answer = site.client().get(f"/api/events/{event}/snapshot.jpg", headers=ADMIN)
        assert answer.status_code == 404
        refused = site.auth.audit.query(action="path_refused")
        assert refused and refused[0].target == "../../../../etc/hostname"
    finally:
        with site.services.sessions.begin() as session:
            session.delete(session.get(Event, event))


def duration(path) -> float:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of",
                          "csv=p=0", str(path)], capture_output=True, text=True, timeout=60)
    return float(out.stdout)


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe not installed")
def test_the_clip_is_the_event_with_the_cameras_padding(site, tmp_path):
    answer = site.client().get(f"/api/events/{site.ids['m1']}/clip.mp4", headers=VIEWER)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "video/mp4"
    # pre_seconds = 2 before 5 s, post_seconds = 3 after 6 s: from T0 + 3 s
    assert answer.headers["content-disposition"] == (
        f'attachment; filename="cam1_event-{site.ids["m1"]}_2023-11-14T22-13-23Z.mp4"')
    assert int(answer.headers["content-length"]) == len(answer.content)
    (tmp_path / "clip.mp4").write_bytes(answer.content)
    assert duration(tmp_path / "clip.mp4") == pytest.approx(9 - 3, abs=0.05)
    download = site.auth.audit.query(action="download")[0]
    assert download.actor == "viewer1"
    assert download.target == f"cam1/event/{site.ids['m1']}"
    assert download.details and download.details["start"] == "2023-11-14T22:13:23.000000Z"


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe not installed")
def test_an_ongoing_events_clip_runs_to_now(site, tmp_path):
    # m2 started at T0 + 8 s and goes on: from 6 s to now, where the recordings end (12 s)
    answer = site.client().get(f"/api/events/{site.ids['m2']}/clip.mp4", headers=ADMIN)
    assert answer.status_code == 200, answer.text
    (tmp_path / "clip.mp4").write_bytes(answer.content)
    assert duration(tmp_path / "clip.mp4") == pytest.approx(12 - 6, abs=0.05)


def test_no_clip_where_nothing_was_recorded(site):
    for name in ("far", "m3"):
        answer = site.client().get(f"/api/events/{site.ids[name]}/clip.mp4", headers=ADMIN)
        assert answer.status_code == 404
        assert answer.json() == {"detail": "nothing was recorded around this event"}


def test_without_a_database_events_are_503(tmp_path):
    bare = make_site(tmp_path)
    bare.services.sessions = None
    for path in ("/api/events", "/api/events/1"):
        answer = bare.client().get(path, headers=ADMIN)
        assert answer.status_code == 503 and "no database" in answer.json()["detail"]


# -- the /events page (server-rendered) ---------------------------------------------------
def test_the_page_lists_a_viewers_events_with_links(site):
    client = site.login("viewer1")
    html = client.get("/events?tz=UTC").text
    assert html.count('class="card ev-card') == 3
    assert f'src="/api/events/{site.ids["m1"]}/snapshot.jpg"' in html
    assert 'loading="lazy"' in html
    assert "cam2" not in html  # neither its events nor the filter's option
    # play: the camera page from the clip's start (pre_seconds before the event)
    assert 'href="/cameras/cam1?t=2023-11-14T22%3A13%3A23.000000Z"' in html
    assert f'href="/api/events/{site.ids["m1"]}/clip.mp4" download' in html
    assert "Ongoing" in html and '<option value="Door"' in html


def test_the_page_filters_pages_and_says_when_nothing_matches(site):
    client = site.login("admin")
    html = client.get("/events?tz=UTC&type=camera_offline").text
    assert html.count('class="card ev-card') == 1 and "Camera offline" in html
    html = client.get("/events?tz=UTC&day=2023-11-14&camera=cam1").text
    assert html.count('class="card ev-card') == 3
    html = client.get("/events?tz=UTC&day=2023-11-13").text
    assert "No events match" in html
    # 48 a page: more events, then an "Older events" link to the rest
    store = EventStore(site.services.sessions, [])
    extra = [store.open("cam2", "recording_gap", T0 + (100 + i) * US) for i in range(50)]
    try:
        html = client.get("/events?tz=UTC").text
        assert html.count('class="card ev-card') == 48
        older = html.split('class="button ev-older" href="')[1].split('"')[0]
        assert older == f"/events?tz=UTC&amp;before={extra[2]}"
        html = client.get(f"/events?tz=UTC&before={extra[2]}").text
        assert html.count('class="card ev-card') == 2 + 5 and "Newest" in html
    finally:
        with site.services.sessions.begin() as session:
            for event in extra:
                session.delete(session.get(Event, event))


def test_the_page_when_there_are_no_events(tmp_path):
    client = make_site(tmp_path).login("admin")
    html = client.get("/events").text
    assert "No events yet" in html and 'aria-current="page">Events' in html
