"""AAC AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1): what a muxer and a browser need.

Cameras give it as the hex ``config=`` of their SDP (RFC 3640); RTMP publishers
in the AAC sequence header. It is carried to the MP4 ``esds`` unchanged, so an
HE-AAC camera is recorded as HE-AAC, and its object type gives the codec string
browsers ask for (``mp4a.40.2`` AAC-LC, ``mp4a.40.5`` HE-AAC, ``mp4a.40.29`` HE-AACv2).
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["SAMPLE_RATES", "AudioConfig", "audio_specific_config", "parse_audio_config"]

SAMPLE_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025,
                8000, 7350)


class AudioConfig(NamedTuple):
    object_type: int  # 2 AAC-LC, 5 SBR (HE-AAC), 29 PS (HE-AACv2)
    sample_rate: int  # the core (AAC-LC layer) rate
    channels: int  # 0: channel configuration in a PCE
    frame_length: int  # samples per frame: 1024 or 960

    @property
    def codec_string(self) -> str:
        """RFC 6381 codec string for MSE's ``isTypeSupported``."""
        return f"mp4a.40.{self.object_type}"


def parse_audio_config(config: bytes) -> AudioConfig:
    """Parse an AudioSpecificConfig; ValueError saying what is wrong with a broken one."""
    if len(config) < 2:
        raise ValueError(f"AudioSpecificConfig too short ({len(config)} bytes)")
    value = int.from_bytes(config, "big")
    total = len(config) * 8
    pos = 0

    def bits(n: int) -> int:
        nonlocal pos
        if pos + n > total:
            raise ValueError("AudioSpecificConfig truncated")
        pos += n
        return (value >> (total - pos)) & ((1 << n) - 1)

    def rate() -> int:
        index = bits(4)
        if index == 15:
            return bits(24)
        if index < len(SAMPLE_RATES):
            return SAMPLE_RATES[index]
        raise ValueError(f"AudioSpecificConfig: reserved sampling frequency index {index}")

    object_type = bits(5)
    if object_type == 31:
        object_type = 32 + bits(6)
    if object_type == 0:
        raise ValueError("AudioSpecificConfig: audio object type 0 is invalid")
    sample_rate = rate()
    channel_config = bits(4)
    channels = 8 if channel_config == 7 else channel_config
    core_type = object_type
    if object_type in (5, 29):  # explicit SBR/PS: extension rate, then the core object type
        rate()
        core_type = bits(5)
        if core_type == 31:
            core_type = 32 + bits(6)
    frame_length = 1024
    if core_type in (1, 2, 3, 4, 6, 7) and pos < total and bits(1):  # GASpecificConfig
        frame_length = 960
    if sample_rate <= 0:
        raise ValueError("AudioSpecificConfig: sample rate 0")
    return AudioConfig(object_type, sample_rate, channels, frame_length)


def audio_specific_config(sample_rate: int, channels: int, object_type: int = 2) -> bytes:
    """The two-byte AudioSpecificConfig for a plain AAC stream (e.g. from ADTS headers)."""
    index = SAMPLE_RATES.index(sample_rate) if sample_rate in SAMPLE_RATES else 15
    if index == 15:
        value = (object_type << 35) | (15 << 31) | (sample_rate << 7) | (channels << 3)
        return value.to_bytes(5, "big")
    return ((object_type << 11) | (index << 7) | (channels << 3)).to_bytes(2, "big")
