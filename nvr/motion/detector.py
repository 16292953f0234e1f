"""Motion in grayscale frames: a running background model, and events from it.

:class:`MotionDetector` is pure and synchronous: it takes small grayscale
frames (uint8, at most 320 px wide) with their wall-clock times and answers,
per frame, a :class:`FrameMotion`. Per frame:

1. blur (Gaussian 5x5) so sensor noise and compression speckle average out;
2. **lighting compensation**: fit the frame as ``gain * background + offset``
   by least squares over all pixels (cheap: means and one covariance) and
   compare against that fit, so a global brightness change — lights dimming,
   clouds, auto exposure — is not a difference. A small moving object barely
   moves the fit;
3. absolute difference, threshold (``settings.threshold`` grey levels), the
   mask applied (masked pixels never count);
4. **lighting fallback**: when the changed pixels still cover more than
   ``lighting_area`` of the frame (the camera switching to IR, a non-linear
   exposure jump), or when a gain and offset that vary only smoothly over the
   frame (fitted in each cell of an 8x6 grid, interpolated) explain three
   quarters of the change (a lamp lighting one side, an IR switch with its
   bent tone curve and bright centre: change with little structure; checked
   only for frames that would be moving), the frame is taken as a
   lighting change, not motion: ``lighting`` is set, ``moving`` is not, and
   the background is re-learnt from this frame at once;
5. area fraction, score, the zones touched and the 16x9 grid (changed
   fraction per cell, 0..255; :class:`SecondGrids` folds them into 18 bytes
   per second for motion search);
6. background update: ``1 - exp(-dt / background_seconds)`` towards the frame
   where nothing moved, ten times slower where something did (so a parked car
   becomes background after a while, but a walker does not smear into it).

:class:`EventTracker` turns those results into events with hysteresis: an
event starts after ``start_frames`` consecutive moving frames, reported at the
first of them, and ends once ``post_seconds`` pass without motion, reported at
the last moving frame.

Masks and zones are polygons in 0..1 coordinates, rasterised with
``cv2.fillPoly`` once per frame size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import cv2
import numpy as np
import numpy.typing as npt

__all__ = ["GRID_BYTES", "GRID_COLUMNS", "GRID_LEVEL", "GRID_ROWS", "EventTracker", "FrameMotion",
           "MotionDetector", "MotionEvent", "MotionSettings", "Polygon", "SecondGrids",
           "Transition", "Zone", "pack_grid", "unpack_grid"]

GRID_COLUMNS, GRID_ROWS = 16, 9
GRID_BYTES = GRID_COLUMNS * GRID_ROWS // 8  # one second's bitmap
GRID_LEVEL = 8  # a cell counts in the bitmap when 3 % of it changed
Polygon = tuple[tuple[float, float], ...]  # points in 0..1 of the frame's width and height
Gray = npt.NDArray[np.uint8]
_Floats = npt.NDArray[np.float32]
_LIGHT_COLUMNS, _LIGHT_ROWS = 8, 6  # the coarse grid of a smooth illumination change
_LIGHT_LEFT = 0.25  # what a smooth gain must leave of a change for it to be motion


@dataclass(frozen=True, slots=True)
class Zone:
    name: str
    polygon: Polygon


@dataclass(frozen=True, slots=True)
class MotionSettings:
    """One camera's ``[cameras.motion]`` (the config model comes later)."""

    enabled: bool = True
    fps: float = 5.0  # analysed frames per second
    threshold: int = 25  # grey levels a pixel must differ by to count
    min_area: float = 0.005  # fraction of the (unmasked) frame that must change
    pre_seconds: float = 5.0
    post_seconds: float = 10.0
    mask: tuple[Polygon, ...] = ()  # ignored areas
    zones: tuple[Zone, ...] = ()
    start_frames: int = 3  # consecutive moving frames before an event starts
    lighting_area: float = 0.5  # a change larger than this is lighting, not motion
    background_seconds: float = 4.0  # time constant of the background model


@dataclass(frozen=True, slots=True)
class FrameMotion:
    time: float  # wall clock, UTC seconds
    moving: bool
    area: float  # fraction of the unmasked frame that changed
    score: float  # area weighted by how strongly it changed, 0..1
    zones: frozenset[str]
    grid: Gray  # GRID_ROWS x GRID_COLUMNS, changed fraction of each cell, 0..255
    lighting: bool = False  # a global brightness change: background re-learnt


@dataclass(slots=True)
class _Shapes:
    valid: npt.NDArray[np.bool_]  # not masked
    valid_pixels: int
    zones: list[tuple[str, npt.NDArray[np.bool_]]]


def _raster(polygons: tuple[Polygon, ...], width: int, height: int) -> npt.NDArray[np.bool_]:
    image = np.zeros((height, width), np.uint8)
    points = [np.array([(x * width, y * height) for x, y in p], np.int32)
              for p in polygons if len(p) >= 3]
    if points:
        cv2.fillPoly(image, points, (1,))
    return image.astype(bool)


class MotionDetector:
    def __init__(self, settings: MotionSettings) -> None:
        self.settings = settings
        self._background: _Floats | None = None
        self._last_time = 0.0
        self._shapes: _Shapes | None = None
        self._size = (0, 0)

    def reset(self) -> None:
        """Forget the background (a new session, a new picture size)."""
        self._background = None

    def _shapes_for(self, width: int, height: int) -> _Shapes:
        if self._shapes is None or self._size != (width, height):
            valid = ~_raster(self.settings.mask, width, height)
            zones = [(z.name, _raster((z.polygon,), width, height) & valid)
                     for z in self.settings.zones]
            self._shapes = _Shapes(valid, max(1, int(valid.sum())), zones)
            self._size = (width, height)
            self._background = None
        return self._shapes

    def analyse(self, image: Gray, time: float) -> FrameMotion:
        height, width = image.shape[:2]
        shapes = self._shapes_for(width, height)
        frame = cv2.GaussianBlur(image, (5, 5), 0).astype(np.float32)
        background = self._background
        if background is None:
            self._background, self._last_time = frame, time
            return self._still(time)
        fitted = _fit(background, frame)
        difference = cv2.absdiff(frame, fitted)
        changed = (difference > self.settings.threshold) & shapes.valid
        count = int(changed.sum())
        area = count / shapes.valid_pixels
        moving = area >= self.settings.min_area
        if area > self.settings.lighting_area or moving and self._uneven_light(
                background, frame, shapes, count):
            self._background, self._last_time = frame, time
            return self._still(time, lighting=True)
        score = float(difference[changed].sum()) / (255.0 * shapes.valid_pixels)
        touched: frozenset[str] = frozenset()
        if moving:
            least = max(1, int(self.settings.min_area * shapes.valid_pixels / 2))
            touched = frozenset(name for name, zone in shapes.zones
                                if int((changed & zone).sum()) >= least)
        self._learn(frame, changed, time)
        return FrameMotion(time, moving, area, score, touched, _grid(changed))

    def _uneven_light(self, background: _Floats, frame: _Floats, shapes: _Shapes,
                      count: int) -> bool:
        """Whether a local gain and offset (smooth over the frame) explain most of the change."""
        height, width = frame.shape

        def coarse(image: _Floats) -> cv2.typing.MatLike:
            return cv2.resize(image, (_LIGHT_COLUMNS, _LIGHT_ROWS), interpolation=cv2.INTER_AREA)

        def fine(image: cv2.typing.MatLike) -> cv2.typing.MatLike:
            return cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)

        # per cell, gain and offset by least squares (an IR switch bends the tone curve
        # as well as lighting one part of the frame more than another)
        mean_b, mean_f = coarse(background), coarse(frame)
        variance = np.maximum(coarse(background * background) - mean_b * mean_b, 1.0)
        gain = np.clip((coarse(background * frame) - mean_b * mean_f) / variance, 0.25, 4.0)
        lit = background * fine(gain) + fine(mean_f - gain * mean_b)
        left = (cv2.absdiff(frame, lit) > self.settings.threshold) & shapes.valid
        return int(left.sum()) < count * _LIGHT_LEFT

    def _learn(self, frame: _Floats, changed: npt.NDArray[np.bool_], time: float) -> None:
        background = self._background
        assert background is not None
        dt = min(max(time - self._last_time, 0.0), 10.0)
        self._last_time = time
        alpha = 1.0 - math.exp(-dt / self.settings.background_seconds)
        if alpha <= 0.0:
            return
        still = (~changed).astype(np.uint8)
        cv2.accumulateWeighted(frame, background, alpha, still)
        cv2.accumulateWeighted(frame, background, alpha / 10, 1 - still)

    def _still(self, time: float, lighting: bool = False) -> FrameMotion:
        return FrameMotion(time, False, 0.0, 0.0, frozenset(),
                           np.zeros((GRID_ROWS, GRID_COLUMNS), np.uint8), lighting)


def _fit(background: _Floats, frame: _Floats) -> _Floats:
    """``gain * background + offset`` closest to ``frame`` (least squares)."""
    mean_b, mean_f = float(background.mean()), float(frame.mean())
    variance = float(np.square(background - mean_b).mean())
    if variance < 1.0:  # a flat background: only the offset is known
        return background + (mean_f - mean_b)
    covariance = float(((background - mean_b) * (frame - mean_f)).mean())
    gain = min(4.0, max(0.25, covariance / variance))
    return (background * gain + (mean_f - gain * mean_b)).astype(np.float32)


def _grid(changed: npt.NDArray[np.bool_]) -> Gray:
    cells = cv2.resize(changed.astype(np.float32), (GRID_COLUMNS, GRID_ROWS),
                       interpolation=cv2.INTER_AREA)
    return np.clip(np.rint(cells * 255.0), 0, 255).astype(np.uint8)


# The coarse grid kept for motion search, one per analysed second: SecondGrids keeps
# the strongest value of each cell over one wall-clock second and then hands out one
# bit per cell (set when at least ``level``/255 of the cell changed), row by row, most
# significant bit first: 144 bits, 18 bytes.


def pack_grid(grid: npt.NDArray[np.uint8], level: int = GRID_LEVEL) -> bytes:
    """A GRID_ROWS x GRID_COLUMNS grid → 18 bytes, a bit per cell at or over ``level``."""
    return np.packbits(grid.reshape(-1) >= level).tobytes()


def unpack_grid(data: bytes) -> npt.NDArray[np.bool_]:
    bits = np.unpackbits(np.frombuffer(data, np.uint8))[:GRID_COLUMNS * GRID_ROWS]
    return bits.astype(bool).reshape(GRID_ROWS, GRID_COLUMNS)


class SecondGrids:
    """Per-frame grids in time order → (second, 18-byte bitmap) for each second with motion."""

    def __init__(self, level: int = GRID_LEVEL) -> None:
        self.level = level
        self._second: int | None = None
        self._grid = np.zeros((GRID_ROWS, GRID_COLUMNS), np.uint8)

    def add(self, time: float, grid: npt.NDArray[np.uint8]) -> list[tuple[int, bytes]]:
        second = math.floor(time)
        out = self.flush() if self._second is not None and second != self._second else []
        self._second = second
        np.maximum(self._grid, grid, out=self._grid)
        return out

    def flush(self) -> list[tuple[int, bytes]]:
        """The second being gathered, if anything moved in it."""
        second, self._second = self._second, None
        moved = bool((self._grid >= self.level).any())
        packed = pack_grid(self._grid, self.level)
        self._grid[:] = 0
        return [(second, packed)] if second is not None and moved else []


@dataclass(frozen=True, slots=True)
class MotionEvent:
    start: float  # the first moving frame
    end: float | None  # the last moving frame; None while the event goes on
    peak_score: float
    peak_time: float
    zones: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class Transition:
    kind: str  # "start" | "end"
    event: MotionEvent


class EventTracker:
    """Hysteresis over :class:`FrameMotion` results, in time order."""

    def __init__(self, settings: MotionSettings) -> None:
        self.settings = settings
        self.event: MotionEvent | None = None  # the event going on
        self._run: list[FrameMotion] = []  # consecutive moving frames before a start
        self._last_moving = 0.0

    def update(self, motion: FrameMotion) -> list[Transition]:
        out: list[Transition] = []
        event = self.event
        if event is not None:
            if motion.moving:
                self._last_moving = motion.time
                if motion.score > event.peak_score:
                    event = replace(event, peak_score=motion.score, peak_time=motion.time)
                self.event = replace(event, zones=event.zones | motion.zones)
            elif motion.time - self._last_moving >= self.settings.post_seconds:
                out.append(self._end())
            return out
        if not motion.moving:
            self._run.clear()
            return out
        self._run.append(motion)
        if len(self._run) >= self.settings.start_frames:
            peak = max(self._run, key=lambda m: m.score)
            zones = frozenset().union(*(m.zones for m in self._run))
            self.event = MotionEvent(self._run[0].time, None, peak.score, peak.time, zones)
            self._last_moving = motion.time
            self._run.clear()
            out.append(Transition("start", self.event))
        return out

    def close(self) -> list[Transition]:
        """End the event going on (the stream stopped)."""
        self._run.clear()
        return [self._end()] if self.event is not None else []

    def _end(self) -> Transition:
        assert self.event is not None
        ended = replace(self.event, end=self._last_moving)
        self.event = None
        return Transition("end", ended)
