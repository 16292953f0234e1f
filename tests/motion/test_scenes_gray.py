"""The sampler's grayscale straight from the luma plane matches swscale's, which it replaces."""

from __future__ import annotations

import av
import numpy as np
import pytest

from nvr.motion.sampler import grayscale
from nvr.sim.scenes import SCENES, render_scene


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
