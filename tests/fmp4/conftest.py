"""Encoded media shared by the fMP4 tests (encoding once per session keeps them fast)."""

from __future__ import annotations

import shutil

import pytest
from fmp4_media import Encoded, encode_aac, encode_video

from nvr.feed import CodecParams


@pytest.fixture(scope="session", autouse=True)
def _needs_ffmpeg() -> None:
    if not (shutil.which("ffprobe") and shutil.which("ffmpeg")):
        pytest.skip("ffmpeg/ffprobe not installed")


@pytest.fixture(scope="session")
def h264() -> Encoded:
    return encode_video("h264", frames=75)


@pytest.fixture(scope="session")
def h264_bframes() -> Encoded:
    return encode_video("h264", frames=75, bframes=3)


@pytest.fixture(scope="session")
def h265() -> Encoded:
    return encode_video("h265", frames=50)


@pytest.fixture(scope="session")
def h265_bframes() -> Encoded:
    return encode_video("h265", frames=50, bframes=3)


@pytest.fixture(scope="session")
def aac() -> tuple[CodecParams, list[bytes]]:
    return encode_aac(seconds=3.0)
