"""Dependencies point inward: protocol code knows nothing of the app around it."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "nvr"
APP_MODULES = ("nvr.web", "nvr.db", "nvr.config", "nvr.recording", "nvr.runtime", "nvr.cli",
               "nvr.supervisor", "nvr.registry", "nvr.ondemand", "nvr.auth",
               "nvr.transcoders", "nvr.eventhub", "nvr.health", "nvr.motionwatch")
# protocol and codec packages, present and planned: each must stay free of the app
PROTOCOL_PACKAGES = ("rtsp", "rtmp", "codec", "fmp4", "sim", "live", "playback", "motion")
# what the web layer may not reach into: the protocols' internals
PROTOCOL_MODULES = tuple(f"nvr.{p}" for p in ("rtsp", "rtmp", "sim", "codec"))


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _offenders(packages: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    out = []
    for pkg in packages:
        for path in (PACKAGE / pkg).rglob("*.py"):
            for name in _imports(path):
                if name.startswith(forbidden):
                    out.append(f"{path.relative_to(PACKAGE)} imports {name}")
    return out


def test_protocol_packages_import_no_app_module():
    assert _offenders(PROTOCOL_PACKAGES, APP_MODULES) == []


def test_codec_imports_nothing_else_of_nvr():
    assert [o for o in _offenders(("codec",), ("nvr.",)) if " nvr.codec" not in o] == []


def test_web_imports_no_protocol_internals():
    assert _offenders(("web",), PROTOCOL_MODULES) == []


def test_feed_imports_nothing_from_nvr():
    assert not [n for n in _imports(PACKAGE / "feed.py") if n.startswith("nvr")]


def test_auth_knows_no_http_and_no_media():
    allowed = ("nvr.auth", "nvr.db", "nvr.clock", "nvr.config.types")
    offenders = [o for o in _offenders(("auth",), ("nvr.",))
                 if not o.split(" imports ")[1].startswith(allowed)]
    assert offenders == []


def test_events_and_alerts_know_no_web_media_or_runtime():
    allowed = ("nvr.events", "nvr.alerts", "nvr.db", "nvr.clock", "nvr.config.webhooks",
               "nvr.config.types", "nvr.config.mqtt", "nvr.config.notify")
    offenders = [o for o in _offenders(("events", "alerts"), ("nvr.",))
                 if not o.split(" imports ")[1].startswith(allowed)]
    assert offenders == []
