"""Tests for nvr.config.sim: the simulated camera's settings and their bounds."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_helpers import problems_of, write

from nvr.config import load_config


def test_load_sim_overrides(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[sim]\ncameras = 2\nport = 9554\ncodec = "h265"\nwidth = 640\nheight = 360\n'
        "fps = 10\nbitrate_kbps = 500\naudio = false\n",
    )
    sim = load_config(path, env={}).sim
    assert (sim.cameras, sim.port, sim.codec) == (2, 9554, "h265")
    assert (sim.width, sim.height, sim.fps, sim.bitrate_kbps, sim.audio) == (
        640,
        360,
        10,
        500,
        False,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[sim]\ncameras = 65\n", "sim.cameras: must be <= 64 (got 65) (config.toml line 2)"),
        ("[sim]\nport = 0\n", "sim.port: must be >= 1 (got 0) (config.toml line 2)"),
        (
            '[sim]\ncodec = "vp9"\n',
            'sim.codec: must be one of "h264" or "h265" (got "vp9") (config.toml line 2)',
        ),
        ("[sim]\nwidth = 15\n", "sim.width: must be >= 16 (got 15) (config.toml line 2)"),
        ("[sim]\nheight = 4321\n", "sim.height: must be <= 4320 (got 4321) (config.toml line 2)"),
        ("[sim]\nfps = 121\n", "sim.fps: must be <= 120 (got 121) (config.toml line 2)"),
        (
            "[sim]\nbitrate_kbps = 100001\n",
            "sim.bitrate_kbps: must be <= 100000 (got 100001) (config.toml line 2)",
        ),
    ],
)
def test_report_sim_problem_message_exact(tmp_path: Path, text: str, expected: str) -> None:
    assert problems_of(write(tmp_path, text)) == [expected]
