"""Tests for nvr.config.cameras: [[cameras]] defaults, checks, and passwords kept hidden."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_helpers import CAMERA, SECRET, problems_of, write

from nvr.config import CameraConfig, Config, ConfigError, load_config


def make_camera(url: str) -> CameraConfig:
    return CameraConfig(name="door", url=url)


def test_load_camera_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, '[[cameras]]\nname = "a"\nurl = "rtsp://10.0.0.5/s"\n')
    cam = load_config(path, env={}).cameras[0]
    assert cam.transport == "tcp"
    assert cam.record == "continuous"
    assert cam.audio is False
    assert cam.retain_days is None
    assert cam.max_bytes is None
    assert cam.sub_url is None
    assert cam.enabled is True


def test_load_camera_overrides(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[[cameras]]
name = "yard"
url = "rtsps://cam.local:322/main"
sub_url = "rtsp://cam.local/sub"
transport = "auto"
record = "off"
audio = true
retain_days = 2.5
max_bytes = "20GiB"
enabled = false
""",
    )
    cam = load_config(path, env={}).cameras[0]
    assert (cam.transport, cam.record, cam.audio, cam.enabled) == ("auto", "off", True, False)
    assert cam.retain_days == 2.5
    assert cam.max_bytes == 20 * 2**30
    assert cam.sub_url == "rtsp://cam.local/sub"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            CAMERA.format(name="a", url="http://h/"),
            'cameras[0].url: scheme must be rtsp or rtsps: "http://h/" (config.toml line 3)',
        ),
        (
            CAMERA.format(name="a", url="rtsp:///path"),
            'cameras[0].url: must have a host: "rtsp:///path" (config.toml line 3)',
        ),
        (
            CAMERA.format(name="a", url="rtsp://h/") + 'sub_url = "udp://h/"\n',
            'cameras[0].sub_url: scheme must be rtsp or rtsps: "udp://h/" (config.toml line 4)',
        ),
        (
            CAMERA.format(name="a", url="rtsp://h/") + 'record = "always"\n',
            'cameras[0].record: must be one of "continuous", "events" or "off" (got "always")'
            " (config.toml line 4)",
        ),
        (
            CAMERA.format(name="a", url="rtsp://h/") + 'transport = "http"\n',
            'cameras[0].transport: must be one of "tcp", "udp" or "auto" (got "http")'
            " (config.toml line 4)",
        ),
        (
            CAMERA.format(name="front door", url="rtsp://h/"),
            "cameras[0].name: must be 1-64 letters, digits, '_' or '-' (got \"front door\")"
            " (config.toml line 2)",
        ),
        (
            CAMERA.format(name="", url="rtsp://h/"),
            "cameras[0].name: must be 1-64 letters, digits, '_' or '-' (got \"\")"
            " (config.toml line 2)",
        ),
        (
            CAMERA.format(name="a", url="rtsp://h/") + "retain_days = 0\n",
            "cameras[0].retain_days: must be > 0 (got 0) (config.toml line 4)",
        ),
        (
            CAMERA.format(name="a", url="rtsp://h/") + "max_bytes = 0\n",
            "cameras[0].max_bytes: must be > 0 (got 0) (config.toml line 4)",
        ),
    ],
)
def test_report_camera_problem_message_exact(tmp_path: Path, text: str, expected: str) -> None:
    assert problems_of(write(tmp_path, text)) == [expected]


def test_report_duplicate_names(tmp_path: Path) -> None:
    text = "".join(
        CAMERA.format(name=name, url="rtsp://h/") for name in ["door", "yard", "gate", "door"]
    )
    assert problems_of(write(tmp_path, text)) == [
        'cameras[3].name: duplicate name "door" (config.toml line 11)'
    ]


def test_report_duplicate_names_direct_construction() -> None:
    cams = [{"name": "a", "url": "rtsp://h/"}, {"name": "a", "url": "rtsp://h/"}]
    with pytest.raises(ValueError, match='duplicate name "a"'):
        Config(cameras=cams)


# --- passwords -------------------------------------------------------------------------


def test_redact_password_repr_and_str() -> None:
    cam = CameraConfig(
        name="door",
        url=f"rtsp://admin:{SECRET}@cam/main",
        sub_url=f"rtsp://admin:{SECRET}@cam/sub",
    )
    config = Config(cameras=[cam], server={"database": f"postgresql://u:{SECRET}@db/nvr"})
    for text in (repr(cam), str(cam), repr(config), str(config)):
        assert SECRET not in text
        assert "admin:***@cam" in text
    assert cam.url == f"rtsp://admin:{SECRET}@cam/main"


def test_redact_password_in_errors(tmp_path: Path) -> None:
    text = (
        f'[[cameras]]\nname = "a"\nurl = "rtsp://admin:{SECRET}@/nohost"\n'
        f'[[cameras]]\nname = "b"\nurl = "http://admin:{SECRET}@cam/"\n'
        f'[[cameras]]\nname = "c"\nurl = "rtsp://admin:{SECRET}@cam:99999/"\n'
    )
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), env={})
    assert info.value.problems == [
        'cameras[0].url: must have a host: "rtsp://admin:***@/nohost" (config.toml line 3)',
        'cameras[1].url: scheme must be rtsp or rtsps: "http://admin:***@cam/"'
        " (config.toml line 6)",
        'cameras[2].url: port must be a number 1-65535: "rtsp://admin:***@cam:99999/"'
        " (config.toml line 9)",
    ]
    assert SECRET not in str(info.value)
    assert SECRET not in repr(info.value)
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


def test_redact_password_in_direct_validation_error() -> None:
    with pytest.raises(ValueError) as info:
        make_camera(f"http://admin:{SECRET}@cam/")
    assert SECRET not in str(info.value)


def test_motion_section_with_zones_and_mask(tmp_path: Path) -> None:
    text = CAMERA.format(name="a", url="rtsp://h/") + """record = "events"
[cameras.motion]
enabled = true
fps = 4
mask = [[[0, 0], [0.2, 0], [0.2, 0.2]]]
zones = [{name = "door", polygon = [[0.5, 0.5], [1, 0.5], [1, 1]]}]
"""
    path = tmp_path / "config.toml"
    path.write_text(text)
    cam = load_config(path).cameras[0]
    assert cam.record == "events"
    assert cam.motion.enabled and cam.motion.fps == 4
    assert cam.motion.zones[0].name == "door"
    assert cam.motion.mask[0][1] == [0.2, 0]


def test_motion_bad_point_names_the_key(tmp_path: Path) -> None:
    text = CAMERA.format(name="a", url="rtsp://h/") + """[cameras.motion]
zones = [{name = "door", polygon = [[0.5, 0.5], [1.5, 0.5], [1, 1]]}]
"""
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "cameras[0].motion.zones[0].polygon[1][0]" in str(err.value)
