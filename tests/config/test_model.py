"""Tests for nvr.config.model: the whole file, its defaults, and rules every section keeps."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_helpers import REPO, write
from pydantic import BaseModel

from nvr.config import Config, RecordingConfig, SimConfig, load_config


def test_load_default_config_toml() -> None:
    config = load_config(REPO / "config.toml", env={})
    assert config.server.data_dir == REPO / "data"
    assert config.server.http_host == "127.0.0.1"
    assert config.server.http_port == 8080
    assert config.database_url == f"sqlite:///{REPO / 'data' / 'nvr.db'}"
    assert config.recording.segment_seconds == 60
    assert config.recording.retain_days == 7
    assert config.recording.max_bytes == 50 * 10**9
    assert config.recording.min_free == 2 * 10**9
    assert [c.name for c in config.cameras] == ["sim1"]
    cam = config.cameras[0]
    assert cam.url == "rtsp://127.0.0.1:8554/cam1"
    assert cam.transport == "tcp"
    assert cam.audio is True
    assert config.sim.cameras == 1
    assert config.sim.port == 8554


def test_load_empty_file_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""), env={})
    assert config.server.data_dir == tmp_path / "data"
    assert config.server.http == "127.0.0.1:8080"
    assert config.server.database is None
    assert config.server.database_url == f"sqlite:///{tmp_path / 'data' / 'nvr.db'}"
    assert config.recording == RecordingConfig(
        segment_seconds=60,
        retain_days=None,
        max_bytes=None,
        min_free=10**9,
        retention_interval_seconds=60,
    )
    assert config.cameras == []
    assert config.sim == SimConfig(
        cameras=0,
        port=8554,
        codec="h264",
        width=1280,
        height=720,
        fps=25,
        bitrate_kbps=2000,
        audio=True,
    )


def test_load_zero_cameras_valid(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "[server]\n"), env={}).cameras == []


def _models(model: type[BaseModel]) -> list[type[BaseModel]]:
    """``model`` and every model its fields hold, directly or in a list."""
    found = [model]
    for field in model.model_fields.values():
        for arg in (field.annotation, *getattr(field.annotation, "__args__", ())):
            if isinstance(arg, type) and issubclass(arg, BaseModel) and arg not in found:
                found += [m for m in _models(arg) if m not in found]
    return found


@pytest.mark.parametrize("model", _models(Config), ids=lambda m: m.__name__)
def test_check_model_fields_described_and_strict(model: type[BaseModel]) -> None:
    assert model.model_config.get("extra") == "forbid"
    assert model.model_config.get("hide_input_in_errors") is True
    assert [name for name, f in model.model_fields.items() if not f.description] == []


def test_check_model_sections_complete() -> None:
    assert {m.__name__ for m in _models(Config)} >= {
        "Config",
        "ServerConfig",
        "RecordingConfig",
        "CameraConfig",
        "SimConfig",
    }
