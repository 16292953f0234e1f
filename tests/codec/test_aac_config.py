"""AudioSpecificConfig parsing and building."""

from __future__ import annotations

import av
import pytest

from nvr.codec.aac import audio_specific_config, parse_audio_config


def _rate_channels(config: bytes) -> tuple[int, int]:
    asc = parse_audio_config(config)
    return asc.sample_rate, asc.channels


def test_parse_audio_config_common_values():
    assert _rate_channels(bytes.fromhex("1408")) == (16000, 1)
    assert _rate_channels(bytes.fromhex("1210")) == (44100, 2)
    assert _rate_channels(bytes.fromhex("1188")) == (48000, 1)
    assert _rate_channels(bytes.fromhex("1590")) == (8000, 2)


def test_parse_audio_config_explicit_rate():
    # object type 2, index 15, 24-bit rate 22000, 1 channel
    bits = (2 << 35) | (15 << 31) | (22000 << 7) | (1 << 3)
    assert _rate_channels(bits.to_bytes(5, "big")) == (22000, 1)


@pytest.mark.parametrize(
    ("config", "msg"), [(b"", "too short"), (b"\x16\x88", "reserved"), (b"\x00\x00", "type 0")]
)
def test_parse_audio_config_garbage_raises(config, msg):
    with pytest.raises(ValueError, match=msg):
        _rate_channels(config)


@pytest.mark.parametrize(
    ("rate", "layout"), [(48000, "stereo"), (16000, "mono"), (44100, "stereo")]
)
def test_parse_audio_config_matches_encoder(rate, layout):
    cc = av.CodecContext.create("aac", "w")
    cc.sample_rate = rate
    cc.layout = layout
    cc.format = "fltp"
    cc.open()
    assert _rate_channels(bytes(cc.extradata)) == (rate, cc.layout.nb_channels)


def test_parse_audio_config_he_aac_explicit_sbr():
    # object type 5 (SBR), core 24 kHz stereo, extension 48 kHz, core object type 2
    bits = (5 << 12) | (6 << 8) | (2 << 4) | 3
    value = (bits << 5) | 2
    config = (value << 10).to_bytes(4, "big")  # 22 bits used, GASpecificConfig zeros
    asc = parse_audio_config(config)
    assert asc.object_type == 5
    assert (asc.sample_rate, asc.channels, asc.frame_length) == (24000, 2, 1024)
    assert asc.codec_string == "mp4a.40.5"


def test_parse_audio_config_lc_codec_string_and_960_frames():
    assert parse_audio_config(bytes.fromhex("1408")).codec_string == "mp4a.40.2"
    assert parse_audio_config(bytes.fromhex("140c")).frame_length == 960


@pytest.mark.parametrize(("rate", "channels"), [(48000, 2), (16000, 1), (22000, 1)])
def test_audio_specific_config_round_trips(rate, channels):
    asc = parse_audio_config(audio_specific_config(rate, channels))
    assert (asc.object_type, asc.sample_rate, asc.channels) == (2, rate, channels)
