"""[[notify]] and [server] public_url in the config: targets, filters, and an Apprise
URL's token never in repr or a problem message."""

from __future__ import annotations

from pathlib import Path

import pytest

from nvr.config import ConfigError, load_config

TOKEN = "tgBotT0ken55"
NOTIFY = f'[[notify]]\nurls = ["tgram://123456789:{TOKEN}/12345", "ntfy://nvr-{TOKEN}"]\n'


def load(tmp_path: Path, text: str):
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, env={})


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    return info.value.problems


def test_targets_filters_and_repr(tmp_path: Path) -> None:
    config = load(tmp_path, NOTIFY + '\n[[notify]]\nname = "phone"\nurls = ["json://h/x"]\n'
                  'events = ["motion"]\nzones = ["door"]\ncooldown_seconds = 30\n')
    first, second = config.notify
    assert [first.target, second.target] == ["notify:0", "notify:phone"]
    assert first.wants("any", "disk_low", []) and second.wants("front", "motion", ["door"])
    assert not second.wants("front", "motion", ["yard"])
    assert not second.wants("front", "camera_offline", ["door"])
    assert second.cooldown_seconds == 30
    assert TOKEN not in repr(config) and TOKEN not in str(first)
    assert "tgram://***" in repr(first)


def test_bad_url_is_named_by_position_not_content(tmp_path: Path) -> None:
    found = problems(tmp_path, f'[[notify]]\nurls = ["json://h/x", "nope://{TOKEN}"]\n')
    assert len(found) == 1 and found[0].startswith("notify[0].urls: URL 2 ")
    assert '"nope://"' in found[0] and TOKEN not in found[0]
    assert any("notify[0].urls" in p for p in problems(tmp_path, "[[notify]]\nurls = []\n"))


def test_notify_target_must_not_collide_with_a_webhook(tmp_path: Path) -> None:
    hook = ('[[webhooks]]\nname = "notify:phone"\nurl = "https://h.example/"\n'
            'secret = "0123456789abcdef"\n')
    found = problems(tmp_path, hook + '[[notify]]\nname = "phone"\nurls = ["json://h/x"]\n')
    assert any("notify[0].name" in p and "duplicate" in p for p in found), found


@pytest.mark.parametrize(("value", "kept"), [
    ("https://nvr.example.com/", "https://nvr.example.com"),
    ("http://10.0.0.2:8080/nvr/", "http://10.0.0.2:8080/nvr"),
])
def test_public_url(tmp_path: Path, value: str, kept: str) -> None:
    assert load(tmp_path, f'[server]\npublic_url = "{value}"\n').server.public_url == kept


@pytest.mark.parametrize("value", ["nvr.example.com", "ftp://h/", "https://u:pw@h/",
                                   "https://h/?a=1", "https://h:99999/"])
def test_public_url_refused(tmp_path: Path, value: str) -> None:
    found = problems(tmp_path, f'[server]\npublic_url = "{value}"\n')
    assert len(found) == 1 and found[0].startswith("server.public_url: "), found
    assert "pw" not in found[0]
