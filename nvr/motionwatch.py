"""One camera's motion detection in the running NVR: its feed → events, grids, snapshots.

:class:`MotionWatch` subscribes to the camera's analysed feed (the sub stream
where there is one, else the main stream) and hands the access units, a batch
at a time, to one worker thread that owns a :class:`Analyser` (PyAV decode,
:class:`~nvr.motion.detector.MotionDetector`, hysteresis, per-second grids and
the JPEG of the strongest frame). Nothing of that runs on the event loop; what
comes back (event starts, updates, ends, grids) goes to the :class:`EventHub`
and the motion index. When the worker falls behind, the subscription skips to
the next keyframe (counted), so a slow machine loses analysis, never recording.

A stream that stops mid-event ends the event after ``post_seconds`` without
frames; shutdown ends it at once, at its last moving frame.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import cv2

from nvr.clock import SYSTEM_CLOCK, Clock
from nvr.config.motion import MotionConfig
from nvr.eventhub import EventHub
from nvr.feed import AccessUnit, Feed
from nvr.motion.detector import (
    EventTracker,
    MotionDetector,
    MotionEvent,
    MotionSettings,
    SecondGrids,
    Transition,
    Zone,
)
from nvr.motion.sampler import FrameSampler, Sample

__all__ = ["Analyser", "MotionWatch", "Outcome", "motion_settings", "snapshot_jpeg"]

log = logging.getLogger(__name__)

BATCH = 64  # access units per hand-over to the worker
GATHER = 0.4  # seconds frames gather before a hand-over (fewer thread wake-ups: less CPU)
QUEUE = 256  # access units the subscription holds before skipping to a keyframe
SNAPSHOT_WIDTH = 640
UPDATE_EVERY = 2.0  # seconds between an ongoing event's score/zone updates


def motion_settings(config: MotionConfig) -> MotionSettings:
    """A camera's ``[cameras.motion]`` as the detector's settings."""
    return MotionSettings(
        enabled=config.enabled, fps=config.fps, threshold=config.threshold,
        min_area=config.min_area, pre_seconds=config.pre_seconds,
        post_seconds=config.post_seconds,
        mask=tuple(tuple((x, y) for x, y in poly) for poly in config.mask),
        zones=tuple(Zone(z.name, tuple((x, y) for x, y in z.polygon)) for z in config.zones))


def snapshot_jpeg(frame: av.VideoFrame, max_width: int = SNAPSHOT_WIDTH) -> bytes | None:
    """The picture as a JPEG at most ``max_width`` wide (None if it cannot be encoded)."""
    width, height = frame.width, frame.height
    if width > max_width:
        width, height = max_width, max(2, round(frame.height * max_width / frame.width))
    try:
        image = frame.to_ndarray(format="bgr24", width=width, height=height)
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    except (ValueError, cv2.error, av.FFmpegError):
        return None
    return data.tobytes() if ok else None


@dataclass(slots=True)
class Outcome:
    """What one batch gave, in order: ("start"|"update"|"end", event, jpeg or None)."""

    changes: list[tuple[str, MotionEvent, bytes | None]] = field(default_factory=list)
    grids: list[tuple[int, bytes]] = field(default_factory=list)


class Analyser:
    """Decode, detect, track: the worker thread's side (synchronous, one thread only)."""

    def __init__(self, settings: MotionSettings) -> None:
        self.settings = settings
        self.sampler = FrameSampler(settings.fps)
        self.detector = MotionDetector(settings)
        self.tracker = EventTracker(settings)
        self.seconds = SecondGrids()
        self._best: tuple[float, Sample] | None = None  # the strongest frame of this event
        self._sent_peak: tuple[float, frozenset[str]] | None = None
        self._last_update = -math.inf
        self._snapshot_score = -1.0

    def process(self, batch: list[AccessUnit]) -> Outcome:
        out = Outcome()
        for au in batch:
            for sample in self.sampler.push(au):
                self._analyse(sample, out)
        return out

    def close(self) -> Outcome:
        """The stream stopped (or nvr stops): end the event going on, flush the grids."""
        out = Outcome(grids=self.seconds.flush())
        for change in self.tracker.close():
            self._transition(change, out)
        self.sampler.close()
        self.detector.reset()
        return out

    def _analyse(self, sample: Sample, out: Outcome) -> None:
        motion = self.detector.analyse(sample.image, sample.time)
        out.grids.extend(self.seconds.add(sample.time, motion.grid))
        if motion.moving and (self._best is None or motion.score > self._best[0]):
            self._best = (motion.score, sample)
        for change in self.tracker.update(motion):
            self._transition(change, out)
        event = self.tracker.event
        if event is None:
            if not motion.moving:
                self._best = None  # no event and no run of moving frames: forget
            return
        peak = (event.peak_score, event.zones)
        if peak != self._sent_peak and sample.time - self._last_update >= UPDATE_EVERY:
            self._sent_peak, self._last_update = peak, sample.time
            out.changes.append(("update", event, self._snapshot_if_better()))

    def _transition(self, change: Transition, out: Outcome) -> None:
        if change.kind == "start":
            self._snapshot_score = -1.0
            self._sent_peak = (change.event.peak_score, change.event.zones)
            self._last_update = change.event.start
            out.changes.append(("start", change.event, self._snapshot_if_better()))
        else:
            out.changes.append(("end", change.event, self._snapshot_if_better()))
            self._best = None

    def _snapshot_if_better(self) -> bytes | None:
        """The strongest frame so far as a JPEG, when it beats the one already kept."""
        if self._best is None or self._best[0] <= self._snapshot_score:
            return None
        score, sample = self._best
        if sample.frame is None:
            return None
        jpeg = snapshot_jpeg(sample.frame)
        if jpeg is not None:
            self._snapshot_score = score
        return jpeg


GridSink = Callable[[str, list[tuple[int, bytes]]], None]  # (camera, [(second, grid)]), blocking
MotionListener = Callable[[str, bool, bytes | None], None]  # (camera, moving, snapshot jpeg)


class MotionWatch:
    def __init__(self, camera: str, feed: Feed, settings: MotionSettings, hub: EventHub,
                 data_dir: Path, grids: GridSink | None = None,
                 listener: MotionListener | None = None, clock: Clock = SYSTEM_CLOCK) -> None:
        self.camera = camera
        self.feed = feed
        self.settings = settings
        self.hub = hub
        self.data_dir = data_dir
        self._grids = grids
        self._listener = listener
        self._clock = clock
        self._event_id: int | None = None
        self.skipped = 0  # access units lost because analysis fell behind

    async def run(self) -> None:
        sub = self.feed.subscribe(maxsize=QUEUE, start="keyframe")
        analyser = Analyser(self.settings)
        pool = ThreadPoolExecutor(1, thread_name_prefix=f"motion {self.camera}")
        idle_after = max(self.settings.post_seconds, 5.0)
        quiet_since = self._clock.monotonic()

        async def work(fn: Callable[..., Outcome], *args: Any) -> Outcome:
            return await asyncio.wrap_future(pool.submit(fn, *args))

        try:
            while True:
                await sub.wait(1.0)
                if len(sub) < BATCH and not sub.closed:
                    await asyncio.sleep(GATHER)  # real time: let a few frames gather
                batch: list[AccessUnit] = []
                while len(batch) < BATCH and (au := sub.get_nowait()) is not None:
                    batch.append(au)
                if not batch and sub.closed:
                    return  # the feed ended (nvr stops); the event is ended below
                now = self._clock.monotonic()
                if batch:
                    quiet_since = now
                    await self._apply(await work(analyser.process, batch))
                elif now - quiet_since >= idle_after and analyser.tracker.event is not None:
                    await self._apply(await work(analyser.close))  # the stream stopped
                self.skipped = sub.dropped
        finally:
            sub.close()
            closing = pool.submit(analyser.close)
            pool.shutdown(wait=False)
            outcome = await asyncio.wrap_future(closing)
            await asyncio.shield(self._apply(outcome))

    async def _apply(self, outcome: Outcome) -> None:
        for kind, event, jpeg in outcome.changes:
            try:
                await self._change(kind, event, jpeg)
            except Exception:  # noqa: BLE001 - the database may be briefly away: go on
                log.exception("camera %s: cannot store the motion event's %s", self.camera, kind)
        if outcome.grids and self._grids is not None:
            try:
                await asyncio.to_thread(self._grids, self.camera, outcome.grids)
            except Exception:  # noqa: BLE001
                log.exception("camera %s: cannot store motion search grids", self.camera)

    async def _change(self, kind: str, event: MotionEvent, jpeg: bytes | None) -> None:
        zones = sorted(event.zones)
        if kind == "start":
            self._event_id = await self.hub.open(
                self.camera, "motion", _us(event.start), event.peak_score, zones)
            log.info("camera %s: motion (event %d)", self.camera, self._event_id)
        event_id = self._event_id
        if event_id is None:
            return  # the start could not be stored
        if jpeg is not None:
            await self._snapshot(event_id, jpeg)
        if kind == "update":
            await self.hub.update(event_id, event.peak_score, zones)
        elif kind == "end":
            await self.hub.update(event_id, event.peak_score, zones)
            await self.hub.close(event_id, _us(event.end if event.end is not None
                                               else event.start))
            self._event_id = None
        if self._listener is not None and kind != "update":
            self._listener(self.camera, kind == "start", jpeg)

    async def _snapshot(self, event_id: int, jpeg: bytes) -> None:
        relative = f"snapshots/{self.camera}/{event_id}.jpg"
        path = self.data_dir / relative

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".part")
            partial.write_bytes(jpeg)
            partial.replace(path)  # a reader never sees half a JPEG

        await asyncio.to_thread(write)
        await self.hub.set_snapshot(event_id, relative)


def _us(seconds: float) -> int:
    return int(round(seconds * 1_000_000))
