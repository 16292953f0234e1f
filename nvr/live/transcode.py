"""Live view for codecs the browser cannot play: a feed's H.265 as H.264, on a derived feed.

A :class:`Transcoder` is a :class:`~nvr.source.Source`: it consumes one feed
(``<feed>``) and produces another (``<feed>/h264``) with the same access units
as far as a browser is concerned, but video it can play through MediaSource:

- H.265 video is decoded, scaled down (at most 1280 px wide) and encoded as
  H.264 (``ultrafast``, ``zerolatency``, no B-frames, an IDR frame about every
  second) by a :class:`~nvr.live.recode.Recoder`; pts, dts and wallclock are
  the source frames', so the picture is as old as the camera's;
- H.264 video (the camera's own, or after a reconfiguration) and AAC audio pass
  through unchanged.

The decode and encode run in one worker thread per transcoder, never on the
event loop: the transcoder's subscription to the source feed is its bounded
queue, so when the worker falls behind the feed skips it to the next keyframe
and counts the drop (in :attr:`Transcoder.dropped` and the source feed's
``dropped``); the camera, the recorder and other viewers never wait for it. A
newly started transcoder takes the source's cached GOP but only decodes the
frames before its newest one, so the first frame sent is the newest, at once.

A new source session (new video CodecParams) flushes and restarts the decoder
and encoder and begins a new session on the derived feed. A frame the decoder
refuses affects only this transcoder: logged once (then every 5 minutes as a
reminder), status ``error``, decoding resumes at the next keyframe.

The transcoder runs only while somebody watches the derived feed; the runtime
wires that with :class:`nvr.ondemand.OnDemand` (one transcoder per source
feed, shared by every viewer). Derived feeds are never recorded.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

from nvr.clock import SYSTEM_CLOCK, Clock
from nvr.feed import VIDEO_CLOCK, AccessUnit, CodecParams, Feed
from nvr.live.recode import DEFAULT_SETTINGS, Recoder, Settings
from nvr.source import SourceState

__all__ = ["DERIVED_SUFFIX", "Transcoder", "derived_name", "is_derived"]

log = logging.getLogger(__name__)

DERIVED_SUFFIX = "/h264"
MAX_QUEUE = 100  # access units: about 2 s of 25 fps video with AAC audio
CHUNK = 8  # access units handed to the worker at once
STALE_AFTER = 3.0  # seconds without a frame out: no longer online
REMIND_EVERY = 300.0
RATE_WINDOW = 2 * VIDEO_CLOCK  # fps and bitrate over the last 2 s of pts
_ORIGINS_KEPT = 8

def derived_name(feed: str) -> str:
    """The name of the H.264 feed made from ``feed``."""
    return feed + DERIVED_SUFFIX


def is_derived(name: str) -> bool:
    """Whether ``name`` is a feed made by a transcoder (never recorded, never a camera)."""
    return name.endswith(DERIVED_SUFFIX)


class Transcoder:
    """The source of ``<feed>/h264``. ``run()`` transcodes until cancelled (or until the
    source feed closes); started and stopped on demand by the runtime."""

    def __init__(self, upstream: Feed, settings: Settings = DEFAULT_SETTINGS,
                 max_queue: int = MAX_QUEUE, clock: Clock = SYSTEM_CLOCK) -> None:
        self.upstream = upstream
        self.name = derived_name(upstream.name)
        self.feed = Feed(self.name)
        self.state = SourceState(codec="h264")
        self.settings = settings
        self.clock = clock
        self.max_queue = max_queue
        self.dropped = 0  # source frames not transcoded: the worker fell behind, or a decode error
        self.encoders = 0  # H.264 encoders opened, over every run
        self.errors = 0  # frames the decoder refused, over every run
        self._origins: collections.deque[tuple[CodecParams, str]] = collections.deque(
            maxlen=_ORIGINS_KEPT)
        self._rates: collections.deque[tuple[int, int]] = collections.deque()  # (pts, bytes)
        self._last_out: float | None = None  # clock.monotonic() of the last video out
        self._logged_at: float | None = None
        self._session: CodecParams | None = None  # the source video params being transcoded

    def origin(self, params: CodecParams) -> str | None:
        """The codec the video with ``params`` was transcoded from; None when it is the
        source's own (passed through) or unknown."""
        return next((codec for p, codec in self._origins if p is params), None)

    def describe(self, params: CodecParams) -> dict[str, object] | None:
        """The live view's note for a new init segment: ``{"transcoded": true, "from":
        "h265"}`` for transcoded video, None for video passed through."""
        codec = self.origin(params)
        return {"transcoded": True, "from": codec} if codec else None

    def fail_unexpectedly(self, exc: BaseException) -> None:
        """The supervisor's on_error: the transcoder's task failed (a bug)."""
        self.state.fail("error", f"{self.name}: transcoder failed ({type(exc).__name__}); "
                                 "restarting it")

    async def run(self) -> None:
        state = self.state
        state.status, state.last_error, state.fps = "connecting", None, 0.0
        state.attempts += 1
        self._last_out = None
        backlog = [au.pts for au in self.upstream.gop if au.params.kind == "video"]
        sub = self.upstream.subscribe(maxsize=self.max_queue, start="keyframe")
        recoder = Recoder(self.settings)
        if len(backlog) > 1:
            recoder.skip_until(max(backlog))  # catch up: start at the newest frame
        pool = ThreadPoolExecutor(1, thread_name_prefix=f"transcode {self.name}")
        base = (self.dropped, self.encoders, self.errors)
        self._session = None

        async def work(fn: Callable[..., list[AccessUnit]], *args: object) -> list[AccessUnit]:
            return await asyncio.wrap_future(pool.submit(fn, *args))

        def tally() -> None:
            self.dropped = base[0] + sub.dropped + recoder.skipped
            self.encoders = base[1] + recoder.encoders
            self._report(recoder, base[2] + recoder.errors - self.errors)

        try:
            while True:
                await sub.wait(1.0)
                batch: list[AccessUnit] = []
                while len(batch) < CHUNK and (au := sub.get_nowait()) is not None:
                    batch.append(au)
                if not batch and sub.closed:  # the source feed ended: send what is left
                    self._publish(await work(recoder.flush))
                    return
                await self._transcode(batch, recoder, work)
                tally()
        finally:
            tally()
            sub.close()
            closing = pool.submit(recoder.close)  # after the chunk in flight, if any
            pool.shutdown(wait=False)
            await asyncio.wrap_future(closing)

    async def _transcode(self, batch: list[AccessUnit], recoder: Recoder,
                         work: Callable[..., Awaitable[list[AccessUnit]]]) -> None:
        """Hand ``batch`` to the worker and publish what comes back; at a new source
        session, first the old decoder's last frames, then a new derived session."""
        part: list[AccessUnit] = []
        for au in batch:
            if au.params.kind == "video" and au.keyframe and au.params is not self._session:
                if part:
                    self._publish(await work(recoder.process, part))
                    part = []
                if self._session is not None:
                    self._publish(await work(recoder.flush))
                self._session = au.params
                self.feed.begin(self.upstream.audio)
                self._rates.clear()
            part.append(au)
        if part:
            self._publish(await work(recoder.process, part))

    def _publish(self, out: list[AccessUnit]) -> None:
        session = self._session
        for au in out:
            if au.params.kind == "video":
                if session is not None and au.params is not session and (
                        self.origin(au.params) is None):
                    self._origins.append((au.params, session.codec))
                self._count(au)
            self.feed.publish(au)

    def _count(self, au: AccessUnit) -> None:
        rates = self._rates
        rates.append((au.pts, len(au.data)))
        while rates and rates[0][0] < au.pts - RATE_WINDOW:
            rates.popleft()
        self._last_out = self.clock.monotonic()
        state = self.state
        state.width, state.height = au.params.width, au.params.height
        state.codec = au.params.codec
        span = (rates[-1][0] - rates[0][0]) / VIDEO_CLOCK
        if len(rates) > 1 and span > 0:
            state.fps = round((len(rates) - 1) / span, 1)
            state.bitrate_kbps = round(sum(b for _, b in rates) * 8 / span / 1000, 1)

    def _report(self, recoder: Recoder, new_errors: int) -> None:
        """Counts, status and the log line after each batch (and once a second)."""
        state = self.state
        audio = self.upstream.audio
        state.audio_codec = audio.codec if audio is not None else None
        if new_errors:
            self.errors += new_errors
            state.corrupt = self.errors
            now = self.clock.monotonic()
            if self._logged_at is None or now - self._logged_at >= REMIND_EVERY:
                log.warning("%s: %s (%d so far)", self.name, recoder.error, self.errors)
                self._logged_at = now
        if recoder.failing:
            state.fail("error", f"{self.name}: {recoder.error}")
        elif self._last_out is None:
            return  # connecting: no picture yet
        elif self.clock.monotonic() - self._last_out > STALE_AFTER:
            state.fail("offline", f"{self.name}: no video from {self.upstream.name}")
        elif state.fps > 0:
            state.status, state.last_error = "online", None
