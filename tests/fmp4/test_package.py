"""nvr.fmp4 is sans-I/O and sits below the app: it imports only nvr.codec and nvr.feed."""

from __future__ import annotations

import ast
from pathlib import Path

import nvr.fmp4

PACKAGE = Path(nvr.fmp4.__file__).parent


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_fmp4_imports_only_codec_feed_and_itself():
    allowed = ("nvr.codec", "nvr.feed", "nvr.fmp4")
    offenders = sorted(
        f"{path.name} imports {name}"
        for path in PACKAGE.glob("*.py")
        for name in _imported(path)
        if name.startswith("nvr") and not name.startswith(allowed)
    )
    assert offenders == []


def test_fmp4_does_no_io():
    for path in PACKAGE.glob("*.py"):
        assert not {"os", "io", "pathlib", "asyncio", "av"} & _imported(path), path.name
