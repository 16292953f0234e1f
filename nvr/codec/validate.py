"""Cheap plausibility checks on a video access unit before anyone records it.

A camera that sends noise (valid RTP headers, random payload) must not end up
as an unplayable recording. Checking costs a few bit reads per frame: every
NAL has the forbidden bit clear and a type the codec defines, there is a
slice, and the first slice's header starts the picture, names the picture
parameter set we hold and, for a keyframe, is an intra slice (H.264: with
``frame_num`` 0, as an IDR must). A real encoder's frames always pass; random
slice payloads behind a valid NAL header pass about one time in a thousand as
a keyframe and one in eight as another frame, which is why a receiver also
drops every frame until the session's first keyframe that passes.
"""

from __future__ import annotations

from nvr.codec.sps import BitReader, h264_sps_info

# H.264 NAL types a camera sends inside an access unit (RFC 6184 de-aggregated)
_H264_OK = frozenset({1, 2, 3, 4, 5, 6, 9, 10, 11, 12, 14, 20})
_H264_SLICES = frozenset({1, 5})
_H264_I_SLICES = frozenset({2, 4, 7, 9})
# H.265: VCL 0-9 and 16-21, non-VCL 32-40 (parameter sets are taken out earlier)
_H265_VCL = frozenset(range(0, 10)) | frozenset(range(16, 22))
_H265_OK = _H265_VCL | frozenset(range(32, 41))


def pps_id(codec: str, pps: bytes) -> int:
    """The id of a picture parameter set NAL (-1 if it cannot be read)."""
    try:
        r = BitReader(pps[1:4] if codec == "h264" else pps[2:5], "PPS")
        return r.ue()
    except ValueError:
        return -1


def h265_extra_slice_header_bits(pps: bytes) -> int:
    """num_extra_slice_header_bits of an H.265 PPS (0 when it cannot be read)."""
    try:
        r = BitReader(pps[2:10], "PPS")
        r.ue()
        r.ue()
        r.skip(2)
        return r.bits(3)
    except ValueError:
        return 0


def valid_h264(nals: list[bytes], keyframe: bool, pps: int, frame_num_bits: int = 0) -> bool:
    slice_nal = b""
    for nal in nals:
        if not nal or nal[0] & 0x80:
            return False
        t = nal[0] & 0x1F
        if t not in _H264_OK:
            return False
        if t in _H264_SLICES and not slice_nal:
            if keyframe and t != 5:
                return False
            slice_nal = nal
    if len(slice_nal) < 2:
        return False
    try:
        r = BitReader(slice_nal[1:9], "slice header")
        if r.ue() != 0:  # first_mb_in_slice: the first slice starts the picture
            return False
        slice_type = r.ue()
        ident = r.ue()
        frame_num = r.bits(frame_num_bits) if keyframe and frame_num_bits else 0
    except ValueError:
        return False
    if slice_type > 9 or (keyframe and (slice_type not in _H264_I_SLICES or frame_num)):
        return False
    return pps < 0 or ident == pps


def valid_h265(nals: list[bytes], keyframe: bool, pps: int, extra_bits: int = 0) -> bool:
    first: bytes = b""
    for nal in nals:
        if len(nal) < 2 or nal[0] & 0x80:
            return False
        t = (nal[0] >> 1) & 0x3F
        layer = ((nal[0] & 1) << 5) | (nal[1] >> 3)
        if t not in _H265_OK or layer != 0 or nal[1] & 0x07 == 0:
            return False
        if t in _H265_VCL and not first:
            first = nal
    if len(first) < 3:
        return False
    t = (first[0] >> 1) & 0x3F
    try:
        r = BitReader(first[2:10], "slice header")
        if not r.flag():  # first_slice_segment_in_pic_flag
            return False
        if 16 <= t <= 23:
            r.skip(1)  # no_output_of_prior_pics_flag
        ident = r.ue()
        r.skip(extra_bits)  # slice_reserved_flag[i]
        slice_type = r.ue()
    except ValueError:
        return False
    if ident > 63 or slice_type > 2 or (keyframe and slice_type != 2):
        return False
    return pps < 0 or ident == pps


class FrameCheck:
    """The checks for one stream, with what they need from its parameter sets."""

    __slots__ = ("codec", "pps_id", "_extra")

    def __init__(self, codec: str, sps: bytes = b"", pps: bytes = b"") -> None:
        self.codec = codec
        self.pps_id = pps_id(codec, pps) if pps else -1
        if codec == "h264":
            self._extra = _log2_max_frame_num(sps) if sps else 0
        else:
            self._extra = h265_extra_slice_header_bits(pps) if pps else 0

    def __call__(self, nals: list[bytes], keyframe: bool) -> bool:
        if self.codec == "h264":
            return valid_h264(nals, keyframe, self.pps_id, self._extra)
        return valid_h265(nals, keyframe, self.pps_id, self._extra)


def plausible_frame(codec: str, nals: list[bytes], keyframe: bool, pps: int = -1) -> bool:
    """False when the access unit cannot be a frame of this codec (see module doc)."""
    if codec == "h264":
        return valid_h264(nals, keyframe, pps)
    return valid_h265(nals, keyframe, pps)


def _log2_max_frame_num(sps: bytes) -> int:
    try:
        return h264_sps_info(sps).log2_max_frame_num
    except ValueError:
        return 0
