"""Scripted scenes for motion tests: known content at known times.

A scene is a short loop (``Scene.seconds``) whose frame ``i`` shows what the
script says for ``i / fps`` seconds after the stream started: a session of a
simulated camera starts at frame 0 on PLAY, so a test knows when motion begins
and ends (until faults make the session skip ahead to a keyframe). Scenes are
rendered with numpy and encoded once like the test pattern (`nvr.sim.media`),
so serving one costs no more than serving the pattern.

Every scene has the same static textured background with sensor noise (a
fresh sample every frame). What happens on it:

- ``moving``: a bright box 1/10 of the frame wide crosses the frame left to
  right during each :class:`Move` window (4–9 s and 25–28 s);
- ``static``: nothing but the noise;
- ``ramp``: the global brightness falls and rises smoothly (dusk, clouds), then
  the camera switches to IR and back (a sudden non-linear brightness jump, the
  colour gone); no motion;
- ``masked``: a box moves only inside :attr:`Scene.region` (tests mask it);
- ``zone``: a box moves only inside :attr:`Scene.region`, named
  :attr:`Scene.zone` (tests configure a zone there).

The scripts are data (:data:`SCENES`) that tests import and assert against.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np
import numpy.typing as npt

from nvr.codec.nal import to_avcc
from nvr.feed import VIDEO_CLOCK, AccessUnit, CodecParams

if TYPE_CHECKING:
    from nvr.sim.media import EncodedClip

__all__ = ["PATTERN", "SCENES", "Box", "Move", "Scene", "access_units", "clip_params",
           "render_scene", "scene_names"]

PATTERN = "pattern"  # the default: the sliding-bar test pattern of nvr.sim.media
BOX_WIDTH = 0.1  # the moving object's width, as a fraction of the frame's
NOISE = 6  # sensor noise: uniform in [-NOISE/2, NOISE/2) grey levels
OBJECT_LUMA = 235


@dataclass(frozen=True, slots=True)
class Box:
    """A rectangle in 0..1 of the frame's width and height."""

    x0: float
    y0: float
    x1: float
    y1: float

    def inset(self, margin: float) -> Box:
        """The box shrunk by ``margin`` on every side."""
        return Box(self.x0 + margin, self.y0 + margin, self.x1 - margin, self.y1 - margin)

    def polygon(self) -> tuple[tuple[float, float], ...]:
        """The four corners, as masks and zones take them."""
        return ((self.x0, self.y0), (self.x1, self.y0), (self.x1, self.y1), (self.x0, self.y1))


@dataclass(frozen=True, slots=True)
class Move:
    """An object crossing ``area`` left to right, shown from ``start`` until ``end``
    (seconds since the stream started; at ``end`` it is gone)."""

    start: float
    end: float
    area: Box  # the object stays inside; it is BOX_WIDTH wide and as tall as the area

    def left(self, t: float) -> float:
        """The object's left edge at ``t`` (0..1 of the frame width)."""
        travel = max(0.0, self.area.x1 - self.area.x0 - BOX_WIDTH)
        return self.area.x0 + travel * (t - self.start) / (self.end - self.start)


@dataclass(frozen=True, slots=True)
class Scene:
    name: str
    seconds: int  # loop length (a whole number of GOPs)
    moves: tuple[Move, ...] = ()
    region: Box | None = None  # where all of the motion stays (masked, zone)
    zone: str | None = None  # the name tests give `region` (zone)
    dim: tuple[float, float] | None = None  # (start, end): brightness down and back up
    dim_depth: float = 0.0  # the brightness at the dimmest, fraction lost
    ir: tuple[float, float] | None = None  # (start, end): the camera in IR mode

    def moving_at(self, t: float) -> bool:
        """Whether an object is in view at ``t`` seconds into the loop."""
        return any(m.start <= t % self.seconds < m.end for m in self.moves)


_ACROSS = Box(0.0, 0.35, 1.0, 0.7)
_MASKED = Box(0.05, 0.1, 0.45, 0.6)
_YARD = Box(0.5, 0.4, 0.95, 0.9)

SCENES: dict[str, Scene] = {s.name: s for s in (
    Scene("moving", 30, moves=(Move(4.0, 9.0, _ACROSS), Move(25.0, 28.0, _ACROSS))),
    Scene("static", 10),
    Scene("ramp", 20, dim=(1.0, 9.0), dim_depth=0.4, ir=(12.0, 17.0)),
    # the object keeps clear of the region's edges: blur and coding blocks spread it a little
    Scene("masked", 12, moves=(Move(3.0, 8.0, _MASKED.inset(0.05)),), region=_MASKED),
    Scene("zone", 14, moves=(Move(3.0, 8.0, _YARD.inset(0.05)),), region=_YARD, zone="yard"),
)}


def scene_names() -> tuple[str, ...]:
    """Every scene a simulated camera can show, the test pattern first."""
    return (PATTERN, *SCENES)


@functools.lru_cache(maxsize=8)
def _background(width: int, height: int) -> npt.NDArray[np.int16]:
    """A fixed texture: smooth blotches (40..200) with fine grain, the same every run."""
    rng = np.random.default_rng(7)
    coarse = rng.uniform(40, 200, (max(2, height // 24), max(2, width // 24)))
    smooth = cv2.resize(coarse.astype(np.float32), (width, height),
                        interpolation=cv2.INTER_CUBIC)
    grain = rng.normal(0, 6, (height, width))
    image = np.clip(smooth + grain, 16, 235).astype(np.int16)
    image.flags.writeable = False
    return image


_IR_CURVE = 255 * (np.arange(256) / 255) ** 0.45 * 0.8 + 40


@functools.lru_cache(maxsize=8)
def _ir_light(width: int, height: int) -> npt.NDArray[np.float64]:
    """The IR illuminator's fall-off: full in the centre, 40 % less in the corners."""
    x = np.linspace(-1, 1, width)[None, :]
    y = np.linspace(-1, 1, height)[:, None]
    light = 1.0 - 0.2 * (x * x + y * y)
    light.flags.writeable = False
    return light


def _brightness(scene: Scene, t: float) -> float:
    if scene.dim is None:
        return 1.0
    start, end = scene.dim
    if not start <= t < end:
        return 1.0
    phase = (t - start) / (end - start)
    return 1.0 - scene.dim_depth * (1.0 - math.cos(2 * math.pi * phase)) / 2


def _ir(scene: Scene, t: float) -> bool:
    return scene.ir is not None and scene.ir[0] <= t < scene.ir[1]


def render_scene(scene: Scene, width: int, height: int, index: int, fps: int) -> np.ndarray:
    """Frame ``index`` of the scene as one yuv420p picture (shape (h*3/2, w), uint8)."""
    t = index / fps
    rng = np.random.default_rng(1000 + index)
    luma = _background(width, height).copy()
    for move in scene.moves:
        if move.start <= t < move.end:
            x0 = round(move.left(t) * width)
            x1 = x0 + max(2, round(BOX_WIDTH * width))
            y0, y1 = round(move.area.y0 * height), round(move.area.y1 * height)
            luma[y0:y1, x0:x1] = OBJECT_LUMA
    gain = _brightness(scene, t)
    if gain != 1.0:
        luma = (luma * gain).astype(np.int16)
    ir = _ir(scene, t)
    if ir:  # IR: flatter (a gamma), lit by the camera's own LEDs (bright centre), no colour
        luma = (_IR_CURVE[np.clip(luma, 0, 255)] * _ir_light(width, height)).astype(np.int16)
    noise = rng.integers(0, NOISE, (height, width), dtype=np.int16) - NOISE // 2
    y = np.clip(luma + noise, 0, 255).astype(np.uint8)
    cw, ch = width // 2, height // 2
    chroma = np.full((ch * 2, cw), 128, np.uint8)
    if not ir:  # a little colour so the chroma planes are not flat
        chroma[: ch // 2, : cw // 2] = 110
        chroma[ch + ch // 2 :, cw // 2 :] = 150
    return np.concatenate([y, chroma.reshape(-1, width)])


def clip_params(clip: EncodedClip) -> CodecParams:
    """The clip's codec parameters as nvr's RTSP client would announce them."""
    p = clip.params
    return CodecParams("video", p.codec, VIDEO_CLOCK, sps=clip.sps, pps=clip.pps,
                       vps=clip.vps or b"", width=p.width, height=p.height)


def access_units(clip: EncodedClip, start: float, loops: int = 1) -> Iterator[AccessUnit]:
    """An encoded clip as a camera's feed carries it, ``loops`` times over, in decode
    order: the frame shown ``k``-th at ``start + k / fps`` wall clock (UTC seconds)
    with pts ``k`` frame durations (plus the clip's reorder depth, so that dts, one
    frame duration apart, is never after pts).

    Tests and benchmarks drive a motion pipeline from this faster than real time,
    with the script's times known exactly.
    """
    params = clip_params(clip)
    fps = clip.fps
    step = VIDEO_CLOCK // fps
    depth = max(0, *(-f.reorder for f in clip.frames))
    coded = [(to_avcc(list(f.nals)), f.keyframe, f.reorder) for f in clip.frames]
    for i in range(len(coded) * loops):
        data, key, reorder = coded[i % len(coded)]
        shown = i + reorder
        yield AccessUnit(params, (shown + depth) * step, i * step, key, start + shown / fps,
                         data, step)
