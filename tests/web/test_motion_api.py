"""GET /api/cameras/{name}/motion: seconds with motion in a region, merged into ranges."""

from __future__ import annotations

from datetime import datetime

import pytest
from authkit import PASSWORDS, basic, make_site

from nvr.db.session import make_engine, make_sessionmaker
from nvr.events.motion_index import MotionIndex

T = round(datetime.fromisoformat("2024-05-01T10:00:00+00:00").timestamp())


def grid(col: int, row: int) -> bytes:
    bit = row * 16 + col
    return (1 << (143 - bit)).to_bytes(18, "big")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("motion")
    site = make_site(root)
    if site.services.sessions is None:
        site.services.sessions = make_sessionmaker(make_engine(f"sqlite:///{root / 'nvr.db'}"))
    index = MotionIndex(site.services.sessions)
    # cam1: top left at 10:00:00-02 and 10:00:04 (one still second between), bottom
    # right at 10:01:00-01; cam2 moves at 10:00:00
    index.add("cam1", [(T + s, grid(0, 0)) for s in (0, 1, 2, 4)])
    index.add("cam1", [(T + 60, grid(15, 8)), (T + 61, grid(15, 8))])
    index.add("cam2", [(T, grid(0, 0))])
    return site


@pytest.fixture(scope="module")
def admin(site):
    return site.client(headers=basic("admin", PASSWORDS["admin"]))


def ask(client, camera="cam1", **params):
    params = {"start": "2024-05-01T10:00:00Z", "end": "2024-05-01T11:00:00Z", **params}
    return client.get(f"/api/cameras/{camera}/motion", params=params)


def test_any_motion_in_the_hour(admin):
    answer = ask(admin)
    assert answer.status_code == 200
    assert answer.json() == {
        "camera": "cam1", "start": "2024-05-01T10:00:00.000000Z",
        "end": "2024-05-01T11:00:00.000000Z", "region": None,
        "seconds": [f"2024-05-01T10:0{m}:0{s}.000000Z"
                    for m, s in ((0, 0), (0, 1), (0, 2), (0, 4), (1, 0), (1, 1))],
        "ranges": [
            {"start": "2024-05-01T10:00:00.000000Z", "end": "2024-05-01T10:00:05.000000Z"},
            {"start": "2024-05-01T10:01:00.000000Z", "end": "2024-05-01T10:01:02.000000Z"}],
    }


def test_a_region_finds_only_the_motion_inside_it(admin):
    body = ask(admin, region="0.75,0.5,1,1").json()
    assert body["region"] == [0.75, 0.5, 1.0, 1.0]
    assert body["ranges"] == [
        {"start": "2024-05-01T10:01:00.000000Z", "end": "2024-05-01T10:01:02.000000Z"}]
    assert ask(admin, region="0.2,0.2,0.7,0.7").json()["seconds"] == []


def test_start_is_inclusive_and_end_exclusive_with_other_zones(admin):
    body = ask(admin, start="2024-05-01T12:00:02+02:00", end="2024-05-01T12:01:00+02:00").json()
    assert body["seconds"] == ["2024-05-01T10:00:02.000000Z", "2024-05-01T10:00:04.000000Z"]


@pytest.mark.parametrize("region", ["1,2,3", "0,0,1,1,1", "a,b,c,d", "0.5,0,0.4,1",
                                    "0,0,1.5,1", "nan,0,1,1"])
def test_a_bad_region_is_422_naming_region(admin, region):
    answer = ask(admin, region=region)
    assert answer.status_code == 422
    assert answer.json()["detail"].startswith("region:")


@pytest.mark.parametrize("params", [
    {"start": "yesterday"}, {"end": "2024-05-01T09:00:00Z"},
    {"end": "2024-06-15T00:00:00Z"}, {"start": ""}])
def test_bad_times_are_422(admin, params):
    answer = ask(admin, **params)
    assert answer.status_code == 422
    assert "detail" in answer.json()


def test_a_viewer_sees_only_their_cameras(site):
    viewer = site.client(headers=basic("viewer1", PASSWORDS["viewer1"]))
    assert ask(viewer).status_code == 200
    assert ask(viewer, camera="cam2").status_code == 404
    assert ask(viewer, camera="nothing").status_code == 404
    assert site.client().get("/api/cameras/cam1/motion").status_code == 401
