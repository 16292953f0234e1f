"""Helpers for the config tests: write a config file, collect the problems it has."""

from __future__ import annotations

from pathlib import Path

import pytest

from nvr.config import ConfigError, load_config

REPO = Path(__file__).resolve().parents[2]
SECRET = "s3cr3t-Pw"
CAMERA = '[[cameras]]\nname = "{name}"\nurl = "{url}"\n'


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, env=env or {})
    return info.value.problems
