"""Tests for nvr.config.loader: reading, ${ENV} expansion, messages and their lines."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_helpers import CAMERA, SECRET, problems_of, write

from nvr.config import ConfigError, load_config

# --- environment -----------------------------------------------------------------------


def test_expand_env_present(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[server]\ndata_dir = "${BASE}/nvr"\n'
        '[[cameras]]\nname = "a"\nurl = "rtsp://admin:${CAM_PASSWORD}@10.0.0.5/s"\n',
    )
    config = load_config(path, env={"BASE": "/srv", "CAM_PASSWORD": SECRET})
    assert config.server.data_dir == Path("/srv/nvr")
    assert config.cameras[0].url == f"rtsp://admin:{SECRET}@10.0.0.5/s"


def test_expand_env_missing(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[[cameras]]\nname = "a"\nurl = "rtsp://admin:${CAM_PASSWORD}@10.0.0.5/s"\n',
    )
    assert problems_of(path) == [
        "cameras[0].url: environment variable CAM_PASSWORD is not set (config.toml line 3)"
    ]


def test_expand_env_bad_name(tmp_path: Path) -> None:
    path = write(tmp_path, '[server]\nhttp = "${1BAD}:8080"\n')
    assert problems_of(path) == [
        'server.http: bad environment variable name "1BAD" in ${...} (config.toml line 2)'
    ]


def test_expand_env_escaped_dollar(tmp_path: Path) -> None:
    path = write(tmp_path, '[server]\ndata_dir = "/x/$${HOME}/a$b"\n')
    assert load_config(path, env={}).server.data_dir == Path("/x/${HOME}/a$b")


def test_expand_env_uses_os_environ_by_default(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("NVR_TEST_PORT", "9123")
    path = write(tmp_path, '[server]\nhttp = "0.0.0.0:${NVR_TEST_PORT}"\n')
    assert load_config(path).server.http_port == 9123


def test_expand_env_numeric_string(tmp_path: Path) -> None:
    path = write(tmp_path, '[recording]\nsegment_seconds = "${SEG}"\nmax_bytes = "${CAP}"\n')
    recording = load_config(path, env={"SEG": "30", "CAP": "2TiB"}).recording
    assert (recording.segment_seconds, recording.max_bytes) == (30, 2 * 2**40)


# --- error messages --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("nope = 1\n", "nope: unknown key (config.toml line 1)"),
        ("[nope]\n", "nope: unknown key (config.toml line 1)"),
        ("[recording]\nnope = 1\n", "recording.nope: unknown key (config.toml line 2)"),
        (
            CAMERA.format(name="a", url="rtsp://h/") + "colour = 1\n",
            "cameras[0].colour: unknown key (config.toml line 4)",
        ),
        (
            '[[cameras]]\nurl = "rtsp://h/"\n',
            "cameras[0].name: required key is missing (config.toml line 1)",
        ),
        (
            CAMERA.format(name="a", url="rtsp://h/") + 'audio = "yes please"\n',
            'cameras[0].audio: must be true or false (got "yes please") (config.toml line 4)',
        ),
        (
            '[cameras]\nname = "a"\n',
            "cameras: must be an array of tables (config.toml line 1)",
        ),
        (
            "[recording]\nsegment_seconds = 2.5\n",
            "recording.segment_seconds: must be a whole number (got 2.5) (config.toml line 2)",
        ),
        ("[server]\nhttp = 5\n", "server.http: must be a string (config.toml line 2)"),
        ('sim = "yes"\n', "sim: must be a table (config.toml line 1)"),
    ],
)
def test_report_problem_message_exact(tmp_path: Path, text: str, expected: str) -> None:
    assert problems_of(write(tmp_path, text)) == [expected]


def test_report_many_problems_at_once(tmp_path: Path) -> None:
    text = """\
typo = 1

[recording]
max_bytes = "5XB"
nope = true

[[cameras]]
name = "door"
url = "http://admin:pw@h/"

[[cameras]]
name = "door"
url = "rtsp://admin:${DOOR_PW}@h/"
transport = "carrier-pigeon"
"""
    assert problems_of(write(tmp_path, text)) == [
        "typo: unknown key (config.toml line 1)",
        'recording.max_bytes: not a size: "5XB" (use e.g. 500GB, 20GiB, 1000000)'
        " (config.toml line 4)",
        "recording.nope: unknown key (config.toml line 5)",
        'cameras[0].url: scheme must be rtsp or rtsps: "http://admin:***@h/" (config.toml line 9)',
        'cameras[1].name: duplicate name "door" (config.toml line 12)',
        "cameras[1].url: environment variable DOOR_PW is not set (config.toml line 13)",
        'cameras[1].transport: must be one of "tcp", "udp" or "auto" (got "carrier-pigeon")'
        " (config.toml line 14)",
    ]


def test_report_toml_syntax_error(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, "[server]\nhttp = \n"))
    assert len(problems) == 1
    assert problems[0].startswith("config.toml: ")
    assert "line 2" in problems[0]


def test_report_missing_file(tmp_path: Path) -> None:
    problems = problems_of(tmp_path / "absent.toml")
    assert len(problems) == 1
    assert "absent.toml: cannot read" in problems[0]


def test_report_error_str_lists_problems(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "a = 1\nb = 2\n"), env={})
    text = str(info.value)
    assert text.startswith("2 problems in ")
    assert "a: unknown key" in text
    assert "b: unknown key" in text


def test_report_dotted_key_line(tmp_path: Path) -> None:
    path = write(tmp_path, "\n\nrecording.segment_seconds = 99999\n")
    assert problems_of(path) == [
        "recording.segment_seconds: must be <= 3600 (got 99999) (config.toml line 3)"
    ]


def test_report_array_table_key_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[sim]\n\n[[cameras]]\nname = "a"\nurl = "rtsp://h/"\n\n\nfps = 9\n')
    assert problems_of(path) == ["cameras[0].fps: unknown key (config.toml line 8)"]
