import base64
from fractions import Fraction

import av
import numpy as np
import pytest

from nvr.codec.nal import split_annexb
from nvr.codec.sps import BitReader, h264_sps_info, h265_sps, h265_sps_info, unescape_rbsp


def _first_packet(codec: str, width: int, height: int, pix_fmt: str, options: dict) -> bytes:
    cc = av.CodecContext.create(codec, "w")
    cc.width = width
    cc.height = height
    cc.pix_fmt = pix_fmt
    cc.time_base = Fraction(1, 25)
    cc.framerate = Fraction(25)
    cc.options = options
    frame = av.VideoFrame(width, height, pix_fmt)
    for plane in frame.planes:
        plane.update(np.full(plane.buffer_size, 128, dtype=np.uint8).tobytes())
    frame.pts = 0
    data = b"".join(bytes(p) for p in cc.encode(frame))
    data += b"".join(bytes(p) for p in cc.encode(None))
    return data


def _h264_sps(width, height, pix_fmt="yuv420p", **opts) -> bytes:
    options = {"preset": "ultrafast", **opts}
    nals = split_annexb(_first_packet("libx264", width, height, pix_fmt, options))
    return next(n for n in nals if n[0] & 0x1F == 7)


def _h265_sps(width, height, pix_fmt="yuv420p") -> bytes:
    options = {"preset": "ultrafast", "x265-params": "log-level=none"}
    nals = split_annexb(_first_packet("libx265", width, height, pix_fmt, options))
    return next(n for n in nals if (n[0] >> 1) & 0x3F == 33)


@pytest.mark.parametrize(
    ("width", "height"), [(1280, 720), (1920, 1080), (320, 240), (350, 198), (642, 362)]
)
def test_parse_h264_sps_size_matches_encoder(width, height):
    info = h264_sps_info(_h264_sps(width, height))
    assert (info.width, info.height) == (width, height)
    assert info.profile in (66, 77, 100)
    assert info.level > 0


def test_parse_h264_sps_baseline_profile():
    info = h264_sps_info(_h264_sps(1280, 720, profile="baseline"))
    assert (info.width, info.height, info.profile) == (1280, 720, 66)


def test_parse_h264_sps_scaling_lists_size_matches_encoder():
    sps = _h264_sps(1920, 1080, **{"x264-params": "cqm=jvt"})
    assert h264_sps_info(sps)[:2] == (1920, 1080)


def test_parse_h264_sps_interlaced_size_matches_encoder():
    sps = _h264_sps(720, 576, **{"x264-params": "interlaced=1"})
    assert h264_sps_info(sps)[:2] == (720, 576)


def test_parse_h264_sps_yuv444_size_matches_encoder():
    info = h264_sps_info(_h264_sps(1918, 1078, pix_fmt="yuv444p"))
    assert (info.width, info.height, info.profile) == (1918, 1078, 244)


def test_parse_h264_sps_yuv422_cropping_size_matches_encoder():
    assert h264_sps_info(_h264_sps(1918, 1078, pix_fmt="yuv422p"))[:2] == (1918, 1078)


def test_parse_h264_sps_known_camera_vector():
    # a camera's sprop-parameter-sets SPS (constrained baseline, 1280x720)
    info = h264_sps_info(base64.b64decode("Z0LAH9oBQBbpqAgICgAAAwACAAADAGR4wZJA"))
    assert info.profile == 66 and info.level == 31
    assert (info.width, info.height) == (1280, 720)


@pytest.mark.parametrize(("width", "height"), [(1280, 720), (1920, 1080), (320, 240), (350, 198)])
def test_parse_h265_sps_size_matches_encoder(width, height):
    info = h265_sps_info(_h265_sps(width, height))
    assert (info.width, info.height) == (width, height)
    assert info.profile == 1  # Main
    assert info.level > 0


def test_parse_h264_sps_wrong_nal_type_raises():
    with pytest.raises(ValueError, match="not an H.264 SPS: NAL type 8"):
        h264_sps_info(b"\x68\xce\x06\xe2")


def test_parse_h264_sps_truncated_raises():
    sps = _h264_sps(1280, 720)
    with pytest.raises(ValueError, match="H.264 SPS truncated"):
        h264_sps_info(sps[:6])


def test_parse_h264_sps_garbage_raises_value_error():
    for junk in (b"", b"\x67", b"\x67\x00\x00\x00\x00\x00\x00", b"\x67" + b"\xff" * 20):
        with pytest.raises(ValueError, match="H.264 SPS"):
            h264_sps_info(junk)


def test_parse_h265_sps_wrong_nal_type_raises():
    with pytest.raises(ValueError, match="not an H.265 SPS: NAL type 32"):
        h265_sps_info(b"\x40\x01\x0c\x01\xff\xff")


def test_parse_h265_sps_truncated_raises():
    sps = _h265_sps(1280, 720)
    with pytest.raises(ValueError, match="H.265 SPS truncated"):
        h265_sps_info(sps[:10])


def test_unescape_rbsp_removes_emulation_prevention():
    assert (
        unescape_rbsp(b"\x00\x00\x03\x01\x00\x00\x03\x00\x00\x03")
        == b"\x00\x00\x01\x00\x00\x00\x00"
    )
    assert unescape_rbsp(b"\x00\x00\x03\x03") == b"\x00\x00\x03"


def test_read_bits_exp_golomb_values():
    # ue: 1 -> 0, 010 -> 1, 011 -> 2, 00100 -> 3 ; se: 010 -> +1, 011 -> -1
    r = BitReader(bytes([0b10100110, 0b01000100, 0b11000000]))
    assert [r.ue(), r.ue(), r.ue(), r.ue()] == [0, 1, 2, 3]
    assert [r.se(), r.se()] == [1, -1]


def _h265_sps_opts(pix_fmt: str, params: str) -> bytes:
    options = {"preset": "ultrafast", "x265-params": "log-level=none:" + params}
    nals = split_annexb(_first_packet("libx265", 320, 240, pix_fmt, options))
    return next(n for n in nals if (n[0] >> 1) & 0x3F == 33)


def test_parse_h264_sps_chroma_format_and_bit_depth():
    info = h264_sps_info(_h264_sps(320, 240, pix_fmt="yuv422p"))
    assert (info.chroma_format_idc, info.bit_depth_luma, info.bit_depth_chroma) == (2, 8, 8)
    baseline = h264_sps_info(_h264_sps(320, 240, profile="baseline"))
    assert (baseline.chroma_format_idc, baseline.bit_depth_luma) == (1, 8)


def test_parse_h265_sps_main10_profile_tier_level_and_bit_depth():
    sps = h265_sps(_h265_sps_opts("yuv420p10le", "level-idc=3.1"))
    assert sps.info[:4] == (320, 240, 2, 93)
    assert (sps.info.chroma_format_idc, sps.info.bit_depth_luma, sps.info.bit_depth_chroma) == (
        1, 10, 10)
    ptl = sps.ptl
    assert (ptl.profile_space, ptl.tier, ptl.profile_idc, ptl.level_idc) == (0, 0, 2, 93)
    assert ptl.compatibility_flags == 1 << (31 - 2)  # compatible with Main 10 only
    assert ptl.constraint_flags >> 44 == 0b1001  # progressive source, frame only
    assert sps.max_sub_layers == 1 and sps.temporal_id_nesting


def test_parse_h265_sps_high_tier_and_422():
    high = h265_sps(_h265_sps_opts("yuv420p", "level-idc=4.1:high-tier=1")).ptl
    assert (high.tier, high.level_idc, high.compatibility_flags) == (1, 123, 0x60000000)
    rext = h265_sps(_h265_sps_opts("yuv422p", "level-idc=3.1")).info
    assert (rext.profile, rext.chroma_format_idc) == (4, 2)
