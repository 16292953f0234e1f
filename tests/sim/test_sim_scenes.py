"""Scripted scenes (nvr.sim.scenes): the frames show what the script says, when it says."""

from __future__ import annotations

from typing import get_args

import numpy as np
import pytest

from nvr.config.sim import SimConfig
from nvr.sim.main import build_parser
from nvr.sim.main import main as sim_main
from nvr.sim.media import encode_clip
from nvr.sim.scenes import BOX_WIDTH, OBJECT_LUMA, SCENES, render_scene, scene_names
from nvr.sim.server import SimCamera

W, H, FPS = 160, 90, 10


def luma(scene: str, t: float) -> np.ndarray:
    return render_scene(SCENES[scene], W, H, round(t * FPS), FPS)[:H].astype(int)


def object_columns(scene: str, t: float) -> np.ndarray:
    """Columns where a full-height run of object-bright pixels stands in the object's band."""
    move = SCENES[scene].moves[0]
    band = luma(scene, t)[round(move.area.y0 * H) + 1:round(move.area.y1 * H) - 1]
    return np.flatnonzero((band >= OBJECT_LUMA - 4).all(axis=0))


def test_moving_object_crosses_left_to_right_inside_its_window():
    move = SCENES["moving"].moves[0]
    assert object_columns("moving", move.start - 0.5).size == 0
    lefts = [object_columns("moving", t).min() for t in (move.start, 6.0, move.end - 0.1)]
    assert lefts == sorted(lefts) and lefts[0] < W * 0.1 and lefts[-1] > W * 0.8
    width = object_columns("moving", 6.0)
    assert width.size == round(BOX_WIDTH * W)
    assert object_columns("moving", move.end).size == 0
    assert SCENES["moving"].moving_at(move.start) and not SCENES["moving"].moving_at(move.end)


def test_static_scene_is_the_background_with_fresh_noise():
    a, b = luma("static", 1.0), luma("static", 1.1)
    assert 0 < np.abs(a - b).mean() < 4  # sensor noise, nothing else
    assert a.std() > 20  # a textured background, not a flat one


def test_ramp_dims_smoothly_and_jumps_in_ir():
    scene = SCENES["ramp"]
    assert scene.dim is not None and scene.ir is not None and not scene.moves
    mid = (scene.dim[0] + scene.dim[1]) / 2
    assert luma("ramp", mid).mean() < 0.7 * luma("ramp", 0.0).mean()
    step = np.abs(luma("ramp", mid + 0.1).mean() - luma("ramp", mid).mean())
    assert step < 1.0  # smooth
    before, ir = luma("ramp", scene.ir[0] - 0.1), luma("ramp", scene.ir[0])
    assert ir.mean() - before.mean() > 30  # sudden
    ir_frame = render_scene(scene, W, H, round(scene.ir[0] * FPS), FPS)
    assert (ir_frame[H:] == 128).all()  # no colour in IR


@pytest.mark.parametrize("name", ["masked", "zone"])
def test_motion_stays_inside_the_region(name):
    scene = SCENES[name]
    assert scene.region is not None
    move = scene.moves[0]
    still = luma(name, 0.0)
    r = scene.region
    inside = np.zeros((H, W), bool)
    inside[round(r.y0 * H):round(r.y1 * H), round(r.x0 * W):round(r.x1 * W)] = True
    for t in np.arange(move.start, move.end, 0.5):
        changed = np.abs(luma(name, t) - still) > 20
        assert changed.any() and not (changed & ~inside).any()


def test_camera_clip_is_the_whole_script_and_config_names_every_scene():
    cam = SimCamera("c", width=W, height=H, fps=FPS, scene="zone", bitrate_kbps=200)
    cam.check()
    clip = encode_clip(cam.media_params())
    assert len(clip.frames) == SCENES["zone"].seconds * FPS
    assert clip.frames[0].keyframe
    assert set(get_args(SimConfig.model_fields["scene"].annotation)) == set(scene_names())
    assert SimConfig().scene == "pattern"


def test_unknown_scene_or_a_loop_not_made_of_gops_is_refused(capsys):
    with pytest.raises(ValueError, match="unknown scene"):
        SimCamera("c", scene="fireworks").check()
    with pytest.raises(ValueError, match="whole number"):
        SimCamera("c", scene="moving", gop_seconds=4).check()  # 30 s is not 4 s GOPs
    assert build_parser().parse_args(["--scene", "ramp"]).scene == "ramp"
    with pytest.raises(SystemExit):
        sim_main(["--scene", "moving", "--gop", "4"])
    assert "whole number" in capsys.readouterr().err
