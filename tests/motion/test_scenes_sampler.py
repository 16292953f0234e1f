"""FrameSampler on the simulator's encodings: grayscale straight from the luma plane (as
swscale gives it), non-reference frames decoded only when a sample is due."""

from __future__ import annotations

import av
import numpy as np
import pytest

from nvr.motion.detector import EventTracker, MotionDetector, MotionSettings
from nvr.motion.sampler import FrameSampler, grayscale
from nvr.sim.media import encode_clip
from nvr.sim.scenes import SCENES, access_units, render_scene
from nvr.sim.server import SimCamera

T0 = 1_700_000_000.0


def decoded_like(fmt: str) -> av.VideoFrame:
    # a scene picture with the object in view, with padding in the luma rows (odd width)
    picture = render_scene(SCENES["moving"], 330, 180, 60, 10)
    frame = av.VideoFrame.from_ndarray(picture, format="yuv420p")
    return frame if fmt == "yuv420p" else frame.reformat(format=fmt)


@pytest.mark.parametrize("fmt", ["yuv420p", "yuvj420p", "nv12", "rgb24"])
@pytest.mark.parametrize("size", [(330, 180), (320, 175)])
def test_grayscale_matches_swscale_within_a_grey_level(fmt, size):
    frame = decoded_like(fmt)
    ours = grayscale(frame, *size)
    theirs = frame.reformat(size[0], size[1], "gray", interpolation="AREA").to_ndarray()
    assert ours.shape == (size[1], size[0]) and ours.dtype == np.uint8
    assert ours.flags.c_contiguous
    assert np.abs(ours.astype(int) - theirs[:, :size[0]]).max() <= 2


def test_non_reference_frames_are_decoded_only_when_a_sample_is_due():
    # x264 with 2 B-frames and a pyramid: every third frame is one nothing refers to
    cam = SimCamera("b", width=320, height=180, fps=15, bitrate_kbps=300, bframes=2,
                    scene="moving")
    aus = list(access_units(encode_clip(cam.media_params()), T0))
    sampler = FrameSampler(5.0)
    samples = [s for au in aus for s in sampler.push(au)]
    assert sampler.errors == 0
    assert sampler.decoded < len(aus) * 0.8  # skipped, most of the non-reference ones
    times = [round(s.time - T0, 2) for s in samples]
    assert times == [round(k * 0.2, 2) for k in range(len(aus) // 3)]  # still 5 a second
    # and what they show is right: the object's first window, found where the script says
    detector, tracker = MotionDetector(MotionSettings()), EventTracker(MotionSettings())
    starts = [t.event.start - T0 for s in samples
              for t in tracker.update(detector.analyse(s.image, s.time)) if t.kind == "start"]
    assert abs(starts[0] - SCENES["moving"].moves[0].start) <= 0.5
