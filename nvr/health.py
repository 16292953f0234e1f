"""Events about the NVR's own health: cameras going offline and coming back, gaps
in a recording, a disk running out of room.

:class:`HealthWatch` looks at every camera's feed once a second: a camera whose
feed has published no frame for its ``offline_after_seconds`` gets a
``camera_offline`` event, starting at its last frame (or at start-up, for a
camera never seen); when frames flow again that event ends and an instant
``camera_online`` event is raised. Status changes (online, offline, auth_failed,
...) also go to the status listener (MQTT). :meth:`recording_gap` and
:meth:`disk` are called by the runtime's recorder and retention hooks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from nvr.clock import SYSTEM_CLOCK, Clock
from nvr.eventhub import EventHub
from nvr.registry import FeedRegistry

__all__ = ["GAP_SECONDS", "HealthWatch", "Watched"]

log = logging.getLogger(__name__)

GAP_SECONDS = 2.0  # a hole between two segments longer than this is a recording gap
SYSTEM = ""  # the camera of events that concern the whole NVR (disk_low)

StatusListener = Callable[[str, str], None]  # (camera, status)


@dataclass(slots=True)
class Watched:
    name: str
    offline_after: float
    frames: int = -1
    last_seen: float = 0.0  # clock.time() of the last new frame (or of start-up)
    offline_event: int | None = None
    status: str | None = None


class HealthWatch:
    def __init__(self, hub: EventHub, registry: FeedRegistry, cameras: dict[str, float],
                 clock: Clock = SYSTEM_CLOCK, status: StatusListener | None = None) -> None:
        """``cameras``: camera name → offline_after_seconds."""
        self.hub = hub
        self.registry = registry
        self.clock = clock
        self._status = status
        now = clock.time()
        self.cameras = {name: Watched(name, after, last_seen=now)
                        for name, after in cameras.items()}
        self._last_end: dict[str, int] = {}
        self._disk_event: int | None = None

    async def run(self) -> None:
        while True:
            for cam in self.cameras.values():
                try:
                    await self._check(cam)
                except Exception:  # noqa: BLE001 - the database may be briefly away
                    log.exception("camera %s: cannot store its health event", cam.name)
            await self.clock.sleep(1.0)

    async def _check(self, cam: Watched) -> None:
        feed = self.registry.get(cam.name)
        if feed is None:
            return
        now = self.clock.time()
        source = self.registry.source(cam.name)
        status = source.state.status if source is not None else None
        if status is not None and status != cam.status:
            cam.status = status
            if self._status is not None:
                self._status(cam.name, status)
        frames = feed.stats.frames
        if frames != cam.frames:
            first = cam.frames < 0
            cam.frames = frames
            if not first or frames > 0:
                cam.last_seen = now
            if cam.offline_event is not None and not first:
                event_id, cam.offline_event = cam.offline_event, None
                await self.hub.close(event_id, _us(now))
                await self.hub.instant(cam.name, "camera_online", _us(now))
                log.info("camera %s: back online", cam.name)
            return
        if cam.offline_event is None and now - cam.last_seen >= cam.offline_after:
            reason = source.state.last_error if source is not None else None
            cam.offline_event = await self.hub.open(
                cam.name, "camera_offline", _us(cam.last_seen),
                details={"status": status, "reason": reason})
            log.warning("camera %s: offline (no frames for %.0f s)", cam.name,
                        now - cam.last_seen)

    async def recording_gap(self, camera: str, start_us: int, end_us: int) -> None:
        """A segment was indexed: a hole since the camera's previous one is a gap."""
        last = self._last_end.get(camera)
        self._last_end[camera] = max(end_us, last or end_us)
        if last is not None and start_us - last > GAP_SECONDS * 1_000_000:
            await self.hub.instant(camera, "recording_gap", last, start_us,
                                   details={"seconds": round((start_us - last) / 1e6, 3)})

    async def disk(self, free: int, min_free: int) -> None:
        """After a retention pass: free space still under ``min_free`` is ``disk_low``."""
        if min_free <= 0:
            return
        now_us = _us(self.clock.time())
        if free < min_free and self._disk_event is None:
            self._disk_event = await self.hub.open(
                SYSTEM, "disk_low", now_us, details={"free": free, "min_free": min_free})
            log.warning("disk low: %d bytes free, %d wanted", free, min_free)
        elif free >= min_free and self._disk_event is not None:
            event_id, self._disk_event = self._disk_event, None
            await self.hub.close(event_id, now_us)


def _us(seconds: float) -> int:
    return int(round(seconds * 1_000_000))
