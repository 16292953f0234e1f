"""A camera fed by an RTMP publisher: ``url = "rtmp://HOST:PORT/live/<name>"``.

The camera's Feed is made at start-up like any camera's, so the recorder, live
view, motion detection, health and push hang off it as they do for an RTSP
camera. What fills it is whoever publishes ``live/<name>`` to the built-in RTMP
server (:mod:`nvr.rtmpapp`): frames go from the publisher's connection straight
into the feed, with no network hop and no re-muxing.

:class:`PublishedCamera` is the feed's :class:`~nvr.source.Source`. Between
publishers it says ``offline`` (``connecting`` before the first) with a line a
person understands; while one publishes, its state is the publication's (codec,
size, fps, bitrate, ``online``). One publisher at a time: a second one is refused
by the server while the first is live.
"""

from __future__ import annotations

import asyncio

from nvr.feed import Feed
from nvr.rtmp.publish import Publication
from nvr.source import SourceState

__all__ = ["PublishedCamera"]


class PublishedCamera:
    """The Source of a camera whose video is published to this nvr over RTMP."""

    kind = "rtmp"  # for the camera list: how the camera's video arrives

    def __init__(self, name: str, stream: str, feed: Feed, audio: bool = True) -> None:
        self.name = name
        self.audio = audio  # the camera's ``audio``: without it, audio tags are dropped
        self.stream = stream  # "live/<name>", what the encoder publishes to
        self.feed = feed
        self.publication: Publication | None = None
        self._idle = SourceState(status="connecting",
                                 last_error=f"waiting for a publisher at {stream}")
        self._sessions = 0

    @property
    def state(self) -> SourceState:
        pub = self.publication
        return pub.state if pub is not None else self._idle

    @property
    def busy(self) -> bool:
        return self.publication is not None

    def attach(self, peer: str) -> Publication:
        """A publisher was accepted: its media goes into this camera's feed."""
        assert self.publication is None, "one publisher at a time"
        self._sessions += 1
        pub = Publication(self.stream, self.feed, peer, owns_feed=False, audio=self.audio)
        pub.state.attempts = pub.state.sessions = self._sessions
        self.publication = pub
        return pub

    def detach(self, pub: Publication) -> None:
        """The publisher left: the camera waits for the next one (the feed stays open)."""
        if self.publication is not pub:
            return
        self.publication = None
        self._idle = SourceState(status="offline", attempts=self._sessions,
                                 sessions=self._sessions,
                                 last_error=f"the publisher of {self.stream} disconnected; "
                                            "waiting for it to come back")

    async def run(self) -> None:
        """Source protocol: the publisher's connection drives the feed; nothing to pull."""
        await asyncio.Event().wait()
