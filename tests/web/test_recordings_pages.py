"""The Recordings pages: what each user sees, days in their zone, a day's segments."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from authkit import PASSWORDS, basic, make_site
from mediakit import add_rows

from nvr.clock import ManualClock
from nvr.config import load_config

US = 1_000_000
CONFIG = """
[server]
data_dir = "{data}"
[recording]
retain_days = 30
max_bytes = "2TB"
[[cameras]]
name = "cam1"
url = "rtsp://10.0.0.1/stream"
max_bytes = "500GB"
[[cameras]]
name = "cam2"
url = "rtsp://user:secret-pw@10.0.0.2/stream"
retain_days = 7
"""


def us(text: str) -> int:
    return round(datetime.fromisoformat(text).timestamp() * US)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("recpages")
    site = make_site(tmp)
    (tmp / "config.toml").write_text(CONFIG.format(data=tmp))
    site.services.config = load_config(tmp / "config.toml")
    index = site.services.index
    # cam1: three days, the last one busy (all day), one 2-minute hole
    add_rows(index, "cam1", us("2024-05-01T10:00:00+00:00"), 30, bytes_=2_000_000)
    add_rows(index, "cam1", us("2024-05-02T10:00:00+00:00"), 60, bytes_=2_000_000)
    add_rows(index, "cam1", us("2024-05-03T00:00:00+00:00"), 600, bytes_=3_000_000)
    add_rows(index, "cam1", us("2024-05-03T10:02:00+00:00"), 838, bytes_=3_000_000)
    add_rows(index, "cam2", us("2024-05-03T00:00:00+00:00"), 5, bytes_=7_000_000)
    site.services.clock = ManualClock(start=us("2024-05-03T23:59:00+00:00") / US)
    return site


@pytest.fixture(scope="module")
def admin(site):
    return site.client(headers=basic("admin", PASSWORDS["admin"]))


@pytest.fixture(scope="module")
def viewer(site):
    return site.client(headers=basic("viewer1", PASSWORDS["viewer1"]))


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_overview_lists_each_camera_its_size_and_retention(admin):
    answer = admin.get("/recordings")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    page = text(answer.text)
    assert "Recordings" in page and "cam1" in page and "cam2" in page
    assert "4.5 GB" in page  # cam1: 30*2 + 60*2 + 1438*3 MB
    assert "35.0 MB" in page  # cam2
    assert "1,528" in page  # cam1's segments
    assert "2024-05-01 10:00" in page and "2024-05-04 00:00" in page  # oldest, newest (UTC)
    assert "Keeps 30 days, at most 500 GB" in page and "Keeps 7 days" in page
    assert "At most 2.0 TB" in page  # all cameras together
    assert 'href="/recordings/cam1"' in answer.text
    assert "secret-pw" not in answer.text and "10.0.0.2" not in answer.text
    assert '<script type="module" src="/static/js/recordings.js">' in answer.text
    assert "<style" not in answer.text and " style=" not in answer.text  # CSP: no inline styles


def test_a_viewer_sees_only_their_cameras(viewer):
    page = text(viewer.get("/recordings").text)
    assert "cam1" in page and "cam2" not in page
    assert viewer.get("/recordings/cam2").status_code == 404
    assert viewer.get("/recordings/nothere").status_code == 404
    assert viewer.get("/recordings/cam1").status_code == 200


def test_a_camera_page_shows_its_days_and_the_latest_day_by_hour(admin):
    answer = admin.get("/recordings/cam1")
    assert answer.status_code == 200
    html, page = answer.text, text(answer.text)
    assert "Fri 03 May 2024" in page  # the day shown
    assert "Thu 02 May" in page and "Wed 01 May" in page  # the list: this year's, no year
    assert "Recorded 23 h 58 min" in page
    assert "Gaps 1 (2 min)" in page
    assert "1,438" in page  # segments of the day
    # 24 hours, collapsed; each segment links to its download and the camera page
    assert len(re.findall(r'<details class="rec-hour" id="h\d+">', html)) == 24
    rows = re.findall(r'href="/api/recordings/(\d+)/download"', html)
    assert len(rows) == 1438
    assert 'href="/cameras/cam1?t=2024-05-03T10%3A02%3A00.000000Z"' in html
    assert "aria-current=\"page\"" in html


def test_a_day_in_the_viewers_zone(site, admin):
    # in Berlin (UTC+2) 2024-05-03 00:00-02:00 UTC is still 3 May; the day starts at 22:00Z
    answer = admin.get("/recordings/cam1", params={"day": "2024-05-02", "tz": "Europe/Berlin"})
    page = text(answer.text)
    assert "Thu 02 May 2024" in page and "Times in Europe/Berlin" in page
    assert "12:00:00" in page  # 10:00 UTC shown as local time
    assert "Fri 03 May" in page and "Sat 04 May" in page  # the busy day spans two
    auth = basic("admin", PASSWORDS["admin"])
    berlin = site.client(headers=auth, cookies={"nvr_tz": "Europe%2FBerlin"})
    cookie = berlin.get("/recordings/cam1", params={"day": "2024-05-02"})
    assert "Times in Europe/Berlin" in text(cookie.text)
    assert 'data-tz-source="cookie"' in cookie.text
    nowhere = site.client(headers=auth, cookies={"nvr_tz": "Nowhere/Land"})
    bad = nowhere.get("/recordings/cam1")
    assert bad.status_code == 200 and 'data-tz="UTC"' in bad.text


def test_a_daylight_saving_day_names_its_repeated_hour(site, admin):
    add_rows(site.services.index, "cam1", us("2024-10-26T23:30:00+00:00"), 150)
    html = admin.get("/recordings/cam1",
                     params={"day": "2024-10-27", "tz": "Europe/Berlin"}).text
    page = text(html)
    assert "02:00 (CEST)" in page and "02:00 (CET)" in page
    assert "25 hours" in html  # the strip's label


def test_a_day_without_recordings_and_bad_input(admin):
    answer = admin.get("/recordings/cam1", params={"day": "2024-04-01"})
    assert answer.status_code == 200
    assert "Nothing recorded on this day." in text(answer.text)
    assert admin.get("/recordings/cam1", params={"day": "1.4.2024"}).status_code == 422
    assert admin.get("/recordings", params={"tz": "Mars/Base"}).status_code == 422


def test_without_a_session_the_pages_send_you_to_log_in(site):
    answer = site.client().get("/recordings", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


def test_an_empty_recorder(tmp_path):
    site = make_site(tmp_path)
    admin = site.client(headers=basic("admin", PASSWORDS["admin"]))
    page = text(admin.get("/recordings").text)
    assert "Nothing recorded yet." in page and "retention settings are not available" in page
    site.services.configured = []
    assert "No recordings to show" in text(admin.get("/recordings").text)
    camera_page = site.client(headers=basic("admin", PASSWORDS["admin"]))
    site.services.configured = ["cam1"]
    assert "Nothing recorded yet." in text(camera_page.get("/recordings/cam1").text)
