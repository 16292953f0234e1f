"""Tests for nvr.config: loading, ${ENV} expansion, validation messages, sizes, redaction."""

from __future__ import annotations

from pathlib import Path

import pytest

from nvr.config import (
    CameraConfig,
    Config,
    ConfigError,
    RecordingConfig,
    ServerConfig,
    SimConfig,
    load_config,
    parse_size,
)

REPO = Path(__file__).resolve().parent.parent
SECRET = "s3cr3t-Pw"


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, env=env or {})
    return info.value.problems


# --- the shipped default ---------------------------------------------------------------


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


# --- defaults --------------------------------------------------------------------------


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


def test_load_zero_cameras_valid(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "[server]\n"), env={}).cameras == []


def test_resolve_data_dir_relative_to_config_file(tmp_path: Path, monkeypatch) -> None:
    sub = tmp_path / "etc"
    sub.mkdir()
    path = write(sub, '[server]\ndata_dir = "../store"\n')
    monkeypatch.chdir(REPO)
    config = load_config(path, env={})
    assert config.server.data_dir == tmp_path / "store"
    assert config.database_url == f"sqlite:///{tmp_path / 'store' / 'nvr.db'}"


def test_resolve_data_dir_absolute_kept(tmp_path: Path) -> None:
    path = write(tmp_path, f'[server]\ndata_dir = "{tmp_path / "abs"}"\n')
    assert load_config(path, env={}).server.data_dir == tmp_path / "abs"


def test_parse_http_ipv6_host() -> None:
    server = ServerConfig(http="[::1]:9000")
    assert (server.http_host, server.http_port) == ("::1", 9000)


def test_resolve_database_url_explicit() -> None:
    server = ServerConfig(database="postgresql+psycopg://nvr:pw@db/nvr")
    assert server.database_url == "postgresql+psycopg://nvr:pw@db/nvr"
    assert server.safe_database_url == "postgresql+psycopg://nvr:***@db/nvr"
    assert "pw@" not in repr(server)


# --- environment -----------------------------------------------------------------------


def test_expand_env_present(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[server]\ndata_dir = "${BASE}/nvr"\n'
        '[[cameras]]\nname = "a"\nurl = "rtsp://admin:${CAM_PASSWORD}@10.0.0.5/s"\n',
    )
    config = load_config(path, env={"BASE": "/srv", "CAM_PASSWORD": SECRET})
    assert config.server.data_dir == Path("/srv/nvr")
    assert config.cameras[0].credentials == ("admin", SECRET)


def test_expand_env_missing(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[[cameras]]\nname = "a"\nurl = "rtsp://admin:${CAM_PASSWORD}@10.0.0.5/s"\n',
    )
    assert problems_of(path) == [
        "cameras[0].url: environment variable CAM_PASSWORD is not set (config.toml line 3)"
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

CAMERA = '[[cameras]]\nname = "{name}"\nurl = "{url}"\n'


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
            CAMERA.format(name="a", url="http://h/"),
            "cameras[0].url: scheme must be rtsp or rtsps (config.toml line 3)",
        ),
        (
            CAMERA.format(name="a", url="rtsp:///path"),
            'cameras[0].url: must have a host: "rtsp:///path" (config.toml line 3)',
        ),
        (
            CAMERA.format(name="a", url="rtsp://h/") + 'sub_url = "udp://h/"\n',
            "cameras[0].sub_url: scheme must be rtsp or rtsps (config.toml line 4)",
        ),
        (
            '[recording]\nmax_bytes = "5XB"\n',
            'recording.max_bytes: not a size: "5XB" (use e.g. 500GB, 20GiB, 1000000)'
            " (config.toml line 2)",
        ),
        (
            CAMERA.format(name="a", url="rtsp://h/") + 'record = "events"\n',
            'cameras[0].record: "events" is reserved for a later release; '
            'use "continuous" or "off" (config.toml line 4)',
        ),
        (
            CAMERA.format(name="a", url="rtsp://h/") + 'transport = "http"\n',
            'cameras[0].transport: must be one of "tcp", "udp" or "auto" (got "http")'
            " (config.toml line 4)",
        ),
        (
            '[server]\nhttp = "localhost"\n',
            'server.http: must be "host:port", e.g. "127.0.0.1:8080" (got "localhost")'
            " (config.toml line 2)",
        ),
        (
            '[server]\nhttp = ":8080"\n',
            'server.http: host is empty (got ":8080") (config.toml line 2)',
        ),
        (
            '[server]\nhttp = "h:70000"\n',
            'server.http: port must be a number 1-65535 (got "h:70000") (config.toml line 2)',
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
            "[sim]\ncameras = 65\n",
            "sim.cameras: must be <= 64 (got 65) (config.toml line 2)",
        ),
        (
            CAMERA.format(name="front door", url="rtsp://h/"),
            "cameras[0].name: must be 1-64 letters, digits, '_' or '-' (got \"front door\")"
            " (config.toml line 2)",
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
    ],
)
def test_report_problem_message_exact(tmp_path: Path, text: str, expected: str) -> None:
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
        "cameras[0].url: scheme must be rtsp or rtsps (config.toml line 9)",
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


# --- sizes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("500GB", 500 * 10**9),
        ("20GiB", 20 * 2**30),
        ("1.5TB", 1_500_000_000_000),
        ("100MB", 100 * 10**6),
        ("0", 0),
        ("1000000", 1_000_000),
        ("12KB", 12_000),
        ("3KiB", 3072),
        ("2MiB", 2 * 2**20),
        ("1TiB", 2**40),
        ("500gb", 500 * 10**9),
        ("20gib", 20 * 2**30),
        (" 7 GB ", 7 * 10**9),
        ("10B", 10),
        (0, 0),
        (123, 123),
    ],
)
def test_parse_size_valid(text: str | int, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["5XB", "", "GB", "-1GB", "1 G B", "1e9", "ten", "1.2.3GB"])
def test_parse_size_invalid(text: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_size(text)
    assert str(info.value) == f'not a size: "{text}" (use e.g. 500GB, 20GiB, 1000000)'


@pytest.mark.parametrize("value", [-1, True])
def test_parse_size_invalid_non_string(value: int) -> None:
    with pytest.raises(ValueError, match="not a size"):
        parse_size(value)


def test_load_size_int_bytes(tmp_path: Path) -> None:
    path = write(tmp_path, "[recording]\nmax_bytes = 123456\nmin_free = 0\n")
    recording = load_config(path, env={}).recording
    assert (recording.max_bytes, recording.min_free) == (123456, 0)


# --- passwords -------------------------------------------------------------------------


def make_camera(url: str) -> CameraConfig:
    return CameraConfig(name="door", url=url)


def test_redact_password_safe_url() -> None:
    cam = make_camera(f"rtsp://admin:{SECRET}@10.0.0.5:554/stream1?x=1")
    assert cam.safe_url == "rtsp://admin:***@10.0.0.5:554/stream1?x=1"
    assert cam.url_without_credentials == "rtsp://10.0.0.5:554/stream1?x=1"
    assert cam.credentials == ("admin", SECRET)


def test_redact_password_percent_encoded() -> None:
    cam = make_camera("rtsp://ad%40min:p%40ss%3Aw@cam/s")
    assert cam.credentials == ("ad@min", "p@ss:w")
    assert cam.safe_url == "rtsp://ad%40min:***@cam/s"
    assert cam.url_without_credentials == "rtsp://cam/s"


def test_redact_password_absent() -> None:
    assert make_camera("rtsp://cam/s").credentials == (None, None)
    assert make_camera("rtsp://user@cam/s").credentials == ("user", None)
    assert make_camera("rtsp://user@cam/s").safe_url == "rtsp://user@cam/s"


def test_redact_password_repr_and_str() -> None:
    cam = CameraConfig(
        name="door",
        url=f"rtsp://admin:{SECRET}@cam/main",
        sub_url=f"rtsp://admin:{SECRET}@cam/sub",
    )
    config = Config(cameras=[cam], server={"database": f"postgresql://u:{SECRET}@db/nvr"})
    for text in (repr(cam), str(cam), repr(config), str(config), str(config.safe_dict())):
        assert SECRET not in text
        assert "admin:***@cam" in text


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
        "cameras[1].url: scheme must be rtsp or rtsps (config.toml line 6)",
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
