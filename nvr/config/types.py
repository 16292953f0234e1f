"""Types and checks shared by the config sections: sizes, ``host:port``, RTSP URLs.

- :func:`parse_size` and the :data:`Size` field type turn ``"500GB"``, ``"20GiB"``,
  ``"1.5TB"`` or a plain number into int bytes.
- :func:`split_host_port` checks and splits ``"host:port"`` (``"[::1]:8080"`` for IPv6).
- :func:`split_url` checks a URL's scheme, host and port with the same messages for
  every URL key; :func:`check_rtsp_url` checks an ``rtsp://`` or ``rtsps://`` URL, and
  :func:`redact_url` hides its password, so no message ever shows one.

Checks raise ``PydanticCustomError`` so that the loader reports them under the key
that holds the value. :data:`STRICT` is the model config of every section.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

from pydantic import BeforeValidator, ConfigDict, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

__all__ = [
    "STRICT",
    "Duration",
    "Size",
    "check_rtsp_url",
    "existing_file",
    "parse_duration",
    "parse_size",
    "problems_error",
    "redact_url",
    "resolve_path",
    "split_host_port",
    "split_url",
]

# Unknown keys are errors; defaults go through the same checks as written values;
# pydantic's own messages never echo the input (it may hold a password).
STRICT = ConfigDict(extra="forbid", validate_default=True, hide_input_in_errors=True)


# --- sizes ---------------------------------------------------------------------------

_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*$", re.IGNORECASE)
_SIZE_HINT = "(use e.g. 500GB, 20GiB, 1000000)"


def parse_size(text: str | int) -> int:
    """Bytes from ``"500GB"`` (10**9), ``"20GiB"`` (2**30), ``"1.5TB"`` or a plain number.

    Units are case-insensitive. Raises ValueError with a message for the user.
    """
    if isinstance(text, bool):
        raise ValueError(f"not a size: {text!r} {_SIZE_HINT}")
    if isinstance(text, int):
        if text < 0:
            raise ValueError(f'not a size: "{text}" {_SIZE_HINT}')
        return text
    if isinstance(text, float):
        if not text.is_integer() or text < 0:
            raise ValueError(f'not a size: "{text}" {_SIZE_HINT}')
        return int(text)
    if not isinstance(text, str):
        raise ValueError(f"not a size: {text!r} {_SIZE_HINT}")
    match = _SIZE_RE.match(text)
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _SIZE_UNITS:
        raise ValueError(f'not a size: "{text}" {_SIZE_HINT}')
    try:
        number = Decimal(match.group(1))
    except InvalidOperation:  # pragma: no cover - the regex admits only decimals
        raise ValueError(f'not a size: "{text}" {_SIZE_HINT}') from None
    return int(number * _SIZE_UNITS[unit])


def _size_before(value: Any) -> Any:
    if value is None:
        return None
    try:
        return parse_size(value)
    except ValueError as exc:
        raise PydanticCustomError("size", "{reason}", {"reason": str(exc)}) from None


Size = Annotated[int, BeforeValidator(_size_before)]
"""A byte count, written as a size string or a plain number; stored as int bytes."""


# --- durations -----------------------------------------------------------------------

_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d*)?)\s*([smhdw]?)\s*$", re.IGNORECASE)
_DURATION_HINT = "(use e.g. 90s, 30m, 12h, 7d, 2w or seconds)"


def parse_duration(text: str | int | float) -> float:
    """Seconds from ``"30m"``, ``"12h"``, ``"7d"``, ``"2w"``, ``"90s"`` or a number."""
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise ValueError(f"not a duration: {text!r} {_DURATION_HINT}")
    if isinstance(text, (int, float)):
        if text < 0:
            raise ValueError(f'not a duration: "{text}" {_DURATION_HINT}')
        return float(text)
    match = _DURATION_RE.match(text)
    if match is None:
        raise ValueError(f'not a duration: "{text}" {_DURATION_HINT}')
    return float(match.group(1)) * _DURATION_UNITS[(match.group(2) or "s").lower()]


def _duration_before(value: Any) -> Any:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise PydanticCustomError("duration", "{reason}", {"reason": str(exc)}) from None


Duration = Annotated[float, BeforeValidator(_duration_before)]
"""A length of time, written as ``"12h"``, ``"7d"`` or seconds; stored as float seconds."""


# --- host:port -------------------------------------------------------------------------


def split_host_port(value: str) -> tuple[str, int]:
    """``(host, port)`` of ``"host:port"``; IPv6 hosts come without their brackets."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text:
        raise PydanticCustomError(
            "host_port",
            'must be "host:port", e.g. "127.0.0.1:8080" (got "{value}")',
            {"value": value},
        )
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host:
        raise PydanticCustomError("host_port", 'host is empty (got "{value}")', {"value": value})
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise PydanticCustomError(
            "host_port", 'port must be a number 1-65535 (got "{value}")', {"value": value}
        )
    return host, int(port_text)


# --- paths -----------------------------------------------------------------------------


def resolve_path(value: Path, context: dict[str, Any] | None) -> Path:
    """``value`` with ``~`` expanded, relative to the config file's directory.

    The loader passes that directory as ``base_dir`` in the validation context;
    without it (a model built in code) a relative path stays relative.
    """
    path = value.expanduser()
    base = (context or {}).get("base_dir")
    if not path.is_absolute() and base is not None:
        path = Path(os.path.normpath(Path(base) / path))
    return path


def existing_file(value: Path | None, context: dict[str, Any] | None) -> Path | None:
    """``value`` resolved by :func:`resolve_path`; an error if no such file exists."""
    if value is None:
        return None
    path = resolve_path(value, context)
    if not path.is_file():
        raise PydanticCustomError("file", "no such file: {path}", {"path": str(path)})
    return path


def problems_error(title: str, problems: list[tuple[str, str]]) -> ValidationError:
    """A model check's ``(key, message)`` problems as one error, each under its key."""
    return ValidationError.from_exception_data(title, [
        InitErrorDetails(type=PydanticCustomError(title, message), loc=(key,), input=None)
        for key, message in problems])


# --- urls ------------------------------------------------------------------------------


def _redact(parts: SplitResult) -> str:
    """The url with any password replaced by ``***``."""
    if parts.password is None:
        return urlunsplit(parts)
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hostport}"))


def redact_url(url: str) -> str:
    """``url`` with the password replaced by ``***``; unparseable text is hidden entirely."""
    try:
        return _redact(urlsplit(url))
    except ValueError:
        return "***"


def split_url(url: str, schemes: tuple[str, ...],
              redact: Callable[[str], str] | None = None) -> SplitResult:
    """``url``'s parts if its scheme is one of ``schemes`` and it has a host and a valid
    port; else the error every URL key gives, showing the URL through ``redact``
    (default: :func:`redact_url`, which hides a password)."""
    shown = {"url": (redact or redact_url)(url)}
    try:
        parts = urlsplit(url)
    except ValueError:
        raise PydanticCustomError("url", 'not a valid URL: "{url}"', shown) from None
    try:
        port = parts.port
    except ValueError:
        raise PydanticCustomError("url_port", 'port must be a number 1-65535: "{url}"',
                                  shown) from None
    if parts.scheme.lower() not in schemes:
        raise PydanticCustomError("url_scheme", 'scheme must be {schemes}: "{url}"',
                                  shown | {"schemes": " or ".join(schemes)})
    if not parts.hostname:
        raise PydanticCustomError("url_host", 'must have a host: "{url}"', shown)
    if port == 0:
        raise PydanticCustomError("url_port", 'port must be a number 1-65535: "{url}"', shown)
    return parts


def check_rtsp_url(url: str) -> str:
    """``url`` if it is rtsp:// or rtsps:// with a host and a valid port (messages redact it)."""
    split_url(url, ("rtsp", "rtsps"))
    return url
