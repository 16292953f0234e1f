"""The command line as a user runs it: exit codes and messages."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import sqlalchemy

REPO = Path(__file__).resolve().parents[1]


def nvr(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nvr", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=60)


def test_check_config_default_config_is_ok():
    out = nvr("check-config", "--config", str(REPO / "config.toml"))
    assert out.returncode == 0, out.stderr
    assert "ok" in out.stdout


def test_check_config_prints_every_problem_with_its_key_and_exits_2(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(
        '[recording]\nsegment_seconds = 1\ncolour = "red"\n\n'
        '[[cameras]]\nname = "a"\nurl = "http://admin:hunter2@cam/x"\n\n'
        '[[cameras]]\nname = "a"\nurl = "rtsp://cam2/x"\ntransport = "carrier-pigeon"\n')
    out = nvr("check-config", "--config", str(cfg))
    assert out.returncode == 2
    lines = out.stderr.splitlines()
    for key in ("recording.segment_seconds", "recording.colour", "cameras[0].url",
                "cameras[1].name", "cameras[1].transport"):
        assert any(line.startswith(f"{key}:") for line in lines), (key, lines)
    assert "hunter2" not in out.stderr + out.stdout


def test_run_refuses_bad_config_the_same_way(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[[cameras]]\nname = "x"\nurl = "ftp://cam/x"\n')
    out = nvr("run", "--config", str(cfg))
    assert out.returncode == 2
    assert "cameras[0].url: scheme must be rtsp or rtsps" in out.stderr


def test_db_upgrade_creates_the_schema(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[server]\ndata_dir = "{tmp_path / "data"}"\n')
    out = nvr("db", "upgrade", "--config", str(cfg))
    assert out.returncode == 0, out.stderr
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'data' / 'nvr.db'}")
    assert "segments" in sqlalchemy.inspect(engine).get_table_names()
    engine.dispose()


def test_run_with_busy_http_port_says_so_and_exits_1(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cfg = tmp_path / "c.toml"
        cfg.write_text(f'[server]\ndata_dir = "{tmp_path / "d"}"\nhttp = "127.0.0.1:{port}"\n')
        out = nvr("run", "--config", str(cfg))
    assert out.returncode == 1
    assert f"server.http: cannot listen on 127.0.0.1:{port}" in out.stderr
    assert "Traceback" not in out.stderr
