"""``RtmpApp.streams()`` (``nvr.rtmpstats``): every stream a player may ask for is
listed, played or not, with what a person needs to tell them apart; never a key."""

from __future__ import annotations

import json
from types import SimpleNamespace

from nvr.config import Config
from nvr.feed import Feed
from nvr.registry import FeedRegistry
from nvr.rtmp.publish import Publication
from nvr.rtmpapp import RtmpApp
from nvr.rtmpstats import streams
from nvr.source import SourceState

KEYS = ("publish-key-stats-1", "play-key-stats-2")


class Stub:
    def __init__(self, name: str, feed: Feed, status: str = "online") -> None:
        self.name, self.feed = name, feed
        self.state = SourceState(status=status)  # type: ignore[arg-type]

    async def run(self) -> None:  # pragma: no cover
        return None


def _app() -> tuple[RtmpApp, FeedRegistry]:
    config = Config.model_validate({
        "rtmp": {"enabled": True, "listen": "127.0.0.1:19350", "publish_key": KEYS[0],
                 "play_key": KEYS[1]},
        "cameras": [
            {"name": "front", "url": "rtsp://10.0.0.1/x", "sub_url": "rtsp://10.0.0.1/y",
             "republish": True},
            {"name": "back", "url": "rtsp://10.0.0.2/x"}]})
    registry = FeedRegistry()
    for name in ("front", "front/sub", "back"):
        registry.add(feed := Feed(name), Stub(name, feed))
    return RtmpApp(config, registry), registry


def test_republished_cameras_are_listed_without_players() -> None:
    app, registry = _app()
    source = registry.source("front")
    assert source is not None
    source.state.codec, source.state.width, source.state.height = "h264", 1280, 720
    source.state.fps, source.state.bitrate_kbps = 25.0, 2048.0
    rows = streams(app, now=1000.0)
    assert [r["name"] for r in rows] == ["live/front", "live/front_sub"]  # back: no republish
    front, sub = rows
    assert front | {"players": None} == {
        "name": "live/front", "source": "camera", "feed": "front", "camera": "front",
        "publisher": None, "status": "online", "last_error": None, "video_codec": "h264",
        "audio_codec": None, "width": 1280, "height": 720, "fps": 25.0,
        "bitrate_kbps": 2048.0, "uptime_seconds": None, "players": None}
    assert front["players"] == [] and sub["feed"] == "front/sub" and sub["camera"] == "front"


def test_publisher_and_players_with_addresses_and_uptime() -> None:
    app, registry = _app()
    feed = Feed("live/studio")
    pub = Publication("live/studio", feed, "192.0.2.7:50123", now=900.0)
    pub.state.status, pub.state.codec, pub.state.bitrate_kbps = "online", "h264", 3000.0
    registry.add(feed, pub)
    app.server.publications["live/studio"] = pub
    player = SimpleNamespace(address="192.0.2.9:40000", bytes_sent=123_456, dropped=2)
    app.server.fanouts["live/studio"] = SimpleNamespace(  # type: ignore[assignment]
        feed=feed, players=[player], started=950.0, bytes_in=0)
    app.server.fanouts["live/front"] = SimpleNamespace(  # type: ignore[assignment]
        feed=registry.get("front"), players=[], started=990.0, bytes_in=50_000)
    rows = {r["name"]: r for r in streams(app, now=1000.0)}
    assert list(rows) == ["live/front", "live/front_sub", "live/studio"]
    studio = rows["live/studio"]
    assert (studio["source"], studio["feed"], studio["camera"]) == (
        "publisher", "live/studio", None)
    assert studio["publisher"] == "192.0.2.7:50123" and studio["uptime_seconds"] == 100.0
    assert studio["players"] == [{"address": "192.0.2.9:40000", "bytes_sent": 123_456,
                                  "dropped": 2}]
    # a played camera: up since its first player; bitrate from what went out when the
    # camera's own rate is not known
    assert rows["live/front"]["uptime_seconds"] == 10.0
    assert rows["live/front"]["bitrate_kbps"] == 40.0
    assert not any(key in json.dumps(list(rows.values())) for key in KEYS)


def test_a_stream_a_camera_records_is_listed_with_and_without_its_publisher() -> None:
    app, registry = _app()
    app.recorded = {"live/drone": "back"}  # back: url = "rtmp://127.0.0.1:19350/live/drone"
    back = registry.source("back")
    assert back is not None
    back.state.status, back.state.last_error = "connecting", "waiting for a publisher"
    [drone] = [r for r in streams(app, now=1000.0) if r["name"] == "live/drone"]
    assert (drone["source"], drone["feed"], drone["camera"], drone["publisher"]) == (
        "publisher", "back", "back", None)
    assert drone["status"] == "connecting" and drone["last_error"] == "waiting for a publisher"

    feed = registry.get("back")
    assert feed is not None
    pub = Publication("live/drone", feed, "198.51.100.4:1234", now=990.0)
    pub.state.status = "online"
    app.server.publications["live/drone"] = pub
    [drone] = [r for r in streams(app, now=1000.0) if r["name"] == "live/drone"]
    assert (drone["camera"], drone["publisher"], drone["status"]) == (
        "back", "198.51.100.4:1234", "online")
    assert drone["uptime_seconds"] == 10.0
