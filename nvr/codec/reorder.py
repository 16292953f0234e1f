"""How many frames a stream may reorder (B-frames), from its sequence parameter set.

With this known before the first frame, decode timestamps are consistent from
a session's first keyframe on (see :mod:`nvr.rtsp.dts`). H.265 always carries
``sps_max_num_reorder_pics``; H.264 carries ``max_num_reorder_frames`` in the
VUI's bitstream restriction when the encoder wrote it (x264 and most camera
encoders do), and Baseline streams have no B-frames. Otherwise: unknown (None),
and the timestamps learn it from the frames.
"""

from __future__ import annotations

from nvr.codec.sps import (
    _H264_HIGH_PROFILES,
    BitReader,
    _profile_tier_level,
    _skip_scaling_list,
    unescape_rbsp,
)


def reorder_frames(codec: str, sps: bytes) -> int | None:
    try:
        return _h264(sps) if codec == "h264" else _h265(sps)
    except ValueError:
        return None


def _skip_hrd(r: BitReader) -> None:
    count = r.ue() + 1
    r.skip(8)  # bit_rate_scale, cpb_size_scale
    for _ in range(count):
        r.ue()
        r.ue()
        r.skip(1)
    r.skip(20)  # four 5-bit lengths


def _h264(sps: bytes) -> int | None:
    r = BitReader(unescape_rbsp(sps[1:]), "H.264 SPS")
    profile = r.bits(8)
    r.skip(16)  # constraint flags, level_idc
    r.ue()
    if profile in _H264_HIGH_PROFILES:
        chroma = r.ue()
        if chroma == 3:
            r.skip(1)
        r.ue()
        r.ue()
        r.skip(1)
        if r.flag():
            for i in range(8 if chroma != 3 else 12):
                if r.flag():
                    _skip_scaling_list(r, 16 if i < 6 else 64)
    r.ue()  # log2_max_frame_num_minus4
    poc_type = r.ue()
    if poc_type == 0:
        r.ue()
    elif poc_type == 1:
        r.skip(1)
        r.se()
        r.se()
        for _ in range(r.ue()):
            r.se()
    r.ue()  # max_num_ref_frames
    r.skip(1)
    r.ue()
    r.ue()
    if not r.flag():  # frame_mbs_only_flag
        r.skip(1)
    r.skip(1)
    if r.flag():  # frame cropping
        for _ in range(4):
            r.ue()
    baseline = profile == 66  # no B-slices in Baseline
    if not r.flag():  # vui_parameters_present_flag
        return 0 if baseline else None
    if r.flag() and r.bits(8) == 255:  # aspect_ratio_info
        r.skip(32)
    if r.flag():  # overscan_info_present
        r.skip(1)
    if r.flag():  # video_signal_type_present
        r.skip(4)
        if r.flag():
            r.skip(24)
    if r.flag():  # chroma_loc_info_present
        r.ue()
        r.ue()
    if r.flag():  # timing_info_present
        r.skip(65)
    nal_hrd = r.flag()
    if nal_hrd:
        _skip_hrd(r)
    vcl_hrd = r.flag()
    if vcl_hrd:
        _skip_hrd(r)
    if nal_hrd or vcl_hrd:
        r.skip(1)  # low_delay_hrd_flag
    r.skip(1)  # pic_struct_present_flag
    if not r.flag():  # bitstream_restriction_flag
        return 0 if baseline else None
    r.skip(1)
    for _ in range(4):
        r.ue()
    return r.ue()  # max_num_reorder_frames


def _h265(sps: bytes) -> int | None:
    r = BitReader(unescape_rbsp(sps[2:]), "H.265 SPS")
    r.skip(4)  # sps_video_parameter_set_id
    max_sub_layers_minus1 = r.bits(3)
    r.skip(1)
    _profile_tier_level(r, max_sub_layers_minus1)
    r.ue()  # sps_seq_parameter_set_id
    if r.ue() == 3:  # chroma_format_idc
        r.skip(1)
    r.ue()
    r.ue()
    if r.flag():  # conformance_window_flag
        for _ in range(4):
            r.ue()
    r.ue()
    r.ue()
    r.ue()  # log2_max_pic_order_cnt_lsb_minus4
    all_layers = r.flag()  # sps_sub_layer_ordering_info_present_flag
    reorder = 0
    for _ in range(0 if all_layers else max_sub_layers_minus1, max_sub_layers_minus1 + 1):
        r.ue()  # max_dec_pic_buffering_minus1
        reorder = r.ue()
        r.ue()  # max_latency_increase_plus1
    return reorder
