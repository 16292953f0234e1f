"""Decoder configuration boxes and RFC 6381 codec strings, from a track's CodecParams.

* ``avcC`` (ISO/IEC 14496-15 5.3.3.1): profile, compatibility and level bytes
  copied from the SPS, 4-byte NAL lengths, the SPS and PPS; for the high
  profiles also chroma format and bit depths.
* ``hvcC`` (14496-15 8.3.3.1): the SPS's general profile/tier/level verbatim,
  chroma format and bit depths, then one array per parameter-set type
  (VPS, SPS, PPS) with ``array_completeness`` set: an ``hvc1`` sample entry
  promises every parameter set is in the sample entry, which is how the feed
  delivers them (never in-band).
* ``esds`` (14496-14 3.1.2, 14496-1 7.2.6): the camera's own
  AudioSpecificConfig as the DecoderSpecificInfo, unchanged, so an HE-AAC
  stream is announced as HE-AAC (an AAC *encoder*'s config would say AAC-LC).

Codec strings are what MSE's ``isTypeSupported``/``addSourceBuffer`` want and
must match the stream exactly: ``avc1.PPCCLL``, ``hvc1.<space><profile>.<compat>
.<tier><level>.<constraints>`` (14496-15 Annex E), ``mp4a.40.<object type>``.
"""

from __future__ import annotations

from nvr.codec.aac import audio_specific_config, parse_audio_config
from nvr.codec.sps import H265Sps, h264_sps_info, h265_sps
from nvr.feed import CodecParams
from nvr.fmp4.boxes import box, full_box, u8, u16, u32

__all__ = ["audio_config", "avcc", "codec_string", "esds", "hvcc"]

_AVC_EXT_PROFILES = frozenset({100, 110, 122, 144})  # avcC carries chroma/bit depth
_HEVC_VPS, _HEVC_SPS, _HEVC_PPS = 32, 33, 34
_LENGTH_SIZE_MINUS_ONE = 3  # AVCC/HVCC payloads use 4-byte NAL lengths


def avcc(params: CodecParams) -> bytes:
    """The ``avcC`` box for an H.264 track."""
    sps, pps = params.sps, params.pps
    if len(sps) < 4 or not pps:
        raise ValueError("H.264 track without SPS/PPS")
    parts = [
        bytes((1, sps[1], sps[2], sps[3], 0xFC | _LENGTH_SIZE_MINUS_ONE, 0xE0 | 1)),
        u16(len(sps)), sps,
        u8(1), u16(len(pps)), pps,
    ]
    if sps[1] in _AVC_EXT_PROFILES:
        info = h264_sps_info(sps)
        parts.append(bytes((0xFC | info.chroma_format_idc, 0xF8 | (info.bit_depth_luma - 8),
                            0xF8 | (info.bit_depth_chroma - 8), 0)))
    return box(b"avcC", *parts)


def _ptl_bytes(sps: H265Sps) -> bytes:
    ptl = sps.ptl
    return b"".join((
        u8((ptl.profile_space << 6) | (ptl.tier << 5) | ptl.profile_idc),
        u32(ptl.compatibility_flags),
        ptl.constraint_flags.to_bytes(6, "big"),
        u8(ptl.level_idc),
    ))


def _nal_array(nal_type: int, nals: list[bytes]) -> bytes:
    entries = b"".join(u16(len(n)) + n for n in nals)
    return u8(0x80 | nal_type) + u16(len(nals)) + entries  # array_completeness = 1


def hvcc(params: CodecParams) -> bytes:
    """The ``hvcC`` box for an H.265 track (VPS, SPS and PPS arrays)."""
    if not (params.vps and params.sps and params.pps):
        raise ValueError("H.265 track without VPS/SPS/PPS")
    sps = h265_sps(params.sps)
    info = sps.info
    layers = (sps.max_sub_layers << 3) | (int(sps.temporal_id_nesting) << 2)
    return box(
        b"hvcC",
        u8(1),  # configurationVersion
        _ptl_bytes(sps),
        u16(0xF000),  # min_spatial_segmentation_idc 0 (unknown)
        u8(0xFC),  # parallelismType 0 (unknown)
        u8(0xFC | info.chroma_format_idc),
        u8(0xF8 | (info.bit_depth_luma - 8)),
        u8(0xF8 | (info.bit_depth_chroma - 8)),
        u16(0),  # avgFrameRate unknown
        u8(layers | _LENGTH_SIZE_MINUS_ONE),  # constantFrameRate 0
        u8(3),
        _nal_array(_HEVC_VPS, [params.vps]),
        _nal_array(_HEVC_SPS, [params.sps]),
        _nal_array(_HEVC_PPS, [params.pps]),
    )


def audio_config(params: CodecParams) -> bytes:
    """The track's AudioSpecificConfig: the camera's, else AAC-LC from rate and channels."""
    if params.audio_config:
        return params.audio_config
    return audio_specific_config(params.sample_rate or params.clock_rate, params.channels or 1)


def _descriptor(tag: int, *payload: bytes) -> bytes:
    """An MPEG-4 descriptor: tag, expandable length (7 bits a byte), payload."""
    body = b"".join(payload)
    size = len(body)
    length = [size & 0x7F]
    size >>= 7
    while size:
        length.append(0x80 | (size & 0x7F))
        size >>= 7
    return bytes((tag, *reversed(length))) + body


def esds(params: CodecParams, es_id: int = 0) -> bytes:
    """The ``esds`` box for an AAC track, carrying its AudioSpecificConfig as is."""
    decoder_config = _descriptor(
        0x04,  # DecoderConfigDescriptor
        u8(0x40),  # objectTypeIndication: MPEG-4 Audio
        u8((0x05 << 2) | 1),  # streamType audio, upStream 0, reserved 1
        (0).to_bytes(3, "big"),  # bufferSizeDB unknown
        u32(0), u32(0),  # maxBitrate, avgBitrate unknown
        _descriptor(0x05, audio_config(params)),  # DecoderSpecificInfo
    )
    es = _descriptor(0x03, u16(es_id), u8(0), decoder_config, _descriptor(0x06, u8(0x02)))
    return full_box(b"esds", 0, 0, es)


def _hevc_codec_string(sps: H265Sps) -> str:
    ptl = sps.ptl
    space = ("", "A", "B", "C")[ptl.profile_space]
    compat = int(f"{ptl.compatibility_flags:032b}"[::-1], 2)  # bit-reversed, per Annex E
    constraints = ptl.constraint_flags.to_bytes(6, "big").rstrip(b"\x00")
    tail = "".join(f".{b:02X}" for b in constraints)
    tier = "H" if ptl.tier else "L"
    return f"hvc1.{space}{ptl.profile_idc}.{compat:X}.{tier}{ptl.level_idc}{tail}"


def codec_string(params: CodecParams) -> str:
    """RFC 6381 codec string of a track, e.g. ``avc1.64001f``, ``hvc1.1.6.L93.B0``,
    ``mp4a.40.2``; ValueError for a codec or parameter set that cannot give one."""
    if params.codec == "h264":
        if len(params.sps) < 4:
            raise ValueError("H.264 track without SPS")
        return "avc1." + params.sps[1:4].hex()
    if params.codec == "h265":
        return _hevc_codec_string(h265_sps(params.sps))
    if params.codec == "aac":
        return parse_audio_config(audio_config(params)).codec_string
    raise ValueError(f"no MP4 codec string for {params.codec!r}")
