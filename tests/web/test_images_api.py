"""snapshot.jpg from a live Feed and frame.jpg from a recorded segment: real H.264
decoded, real JPEGs, their caches, and who may see them."""

from __future__ import annotations

import os
import time

import pytest
from authkit import PASSWORDS, basic, make_site
from mediakit import StubSource, jpeg_size, publish_frames, write_segment

from nvr.feed import Feed
from nvr.web.api.recordings import iso
from nvr.web.framecache import FrameCache

US = 1_000_000
T0 = 1_714_521_600 * US  # 2024-05-01T00:00:00Z


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site = make_site(tmp_path_factory.mktemp("images"))
    # 4 s at 25 fps, a keyframe every second; a second segment on cam2
    write_segment(site.data_dir, site.services.index, "cam1", T0, frames=100, gop=25)
    write_segment(site.data_dir, site.services.index, "cam2", T0, frames=25, gop=25)
    return site


@pytest.fixture(scope="module")
def admin(site):
    return site.client(headers=basic("admin", PASSWORDS["admin"]))


# ------------------------------------------------------------------ snapshot.jpg


def test_no_frame_yet_is_503_with_a_reason(site, admin):
    answer = admin.get("/api/cameras/cam2/snapshot.jpg")  # no feed: disabled
    assert answer.status_code == 503
    assert answer.json() == {"detail": "the camera is disabled in the config"}
    feed = Feed("cam2")
    source = StubSource("cam2", feed, status="offline")
    source.state.last_error = "connection refused"
    site.services.registry.add(feed, source)
    try:
        answer = admin.get("/api/cameras/cam2/snapshot.jpg")
        assert answer.status_code == 503
        assert answer.json()["detail"] == ("no picture yet: the camera is offline "
                                           "(connection refused)")
        source.state.status = "online"
        answer = admin.get("/api/cameras/cam2/snapshot.jpg")
        assert answer.json()["detail"] == "no picture yet: waiting for the camera's next keyframe"
    finally:
        site.services.registry.remove("cam2")


def test_the_snapshot_is_the_latest_keyframe_as_jpeg_cached_a_second(site, admin):
    feed = Feed("cam1")
    site.services.registry.add(feed, StubSource("cam1", feed))
    try:
        publish_frames(feed, frames=30, width=320, height=240, gop=25)
        first = admin.get("/api/cameras/cam1/snapshot.jpg")
        assert first.status_code == 200, first.text
        assert first.headers["content-type"] == "image/jpeg"
        assert jpeg_size(first.content) == (320, 240)
        snapshots = site.app.state.images.snapshots
        assert snapshots.made == 1
        # same keyframe, or within a second: the same bytes, not encoded again
        assert admin.get("/api/cameras/cam1/snapshot.jpg").content == first.content
        publish_frames(feed, frames=26, width=320, height=240, gop=25)  # two new keyframes
        assert admin.get("/api/cameras/cam1/snapshot.jpg").content == first.content
        assert snapshots.made == 1
        snapshots.max_age = 0.0  # as if a second had passed
        newer = admin.get("/api/cameras/cam1/snapshot.jpg")
        assert newer.status_code == 200 and snapshots.made == 2
        assert admin.get("/api/cameras/cam1/snapshot.jpg").content == newer.content
        assert snapshots.made == 2  # no new keyframe since: nothing to do
    finally:
        site.app.state.images.snapshots.max_age = 1.0
        site.services.registry.remove("cam1")


def test_a_viewer_gets_404_for_other_cameras_images(site):
    viewer = site.client(headers=basic("viewer1", PASSWORDS["viewer1"]))
    for path in ("/api/cameras/cam2/snapshot.jpg", "/api/cameras/nothere/snapshot.jpg",
                 f"/api/cameras/cam2/frame.jpg?at={iso(T0)}"):
        answer = viewer.get(path)
        assert answer.status_code == 404 and answer.json() == {"detail": "no such camera"}
    assert viewer.get(f"/api/cameras/cam1/frame.jpg?at={iso(T0)}").status_code == 200


# ------------------------------------------------------------------ frame.jpg


def test_the_recorded_keyframe_at_or_before_a_time_scaled(site, admin):
    answer = admin.get("/api/cameras/cam1/frame.jpg",
                       params={"at": iso(T0 + 2_500_000), "width": 160})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "image/jpeg"
    assert jpeg_size(answer.content) == (160, 120)
    assert answer.headers["x-keyframe-time"] == iso(T0 + 2 * US)
    # the default width, and a width above the video's: never upscaled
    assert jpeg_size(admin.get("/api/cameras/cam1/frame.jpg",
                               params={"at": iso(T0)}).content) == (320, 240)
    big = admin.get("/api/cameras/cam1/frame.jpg", params={"at": iso(T0), "width": 1920})
    assert jpeg_size(big.content) == (320, 240)
    last = admin.get("/api/cameras/cam1/frame.jpg", params={"at": iso(T0 + 3_999_000)})
    assert last.headers["x-keyframe-time"] == iso(T0 + 3 * US)


def test_scrubbing_back_and_forth_hits_the_disk_cache(site, admin):
    admin.get("/api/cameras/cam1/frame.jpg", params={"at": iso(T0 + 1_200_000), "width": 96})
    cache = site.app.state.images.frames
    stored = site.data_dir / "cache" / "frames" / "cam1" / f"{T0 + US}-96.jpg"
    assert stored.is_file()
    hits = cache.hits
    again = admin.get("/api/cameras/cam1/frame.jpg",
                      params={"at": iso(T0 + 1_900_000), "width": 96})  # same keyframe
    assert cache.hits == hits + 1
    assert again.content == stored.read_bytes()
    assert jpeg_size(again.content) == (96, 72)


def test_nothing_recorded_then_is_404(site, admin):
    for at in (T0 - US, T0 + 4 * US, T0 + 3600 * US):
        answer = admin.get("/api/cameras/cam1/frame.jpg", params={"at": iso(at)})
        assert answer.status_code == 404
        assert answer.json() == {"detail": "nothing recorded at that time"}


def test_bad_parameters_are_422(admin):
    for params in ({}, {"at": "noon"}, {"at": iso(T0), "width": 15},
                   {"at": iso(T0), "width": 1921}, {"at": iso(T0), "width": "wide"}):
        answer = admin.get("/api/cameras/cam1/frame.jpg", params=params)
        assert answer.status_code == 422, params


def test_an_unreadable_segment_file_is_404_not_500(site, admin):
    from mediakit import add_rows

    add_rows(site.services.index, "cam1", T0 + 100 * US, 1, seconds=10)
    answer = admin.get("/api/cameras/cam1/frame.jpg", params={"at": iso(T0 + 105 * US)})
    assert answer.status_code == 404
    assert answer.json()["detail"].startswith("no picture at that time")


def test_the_frame_cache_is_bounded_and_stays_in_data_dir(tmp_path):
    cache = FrameCache(tmp_path, max_bytes=10_000)
    for i in range(30):
        cache.put("cam1", i, 320, bytes(1000))
        os.utime(cache.path("cam1", i, 320), (time.time() - 100 + i,) * 2)
    assert cache.total() <= 10_000
    left = sorted(int(p.name.split("-")[0]) for p in (tmp_path / "cache/frames/cam1").iterdir())
    assert left[-1] == 29 and left[0] > 10  # the oldest went
    assert cache.get("cam1", 29, 320) == bytes(1000)
    assert cache.path("../../etc", 1, 320) is None and cache.get("..", 1, 1) is None
    cache.put("../x", 1, 1, b"x")
    assert not (tmp_path.parent / "x").exists()
    # a new cache on the same directory counts what is there
    assert FrameCache(tmp_path, max_bytes=10_000).total() == cache.total()
