"""Reorder depth read from real encoders' parameter sets."""

from __future__ import annotations

from fractions import Fraction

import av
import pytest

from nvr.codec.nal import split_annexb
from nvr.codec.reorder import reorder_frames


def _sps(codec: str, options: dict[str, str]) -> bytes:
    ctx = av.CodecContext.create("libx264" if codec == "h264" else "libx265", "w")
    ctx.width, ctx.height, ctx.pix_fmt = 160, 96, "yuv420p"
    ctx.time_base = Fraction(1, 25)
    ctx.options = options
    frame = av.VideoFrame(160, 96, "yuv420p")
    frame.pts = 0
    nals = [n for p in [*ctx.encode(frame), *ctx.encode(None)] for n in split_annexb(bytes(p))]
    if codec == "h264":
        return next(n for n in nals if n[0] & 0x1F == 7)
    return next(n for n in nals if (n[0] >> 1) & 0x3F == 33)


@pytest.mark.parametrize(("codec", "options", "expected"), [
    ("h264", {"bf": "0"}, 0),
    ("h264", {"bf": "3"}, 2),  # x264's default B-pyramid
    ("h264", {"profile": "baseline"}, 0),
    ("h265", {"x265-params": "bframes=0:log-level=none"}, 0),
    ("h265", {"x265-params": "bframes=3:b-pyramid=0:log-level=none"}, 1),
])
def test_reorder_frames_from_encoder_sps(codec, options, expected):
    assert reorder_frames(codec, _sps(codec, options)) == expected


def test_reorder_frames_of_garbage_is_unknown():
    assert reorder_frames("h264", b"\x67\xff") is None
    assert reorder_frames("h265", b"\x42\x01\xff") is None
