"""Tests for nvr.config.recording: segment length and retention limits."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_helpers import problems_of, write

from nvr.config import load_config


def test_load_recording_sizes(tmp_path: Path) -> None:
    path = write(tmp_path, '[recording]\nmax_bytes = "2TB"\nmin_free = "20GiB"\n')
    recording = load_config(path, env={}).recording
    assert (recording.max_bytes, recording.min_free) == (2 * 10**12, 20 * 2**30)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[recording]\nmax_bytes = "5XB"\n',
            'recording.max_bytes: not a size: "5XB" (use e.g. 500GB, 20GiB, 1000000)'
            " (config.toml line 2)",
        ),
        (
            "[recording]\nsegment_seconds = 1\n",
            "recording.segment_seconds: must be >= 2 (got 1) (config.toml line 2)",
        ),
        (
            "[recording]\nretain_days = 0\n",
            "recording.retain_days: must be > 0 (got 0) (config.toml line 2)",
        ),
        (
            "[recording]\nretain_days = 36501\n",
            "recording.retain_days: must be <= 36500 (got 36501) (config.toml line 2)",
        ),
        (
            "[recording]\nmax_bytes = 0\n",
            "recording.max_bytes: must be > 0 (got 0) (config.toml line 2)",
        ),
        (
            '[recording]\nmin_free = "-1GB"\n',
            'recording.min_free: not a size: "-1GB" (use e.g. 500GB, 20GiB, 1000000)'
            " (config.toml line 2)",
        ),
        (
            "[recording]\nretention_interval_seconds = 0\n",
            "recording.retention_interval_seconds: must be >= 1 (got 0) (config.toml line 2)",
        ),
    ],
)
def test_report_recording_problem_message_exact(tmp_path: Path, text: str, expected: str) -> None:
    assert problems_of(write(tmp_path, text)) == [expected]
