"""What the RTMP server serves, as rows for ``GET /api/rtmp/streams`` and the pages.

:func:`streams` reads a running :class:`~nvr.rtmpapp.RtmpApp` (its server's
publications and fan-outs, its ``republished`` and ``recorded`` names and the
registry) and never changes it. Every stream a player could ask for is listed,
played or not, so a person can find the URL before anyone plays it:

* ``live/<camera>`` and ``live/<camera>_sub`` of cameras with ``republish = true``
  (``source = "camera"``);
* each stream a publisher sends (``source = "publisher"``), and each stream a
  camera records (``url = "rtmp://HOST:PORT/live/<name>"``), with or without a
  publisher at the moment; ``camera`` names the configured camera a row belongs
  to (null for a pushed stream nobody records).

Rows hold addresses and counters only: never a key (players and publishers give
theirs in the query, which nothing here sees). The web layer adds the play URLs
(they depend on the host the browser used) and the push targets.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from nvr.feed import Feed
from nvr.source import Source

if TYPE_CHECKING:
    from nvr.rtmp.fanout import Fanout
    from nvr.rtmp.publish import Publication
    from nvr.rtmpapp import RtmpApp

__all__ = ["streams"]


def streams(app: RtmpApp, now: float | None = None) -> list[dict[str, Any]]:
    """One row per stream (see the module docstring), sorted by name."""
    now = time.time() if now is None else now
    server, registry = app.server, app.registry
    # stream name → the camera feed it plays (republished and recorded streams)
    known: dict[str, str] = {**app.republished, **app.recorded}
    out: dict[str, dict[str, Any]] = {}
    for name, feed_name in known.items():
        fanout = server.fanouts.get(name)
        pub = server.publications.get(name)
        source = registry.source(feed_name)
        feed = registry.get(feed_name)
        out[name] = _row(name, feed_name, feed, source, pub, fanout, now,
                         recorded=name not in app.republished)
    for name, pub in server.publications.items():
        if name not in out:
            out[name] = _row(name, pub.feed.name, pub.feed, pub, pub, server.fanouts.get(name),
                             now, recorded=False)
    for name, fanout in server.fanouts.items():
        if name not in out:  # a feed played under a name neither list knows (none today)
            feed = fanout.feed
            out[name] = _row(name, feed.name, feed, registry.source(feed.name), None, fanout,
                             now, recorded=False)
    return sorted(out.values(), key=lambda r: r["name"])


def _row(name: str, feed_name: str, feed: Feed | None, source: Source | None,
         pub: Publication | None, fanout: Fanout | None, now: float,
         *, recorded: bool) -> dict[str, Any]:
    """``recorded``: a camera records what is published to ``name`` (so its row is a
    publisher's, with or without one connected)."""
    state = pub.state if pub is not None else source.state if source is not None else None
    video = feed.video if feed is not None else None
    audio = feed.audio if feed is not None else None
    bitrate = state.bitrate_kbps if state is not None else 0.0
    if not bitrate and fanout is not None:  # what the players get, averaged
        bitrate = fanout.bytes_in * 8 / max(now - fanout.started, 1e-3) / 1000
    started = pub.started if pub is not None else fanout.started if fanout is not None else None
    is_camera_feed = feed_name != name  # a camera's feed, not a pushed stream's own
    return dict(
        name=name,
        source="publisher" if pub is not None or recorded or not is_camera_feed else "camera",
        feed=feed_name,
        camera=feed_name.split("/", 1)[0] if is_camera_feed else None,
        publisher=pub.peer if pub is not None else None,
        status=state.status if state is not None else "offline",
        last_error=state.last_error if state is not None else None,
        video_codec=video.codec if video is not None else state.codec if state else None,
        audio_codec=audio.codec if audio is not None else (
            state.audio_codec if state is not None else None),
        width=video.width if video is not None else state.width if state else 0,
        height=video.height if video is not None else state.height if state else 0,
        fps=state.fps if state is not None else 0.0,
        bitrate_kbps=round(bitrate, 1),
        uptime_seconds=round(now - started, 1) if started is not None else None,
        players=[dict(address=p.address, bytes_sent=p.bytes_sent, dropped=p.dropped)
                 for p in (fanout.players if fanout is not None else ())])
