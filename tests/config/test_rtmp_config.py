"""Tests for nvr.config.rtmp: the [rtmp] section, the cameras' republish and push keys,
cameras recording a published stream (rtmp:// url), keys that never show, and the
config problems."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_helpers import CAMERA, problems_of, write

from nvr.config import load_config
from nvr.config.problems import config_problems
from nvr.config.rtmp import RtmpConfig, redact_rtmp_url

KEY = "Pub-k3y_very.secret"
STREAM_KEY = "abcd-efgh-ijkl-mnop"
CAM = CAMERA.format(name="cam1", url="rtsp://10.0.0.1/s")


def test_defaults_off_and_nothing_to_warn_about(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, CAM), env={})
    assert config.rtmp == RtmpConfig()
    assert (config.rtmp.enabled, config.rtmp.listen, config.rtmp.max_connections) == (
        False, "0.0.0.0:1935", 200)
    assert config.rtmp.publish_key is None and config.rtmp.rtmps_listen is None
    assert (config.cameras[0].republish, config.cameras[0].push) == (False, [])
    assert not [p for p in config_problems(config) if p.startswith("rtmp")]


def test_full_section_with_rtmps_paths_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "tls").mkdir()
    for name in ("cert.pem", "key.pem"):
        (tmp_path / "tls" / name).write_text("x")
    text = f"""[rtmp]
enabled = true
listen = "[::]:1935"
publish_key = "{KEY}"
play_key = "${{PLAY_KEY}}"
max_connections = 50
rtmps_listen = "0.0.0.0:1936"
tls_cert = "tls/cert.pem"
tls_key = "tls/key.pem"
"""
    rtmp = load_config(write(tmp_path, text), env={"PLAY_KEY": "play-key-1"}).rtmp
    assert rtmp.listen_address == ("::", 1935)
    assert (rtmp.publish_key, rtmp.play_key, rtmp.max_connections) == (KEY, "play-key-1", 50)
    assert rtmp.tls_cert == tmp_path / "tls" / "cert.pem"
    assert rtmp.tls_key == tmp_path / "tls" / "key.pem"
    for text in (repr(rtmp), str(rtmp)):
        assert KEY not in text and "play-key-1" not in text
        assert "publish_key='***'" in text


@pytest.mark.parametrize(("text", "expected"), [
    ('listen = "1935"', 'rtmp.listen: must be "host:port", e.g. "127.0.0.1:8080" '
                        '(got "1935")'),
    ("max_connections = 0", "rtmp.max_connections: must be >= 1"),
    ('publish_key = "short"', "rtmp.publish_key: publish_key must be 8-256 letters, digits, "
                              "'.', '_', '~' or '-' (it goes in a URL)"),
    ('play_key = "has space in it"', "rtmp.play_key: play_key must be 8-256"),
    ('rtmps_listen = "0.0.0.0:1936"', "rtmp.tls_cert: missing: rtmps_listen needs tls_cert "
                                      "and tls_key"),
    ('rtmps_listen = "0.0.0.0:1935"\ntls_cert = "c.pem"\ntls_key = "c.pem"',
     "rtmp.rtmps_listen: rtmps_listen is the same address as listen"),
    ('tls_cert = "c.pem"\ntls_key = "c.pem"', "rtmp.tls_cert: tls_cert is set but "
                                              "rtmps_listen is not"),
    ('rtmps_listen = "h:1936"\ntls_cert = "nope.pem"\ntls_key = "c.pem"',
     "rtmp.tls_cert: no such file: "),
    ("port = 1935", "rtmp.port: unknown key"),
])
def test_bad_rtmp_section_names_the_key(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "c.pem").write_text("x")
    problems = problems_of(write(tmp_path, f"[rtmp]\n{text}\n"))
    assert any(p.startswith(expected) for p in problems), problems
    assert not any("has space" in p or '"short"' in p for p in problems)  # keys never shown


def test_camera_republish_and_push(tmp_path: Path) -> None:
    urls = [f"rtmp://a.rtmp.youtube.com/live2/{STREAM_KEY}",
            f"rtmps://live.twitch.tv:443/app/{STREAM_KEY}?x=1"]
    text = CAM + f"republish = true\npush = {urls!r}\n".replace("'", '"')
    camera = load_config(write(tmp_path, text), env={}).cameras[0]
    assert camera.republish and camera.push == urls
    shown = repr(camera) + str(camera)
    assert STREAM_KEY not in shown
    assert "rtmp://a.rtmp.youtube.com/live2/***" in shown
    assert "rtmps://live.twitch.tv:443/app/***" in shown


@pytest.mark.parametrize(("push", "expected"), [
    ([f"http://host/live/{STREAM_KEY}"],
     'cameras[0].push[0]: scheme must be rtmp or rtmps: "http://host/live/***"'),
    ([f"rtmp:///live/{STREAM_KEY}"], 'cameras[0].push[0]: must have a host: "rtmp:/live/***"'),
    (["rtmp://host"], 'cameras[0].push[0]: must name an application and a stream'),
    ([f"rtmp://host:0/live/{STREAM_KEY}"], "cameras[0].push[0]: port must be a number"),
    ([f"rtmp://u:{STREAM_KEY}@host:99999/live/x"],
     'cameras[0].push[0]: port must be a number 1-65535: "***"'),
    ([f"rtmp://h/live/{STREAM_KEY}", f"rtmp://h/live/{STREAM_KEY}"],
     'cameras[0].push: the same URL twice: "rtmp://h/live/***"'),
    ([f"rtmp://h/live/{i}" for i in range(9)], "cameras[0].push: is too long"),
])
def test_bad_push_urls_never_show_the_key(tmp_path: Path, push: list[str],
                                          expected: str) -> None:
    text = CAM + f"push = {push!r}\n".replace("'", '"')
    problems = problems_of(write(tmp_path, text))
    assert any(p.startswith(expected) for p in problems), problems
    assert not any(STREAM_KEY in p for p in problems)


@pytest.mark.parametrize(("url", "shown"), [
    ("rtmp://host/live/KEY", "rtmp://host/live/***"),
    ("rtmp://host/KEY", "rtmp://host/***"),
    ("rtmp://host/app/inst/KEY?token=t", "rtmp://host/app/***"),
    ("rtmp://user:pw@host:1935/live/KEY", "rtmp://user:***@host:1935/live/***"),
    ("rtmp://host", "rtmp://host"),
    ("rtmp://host:bad/x", "***"),
])
def test_redact_rtmp_url(url: str, shown: str) -> None:
    assert redact_rtmp_url(url) == shown


def test_config_problems_for_rtmp(tmp_path: Path) -> None:
    on = load_config(write(tmp_path, f'[rtmp]\nenabled = true\npublish_key = "{KEY}"\n'
                                     + CAM + "republish = true\n"), env={})
    assert not [p for p in config_problems(on) if p.startswith("rtmp:")]
    off = load_config(write(tmp_path, CAM + "republish = true\n"), env={})
    assert [p for p in config_problems(off) if p.startswith("rtmp:")] == [
        "rtmp: camera cam1 set republish but [rtmp] enabled is false: nothing is served"]
    nokey = load_config(write(tmp_path, "[rtmp]\nenabled = true\n"), env={})
    assert [p for p in config_problems(nokey) if p.startswith("rtmp:")] == [
        "rtmp: no publish_key: every publisher is refused (only republished cameras are "
        "served)"]
    push = load_config(write(tmp_path, CAM + 'push = ["rtmp://h/live/k"]\n'), env={})
    assert not any(p.startswith("rtmp:") for p in config_problems(push))  # push works


ON = f'[rtmp]\nenabled = true\npublish_key = "{KEY}"\n'


def test_camera_recording_a_published_stream(tmp_path: Path) -> None:
    text = ON + CAMERA.format(name="drone", url="rtmp://nvr.local:1935/live/dji") + (
        'sub_url = "rtmps://nvr.local/live/dji.low"\n')
    camera = load_config(write(tmp_path, text), env={}).cameras[0]
    assert camera.published_streams == {"live/dji": "drone", "live/dji.low": "drone/sub"}
    rtsp = load_config(write(tmp_path, ON + CAM), env={}).cameras[0]
    assert rtsp.published_streams == {}


@pytest.mark.parametrize(("cameras", "rtmp", "expected"), [
    ([("a", f"rtmp://h/live/x?key={KEY}")], ON,
     'cameras[0].url: an rtmp:// camera URL names a stream of this nvr and takes no key or '
     'password: "rtmp://h/live/***"'),
    ([("a", "rtmp://h/app2/x")], ON, "cameras[0].url: an rtmp:// camera URL names a stream "
                                     "published to this nvr: rtmp://HOST:PORT/live/<name>"),
    ([("a", "rtmp://h/live/x/y")], ON, "cameras[0].url: an rtmp:// camera URL names"),
    ([("a", "rtmp:///live/x")], ON, "cameras[0].url: must have a host"),
    ([("a", "rtmp://h/live/x")], "", "cameras[0].url: live/x is a stream published to this "
                                     "nvr's RTMP server, but [rtmp] enabled is false"),
    ([("a", "rtmp://h/live/x"), ("b", "rtmp://other:1/live/x")], ON,
     "cameras[1].url: live/x is recorded by camera a already"),
    ([("a", "rtsp://h/s"), ("b", "rtmp://h/live/a")], ON,
     "cameras[1].url: live/a is where camera a is republished"),
])
def test_bad_published_stream_urls(tmp_path: Path, cameras: list[tuple[str, str]], rtmp: str,
                                   expected: str) -> None:
    text = rtmp + "".join(CAMERA.format(name=n, url=u) for n, u in cameras)
    if "republished" in expected:
        text = text.replace('url = "rtsp://h/s"\n', 'url = "rtsp://h/s"\nrepublish = true\n')
    problems = problems_of(write(tmp_path, text))
    assert any(p.startswith(expected) for p in problems), problems
    assert not any(KEY in p for p in problems)


def test_a_published_stream_camera_without_publish_key_is_a_problem(tmp_path: Path) -> None:
    text = "[rtmp]\nenabled = true\n" + CAMERA.format(name="drone", url="rtmp://h/live/dji")
    problems = config_problems(load_config(write(tmp_path, text), env={}))
    assert "rtmp: camera drone records live/dji, but without publish_key no encoder may " \
           "publish it" in problems
