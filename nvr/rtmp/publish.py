"""A publisher's media into a Feed: the RTMP side of ``live/<name>`` streams.

:class:`Publication` is what the server hands an accepted publisher's tags to:
each audio/video tag body goes through :class:`~nvr.rtmp.flv_parse.Ingest` and
the access units it yields are published on the Feed. It is also the feed's
:class:`~nvr.source.Source`, with a :class:`~nvr.source.SourceState` kept up to
date (online while frames flow, codec, size, fps and bitrate over the last few
seconds), so a published stream lists like a camera.

Nothing here owns a socket or a task; the server calls :meth:`Publication.media`
for every tag and :meth:`Publication.close` when the publisher leaves. A publication
into a feed it does not own (``owns_feed=False``: a camera recording the stream, whose
feed outlives each publisher) leaves the feed open at the end; the next publisher
begins a new session on it.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

from nvr.feed import Feed
from nvr.rtmp.events import MediaKind
from nvr.rtmp.flv_parse import Ingest
from nvr.source import SourceState

__all__ = ["Publication"]

RATE_WINDOW = 5.0  # seconds of frames the fps and bitrate are taken over


class Publication:
    """One publisher's stream: tags in, access units out on ``feed`` (see module doc)."""

    def __init__(self, name: str, feed: Feed, peer: str, now: float | None = None,
                 *, owns_feed: bool = True, audio: bool = True) -> None:
        self.name = name
        self.feed = feed
        self.owns_feed = owns_feed
        self.audio = audio  # False: audio tags are dropped (a camera with audio = false)
        self.peer = peer  # the publisher's address, for stats (never its key)
        self.started = time.time() if now is None else now
        self.state = SourceState(status="connecting")
        self.state.attempts = self.state.sessions = 1
        self.ingest = Ingest(self.started)
        self._begun = False
        self._frames: deque[tuple[float, int]] = deque()  # (wall clock, bytes) of video
        self._frame_bytes = 0  # their sum, kept as they come and go (not summed per frame)
        self._closed = asyncio.Event()

    def media(self, kind: MediaKind, timestamp: int, payload: bytes) -> None:
        """One tag body from the publisher; FlvError (a ProtocolError) for a bad one."""
        if kind == "video":
            au = self.ingest.video(timestamp, payload)
        elif kind == "audio":
            if not self.audio:
                return
            au = self.ingest.audio(timestamp, payload)
        else:
            return  # metadata: players get ours, made from the codec parameters
        if au is None:
            return
        if not self._begun:
            self._begun = True
            self.feed.begin(self.ingest.audio_params)
        elif au.kind == "audio" and self.feed.audio is None:
            self.feed.audio = au.params  # audio started after video
        self.feed.publish(au)
        if au.kind == "video":
            self._count(au.wallclock, len(au.data))

    def _count(self, wallclock: float, size: int) -> None:
        frames = self._frames
        frames.append((wallclock, size))
        self._frame_bytes += size
        while frames and frames[0][0] < wallclock - RATE_WINDOW:
            self._frame_bytes -= frames.popleft()[1]
        state, params = self.state, self.ingest.video_params
        span = frames[-1][0] - frames[0][0]
        if params is not None:
            state.codec, state.width, state.height = params.codec, params.width, params.height
        audio = self.ingest.audio_params
        state.audio_codec = audio.codec if audio is not None else None
        if len(frames) > 1 and span > 0:
            state.fps = round((len(frames) - 1) / span, 2)
            state.bitrate_kbps = round(self._frame_bytes * 8 / span / 1000, 1)
            state.status = "online"

    def close(self) -> None:
        """The publisher left: the stream is offline and its feed ends (if it owns it)."""
        self.state.fail("offline", "the publisher disconnected")
        if self.owns_feed:
            self.feed.close()
        self._closed.set()

    async def run(self) -> None:
        """Source protocol: a publication is driven by its connection; this only waits
        for it to end."""
        await self._closed.wait()
