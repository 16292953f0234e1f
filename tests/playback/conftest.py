"""The playback tests reuse the fMP4 tests' media helpers (and need ffmpeg to check)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fmp4"))


@pytest.fixture(scope="session", autouse=True)
def _needs_ffmpeg() -> None:
    if not (shutil.which("ffprobe") and shutil.which("ffmpeg")):
        pytest.skip("ffmpeg/ffprobe not installed")
