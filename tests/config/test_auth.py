"""``[auth]`` and the TLS keys of ``[server]``."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_helpers import problems_of, write

from nvr.config import load_config


def test_auth_defaults_and_durations(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""), env={})
    assert (config.auth.session_idle, config.auth.session_max) == (86400, 30 * 86400)
    assert config.auth.audit_days == 90
    text = '[auth]\nsession_idle = "30m"\nsession_max = "2w"\naudit_days = 7\n'
    config = load_config(write(tmp_path, text), env={})
    assert (config.auth.session_idle, config.auth.session_max) == (1800, 14 * 86400)


@pytest.mark.parametrize(("text", "expected"), [
    ('[auth]\nsession_idle = "soon"\n', "auth.session_idle: not a duration"),
    ("[auth]\nsession_max = 5\n", "auth.session_max: must be >= 60 (got 5)"),
    ('[auth]\nsession_idle = "2d"\nsession_max = "1d"\n',
     "auth.session_idle: longer than session_max"),
    ('[server]\ntls_cert = "cert.pem"\n', "server.tls_key: missing: tls_cert and tls_key go"),
    ('[server]\ntls_key = "nope.key"\n', "server.tls_key: no such file"),
])
def test_bad_auth_and_tls_settings_name_the_key(tmp_path: Path, text: str, expected: str
                                                 ) -> None:
    (tmp_path / "cert.pem").write_text("x")
    problems = problems_of(write(tmp_path, text))
    assert len(problems) == 1 and expected in problems[0], problems


def test_tls_paths_are_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_text("x")
    (tmp_path / "key.pem").write_text("x")
    config = load_config(write(tmp_path, '[server]\ntls_cert = "cert.pem"\n'
                                         'tls_key = "key.pem"\n'), env={})
    assert config.server.tls_cert == tmp_path / "cert.pem" and config.server.tls
