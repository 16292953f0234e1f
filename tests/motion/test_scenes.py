"""Motion detection on the simulator's scripted scenes (nvr.sim.scenes).

Most scenes run the simulator's own encoding through FrameSampler →
MotionDetector → EventTracker faster than real time, on made-up wall clocks
(frame ``i`` at ``T0 + i / fps``), so the script's times are known exactly. One
scene goes the whole way for real: the simulator serving RTSP, nvr's RTSP
client into a Feed, the analysis in a worker thread. GStreamer's test camera is
the outside camera: its ``ball`` moves, its ``solid`` does not.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from dataclasses import dataclass, field

import numpy as np
from gst_peer import start_gst_camera
from nvrharness import wait_until

from nvr.feed import Feed, Subscription
from nvr.motion.detector import (
    GRID_COLUMNS,
    GRID_ROWS,
    EventTracker,
    MotionDetector,
    MotionEvent,
    MotionSettings,
    SecondGrids,
    Zone,
    unpack_grid,
)
from nvr.motion.sampler import FrameSampler, Sample
from nvr.rtsp.camera import CameraClient
from nvr.sim.media import encode_clip
from nvr.sim.scenes import BOX_WIDTH, SCENES, Box, access_units
from nvr.sim.server import SimCamera, SimServer

WIDTH, HEIGHT, FPS = 320, 180, 10  # small: the sampler analyses it as it is
T0 = 1_700_000_000.0
FRAME = 1.0 / FPS
SETTINGS = MotionSettings(post_seconds=2.0)
STREET = Box(0.0, 0.0, 0.4, 0.3)  # a zone away from the zone scene's region


def camera(scene: str, name: str = "cam") -> SimCamera:
    return SimCamera(name, width=WIDTH, height=HEIGHT, fps=FPS, bitrate_kbps=500, scene=scene)


@dataclass
class Watch:
    """One camera's motion analysis: detector, events and per-second grids."""

    settings: MotionSettings
    detector: MotionDetector = field(init=False)
    tracker: EventTracker = field(init=False)
    grids: SecondGrids = field(default_factory=SecondGrids)
    events: list[MotionEvent] = field(default_factory=list)
    started: list[MotionEvent] = field(default_factory=list)
    seconds: list[tuple[int, bytes]] = field(default_factory=list)
    lighting: int = 0
    frames: int = 0

    def __post_init__(self) -> None:
        self.detector = MotionDetector(self.settings)
        self.tracker = EventTracker(self.settings)

    def add(self, sample: Sample) -> None:
        motion = self.detector.analyse(sample.image, sample.time)
        self.frames += 1
        self.lighting += motion.lighting
        self.seconds += self.grids.add(motion.time, motion.grid)
        self._note(self.tracker.update(motion))

    def close(self) -> None:
        self.seconds += self.grids.flush()
        self._note(self.tracker.close())

    def _note(self, transitions: list) -> None:
        for t in transitions:
            (self.started if t.kind == "start" else self.events).append(t.event)


@functools.cache
def run_scene(scene: str, *settings: MotionSettings) -> list[Watch]:
    """One loop of the scene's encoding through the sampler, analysed once per settings
    (the same run serves several tests: they only read it)."""
    watches = [Watch(s) for s in settings or (SETTINGS,)]
    sampler = FrameSampler(SETTINGS.fps)
    for au in access_units(encode_clip(camera(scene).media_params()), T0):
        for sample in sampler.push(au):
            for watch in watches:
                watch.add(sample)
    for watch in watches:
        watch.close()
    return watches


def test_moving_events_start_and_end_within_a_second_of_the_script():
    (watch,) = run_scene("moving")
    moves = SCENES["moving"].moves
    assert len(watch.events) == len(moves)
    for event, move in zip(watch.events, moves, strict=True):
        assert abs(event.start - (T0 + move.start)) <= 1.0
        assert event.end is not None
        assert abs(event.end - (T0 + move.end - FRAME)) <= 1.0  # its last frame in view
        assert T0 + move.start <= event.peak_time < T0 + move.end


def test_moving_grids_follow_the_object_left_to_right():
    (watch,) = run_scene("moving")
    move = SCENES["moving"].moves[0]
    seconds = dict(watch.seconds)
    inside = [s for s in range(int(T0 + move.start), int(T0 + move.end))]
    assert set(seconds) == {int(T0 + m.start) + k for m in SCENES["moving"].moves
                            for k in range(int(m.end - m.start))}
    centres = []
    for second in inside:
        cells = unpack_grid(seconds[second])
        # the cells the object crossed that second (a cell of blur either side) ...
        x0 = int(move.left(second - T0) * GRID_COLUMNS) - 1
        x1 = int((move.left(second + 1 - T0) + BOX_WIDTH) * GRID_COLUMNS) + 1
        y0, y1 = int(move.area.y0 * GRID_ROWS) - 1, int(move.area.y1 * GRID_ROWS) + 1
        path = np.zeros_like(cells)
        path[max(0, y0):y1 + 1, max(0, x0):x1 + 1] = True
        assert cells[path].sum() >= 8
        # ... and hardly anything else (a compression artifact may light a cell)
        assert cells[~path].sum() <= 1
        centres.append(np.flatnonzero((cells & path).any(axis=0)).mean())
    assert centres == sorted(centres) and centres[-1] - centres[0] > GRID_COLUMNS / 2


def test_static_scene_has_no_event_and_no_motion_grid():
    (watch,) = run_scene("static")
    assert watch.started == [] and watch.events == []
    assert watch.seconds == []


def test_brightness_ramp_and_ir_switch_are_not_motion():
    (watch,) = run_scene("ramp")
    assert watch.started == [] and watch.events == []
    assert watch.seconds == []
    assert watch.lighting >= 2  # the IR switch on and off: seen, re-learnt, not counted


def test_motion_under_a_mask_gives_no_event():
    region = SCENES["masked"].region
    assert region is not None
    masked, unmasked = run_scene("masked", MotionSettings(post_seconds=2.0, mask=(
        region.polygon(),)), SETTINGS)
    assert masked.started == [] and masked.seconds == []
    # the same frames without the mask: the scene does move
    assert [round(e.start - T0) for e in unmasked.events] == [
        round(m.start) for m in SCENES["masked"].moves]


def test_events_name_the_zone_the_motion_is_in():
    scene = SCENES["zone"]
    assert scene.region is not None and scene.zone is not None
    zones = (Zone(scene.zone, scene.region.polygon()), Zone("street", STREET.polygon()))
    (watch,) = run_scene("zone", MotionSettings(post_seconds=2.0, zones=zones))
    assert len(watch.events) == len(scene.moves)
    assert [e.zones for e in watch.events] == [frozenset({scene.zone})] * len(scene.moves)


# ----------------------------------------------------------------------------- over RTSP


async def _analyse(sub: Subscription, watch: Watch, first: list[float]) -> None:
    """Consume the subscription, analysing in a worker thread, until it ends."""
    sampler = FrameSampler(watch.settings.fps)

    def work(aus: list) -> None:
        for au in aus:
            if au.kind == "video" and not first:
                first.append(au.wallclock)
            for sample in sampler.push(au):
                watch.add(sample)

    while (au := await sub.get()) is not None:
        await asyncio.to_thread(work, [au, *sub.drain()])


@contextlib.asynccontextmanager
async def watching(url: str, watch: Watch, first: list[float]):
    """nvr's RTSP client into a Feed, the motion analysis subscribed to it."""
    feed = Feed("cam")
    sub = feed.subscribe(maxsize=500)
    client = CameraClient("cam", url, feed)
    tasks = [asyncio.create_task(client.run()), asyncio.create_task(_analyse(sub, watch, first))]
    try:
        yield
    finally:
        tasks[0].cancel()
        feed.close()
        await asyncio.gather(*tasks, return_exceptions=True)
        watch.close()


async def test_zone_scene_over_rtsp_gives_its_event():
    scene = SCENES["zone"]
    assert scene.region is not None and scene.zone is not None
    move = scene.moves[0]
    settings = MotionSettings(post_seconds=1.0, zones=(
        Zone(scene.zone, scene.region.polygon()), Zone("street", STREET.polygon())))
    server = SimServer(cameras=[camera("zone")])
    await server.start()
    watch, first = Watch(settings), []
    try:
        async with watching(server.url("cam"), watch, first):
            await wait_until(lambda: watch.events, move.end + 20, "the zone event", 0.1)
    finally:
        await server.stop()
    (event,) = watch.events
    assert abs(event.start - (first[0] + move.start)) <= 1.0
    assert event.end is not None and abs(event.end - (first[0] + move.end - FRAME)) <= 1.0
    assert event.zones == {scene.zone}


async def test_gstreamer_ball_moves_and_solid_does_not():
    # timeoverlay (where GStreamer has it) writes the running time top left: masked
    overlay = Box(0.0, 0.0, 0.75, 0.25)
    settings = MotionSettings(post_seconds=1.0, mask=(overlay.polygon(),))
    ball, solid = Watch(settings), Watch(settings)
    async with (start_gst_camera(fps=10, extra_args=["--pattern", "ball"]) as moving,
                start_gst_camera(fps=10, extra_args=["--pattern", "solid-color"]) as still,
                watching(moving.url, ball, []), watching(still.url, solid, [])):
        # until the ball moves and the solid camera has shown 3 s of nothing
        await wait_until(lambda: ball.started and solid.frames >= 15, 20, "the ball event", 0.1)
    assert ball.started
    assert solid.started == [] and solid.seconds == []

