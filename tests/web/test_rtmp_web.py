"""What a person sees of the RTMP server: ``GET /api/rtmp/streams`` (every stream
with its play URLs and push targets), pushed streams in ``GET /api/cameras`` and on
the dashboard (admins only), and the System page's RTMP section. Never a key.

A real :class:`~nvr.rtmpapp.RtmpApp` that is not listening: its server's
publications and fan-outs are filled in by hand."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pytest
from authkit import PASSWORDS, basic, make_site
from mediakit import StubSource

from nvr.config import Config
from nvr.feed import Feed
from nvr.rtmp.publish import Publication
from nvr.rtmpapp import RtmpApp
from nvr.web.rtmp_view import play_host

PORT, TLS_PORT = 19351, 19352
PUBLISH_KEY, PLAY_KEY = "publish-key-web-1", "play-key-web-22"
PUSH = SimpleNamespace(url="rtmp://a.rtmp.youtube.com/live2/***", status="retrying",
                       last_error="connection refused by a.rtmp.youtube.com",
                       bytes_sent=4096, reconnects=3)
SECRETS = (PUBLISH_KEY, PLAY_KEY, "yt-stream-key-9")


def _config(tmp_path, **server: str) -> Config:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("x")
    key.write_text("x")
    return Config.model_validate({
        "server": {"data_dir": str(tmp_path), **server},
        "rtmp": {"enabled": True, "listen": f"0.0.0.0:{PORT}", "publish_key": PUBLISH_KEY,
                 "play_key": PLAY_KEY, "rtmps_listen": f"0.0.0.0:{TLS_PORT}",
                 "tls_cert": str(cert), "tls_key": str(key)},
        "cameras": [{"name": "cam1", "url": "rtsp://10.0.0.1/x", "republish": True,
                     "push": ["rtmp://a.rtmp.youtube.com/live2/yt-stream-key-9"]},
                    {"name": "cam2", "url": "rtsp://10.0.0.2/x"}]})


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rtmpweb")
    site = make_site(tmp)
    services = site.services
    services.config = _config(tmp)
    for name in ("cam1", "cam2"):
        feed = Feed(name)
        services.registry.add(feed, source := StubSource(name, feed))
        source.state.codec, source.state.width, source.state.height = "h264", 1280, 720
    cam2 = services.registry.source("cam2")
    cam2.kind = "rtmp"  # type: ignore[union-attr]  # fed by a publisher (nvr.rtmpcamera)
    app = RtmpApp(services.config, services.registry)
    feed = Feed("live/studio")
    pub = Publication("live/studio", feed, "192.0.2.7:50123")
    pub.state.status, pub.state.codec, pub.state.width, pub.state.height = (
        "online", "h264", 640, 360)
    pub.state.fps, pub.state.bitrate_kbps = 25.0, 1500.0
    services.registry.add(feed, pub)
    app.server.publications["live/studio"] = pub
    app.server.fanouts["live/studio"] = SimpleNamespace(  # type: ignore[assignment]
        feed=feed, started=pub.started, bytes_in=0,
        players=[SimpleNamespace(address="192.0.2.9:40000", bytes_sent=2_500_000, dropped=0)])
    services.rtmp = app.streams
    services.push = lambda: {"cam1": [PUSH]}
    return site


def _admin(site, **kw):
    return site.client(headers=basic("admin", PASSWORDS["admin"]), **kw)


def _viewer(site):
    return site.client(headers=basic("viewer1", PASSWORDS["viewer1"]))  # sees cam1 only


def test_streams_lists_every_stream_with_play_urls_and_push_targets(site):
    answer = _admin(site).get("/api/rtmp/streams")
    assert answer.status_code == 200
    assert not any(s in answer.text for s in SECRETS)
    rows = {r["name"]: r for r in answer.json()}
    assert list(rows) == ["live/cam1", "live/studio"]  # cam1 unplayed; cam2 not republished
    cam1, studio = rows["live/cam1"], rows["live/studio"]
    assert cam1["source"] == "camera" and cam1["players"] == []
    assert cam1["url"] == f"rtmp://nvr.test:{PORT}/live/cam1"
    assert cam1["rtmps_url"] == f"rtmps://nvr.test:{TLS_PORT}/live/cam1"
    assert cam1["push"] == [{"url": PUSH.url, "status": "retrying",
                             "last_error": PUSH.last_error, "bytes_sent": 4096,
                             "reconnects": 3}]
    assert {k: studio[k] for k in ("source", "feed", "publisher", "video_codec", "width",
                                   "height", "fps", "bitrate_kbps", "push", "url")} == {
        "source": "publisher", "feed": "live/studio", "publisher": "192.0.2.7:50123",
        "video_codec": "h264", "width": 640, "height": 360, "fps": 25.0,
        "bitrate_kbps": 1500.0, "push": [], "url": f"rtmp://nvr.test:{PORT}/live/studio"}
    assert studio["players"] == [{"address": "192.0.2.9:40000", "bytes_sent": 2_500_000,
                                  "dropped": 0}]
    assert studio["uptime_seconds"] >= 0
    assert _viewer(site).get("/api/rtmp/streams").status_code == 403


@pytest.mark.parametrize(("host", "shown"), [
    ("192.168.1.20:8080", "192.168.1.20"), ("[fd00::5]:8080", "[fd00::5]")])
def test_play_urls_use_the_host_the_browser_used(site, host, shown):
    rows = _admin(site).get("/api/rtmp/streams", headers={"Host": host}).json()
    assert rows[0]["url"] == f"rtmp://{shown}:{PORT}/live/cam1"


def test_a_host_header_that_is_no_host_is_not_echoed(site):
    conn = SimpleNamespace(url=SimpleNamespace(hostname='evil"><b>'))
    assert play_host(conn, site.services.config) == "localhost"  # listen is 0.0.0.0


def test_public_url_names_the_host(tmp_path):
    site = make_site(tmp_path)
    site.services.config = _config(tmp_path, public_url="https://nvr.example.com:8443")
    site.services.rtmp = lambda: [dict(name="live/x", source="publisher", feed="live/x",
                                       camera=None, publisher="192.0.2.1:1", status="online")]
    [row] = _admin(site).get("/api/rtmp/streams").json()
    assert row["url"] == f"rtmp://nvr.example.com:{PORT}/live/x"
    assert row["status"] == "online"  # what the server says passes through


def test_camera_list_says_how_video_arrives_and_admins_see_pushed_streams(site):
    cameras = {c["name"]: c for c in _admin(site).get("/api/cameras").json()}
    assert list(cameras) == ["cam1", "cam2", "live/studio"]
    assert (cameras["cam1"]["source"], cameras["cam1"]["rtmp_url"]) == (
        "rtsp", f"rtmp://nvr.test:{PORT}/live/cam1")
    assert (cameras["cam2"]["source"], cameras["cam2"]["rtmp_url"]) == ("rtmp", None)
    studio = cameras["live/studio"]
    assert {k: studio[k] for k in ("status", "codec", "width", "height", "fps",
                                   "bitrate_kbps", "source", "rtmp_url", "push")} == {
        "status": "online", "codec": "h264", "width": 640, "height": 360, "fps": 25.0,
        "bitrate_kbps": 1500.0, "source": "pushed",
        "rtmp_url": f"rtmp://nvr.test:{PORT}/live/studio", "push": []}
    assert cameras["cam1"]["push"][0]["url"] == PUSH.url
    viewer = _viewer(site).get("/api/cameras").json()
    assert [c["name"] for c in viewer] == ["cam1"]


def test_system_page_rtmp_section(site):
    page = _admin(site).get("/system")
    assert page.status_code == 200
    html = page.text
    assert not any(s in html for s in SECRETS)
    section = html[html.index('class="card sys-rtmp"'):html.index("sys-alerts")]
    assert f"0.0.0.0:{PORT}" in section and f"0.0.0.0:{TLS_PORT}" in section
    copies = re.findall(r'data-copy="([^"]+)"', section)
    assert copies == [f"rtmp://nvr.test:{PORT}/live/cam1",
                      f"rtmps://nvr.test:{TLS_PORT}/live/cam1",
                      f"rtmp://nvr.test:{PORT}/live/studio",
                      f"rtmps://nvr.test:{TLS_PORT}/live/studio",
                      f"rtmp://nvr.test:{PORT}/live"]
    assert "Published from 192.0.2.7:50123" in section and "1 player:" in section
    assert PUSH.url in section and PUSH.last_error in section
    assert "Publish from OBS / ffmpeg" in section and "&lt;name&gt;?key=…" in section
    assert '<script type="module" src="/static/js/copy.js">' in html


def test_system_page_says_who_plays_h265(site):
    def notes() -> list[str]:
        html = _admin(site).get("/system").text
        section = html[html.index('class="card sys-rtmp"'):html.index("sys-alerts")]
        return re.findall(r'<p class="rtmp-note muted">(.*?)</p>', section)

    assert notes() == []  # H.264 plays everywhere
    pub = site.services.registry.source("live/studio")
    pub.state.codec = "h265"
    try:
        [note] = notes()
    finally:
        pub.state.codec = "h264"
    assert "Enhanced RTMP players only" in note and "-rtmp_enhanced_codecs hvc1" in note


def test_dashboard_pushed_streams_for_admins_only(site):
    html = _admin(site).get("/").text
    assert "Pushed streams" in html and not any(s in html for s in SECRETS)
    assert f'data-copy="rtmp://nvr.test:{PORT}/live/studio"' in html
    assert f'url = "rtmp://127.0.0.1:{PORT}/live/&lt;name&gt;"' in html
    assert 'data-camera="live/studio"' not in html  # no live tile
    assert "Pushed streams" not in _viewer(site).get("/").text


def test_without_the_server(tmp_path):
    site = make_site(tmp_path)
    site.services.config = Config.model_validate({"server": {"data_dir": str(tmp_path)}})
    admin = _admin(site)
    assert admin.get("/api/rtmp/streams").json() == []
    html = admin.get("/system").text
    assert "The RTMP server is off" in html and "[rtmp] enabled = true" in html
    assert "Pushed streams" not in admin.get("/").text
    assert all(c["source"] == "rtsp" and c["rtmp_url"] is None
               for c in admin.get("/api/cameras").json())
    assert json.dumps(admin.get("/api/cameras").json()).count("live/") == 0
    site.services.push = lambda: {"cam1": [PUSH]}  # push works without the server
    section = admin.get("/system").text
    section = section[section.index('class="card sys-rtmp"'):section.index("sys-alerts")]
    assert "Camera cam1 pushes to" in section and PUSH.url in section
    assert PUSH.last_error in section and "Retrying" in section
