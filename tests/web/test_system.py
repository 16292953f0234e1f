"""The System page and GET /api/system (admins only), and the config's problems."""

from __future__ import annotations

import os
import re

import pytest
from authkit import PASSWORDS, basic, make_site
from mediakit import StubSource, add_rows

from nvr import __version__
from nvr.config import load_config
from nvr.config.problems import config_problems, size_text
from nvr.feed import Feed

CONFIG = """
[server]
data_dir = "{data}"
http = "0.0.0.0:8080"
[recording]
min_free = "1GB"
[[cameras]]
name = "cam1"
url = "rtsp://admin:hunter2-pw@10.0.0.1/stream"
sub_url = "rtsp://10.0.0.1/sub"
[[cameras]]
name = "cam2"
url = "rtsp://10.0.0.2/stream"
enabled = false
[[cameras]]
name = "cam3"
url = "rtsp://10.0.0.3/stream"
record = "off"
"""


def config(tmp_path, text: str = CONFIG):
    (tmp_path / "config.toml").write_text(text.format(data=tmp_path))
    return load_config(tmp_path / "config.toml")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("system")
    site = make_site(tmp)
    services = site.services
    services.config = config(tmp)
    services.configured = ["cam1", "cam2", "cam3"]
    for name, status in (("cam1", "online"), ("cam1/sub", "offline"), ("cam3", "error")):
        feed = Feed(name)
        source = StubSource(name, feed, status)
        services.registry.add(feed, source)
        if name == "cam1":
            source.state.fps, source.state.bitrate_kbps, source.state.codec = 25.0, 4096.0, "h264"
            source.state.width, source.state.height, source.state.corrupt = 1920, 1080, 3
            feed.stats.frames, feed.stats.dropped = 1234, 5
        if name == "cam3":
            source.state.last_error = "only corrupt frames arrive"
    add_rows(services.index, "cam1", 1_714_521_600_000_000, 10, bytes_=5_000_000)
    return site


def test_api_system_as_json(site):
    admin = site.client(headers=basic("admin", PASSWORDS["admin"]))
    answer = admin.get("/api/system")
    assert answer.status_code == 200
    info = answer.json()
    assert set(info) == {"version", "started", "uptime_seconds", "process", "disk", "database",
                         "cameras", "problems"}
    assert info["version"] == __version__ and info["started"].endswith("Z")
    assert info["uptime_seconds"] >= 0
    process = info["process"]
    assert process["pid"] == os.getpid() and process["memory_bytes"] > 10_000_000
    assert process["threads"] >= 1 and process["cpu_seconds"] > 0 and process["cpu_percent"] >= 0
    disk = info["disk"]
    assert 0 < disk["free_bytes"] <= disk["total_bytes"] and disk["recordings_bytes"] == 50_000_000
    assert info["database"]["kind"] == "sqlite" and info["database"]["bytes"] > 0
    cameras = {c["name"]: c for c in info["cameras"]}
    assert list(cameras) == ["cam1", "cam1/sub", "cam2", "cam3"]
    cam1 = cameras["cam1"]
    assert (cam1["status"], cam1["fps"], cam1["bitrate_kbps"], cam1["frames"], cam1["dropped"],
            cam1["corrupt"], cam1["segments"], cam1["recorded_bytes"]) == (
        "online", 25.0, 4096.0, 1234, 5, 3, 10, 50_000_000)
    assert cameras["cam2"]["status"] == "disabled" and not cameras["cam2"]["enabled"]
    assert cameras["cam3"]["last_error"] == "only corrupt frames arrive"
    assert cameras["cam3"]["record"] == "off"
    problems = "\n".join(info["problems"])
    assert 'camera cam3: record = "off"' in problems
    assert "cam2" not in problems  # disabled: a choice the cameras table shows
    assert "no retain_days and no max_bytes" in problems and "plain HTTP" in problems
    assert "hunter2" not in answer.text


def test_the_system_page(site):
    admin = site.login("admin")
    answer = admin.get("/system")
    assert answer.status_code == 200
    page = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", answer.text))
    for wanted in (f"nvr {__version__}", "CPU", "Memory", "Disk free", "Database", "SQLite",
                   "cam1/sub", "Disabled", "4,096 kbit/s",
                   "1,234", "50.0 MB", "only corrupt frames arrive", "things to look at",
                   "H264 1920×1080"):
        assert wanted in page, wanted
    assert "hunter2" not in answer.text and " style=" not in answer.text
    assert 'aria-current="page"' in answer.text  # the System link in the top bar


def test_viewers_get_403(site):
    viewer = site.client(headers=basic("viewer1", PASSWORDS["viewer1"]))
    assert viewer.get("/api/system").status_code == 403
    assert viewer.get("/system").status_code == 403
    session = site.login("viewerall")
    assert session.get("/system").status_code == 403
    assert 'href="/system"' not in session.get("/recordings").text


QUIET = """
[server]
data_dir = "{data}"
[recording]
retain_days = 14
[[cameras]]
name = "cam1"
url = "rtsp://10.0.0.1/stream"
"""


def test_config_problems(tmp_path):
    assert config_problems(config(tmp_path, QUIET)) == []
    loud = config(tmp_path, """
[server]
data_dir = "{data}"
[recording]
min_free = 0
max_bytes = "100GB"
[[cameras]]
name = "cam1"
url = "rtsp://10.0.0.1/stream"
max_bytes = "200GB"
record = "events"
""")
    assert config_problems(loud) == [
        "recording: min_free = 0: nothing keeps the disk from filling up if other files grow",
        'camera cam1: record = "events" without motion detection ([cameras.motion] enabled '
        "= false): only the last minute or so is kept",
        "camera cam1: max_bytes (200 GB) is above recording.max_bytes (100 GB), which caps "
        "all cameras together"]
    off = config(tmp_path, QUIET + "enabled = false\n")  # its only camera
    assert config_problems(off) == [
        "cameras: every camera is disabled (enabled = false): nothing is recorded"]
    nothing = config(tmp_path, '[server]\ndata_dir = "{data}"\n[recording]\nmin_free = 0\n')
    assert config_problems(nothing) == [
        "recording: no retain_days, no max_bytes and min_free = 0: recordings are never "
        "deleted and will fill the disk",
        "cameras: none configured; add [[cameras]] to record"]


def test_sizes_for_people():
    assert [size_text(n) for n in (None, 0, 999, 1000, 15_300, 820_000_000, 1.5e12, 3e15)] == [
        "—", "0 B", "999 B", "1.0 kB", "15.3 kB", "820 MB", "1.5 TB", "3000 TB"]
