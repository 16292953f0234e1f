"""Reorder depth read from real encoders' parameter sets."""

from __future__ import annotations

from fractions import Fraction

import av
import pytest

from nvr.codec.nal import split_annexb
from nvr.codec.sps import h264_sps_info, h265_sps_info


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
    info = (h264_sps_info if codec == "h264" else h265_sps_info)(_sps(codec, options))
    assert info.reorder == expected


def test_truncated_vui_leaves_reorder_unknown_but_size_known():
    sps = _sps("h264", {"bf": "3"})
    full = h264_sps_info(sps)
    cut = h264_sps_info(sps[:-4])  # the VUI's bitstream restriction is lost
    assert (cut.width, cut.height) == (full.width, full.height) == (160, 96)
    assert full.reorder == 2 and cut.reorder is None
