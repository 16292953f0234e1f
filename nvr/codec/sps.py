"""Just enough H.264 / H.265 sequence parameter set parsing for size, profile and the
MP4 decoder configuration records.

H.264: ITU-T H.264 7.3.2.1.1 (incl. the high-profile chroma / bit-depth /
scaling-list branch, frame_mbs_only and frame cropping). H.265: ITU-T H.265
7.3.2.2 up to the bit depths, with the general part of profile_tier_level
(7.3.3) kept whole: the ``hvcC`` box and the ``hvc1.…`` codec string copy it.
Emulation-prevention bytes are removed first. Garbage raises ValueError.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["BitReader", "H265Sps", "ProfileTierLevel", "SpsInfo", "h264_sps_info",
           "h265_sps", "h265_sps_info", "unescape_rbsp"]

# H.264 profiles that carry chroma_format_idc and friends in the SPS.
_H264_HIGH_PROFILES = frozenset({100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135})
_H264_PROFILES = _H264_HIGH_PROFILES | {66, 77, 88}


class SpsInfo(NamedTuple):
    width: int
    height: int
    profile: int  # profile_idc (H.264) / general_profile_idc (H.265)
    level: int  # level_idc (H.264, e.g. 31 = 3.1) / general_level_idc (H.265, 30 x level)
    chroma_format_idc: int = 1  # 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4
    bit_depth_luma: int = 8
    bit_depth_chroma: int = 8
    # frames decoded before and shown after another at most (B-frames), when the SPS
    # says: H.265 always, H.264 in the VUI's bitstream restriction (Baseline: 0)
    reorder: int | None = None
    log2_max_frame_num: int = 0  # H.264: width of a slice header's frame_num


class ProfileTierLevel(NamedTuple):
    """The general part of an H.265 profile_tier_level(), as ``hvcC`` stores it."""

    profile_space: int  # 2 bits
    tier: int  # 0 Main, 1 High
    profile_idc: int  # 5 bits: 1 Main, 2 Main 10, 3 Main Still Picture, 4 RExt...
    compatibility_flags: int  # 32 bits, flag j at bit 31 - j
    constraint_flags: int  # 48 bits: progressive, interlaced, non-packed, frame-only + 44
    level_idc: int  # 30 x level


class H265Sps(NamedTuple):
    """What the ``hvcC`` decoder configuration record needs from an H.265 SPS."""

    info: SpsInfo
    ptl: ProfileTierLevel
    max_sub_layers: int  # sps_max_sub_layers_minus1 + 1
    temporal_id_nesting: bool


def unescape_rbsp(nal: bytes) -> bytes:
    """Remove emulation-prevention bytes (00 00 03 → 00 00)."""
    return bytes(nal).replace(b"\x00\x00\x03", b"\x00\x00")


class BitReader:
    """MSB-first bit reader with Exp-Golomb codes over a byte string."""

    __slots__ = ("_value", "_nbits", "pos", "_what")

    def __init__(self, data: bytes, what: str = "SPS") -> None:
        self._value = int.from_bytes(data, "big")
        self._nbits = len(data) * 8
        self.pos = 0
        self._what = what

    def bits(self, n: int) -> int:
        end = self.pos + n
        if end > self._nbits:
            raise ValueError(f"{self._what} truncated at bit {self.pos} (of {self._nbits})")
        self.pos = end
        return (self._value >> (self._nbits - end)) & ((1 << n) - 1)

    def flag(self) -> bool:
        return self.bits(1) == 1

    def skip(self, n: int) -> None:
        self.bits(n)

    def ue(self) -> int:
        """An unsigned Exp-Golomb code, read at once (its length from ``bit_length``)."""
        rest = self._nbits - self.pos
        value = self._value & ((1 << rest) - 1)
        zeros = rest - value.bit_length()
        if zeros > 31:
            raise ValueError(f"{self._what}: invalid Exp-Golomb code at bit {self.pos + 32}")
        if value == 0:
            raise ValueError(f"{self._what} truncated at bit {self._nbits} (of {self._nbits})")
        width = 2 * zeros + 1
        if width > rest:
            raise ValueError(f"{self._what} truncated at bit {self.pos + zeros + 1} "
                             f"(of {self._nbits})")
        self.pos += width
        return (value >> (rest - width)) - 1

    def se(self) -> int:
        k = self.ue()
        return (k + 1) >> 1 if k & 1 else -(k >> 1)


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ValueError(msg)


def _skip_scaling_list(r: BitReader, size: int) -> None:
    last = next_ = 8
    for _ in range(size):
        if next_ != 0:
            delta = r.se()
            _check(-128 <= delta <= 127, f"H.264 SPS: delta_scale {delta} out of range")
            next_ = (last + delta + 256) % 256
        last = last if next_ == 0 else next_


def h264_sps_info(nal: bytes) -> SpsInfo:
    """Width, height (after cropping), profile_idc and level_idc of an H.264 SPS NAL."""
    _check(len(nal) >= 4, f"H.264 SPS too short ({len(nal)} bytes)")
    _check(nal[0] & 0x1F == 7, f"not an H.264 SPS: NAL type {nal[0] & 0x1F}")
    r = BitReader(unescape_rbsp(nal[1:]), "H.264 SPS")
    profile = r.bits(8)
    r.skip(8)  # constraint flags
    level = r.bits(8)
    _check(profile in _H264_PROFILES, f"H.264 SPS: unknown profile_idc {profile}")
    _check(r.ue() <= 31, "H.264 SPS: seq_parameter_set_id out of range")
    chroma_format_idc = 1
    separate_colour_plane = False
    depth_luma = depth_chroma = 8
    if profile in _H264_HIGH_PROFILES:
        chroma_format_idc = r.ue()
        _check(chroma_format_idc <= 3, f"H.264 SPS: chroma_format_idc {chroma_format_idc}")
        if chroma_format_idc == 3:
            separate_colour_plane = r.flag()
        depth_luma = 8 + r.ue()
        _check(depth_luma <= 14, "H.264 SPS: bit_depth_luma out of range")
        depth_chroma = 8 + r.ue()
        _check(depth_chroma <= 14, "H.264 SPS: bit_depth_chroma out of range")
        r.skip(1)  # qpprime_y_zero_transform_bypass_flag
        if r.flag():  # seq_scaling_matrix_present_flag
            for i in range(8 if chroma_format_idc != 3 else 12):
                if r.flag():
                    _skip_scaling_list(r, 16 if i < 6 else 64)
    log2_max_frame_num = r.ue() + 4
    _check(log2_max_frame_num <= 16, "H.264 SPS: log2_max_frame_num_minus4 out of range")
    poc_type = r.ue()
    if poc_type == 0:
        _check(r.ue() <= 12, "H.264 SPS: log2_max_pic_order_cnt_lsb_minus4 out of range")
    elif poc_type == 1:
        r.skip(1)  # delta_pic_order_always_zero_flag
        r.se()  # offset_for_non_ref_pic
        r.se()  # offset_for_top_to_bottom_field
        cycle = r.ue()
        _check(cycle <= 255, "H.264 SPS: num_ref_frames_in_pic_order_cnt_cycle out of range")
        for _ in range(cycle):
            r.se()
    else:
        _check(poc_type == 2, f"H.264 SPS: pic_order_cnt_type {poc_type}")
    r.ue()  # max_num_ref_frames
    r.skip(1)  # gaps_in_frame_num_value_allowed_flag
    width_mbs = r.ue() + 1
    height_map_units = r.ue() + 1
    frame_mbs_only = r.bits(1)
    if not frame_mbs_only:
        r.skip(1)  # mb_adaptive_frame_field_flag
    r.skip(1)  # direct_8x8_inference_flag
    width = width_mbs * 16
    height = (2 - frame_mbs_only) * height_map_units * 16
    if r.flag():  # frame_cropping_flag
        left, right, top, bottom = r.ue(), r.ue(), r.ue(), r.ue()
        if separate_colour_plane or chroma_format_idc == 0:
            crop_x, crop_y = 1, 2 - frame_mbs_only
        else:
            crop_x = 1 if chroma_format_idc == 3 else 2
            crop_y = (2 if chroma_format_idc == 1 else 1) * (2 - frame_mbs_only)
        width -= crop_x * (left + right)
        height -= crop_y * (top + bottom)
    _check(width > 0 and height > 0, f"H.264 SPS: invalid size {width}x{height}")
    try:
        reorder = _h264_vui_reorder(r) if r.flag() else None  # vui_parameters_present_flag
    except ValueError:  # a truncated VUI: the size is known all the same
        reorder = None
    if reorder is None and profile == 66:
        reorder = 0  # Baseline has no B-slices
    return SpsInfo(width, height, profile, level, chroma_format_idc, depth_luma, depth_chroma,
                   reorder, log2_max_frame_num)


def _skip_hrd(r: BitReader) -> None:
    count = r.ue() + 1  # cpb_cnt_minus1
    r.skip(8)  # bit_rate_scale, cpb_size_scale
    for _ in range(count):
        r.ue()
        r.ue()
        r.skip(1)
    r.skip(20)  # four 5-bit lengths


def _h264_vui_reorder(r: BitReader) -> int | None:
    """max_num_reorder_frames from an H.264 VUI (E.1.1), None when absent."""
    if r.flag() and r.bits(8) == 255:  # aspect_ratio_info_present_flag, Extended_SAR
        r.skip(32)
    if r.flag():  # overscan_info_present_flag
        r.skip(1)
    if r.flag():  # video_signal_type_present_flag
        r.skip(4)
        if r.flag():  # colour_description_present_flag
            r.skip(24)
    if r.flag():  # chroma_loc_info_present_flag
        r.ue()
        r.ue()
    if r.flag():  # timing_info_present_flag
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
        return None
    r.skip(1)  # motion_vectors_over_pic_boundaries_flag
    for _ in range(4):  # max_bytes_per_pic_denom .. log2_max_mv_length_vertical
        r.ue()
    return r.ue()


def _profile_tier_level(r: BitReader, max_sub_layers_minus1: int) -> ProfileTierLevel:
    ptl = ProfileTierLevel(
        profile_space=r.bits(2),
        tier=r.bits(1),
        profile_idc=r.bits(5),
        compatibility_flags=r.bits(32),
        constraint_flags=r.bits(48),
        level_idc=r.bits(8),
    )
    present = [(r.flag(), r.flag()) for _ in range(max_sub_layers_minus1)]
    if max_sub_layers_minus1 > 0:
        r.skip(2 * (8 - max_sub_layers_minus1))  # reserved_zero_2bits
    for profile_present, level_present in present:
        if profile_present:
            r.skip(88)
        if level_present:
            r.skip(8)
    return ptl


def h265_sps_info(nal: bytes) -> SpsInfo:
    """Width, height (after the conformance window), profile and level of an H.265 SPS NAL."""
    return h265_sps(nal).info


def h265_sps(nal: bytes) -> H265Sps:
    """Size, chroma format, bit depths and the whole general profile/tier/level of an
    H.265 SPS NAL: everything the ``hvcC`` record and the codec string take from it."""
    _check(len(nal) >= 5, f"H.265 SPS too short ({len(nal)} bytes)")
    nal_type = (nal[0] >> 1) & 0x3F
    _check(nal_type == 33, f"not an H.265 SPS: NAL type {nal_type}")
    r = BitReader(unescape_rbsp(nal[2:]), "H.265 SPS")
    r.skip(4)  # sps_video_parameter_set_id
    max_sub_layers_minus1 = r.bits(3)
    _check(max_sub_layers_minus1 <= 6, "H.265 SPS: sps_max_sub_layers_minus1 out of range")
    nesting = r.flag()  # sps_temporal_id_nesting_flag
    ptl = _profile_tier_level(r, max_sub_layers_minus1)
    _check(r.ue() <= 15, "H.265 SPS: sps_seq_parameter_set_id out of range")
    chroma_format_idc = r.ue()
    _check(chroma_format_idc <= 3, f"H.265 SPS: chroma_format_idc {chroma_format_idc}")
    separate_colour_plane = chroma_format_idc == 3 and r.flag()
    width = r.ue()
    height = r.ue()
    if r.flag():  # conformance_window_flag
        left, right, top, bottom = r.ue(), r.ue(), r.ue(), r.ue()
        if separate_colour_plane or chroma_format_idc == 0:
            sub_w = sub_h = 1
        else:
            sub_w = 1 if chroma_format_idc == 3 else 2
            sub_h = 2 if chroma_format_idc == 1 else 1
        width -= sub_w * (left + right)
        height -= sub_h * (top + bottom)
    _check(width > 0 and height > 0, f"H.265 SPS: invalid size {width}x{height}")
    depth_luma = 8 + r.ue()
    depth_chroma = 8 + r.ue()
    _check(depth_luma <= 16 and depth_chroma <= 16, "H.265 SPS: bit depth out of range")
    r.ue()  # log2_max_pic_order_cnt_lsb_minus4
    every_layer = r.flag()  # sps_sub_layer_ordering_info_present_flag
    reorder = 0
    for _ in range(0 if every_layer else max_sub_layers_minus1, max_sub_layers_minus1 + 1):
        r.ue()  # sps_max_dec_pic_buffering_minus1
        reorder = r.ue()  # sps_max_num_reorder_pics (the highest sub-layer's counts)
        r.ue()  # sps_max_latency_increase_plus1
    info = SpsInfo(width, height, ptl.profile_idc, ptl.level_idc, chroma_format_idc,
                   depth_luma, depth_chroma, reorder)
    return H265Sps(info, ptl, max_sub_layers_minus1 + 1, nesting)
