"""The init segment: ``ftyp`` + ``moov`` of a fragmented MP4 (ISO/IEC 14496-12).

The ``moov`` describes the tracks and holds no samples: its sample tables
(``stts``/``stsc``/``stsz``/``stco``) are empty and ``mvex``/``trex`` says that
movie fragments follow. Durations are 0 (unknown): a reader adds up the
fragments, so a file cut short by a crash needs no fixing.

Track 1 is video with a 90 kHz timescale (the feed's clock, so timestamps go
in unchanged); track 2, when present, is AAC with the timescale of the feed's
audio clock, which for AAC is the sampling rate (RFC 3640).

The H.265 sample entry is ``hvc1`` (parameter sets in the sample entry only),
what Apple's players require; ``hev1`` would also allow them in-band.
"""

from __future__ import annotations

from nvr.codec.aac import parse_audio_config
from nvr.codec.sps import h264_sps_info, h265_sps_info
from nvr.feed import VIDEO_CLOCK, CodecParams
from nvr.fmp4.boxes import box, full_box, u16, u32
from nvr.fmp4.codecs import audio_config, avcc, esds, hvcc

__all__ = ["AUDIO_TRACK", "VIDEO_TRACK", "audio_timescale", "init_segment"]

VIDEO_TRACK = 1
AUDIO_TRACK = 2

_MOVIE_TIMESCALE = 1000
_MATRIX = b"".join(u32(v) for v in (0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000))
_LANGUAGE_UND = 0x55C4  # ISO-639-2 "und", three 5-bit letters
_TRACK_ENABLED_IN_MOVIE = 0x3
_BRANDS = (b"iso6", b"isom", b"iso2", b"mp41")  # iso6: trun v1 (signed offsets) is fine


def audio_timescale(params: CodecParams) -> int:
    """The audio track's timescale: the clock its pts are in (the sampling rate for AAC)."""
    return params.clock_rate or params.sample_rate or parse_audio_config(
        audio_config(params)).sample_rate


def _ftyp() -> bytes:
    return box(b"ftyp", _BRANDS[0], u32(0), *_BRANDS)


def _mvhd(next_track_id: int) -> bytes:
    return full_box(
        b"mvhd", 0, 0,
        u32(0), u32(0),  # creation, modification time
        u32(_MOVIE_TIMESCALE), u32(0),  # timescale, duration (unknown)
        u32(0x00010000), u16(0x0100), bytes(10),  # rate 1.0, volume 1.0, reserved
        _MATRIX, bytes(24),  # pre_defined
        u32(next_track_id),
    )


def _tkhd(track_id: int, audio: bool, width: int, height: int) -> bytes:
    return full_box(
        b"tkhd", 0, _TRACK_ENABLED_IN_MOVIE,
        u32(0), u32(0), u32(track_id), u32(0), u32(0),  # times, id, reserved, duration
        bytes(8), u16(0), u16(0),  # reserved, layer, alternate_group
        u16(0x0100 if audio else 0), u16(0),  # volume, reserved
        _MATRIX, u32(width << 16), u32(height << 16),
    )


def _mdhd(timescale: int) -> bytes:
    return full_box(b"mdhd", 0, 0, u32(0), u32(0), u32(timescale), u32(0),
                    u16(_LANGUAGE_UND), u16(0))


def _hdlr(handler: bytes, name: bytes) -> bytes:
    return full_box(b"hdlr", 0, 0, u32(0), handler, bytes(12), name + b"\x00")


def _stbl(sample_entry: bytes) -> bytes:
    """Sample tables with no samples: they all live in the fragments."""
    return box(
        b"stbl",
        full_box(b"stsd", 0, 0, u32(1), sample_entry),
        full_box(b"stts", 0, 0, u32(0)),
        full_box(b"stsc", 0, 0, u32(0)),
        full_box(b"stsz", 0, 0, u32(0), u32(0)),
        full_box(b"stco", 0, 0, u32(0)),
    )


def _dinf() -> bytes:
    url_self = full_box(b"url ", 0, 1)  # flag 1: the data is in this file
    return box(b"dinf", full_box(b"dref", 0, 0, u32(1), url_self))


def _video_size(params: CodecParams) -> tuple[int, int]:
    if params.width and params.height:
        return params.width, params.height
    info = h264_sps_info(params.sps) if params.codec == "h264" else h265_sps_info(params.sps)
    return info.width, info.height


def _visual_entry(params: CodecParams, width: int, height: int) -> bytes:
    if params.codec == "h264":
        kind, config = b"avc1", avcc(params)
    elif params.codec == "h265":
        kind, config = b"hvc1", hvcc(params)
    else:
        raise ValueError(f"unsupported video codec {params.codec!r}")
    return box(
        kind,
        bytes(6), u16(1),  # reserved, data_reference_index
        bytes(16),  # pre_defined, reserved
        u16(width), u16(height),
        u32(0x00480000), u32(0x00480000), u32(0),  # 72 dpi, reserved
        u16(1), bytes(32),  # frame_count, compressorname
        u16(0x0018), u16(0xFFFF),  # depth, pre_defined -1
        config,
    )


def _audio_entry(params: CodecParams) -> bytes:
    if params.codec != "aac":
        raise ValueError(f"unsupported audio codec {params.codec!r}")
    asc = parse_audio_config(audio_config(params))
    channels = params.channels or asc.channels or 2
    rate = params.sample_rate or asc.sample_rate
    return box(
        b"mp4a",
        bytes(6), u16(1),  # reserved, data_reference_index
        bytes(8), u16(channels), u16(16),  # reserved, channelcount, samplesize
        u16(0), u16(0), u32(min(rate, 0xFFFF) << 16),  # pre_defined, reserved, 16.16 rate
        esds(params, AUDIO_TRACK),
    )


def _trak(track_id: int, params: CodecParams) -> bytes:
    audio = params.kind == "audio"
    if audio:
        width = height = 0
        timescale = audio_timescale(params)
        media_header = full_box(b"smhd", 0, 0, u16(0), u16(0))
        handler = _hdlr(b"soun", b"SoundHandler")
        entry = _audio_entry(params)
    else:
        width, height = _video_size(params)
        timescale = VIDEO_CLOCK
        media_header = full_box(b"vmhd", 0, 1, bytes(8))  # graphicsmode copy, opcolor
        handler = _hdlr(b"vide", b"VideoHandler")
        entry = _visual_entry(params, width, height)
    minf = box(b"minf", media_header, _dinf(), _stbl(entry))
    return box(b"trak", _tkhd(track_id, audio, width, height),
               box(b"mdia", _mdhd(timescale), handler, minf))


def _trex(track_id: int) -> bytes:
    # sample description 1; duration, size and flags are given per sample in each trun
    return full_box(b"trex", 0, 0, u32(track_id), u32(1), u32(0), u32(0), u32(0))


def init_segment(video: CodecParams, audio: CodecParams | None = None) -> bytes:
    """``ftyp`` + ``moov`` for a video track (1) and an optional AAC track (2).

    ValueError when the parameter sets cannot describe the stream (no SPS, a
    garbage SPS, an unsupported codec).
    """
    traks = [_trak(VIDEO_TRACK, video)]
    trexs = [_trex(VIDEO_TRACK)]
    if audio is not None:
        traks.append(_trak(AUDIO_TRACK, audio))
        trexs.append(_trex(AUDIO_TRACK))
    moov = box(b"moov", _mvhd(len(traks) + 1), *traks, box(b"mvex", *trexs))
    return _ftyp() + moov
