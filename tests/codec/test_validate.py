"""Plausibility checks keep noise from being recorded as video."""

from __future__ import annotations

import os
from fractions import Fraction

import av

from nvr.codec.nal import split_annexb
from nvr.codec.validate import FrameCheck, plausible_frame, pps_id


def _nal_type(codec: str, nal: bytes) -> int:
    return nal[0] & 0x1F if codec == "h264" else (nal[0] >> 1) & 0x3F


def _encode(codec: str, n: int = 12) -> tuple[list[tuple[list[bytes], bool]], int]:
    """Frames as a depacketizer hands them over (parameter sets taken out), and the PPS id."""
    ctx = av.CodecContext.create("libx264" if codec == "h264" else "libx265", "w")
    ctx.width, ctx.height, ctx.pix_fmt = 160, 96, "yuv420p"
    ctx.time_base = Fraction(1, 25)
    ctx.options = {"g": "6"} if codec == "h264" else {"x265-params": "keyint=6:log-level=none"}
    pps_type, param_types = (8, {7, 8}) if codec == "h264" else (34, {32, 33, 34})
    frames, pps = [], -1
    source = [av.VideoFrame(160, 96, "yuv420p") for _ in range(n)]
    for i, frame in enumerate(source):
        frame.pts = i
    packets = [p for f in source for p in ctx.encode(f)] + list(ctx.encode(None))
    for packet in packets:
        nals = split_annexb(bytes(packet))
        for nal in nals:
            if _nal_type(codec, nal) == pps_type:
                pps = pps_id(codec, nal)
        frames.append(([x for x in nals if _nal_type(codec, x) not in param_types],
                       packet.is_keyframe))
    return frames, pps


def test_real_encoder_frames_are_plausible():
    for codec in ("h264", "h265"):
        frames, pps = _encode(codec)
        assert pps == 0
        assert all(plausible_frame(codec, nals, key, pps) for nals, key in frames), codec


def test_random_payloads_are_rejected():
    rng = os.urandom
    passed = 0
    for _ in range(2000):
        nals = [rng(200) for _ in range(2)]
        passed += plausible_frame("h264", nals, True, 0) + plausible_frame("h265", nals, True, 0)
    assert passed < 10


def test_slice_naming_an_unknown_pps_is_rejected():
    frames, _ = _encode("h264", 2)
    nals, key = frames[0]
    assert not plausible_frame("h264", nals, key, pps=5)


def _parameter_sets(codec: str) -> tuple[bytes, bytes]:
    ctx = av.CodecContext.create("libx264" if codec == "h264" else "libx265", "w")
    ctx.width, ctx.height, ctx.pix_fmt = 160, 96, "yuv420p"
    ctx.time_base = Fraction(1, 25)
    ctx.options = {} if codec == "h264" else {"x265-params": "log-level=none"}
    frame = av.VideoFrame(160, 96, "yuv420p")
    frame.pts = 0
    nals = [n for p in [*ctx.encode(frame), *ctx.encode(None)] for n in split_annexb(bytes(p))]
    sps_type, pps_type = (7, 8) if codec == "h264" else (33, 34)
    sps = next(n for n in nals if _nal_type(codec, n) == sps_type)
    pps = next(n for n in nals if _nal_type(codec, n) == pps_type)
    return sps, pps


def test_frame_check_passes_every_real_frame():
    for codec in ("h264", "h265"):
        frames, _ = _encode(codec, 20)
        check = FrameCheck(codec, *_parameter_sets(codec))
        assert all(check(nals, key) for nals, key in frames), codec


def test_frame_check_rejects_random_keyframes_almost_always():
    # H.264 IDRs also need frame_num 0; H.265 has fewer cheap fields to check
    for codec, header, limit in (("h264", b"\x65", 0.005), ("h265", b"\x26\x01", 0.04)):
        check = FrameCheck(codec, *_parameter_sets(codec))
        passed = sum(check([header + os.urandom(300)], True) for _ in range(5000))
        assert passed <= 5000 * limit, (codec, passed)
