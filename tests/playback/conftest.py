"""Shared recordings for the playback tests (recorded once per session by nvr's own
Recorder), and the fMP4 and web tests' helpers on the path."""

from __future__ import annotations

import asyncio
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "fmp4"))
sys.path.insert(0, str(HERE.parent / "web"))

from recorded import T0, media, record, refs, session  # noqa: E402

from nvr.playback.stream import SegmentRef  # noqa: E402
from nvr.recording.index import SegmentInfo  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _needs_ffmpeg() -> None:
    if not (shutil.which("ffprobe") and shutil.which("ffmpeg")):
        pytest.skip("ffmpeg/ffprobe not installed")


@dataclass(frozen=True)
class Library:
    """Recordings of camera cam1 under ``data_dir``: a 6 s session at T0, a gap of 4 s,
    then a 20 s session at T0 + 10 s; 2 s segments, 1 s GOPs, H.264 320x240 + AAC."""

    data_dir: Path
    rows: list[SegmentInfo]
    refs: list[SegmentRef]


@pytest.fixture(scope="session")
def library(tmp_path_factory: pytest.TempPathFactory) -> Library:
    data_dir = tmp_path_factory.mktemp("library")
    first, second = media(6), media(20)
    rows = asyncio.run(record(data_dir, [session(first, T0), session(second, T0 + 10)], 2))
    return Library(data_dir, rows, refs(data_dir, rows))
