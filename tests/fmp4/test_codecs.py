"""Codec strings and decoder configuration records, from real encoders' parameter sets."""

from __future__ import annotations

import base64
from fractions import Fraction

import av
import pytest
from fmp4_media import _image

from nvr.codec.nal import split_annexb
from nvr.feed import VIDEO_CLOCK, CodecParams
from nvr.fmp4 import codec_string
from nvr.fmp4.boxes import read_boxes
from nvr.fmp4.codecs import avcc, esds, hvcc


def _parameter_sets(encoder: str, pix_fmt: str, options: dict[str, str]) -> dict[str, bytes]:
    cc = av.CodecContext.create(encoder, "w")
    cc.width, cc.height, cc.pix_fmt = 320, 240, pix_fmt
    cc.time_base = Fraction(1, 25)
    cc.options = options
    image = _image(0, 320, 240).reformat(format=pix_fmt)
    image.pts = 0
    data = b"".join(bytes(p) for p in [*cc.encode(image), *cc.encode(None)])
    names = ({32: "vps", 33: "sps", 34: "pps"} if encoder == "libx265" else {7: "sps", 8: "pps"})
    out = {}
    for nal in split_annexb(data):
        kind = (nal[0] >> 1) & 0x3F if encoder == "libx265" else nal[0] & 0x1F
        if kind in names:
            out[names[kind]] = nal
    return out


def _video(codec: str, **sets: bytes) -> CodecParams:
    return CodecParams(kind="video", codec=codec, clock_rate=VIDEO_CLOCK, **sets)


def _aac(config: str) -> CodecParams:
    return CodecParams(kind="audio", codec="aac", clock_rate=48000,
                       audio_config=bytes.fromhex(config), sample_rate=48000, channels=2)


def test_h264_codec_string_high_profile_level_31():
    sets = _parameter_sets("libx264", "yuv420p",
                           {"preset": "veryfast", "profile": "high", "level": "3.1"})
    assert codec_string(_video("h264", **sets)) == "avc1.64001f"


def test_h264_codec_string_of_a_camera_sps():
    sps = base64.b64decode("Z0LAH9oBQBbpqAgICgAAAwACAAADAGR4wZJA")  # constrained baseline 3.1
    assert codec_string(_video("h264", sps=sps, pps=b"\x68\xce\x06\xe2")) == "avc1.42c01f"


@pytest.mark.parametrize(("pix_fmt", "params", "expected"), [
    ("yuv420p", "level-idc=3.1", "hvc1.1.6.L93.90"),  # Main
    ("yuv420p10le", "level-idc=3.1", "hvc1.2.4.L93.90"),  # Main 10
    ("yuv420p", "level-idc=4.1:high-tier=1", "hvc1.1.6.H123.90"),  # High tier
    ("yuv422p", "level-idc=3.1", "hvc1.4.10.L93.9D.08"),  # RExt 4:2:2, two constraint bytes
])
def test_h265_codec_string(pix_fmt: str, params: str, expected: str):
    sets = _parameter_sets("libx265", pix_fmt,
                           {"preset": "ultrafast", "x265-params": "log-level=none:" + params})
    assert codec_string(_video("h265", **sets)) == expected


@pytest.mark.parametrize(("config", "expected"), [
    ("1190", "mp4a.40.2"),  # AAC-LC 48 kHz stereo
    ("2b098800", "mp4a.40.5"),  # HE-AAC, explicit SBR
    ("eb098800", "mp4a.40.29"),  # HE-AACv2, explicit PS
])
def test_aac_codec_string_from_the_object_type(config: str, expected: str):
    assert codec_string(_aac(config)) == expected


def test_aac_codec_string_without_config_is_aac_lc():
    params = CodecParams(kind="audio", codec="aac", clock_rate=16000, sample_rate=16000,
                         channels=1)
    assert codec_string(params) == "mp4a.40.2"


def test_codec_string_rejects_unknown_codec_and_missing_sps():
    with pytest.raises(ValueError, match="no MP4 codec string"):
        codec_string(CodecParams(kind="audio", codec="pcma", clock_rate=8000))
    with pytest.raises(ValueError, match="without SPS"):
        codec_string(_video("h264"))


def test_avcc_record_holds_profile_and_parameter_sets():
    sets = _parameter_sets("libx264", "yuv420p", {"preset": "veryfast", "profile": "high"})
    (record,) = read_boxes(avcc(_video("h264", **sets)))
    body = record.payload
    assert record.kind == b"avcC"
    assert body[0] == 1 and body[1:4] == sets["sps"][1:4]
    assert body[4] & 0x03 == 3  # 4-byte NAL lengths
    sps_len = int.from_bytes(body[6:8], "big")
    assert body[8 : 8 + sps_len] == sets["sps"]
    assert sets["pps"] in body
    assert body[-4:-1] == bytes((0xFD, 0xF8, 0xF8))  # high profile: 4:2:0, 8 bit, 8 bit


def test_hvcc_record_copies_profile_tier_level_from_the_sps():
    sets = _parameter_sets("libx265", "yuv420p10le",
                           {"preset": "ultrafast", "x265-params": "log-level=none"})
    (record,) = read_boxes(hvcc(_video("h265", **sets)))
    body = record.payload
    assert body[1] & 0x1F == 2  # Main 10
    assert body[16] & 0x03 == 1 and body[17] & 0x07 == 2 and body[18] & 0x07 == 2  # 4:2:0 10 bit
    assert body[21] & 0x03 == 3  # 4-byte NAL lengths
    assert body[22] == 3  # VPS, SPS and PPS arrays
    for nal in (sets["vps"], sets["sps"], sets["pps"]):
        assert len(nal).to_bytes(2, "big") + nal in body


def test_esds_carries_the_cameras_audio_specific_config():
    (record,) = read_boxes(esds(_aac("2b098800")))
    assert record.kind == b"esds"
    assert bytes.fromhex("05042b098800") in record.payload  # DecoderSpecificInfo, as given
