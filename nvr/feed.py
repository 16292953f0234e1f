"""The Feed: where producers (RTSP cameras, later RTMP publishers) meet consumers.

A Feed is a named, in-process stream of :class:`AccessUnit` (one coded frame).
Producers call :meth:`Feed.publish`; consumers call :meth:`Feed.subscribe` and
read from their own bounded :class:`Subscription`. A slow subscriber never
blocks the producer or the other subscribers: when its queue is full it drops
frames until the next video keyframe and counts what it dropped.

Time: video pts/dts are in 90 kHz ticks; audio pts/dts are in the track's own
sample-rate clock (``CodecParams.clock_rate``). Both are unwrapped (64-bit,
monotonic within one session) and start near zero for each session.
``wallclock`` is the UTC time (seconds since the epoch) the frame was captured,
derived from the RTP timestamp and anchored on the receive time.

Late joiners: the Feed keeps the current video ``CodecParams`` and every access
unit since the last video keyframe (audio included), bounded in bytes, so
``subscribe(start="keyframe")`` hands a new viewer or player a decodable start
at once instead of making it wait up to a GOP.

Decode timestamps are set by the producer (RTSP derives them from the
presentation times at ingest, B-frames included): ``dts`` is monotonic and
never after ``pts`` within one session.

Payloads: video is length-prefixed (AVCC/HVCC, 4-byte big-endian lengths), one
entry per NAL unit, parameter sets not repeated in-band; audio is one raw AAC
frame (no ADTS header).
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from dataclasses import dataclass

VIDEO_CLOCK = 90_000


@dataclass(frozen=True, slots=True)
class CodecParams:
    """What a consumer needs to set up a decoder or muxer for one track.

    A new CodecParams object means a new configuration: consumers compare by
    identity (``au.params is not current``) and e.g. start a new segment.
    """

    kind: str  # "video" | "audio"
    codec: str  # "h264" | "h265" | "aac"
    clock_rate: int
    # video
    sps: bytes = b""
    pps: bytes = b""
    vps: bytes = b""
    width: int = 0
    height: int = 0
    # audio
    audio_config: bytes = b""  # AudioSpecificConfig
    sample_rate: int = 0
    channels: int = 0

    @property
    def parameter_sets(self) -> list[bytes]:
        """Parameter-set NAL units in decoder order (VPS, SPS, PPS)."""
        return [p for p in (self.vps, self.sps, self.pps) if p]


@dataclass(slots=True)
class AccessUnit:
    """One coded frame of one track."""

    params: CodecParams
    pts: int
    dts: int
    keyframe: bool
    wallclock: float
    data: bytes
    duration: int = 0  # in the track clock; 0 when unknown

    @property
    def kind(self) -> str:
        return self.params.kind


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


@dataclass
class FeedStats:
    frames: int = 0
    bytes: int = 0
    dropped: int = 0  # frames dropped by slow subscribers (closed ones included)
    corrupt: int = 0  # frames the producer found invalid and did not publish
    last_wallclock: float = 0.0  # capture time (UTC seconds) of the last frame published


class Subscription:
    """A consumer's bounded queue on a Feed.

    ``wake_on="frame"`` wakes a waiting consumer for every access unit (live
    viewers); ``wake_on="keyframe"`` only for video keyframes, a full queue's
    worth of backlog (``maxsize // 4``) or the end of the feed, which saves a
    wake-up per frame for consumers that work a GOP at a time (the recorder).
    """

    def __init__(self, feed: Feed, maxsize: int, wake_on: str = "frame",
                 backlog: list[AccessUnit] | None = None) -> None:
        self._feed = feed
        self._queue: collections.deque[AccessUnit] = collections.deque()
        self._maxsize = maxsize
        self._every_frame = wake_on == "frame"
        self._backlog = max(1, maxsize // 4)
        self._waiter: asyncio.Future[None] | None = None
        self._skipping = False
        self._closed = False
        self._ready = False  # something worth waking for is queued
        self.dropped = 0
        for au in backlog or ():
            self._put(au)

    def _put(self, au: AccessUnit) -> None:
        if self._skipping:
            if au.keyframe and au.params.kind == "video":
                self._skipping = False
            else:
                self.dropped += 1
                self._feed.stats.dropped += 1
                return
        if len(self._queue) >= self._maxsize:
            lost = len(self._queue)
            self._queue.clear()
            if not (au.keyframe and au.params.kind == "video"):
                self._skipping = True
                lost += 1
            self.dropped += lost
            self._feed.stats.dropped += lost
            if self._skipping:
                return
        self._queue.append(au)
        if self._every_frame or au.keyframe and au.params.kind == "video" or (
            len(self._queue) >= self._backlog
        ):
            self._ready = True
            waiter = self._waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    def _close(self) -> None:
        self._closed = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def get_nowait(self) -> AccessUnit | None:
        if not self._queue:
            self._ready = False
            return None
        return self._queue.popleft()

    async def get(self) -> AccessUnit | None:
        """Next access unit, or None once the subscription is closed and drained."""
        while not self._queue:
            if self._closed:
                return None
            self._ready = False
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._queue.popleft()

    async def wait(self, at_most: float) -> None:
        """Return when there is something to take (as ``wake_on`` says), the feed
        ended, or ``at_most`` seconds passed. Cheaper than ``wait_for(get())``."""
        if self._closed or self._ready:
            return
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = loop.call_later(at_most, _wake, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None

    def drain(self) -> list[AccessUnit]:
        """Everything queued, oldest first."""
        items = list(self._queue)
        self._queue.clear()
        self._ready = False
        return items

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        self._feed.unsubscribe(self)
        self._close()

    def __len__(self) -> int:
        return len(self._queue)


DEFAULT_GOP_CACHE_BYTES = 16 * 1024 * 1024


class Feed:
    """A named stream of access units with a bounded fan-out and a GOP cache.

    ``on_demand(wanted)`` (optional) is called when the first subscriber arrives
    (True) and when the last one leaves (False): a source that should run only
    while somebody watches (a camera's sub stream) starts and stops on it.
    """

    def __init__(self, name: str, gop_cache_bytes: int = DEFAULT_GOP_CACHE_BYTES) -> None:
        self.name = name
        # The current session's parameters. ``audio`` is set by the producer when a
        # session starts, before its first frame, so a consumer opening a file knows
        # whether audio is coming; ``video`` follows the published keyframes.
        self.video: CodecParams | None = None
        self.audio: CodecParams | None = None
        self.subscribers: list[Subscription] = []
        self.stats = FeedStats()
        self.gop_cache_bytes = gop_cache_bytes
        self.on_demand: Callable[[bool], None] | None = None
        self._gop: list[AccessUnit] = []  # since the last video keyframe, in publish order
        self._gop_bytes = 0
        self._closed = False

    def begin(self, audio: CodecParams | None) -> None:
        """A new producer session: forget the cached GOP, announce the audio track."""
        self.audio = audio
        self.video = None
        self._gop.clear()
        self._gop_bytes = 0

    def publish(self, au: AccessUnit) -> None:
        size = len(au.data)
        self.stats.frames += 1
        self.stats.bytes += size
        self.stats.last_wallclock = au.wallclock
        if au.keyframe and au.params.kind == "video":
            self.video = au.params
            self._gop = [au]
            self._gop_bytes = size
        elif self._gop:
            self._gop_bytes += size
            if self._gop_bytes <= self.gop_cache_bytes:
                self._gop.append(au)
            else:  # a GOP too large to keep: late joiners wait for the next keyframe
                self._gop = []
        for sub in self.subscribers:
            sub._put(au)

    @property
    def gop(self) -> list[AccessUnit]:
        """The cached access units since the last video keyframe (oldest first)."""
        return list(self._gop)

    @property
    def gop_bytes(self) -> int:
        return self._gop_bytes if self._gop else 0

    def subscribe(self, maxsize: int = 512, wake_on: str = "frame",
                  start: str = "now") -> Subscription:
        """A new bounded queue. ``start="keyframe"`` fills it with the cached GOP first,
        so the consumer can decode from its first access unit."""
        if start not in ("now", "keyframe"):
            raise ValueError(f"start must be 'now' or 'keyframe', not {start!r}")
        backlog = self._gop if start == "keyframe" else None
        sub = Subscription(self, maxsize, wake_on, backlog)
        if self._closed:
            sub._close()
            return sub
        self.subscribers.append(sub)
        if len(self.subscribers) == 1 and self.on_demand is not None:
            self.on_demand(True)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self.subscribers:
            self.subscribers.remove(sub)
            if not self.subscribers and self.on_demand is not None:
                self.on_demand(False)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """End of the feed: every subscriber's get() returns None once drained."""
        self._closed = True
        for sub in list(self.subscribers):
            sub._close()
        self.subscribers.clear()
