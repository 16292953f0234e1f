"""MotionDetector and EventTracker on synthetic scenes."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from motion_scenes import HEIGHT, WIDTH, Gray, background, frame, times

from nvr.motion.detector import (
    EventTracker,
    FrameMotion,
    MotionDetector,
    MotionSettings,
    SecondGrids,
    Transition,
    Zone,
    pack_grid,
    unpack_grid,
)

T0 = 1_700_000_000.0
SETTINGS = MotionSettings(post_seconds=3.0)


def run(scene: Callable[[float, np.random.Generator], Gray], seconds: float,
        settings: MotionSettings = SETTINGS) -> tuple[list[FrameMotion], list[Transition]]:
    detector, tracker = MotionDetector(settings), EventTracker(settings)
    rng = np.random.default_rng(7)
    results, transitions = [], []
    for t in times(seconds, T0):
        motion = detector.analyse(scene(t - T0, rng), t)
        results.append(motion)
        transitions += tracker.update(motion)
    transitions += tracker.close()
    return results, transitions


BASE = background()


def walker(s: float, rng: np.random.Generator, y: int = 60) -> Gray:
    """A square crossing the frame from 4 s to 9 s."""
    if 4.0 <= s < 9.0:
        return frame(BASE, rng, square=(int(20 + (s - 4.0) * 50), y))
    return frame(BASE, rng)


def test_moving_object_makes_one_event_at_its_times():
    _, transitions = run(walker, 16)
    assert [t.kind for t in transitions] == ["start", "end"]
    start, end = transitions[0].event, transitions[1].event
    assert abs(start.start - (T0 + 4.0)) <= 1.0
    assert end.end is not None and abs(end.end - (T0 + 9.0)) <= 1.0
    assert end.start == start.start
    assert start.start <= end.peak_time <= end.end and end.peak_score > 0


def test_start_is_the_first_moving_frame_not_when_hysteresis_fired():
    results, transitions = run(walker, 8)
    first_moving = next(r.time for r in results if r.moving)
    assert transitions[0].event.start == first_moving


def test_end_is_reported_post_seconds_after_the_last_motion():
    settings = MotionSettings(post_seconds=3.0)
    detector, tracker = MotionDetector(settings), EventTracker(settings)
    rng = np.random.default_rng(3)
    ended_at = None
    for t in times(16, T0):
        for transition in tracker.update(detector.analyse(walker(t - T0, rng), t)):
            if transition.kind == "end":
                ended_at = t
    assert ended_at is not None and 11.5 <= ended_at - T0 <= 13.0


def test_static_scene_with_sensor_noise_has_no_motion():
    results, transitions = run(lambda s, rng: frame(BASE, rng, noise=6.0), 20)
    assert transitions == []
    assert not any(r.moving for r in results)


def test_brightness_ramp_is_not_motion():
    # the whole scene darkens to 40 % and brightens again (clouds, dusk, exposure)
    def ramp(s: float, rng: np.random.Generator) -> Gray:
        gain = 1.0 - 0.6 * min(s, 20 - s) / 10 if s < 20 else 1.0
        return frame(BASE, rng, gain=gain, offset=10 * np.sin(s))
    results, transitions = run(ramp, 24)
    assert transitions == []


def test_lights_switching_on_is_not_motion():
    dark = BASE * 0.3
    def lights(s: float, rng: np.random.Generator) -> Gray:
        return frame(dark if s < 5 else BASE, rng, gain=1.0 if s < 5 else 1.4, offset=0 if s < 5
                     else 30)  # clipped highlights: not a clean linear change
    results, transitions = run(lights, 12)
    assert transitions == []
    assert not any(r.moving for r in results)


def test_a_lamp_lighting_one_side_is_not_motion():
    # uneven light: no single gain and offset explains it, the change covers most of the frame
    lit = BASE * np.linspace(1.2, 2.2, BASE.shape[1], dtype=np.float32)[None, :]
    def lamp(s: float, rng: np.random.Generator) -> Gray:
        return frame(BASE if s < 5 else lit, rng)
    results, transitions = run(lamp, 12)
    assert transitions == []
    assert any(r.lighting for r in results)


def test_ir_switch_is_not_motion():
    inverted = 255.0 - BASE  # a different picture of the same scene
    def ir(s: float, rng: np.random.Generator) -> Gray:
        return frame(BASE if s < 5 else inverted, rng)
    results, transitions = run(ir, 12)
    assert transitions == []
    assert any(r.lighting for r in results)


def test_motion_only_inside_the_mask_is_ignored():
    mask = ((0.0, 0.2), (1.0, 0.2), (1.0, 0.6), (0.0, 0.6))  # the walker's band
    settings = MotionSettings(post_seconds=3.0, mask=(mask,))
    results, transitions = run(walker, 12, settings)
    assert transitions == []
    assert max(r.area for r in results) < settings.min_area


def test_motion_in_a_zone_names_that_zone_only():
    zones = (Zone("door", ((0.0, 0.0), (1.0, 0.0), (1.0, 0.5), (0.0, 0.5))),
             Zone("yard", ((0.0, 0.7), (1.0, 0.7), (1.0, 1.0), (0.0, 1.0))))
    settings = MotionSettings(post_seconds=3.0, zones=zones)
    results, transitions = run(walker, 12, settings)
    assert transitions and all(t.event.zones == {"door"} for t in transitions)
    assert {"door"} == set().union(*(r.zones for r in results))


def test_grid_marks_the_cells_the_object_crossed():
    detector = MotionDetector(SETTINGS)
    rng = np.random.default_rng(5)
    grids = SecondGrids()
    seconds: list[tuple[int, bytes]] = []
    for t in times(10, T0):
        motion = detector.analyse(walker(t - T0, rng), t)
        seconds += grids.add(t, motion.grid)
    seconds += grids.flush()
    assert seconds, "no second with motion"
    assert {s - int(T0) for s, _ in seconds} <= set(range(4, 10))
    marked = np.zeros((9, 16), bool)
    for _, packed in seconds:
        assert len(packed) == 18
        marked |= unpack_grid(packed)
    rows = np.nonzero(marked.any(axis=1))[0]
    # the square covers y 60..90 of 180: rows 3..4 of 9 (20 px each), nothing far off
    assert set(rows) <= {2, 3, 4, 5} and {3, 4} <= set(rows)
    columns = np.nonzero(marked.any(axis=0))[0]
    assert columns.min() <= 2 and columns.max() >= 12  # it crossed most of the width


def test_pack_grid_round_trip():
    grid = np.zeros((9, 16), np.uint8)
    grid[0, 0] = grid[8, 15] = grid[4, 7] = 200
    assert np.array_equal(unpack_grid(pack_grid(grid)), grid > 0)


def test_new_frame_size_relearns_the_background():
    detector = MotionDetector(SETTINGS)
    rng = np.random.default_rng(1)
    detector.analyse(frame(BASE, rng), T0)
    small = np.zeros((HEIGHT // 2, WIDTH // 2), np.uint8)
    assert not detector.analyse(small, T0 + 0.2).moving
