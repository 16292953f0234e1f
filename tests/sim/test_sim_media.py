"""Encoding of the simulated camera's test clip."""

from __future__ import annotations

import pytest

from nvr.codec.nal import split_annexb
from nvr.sim.media import (
    H264_IDR,
    H264_PPS,
    H264_SPS,
    H265_VPS,
    MediaParams,
    encode_clip,
    make_pattern,
    nal_type,
)


def test_split_annexb_three_and_four_byte_start_codes():
    data = b"\x00\x00\x00\x01\x67\x01\x02\x00\x00\x01\x68\x03\x00\x00\x01\x65\x00\x00\x05"
    assert split_annexb(data) == [b"\x67\x01\x02", b"\x68\x03", b"\x65\x00\x00\x05"]


def test_make_pattern_consecutive_frames_differ():
    a, b = make_pattern(64, 48, 0, 10), make_pattern(64, 48, 1, 10)
    assert a.shape == (72, 64)
    assert (a != b).any()


def test_encode_clip_h264_gops_and_parameter_sets():
    params = MediaParams(width=320, height=240, fps=25, bitrate_kbps=400, audio=True)
    clip = encode_clip(params)
    assert len(clip.frames) == 100  # 2 GOPs of 2 s at 25 fps
    assert [i for i, f in enumerate(clip.frames) if f.keyframe] == [0, 50]
    assert nal_type("h264", clip.sps) == H264_SPS and nal_type("h264", clip.pps) == H264_PPS
    assert nal_type("h264", clip.frames[0].nals[0]) == H264_IDR
    kinds = {nal_type("h264", n) for f in clip.frames for n in f.nals}
    assert kinds <= {1, 5}  # only slices; parameter sets travel apart
    assert len(clip.audio_frames) == round(4 * 48000 / 1024)
    assert clip.audio_config[:2] == bytes([0x11, 0x88])  # AAC-LC, 48 kHz, mono
    assert encode_clip(params) is clip  # cached


def test_encode_clip_h265_has_vps():
    clip = encode_clip(MediaParams(codec="h265", width=320, height=240, bitrate_kbps=400))
    assert clip.vps is not None and nal_type("h265", clip.vps) == H265_VPS
    assert clip.frames[0].keyframe and not clip.frames[1].keyframe


def test_encode_clip_odd_size_fails():
    with pytest.raises(ValueError, match="even"):
        encode_clip(MediaParams(width=321, height=240))
