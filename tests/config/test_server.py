"""Tests for nvr.config.server: data_dir resolution, the http address, the database URL."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_helpers import REPO, SECRET, problems_of, write

from nvr.config import ServerConfig, load_config


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


def test_resolve_data_dir_home_expanded(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    path = write(tmp_path, '[server]\ndata_dir = "~/nvr"\n')
    assert load_config(path, env={}).server.data_dir == tmp_path / "home" / "nvr"


def test_parse_http_ipv6_host() -> None:
    server = ServerConfig(http="[::1]:9000")
    assert (server.http_host, server.http_port) == ("::1", 9000)


def test_resolve_database_url_explicit() -> None:
    server = ServerConfig(database="postgresql+psycopg://nvr:pw@db/nvr")
    assert server.database_url == "postgresql+psycopg://nvr:pw@db/nvr"
    assert "postgresql+psycopg://nvr:***@db/nvr" in repr(server)
    assert "pw@" not in repr(server)


def test_redact_database_password_repr_and_str() -> None:
    server = ServerConfig(database=f"postgresql://u:{SECRET}@db/nvr")
    for text in (repr(server), str(server)):
        assert SECRET not in text
        assert "u:***@db" in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
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
        ('[server]\nhttp = ""\n', "server.http: is too short (config.toml line 2)"),
        (
            '[server]\ndatabase = "not a url"\n',
            'server.database: not a SQLAlchemy URL (e.g. "postgresql+psycopg://u@host/nvr")'
            " (config.toml line 2)",
        ),
        (
            '[server]\ntrusted_proxies = ["127.0.0.1", "proxy.lan"]\n',
            "server.trusted_proxies: 'proxy.lan' is not an IP address or network "
            '(e.g. "127.0.0.1", "::1" or "10.0.0.0/8") (config.toml line 2)',
        ),
    ],
)
def test_report_server_problem_message_exact(tmp_path: Path, text: str, expected: str) -> None:
    assert problems_of(write(tmp_path, text)) == [expected]


def test_trusted_proxies_addresses_and_networks() -> None:
    server = ServerConfig(trusted_proxies=[" 127.0.0.1", "10.1.2.3/8", "::1"])
    assert server.trusted_proxies == ["127.0.0.1", "10.0.0.0/8", "::1"]
    assert ServerConfig().trusted_proxies == []  # forwarded headers ignored
