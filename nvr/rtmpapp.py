"""The RTMP server in ``nvr run``: names, keys, the registry and events.

:class:`RtmpApp` is the :class:`~nvr.rtmp.server.StreamApp` the protocol
package asks. Stream names (the ``live`` application only):

* play ``live/<camera>`` → the camera's feed ``<camera>``, ``live/<camera>_sub``
  → ``<camera>/sub``, for cameras with ``republish = true``;
* publish ``live/<name>?key=<publish_key>`` → a new feed ``live/<name>`` in the
  registry (removed and closed when the publisher leaves), played back as
  ``live/<name>``; events ``rtmp_publish_start``/``rtmp_publish_stop``;
* unless a camera records that stream (``url = "rtmp://HOST:PORT/live/<name>"``):
  then the publisher feeds the camera's own feed (its
  :class:`~nvr.rtmpcamera.PublishedCamera` source), which stays open between
  publishers, ``live/<name>`` plays that feed, and the events carry the camera's
  name.

Refused: a wrong or missing key (logged without the key), a second publisher
to a live name, a name a republished camera uses; with ``play_key`` set a
player must give ``?key=<play_key>``.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import ssl
import time
from typing import Any

from nvr.config import Config
from nvr.config.rtmp import APP, STREAM_RE
from nvr.eventhub import EventHub
from nvr.feed import Feed
from nvr.registry import FeedRegistry
from nvr.rtmp.publish import Publication
from nvr.rtmp.server import RtmpServer
from nvr.rtmpcamera import PublishedCamera

__all__ = ["RtmpApp"]

log = logging.getLogger("nvr.rtmp")


def _key_ok(given: str | None, wanted: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), wanted.encode())


class RtmpApp:
    """See the module docstring; :meth:`run` serves until cancelled."""

    def __init__(self, config: Config, registry: FeedRegistry, hub: EventHub | None = None,
                 *, stall_timeout: float = 10.0, idle_timeout: float = 30.0) -> None:
        self.config = config
        self.registry = registry
        self.hub = hub
        self.server = RtmpServer(self, max_connections=config.rtmp.max_connections,
                                 stall_timeout=stall_timeout, idle_timeout=idle_timeout)
        self.republished: dict[str, str] = {}  # stream name → feed name
        self.recorded: dict[str, str] = {}  # published stream name → a camera's feed name
        for cam in config.cameras:
            if cam.enabled:
                self.recorded |= cam.published_streams
            if cam.enabled and cam.republish:
                self.republished[f"{APP}/{cam.name}"] = cam.name
                if cam.sub_url:
                    self.republished[f"{APP}/{cam.name}_sub"] = f"{cam.name}/sub"
        self.ports: list[int] = []

    async def start(self) -> None:
        """Listen on ``listen`` (and ``rtmps_listen`` with the certificate)."""
        cfg = self.config.rtmp
        host, port = cfg.listen_address
        self.ports.append(await self.server.listen(host, port))
        if cfg.rtmps_listen and cfg.tls_cert and cfg.tls_key:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            await asyncio.to_thread(context.load_cert_chain, cfg.tls_cert, cfg.tls_key)
            from nvr.config.types import split_host_port
            shost, sport = split_host_port(cfg.rtmps_listen)
            self.ports.append(await self.server.listen(shost, sport, context))
        log.info("rtmp: listening on %s%s", cfg.listen,
                 f" and rtmps on {cfg.rtmps_listen}" if cfg.rtmps_listen else "")

    async def run(self) -> None:
        """Serve until cancelled (the supervised task "rtmp")."""
        try:
            await self.start()
            await asyncio.Event().wait()
        finally:  # also when rtmps_listen failed after listen worked: free both
            await self.server.close()
            self.ports.clear()

    # -- StreamApp -------------------------------------------------------------
    async def publish(self, name: str, query: dict[str, str],
                      peer: str) -> Publication | str:
        key = self.config.rtmp.publish_key
        app, _, stream = name.partition("/")
        if key is None or not _key_ok(query.get("key"), key):
            log.warning("rtmp %s: publish to %s refused: wrong or missing key", peer, name)
            return "Wrong or missing key."
        if app != APP or not STREAM_RE.match(stream):
            log.warning("rtmp %s: publish to %r refused: not %s/<name>", peer, name[:80], APP)
            return f"Publish to {APP}/<name> (1-64 letters, digits, '.', '_', '-')."
        camera = self._camera(name)
        if camera is not None:
            if camera.busy:
                log.warning("rtmp %s: publish to %s refused: camera %s has a publisher",
                            peer, name, camera.name)
                return "The name is in use."
            pub = camera.attach(peer)
            log.info("rtmp %s: publishing %s (recorded by camera %s)", peer, name, camera.name)
            await self._event("rtmp_publish_start", pub)
            return pub
        if name in self.republished or name in self.registry:
            log.warning("rtmp %s: publish to %s refused: the name is in use", peer, name)
            return "The name is in use."
        feed = Feed(name)
        pub = Publication(name, feed, peer)
        self.registry.add(feed, pub)
        log.info("rtmp %s: publishing %s", peer, name)
        await self._event("rtmp_publish_start", pub)
        return pub

    def play(self, name: str, query: dict[str, str], peer: str) -> Feed | str:
        key = self.config.rtmp.play_key
        if key is not None and not _key_ok(query.get("key"), key):
            log.warning("rtmp %s: play %s refused: wrong or missing key", peer, name)
            return "Wrong or missing key."
        feed_name = self.recorded.get(name) or self.republished.get(name)
        if feed_name is None and name in self.server.publications:
            feed_name = name
        feed = self.registry.get(feed_name) if feed_name is not None else None
        if feed is None or feed.closed:
            return "No such stream."
        return feed

    def _camera(self, name: str) -> PublishedCamera | None:
        """The camera that records the published stream ``name``, if one does."""
        feed_name = self.recorded.get(name)
        source = self.registry.source(feed_name) if feed_name is not None else None
        return source if isinstance(source, PublishedCamera) else None

    async def unpublished(self, publication: Publication) -> None:
        if (camera := self._camera(publication.name)) is not None:
            camera.detach(publication)
        elif self.registry.source(publication.name) is publication:
            self.registry.remove(publication.name)
        log.info("rtmp %s: %s unpublished", publication.peer, publication.name)
        await self._event("rtmp_publish_stop", publication)

    async def _event(self, type_: str, pub: Publication) -> None:
        if self.hub is None:
            return
        try:
            await self.hub.instant(pub.feed.name.removesuffix("/sub"), type_,
                                   int(time.time() * 1e6),
                                   details={"stream": pub.name, "peer": pub.peer})
        except Exception:  # noqa: BLE001 - the stream goes on without its event
            log.exception("rtmp: cannot store the %s event of %s", type_, pub.name)

    # -- stats -----------------------------------------------------------------
    def streams(self) -> list[dict[str, Any]]:
        """Every stream a player may ask for, played or not (``nvr.rtmpstats``):
        source, codecs, bitrate, uptime, publisher and players' addresses."""
        from nvr.rtmpstats import streams

        return streams(self)
