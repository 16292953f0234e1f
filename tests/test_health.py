"""HealthWatch: offline after offline_after_seconds without frames, online when frames
return, recording gaps between segments, low disk — on simulated time."""

from __future__ import annotations

import asyncio
from typing import Any

from nvr.clock import ManualClock
from nvr.feed import VIDEO_CLOCK, AccessUnit, CodecParams, Feed
from nvr.health import HealthWatch
from nvr.registry import FeedRegistry
from nvr.source import SourceState

S = 1_000_000
PARAMS = CodecParams(kind="video", codec="h264", clock_rate=VIDEO_CLOCK, width=16, height=16)


class Hub:
    """Records what HealthWatch reports (EventHub's surface)."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self._ids = 0

    async def open(self, camera: str, type: str, start_us: int, score: float | None = None,
                   zones: Any = (), details: dict[str, Any] | None = None) -> int:
        self._ids += 1
        self.calls.append(("open", camera, type, start_us, self._ids))
        return self._ids

    async def close(self, event_id: int, end_us: int) -> None:
        self.calls.append(("close", event_id, end_us))

    async def instant(self, camera: str, type: str, at_us: int, end_us: int | None = None,
                      details: dict[str, Any] | None = None) -> int:
        self.calls.append(("instant", camera, type, at_us, end_us))
        return 0


class Source:
    def __init__(self) -> None:
        self.name = "cam"
        self.state = SourceState()


def frame(feed: Feed, clock: ManualClock) -> None:
    feed.publish(AccessUnit(PARAMS, 0, 0, True, clock.time(), b"\0\0\0\1\x65"))


def test_offline_then_online_events_and_status_changes() -> None:
    clock = ManualClock()
    hub = Hub()
    registry = FeedRegistry()
    feed, source = Feed("cam"), Source()
    registry.add(feed, source)  # type: ignore[arg-type]
    statuses: list[str] = []
    watch = HealthWatch(hub, registry, {"cam": 20.0}, clock=clock,  # type: ignore[arg-type]
                        status=lambda cam, status: statuses.append(status))
    t0 = clock.time()

    async def scenario() -> None:
        task = asyncio.create_task(watch.run())
        await clock.advance(2)
        frame(feed, clock)
        source.state.status = "online"
        seen = clock.time()
        await clock.advance(2)
        assert hub.calls == []  # frames flow: nothing to say
        await clock.advance(17)
        assert hub.calls == []  # 19 s of silence: not yet
        source.state.status = "offline"
        await clock.advance(2.5)
        assert hub.calls[0][:3] == ("open", "cam", "camera_offline")
        assert abs(hub.calls[0][3] - int(seen * S)) <= 1.1 * S  # from the last frame
        await clock.advance(30)
        assert len(hub.calls) == 1  # one offline event, however long it lasts
        frame(feed, clock)
        source.state.status = "online"
        await clock.advance(1.5)
        assert hub.calls[1][0] == "close" and hub.calls[1][1] == hub.calls[0][4]
        assert hub.calls[2][:3] == ("instant", "cam", "camera_online")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())
    assert statuses == ["connecting", "online", "offline", "online"]
    assert t0 > 0


def test_a_camera_never_seen_goes_offline_from_start_up() -> None:
    clock = ManualClock()
    hub = Hub()
    registry = FeedRegistry()
    registry.add(Feed("cam"), Source())  # type: ignore[arg-type]
    watch = HealthWatch(hub, registry, {"cam": 5.0}, clock=clock)  # type: ignore[arg-type]
    t0 = clock.time()

    async def scenario() -> None:
        task = asyncio.create_task(watch.run())
        await clock.advance(7)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())
    assert hub.calls == [("open", "cam", "camera_offline", int(t0 * S), 1)]


def test_recording_gap_and_disk_low() -> None:
    hub = Hub()
    watch = HealthWatch(hub, FeedRegistry(), {}, clock=ManualClock())  # type: ignore[arg-type]

    async def scenario() -> None:
        await watch.recording_gap("cam", 0, 60 * S)
        await watch.recording_gap("cam", 60 * S, 120 * S)  # touching: no gap
        await watch.recording_gap("cam", 121 * S, 180 * S)  # 1 s: jitter, no gap
        await watch.recording_gap("cam", 200 * S, 260 * S)  # 20 s hole
        await watch.disk(free=5, min_free=10)
        await watch.disk(free=6, min_free=10)  # still low: the same event
        await watch.disk(free=20, min_free=10)
        await watch.disk(free=1, min_free=0)  # check disabled

    asyncio.run(scenario())
    assert hub.calls[0] == ("instant", "cam", "recording_gap", 180 * S, 200 * S)
    assert [c[0] for c in hub.calls[1:]] == ["open", "close"]
    assert hub.calls[1][2] == "disk_low"
