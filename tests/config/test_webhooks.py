"""Tests for nvr.config.webhooks: the [[webhooks]] section; every problem names its key."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_helpers import problems_of, write

from nvr.config import load_config

GOOD = '[[webhooks]]\nurl = "https://hooks.example/nvr"\nsecret = "0123456789abcdef"\n'


def test_defaults_and_values(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + 'events = ["motion"]\ncameras = ["front"]\nzones = ["door"]\n'
                 'cooldown_seconds = 30\nheaders = { Authorization = "Bearer abc" }\n'
                 '\n[[webhooks]]\nname = "all"\nurl = "http://127.0.0.1:9000/"\n'
                 'secret = "0123456789abcdef"\n')
    first, second = load_config(path, env={}).webhooks
    assert (first.events, first.cameras, first.zones) == (["motion"], ["front"], ["door"])
    assert first.cooldown_seconds == 30 and first.headers == {"Authorization": "Bearer abc"}
    assert second.cameras == "*" and "disk_low" in second.events and second.target == "all"
    assert first.wants("front", "motion", ["door"])
    assert not first.wants("back", "motion", ["door"])
    assert not first.wants("front", "disk_low", ["door"])
    assert not first.wants("front", "motion", ["yard"])
    assert second.wants("any", "camera_offline", [])


def test_secret_and_header_values_never_in_repr(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + 'headers = { X-Token = "hunter2hunter2" }\n')
    hook = load_config(path, env={}).webhooks[0]
    assert "0123456789abcdef" not in repr(hook) and "hunter2" not in repr(hook)
    assert "0123456789abcdef" not in str(hook)


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ('url = "ftp://x/"', "webhooks[0].url"),
        ('url = "https://"', "webhooks[0].url"),
        ('secret = "short"', "webhooks[0].secret"),
        ('events = ["motion", "explosion"]', "webhooks[0].events"),
        ('cameras = "front"', "webhooks[0].cameras"),
        ("cooldown_seconds = -1", "webhooks[0].cooldown_seconds"),
        ("zones = 3", "webhooks[0].zones"),
        ('headers = { X-NVR-Signature = "x" }', "webhooks[0].headers"),
        ("colour = 1", "webhooks[0].colour"),
    ],
)
def test_bad_value_names_key(tmp_path: Path, line: str, key: str) -> None:
    field = line.split(" =")[0]
    body = "\n".join(x for x in GOOD.splitlines() if not x.startswith(field + " "))
    problems = problems_of(write(tmp_path, body + "\n" + line + "\n"))
    assert any(key in p for p in problems), problems


def test_secret_required(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, '[[webhooks]]\nurl = "https://h.example/"\n'))
    assert any("webhooks[0].secret" in p for p in problems), problems


def test_webhook_names_are_unique(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, GOOD + GOOD))  # same URL, no names
    assert any("webhooks[1].name" in p and "duplicate" in p for p in problems), problems
    path = write(tmp_path, GOOD + 'name = "a"\n' + GOOD + 'name = "b"\n')
    assert [w.target for w in load_config(path, env={}).webhooks] == ["a", "b"]
