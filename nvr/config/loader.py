"""Read the TOML file, expand ``${ENV}``, validate, and report every problem at once.

:func:`load_config` returns a :class:`~nvr.config.model.Config` or raises
:class:`ConfigError`, whose ``problems`` hold one ``"<key path>: <message>"`` per
problem, with the line where it can be found:
``cameras[2].url: scheme must be rtsp or rtsps (config.toml line 14)``.

tomllib keeps no positions, so :class:`_LineIndex` finds lines by scanning the
text for table headers and ``key =``; the line is a hint, left out when not found.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from nvr.config.model import Config, whole_file_problems

__all__ = ["ConfigError", "load_config"]

Problem = tuple[tuple[Any, ...], str]
"""``(key path, message)``, e.g. ``(("cameras", 0, "url"), "scheme must be ...")``."""


class ConfigError(Exception):
    """The config cannot be used; ``problems`` lists every reason, one per entry."""

    def __init__(self, problems: list[str], path: str | Path | None = None) -> None:
        self.problems = list(problems)
        self.path = Path(path) if path is not None else None
        where = f" in {self.path}" if self.path is not None else ""
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''}{where}:"
        super().__init__("\n  ".join([head, *self.problems]))


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    """Read, expand and validate the TOML file at ``path``; raise ConfigError on any problem."""
    path = Path(path)
    env = os.environ if env is None else env
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read: {exc}"], path) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path.name}: {exc}"], path) from None

    lines = _LineIndex(text)
    problems: list[Problem] = []
    missing: set[tuple[Any, ...]] = set()
    data = _expand(raw, (), env, problems, missing)

    base_dir = path.absolute().parent
    try:
        config = Config.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(err["loc"])
            if not any(loc[: len(m)] == m for m in missing):
                problems.append((loc, _message(err)))
        problems.extend(whole_file_problems(data))
        config = None
    if problems:
        raise ConfigError(_format(problems, lines, path.name), path) from None
    assert config is not None
    return config


# --- ${ENV} ----------------------------------------------------------------------------

_ENV_RE = re.compile(r"\$(\$?)\{([^}]*)\}")
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _expand(
    value: Any,
    loc: tuple[Any, ...],
    env: Mapping[str, str],
    problems: list[Problem],
    missing: set[tuple[Any, ...]],
) -> Any:
    """A copy of ``value`` with ``${NAME}`` replaced in every string.

    A missing or malformed name adds a problem and its key to ``missing``, so that
    the validation error of the emptied value is not reported as well.
    """
    if isinstance(value, dict):
        return {k: _expand(v, (*loc, k), env, problems, missing) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, (*loc, i), env, problems, missing) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        escaped, name = match.group(1), match.group(2)
        if escaped:
            return "${" + name + "}"
        if not _ENV_NAME_RE.match(name):
            problems.append((loc, f'bad environment variable name "{name}" in ${{...}}'))
            missing.add(loc)
            return ""
        if name not in env:
            problems.append((loc, f"environment variable {name} is not set"))
            missing.add(loc)
            return ""
        return env[name]

    return _ENV_RE.sub(substitute, value)


# --- messages --------------------------------------------------------------------------

_BOUNDS = {
    "greater_than_equal": ">= {ge}",
    "greater_than": "> {gt}",
    "less_than_equal": "<= {le}",
    "less_than": "< {lt}",
}


def _message(err: Any) -> str:
    """A short message for one pydantic error, without echoing string input."""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    got = err.get("input")
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        return "unknown key"
    if kind in ("int_type", "int_parsing"):
        return f"must be an integer (got {_show(got)})"
    if kind == "int_from_float":
        return f"must be a whole number (got {_show(got)})"
    if kind in ("float_type", "float_parsing"):
        return f"must be a number (got {_show(got)})"
    if kind in ("bool_type", "bool_parsing"):
        return f"must be true or false (got {_show(got)})"
    if kind == "string_type":
        return "must be a string"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return "must be a table"
    if kind == "list_type":
        return "must be an array of tables"
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", '"')
        return f"must be one of {expected} (got {_show(got)})"
    if kind == "string_pattern_mismatch" and err["loc"][-1] == "name":
        return f"must be 1-64 letters, digits, '_' or '-' (got {_show(got)})"
    if kind in _BOUNDS:
        limits = {key: _show(value) for key, value in ctx.items()}
        return f"must be {_BOUNDS[kind].format(**limits)} (got {_show(got)})"
    if kind in ("too_long", "string_too_long"):
        return "is too long"
    if kind in ("too_short", "string_too_short"):
        return "is too short"
    msg = str(err["msg"])
    return msg.removeprefix("Value error, ")


def _show(value: Any) -> str:
    """``value`` as written in TOML; other types by their name only."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    return type(value).__name__


def _key_path(loc: tuple[Any, ...]) -> str:
    """``("cameras", 2, "url")`` as ``cameras[2].url``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _format(problems: list[Problem], lines: _LineIndex, name: str) -> list[str]:
    """One line per distinct problem, in file order (those without a line last)."""
    found: list[tuple[int, int, str]] = []
    seen: set[str] = set()
    for order, (loc, message) in enumerate(problems):
        line = lines.find(loc)
        text = f"{_key_path(loc)}: {message}"
        if line is not None:
            text += f" ({name} line {line})"
        if text not in seen:
            seen.add(text)
            found.append((line if line is not None else 1 << 30, order, text))
    return [text for _, _, text in sorted(found)]


# --- lines -----------------------------------------------------------------------------

_HEADER_RE = re.compile(r"^\s*(\[\[?)\s*([^\[\]#]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY_PART = r"""(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')"""
_KEY_RE = re.compile(rf"^\s*({_KEY_PART}(?:\s*\.\s*{_KEY_PART})*)\s*=")


def _split_dotted(key: str) -> tuple[str, ...]:
    parts = re.findall(r"""[A-Za-z0-9_-]+|"[^"]*"|'[^']*'""", key)
    return tuple(p[1:-1] if p[:1] in "\"'" else p for p in parts)


class _LineIndex:
    """Best-effort map from a key path to its 1-based line, by scanning the text.

    tomllib gives no positions, so this finds table headers (``[recording]``,
    the n-th ``[[cameras]]``) and ``key =`` lines within them.
    """

    def __init__(self, text: str) -> None:
        self.tables: dict[tuple[Any, ...], int] = {(): 0}
        self.keys: dict[tuple[Any, ...], int] = {}
        counts: dict[tuple[str, ...], int] = {}
        current: tuple[Any, ...] = ()
        for number, line in enumerate(text.splitlines(), start=1):
            header = _HEADER_RE.match(line)
            if header:
                names = _split_dotted(header.group(2))
                if header.group(1) == "[[":
                    index = counts.get(names, 0)
                    counts[names] = index + 1
                    current = (*names, index)
                else:
                    current = names
                self.tables.setdefault(current, number)
                continue
            key = _KEY_RE.match(line)
            if key:
                self.keys.setdefault((*current, *_split_dotted(key.group(1))), number)

    def find(self, loc: tuple[Any, ...]) -> int | None:
        """The line of the deepest key or table of ``loc`` found in the text, or None."""
        for cut in range(len(loc), -1, -1):
            table, rest = loc[:cut], loc[cut:]
            if table not in self.tables:
                continue
            for end in range(len(rest), 0, -1):
                line = self.keys.get((*table, *rest[:end]))
                if line is not None:
                    return line
            return self.tables[table] or None
        return None
