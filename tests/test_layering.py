"""Dependencies point inward: protocol code knows nothing of the app around it."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "nvr"
APP_MODULES = ("nvr.web", "nvr.db", "nvr.config", "nvr.recording", "nvr.runtime", "nvr.cli")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_protocol_packages_import_no_app_module():
    offenders = []
    for pkg in ("rtsp", "sim"):
        for path in (PACKAGE / pkg).rglob("*.py"):
            for name in _imports(path):
                if name.startswith(APP_MODULES):
                    offenders.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert offenders == []


def test_feed_imports_nothing_from_nvr():
    assert not [n for n in _imports(PACKAGE / "feed.py") if n.startswith("nvr")]
