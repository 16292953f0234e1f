"""The TOML configuration: load, expand ``${ENV}``, validate, report every problem.

``load_config(path)`` returns a typed :class:`Config` or raises :class:`ConfigError`,
whose ``problems`` list holds one ``"<key path>: <message>"`` string per problem,
for instance ``cameras[2].url: scheme must be rtsp or rtsps (config.toml line 14)``.

Rules kept here (the reference is ``docs/ref/config.md``):

- Unknown keys are errors (``extra="forbid"`` on every model).
- ``${NAME}`` in any string value is replaced by the environment variable NAME;
  ``$${`` writes a literal ``${``. A missing variable is an error naming the key.
- Sizes (``max_bytes``, ``min_free``) accept ``500GB``, ``20GiB``, ``1.5TB`` or a
  plain number of bytes, and are stored as int bytes.
- Camera passwords never appear in ``repr()``, ``str()`` or error messages.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

__all__ = [
    "CameraConfig",
    "Config",
    "ConfigError",
    "RecordingConfig",
    "ServerConfig",
    "SimConfig",
    "load_config",
    "parse_size",
]


class ConfigError(Exception):
    """The config cannot be used; ``problems`` lists every reason, one per entry."""

    def __init__(self, problems: list[str], path: str | Path | None = None) -> None:
        self.problems = list(problems)
        self.path = Path(path) if path is not None else None
        where = f" in {self.path}" if self.path is not None else ""
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''}{where}:"
        super().__init__("\n  ".join([head, *self.problems]))


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


def _check_rtsp_url(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        raise PydanticCustomError("url", "not a valid URL") from None
    if parts.scheme.lower() not in ("rtsp", "rtsps"):
        raise PydanticCustomError("url_scheme", "scheme must be rtsp or rtsps")
    if not parts.hostname:
        raise PydanticCustomError("url_host", 'must have a host: "{url}"', {"url": _redact(parts)})
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise PydanticCustomError(
            "url_port", 'port must be a number 1-65535: "{url}"', {"url": _redact(parts)}
        ) from None
    if parts.port == 0:
        raise PydanticCustomError(
            "url_port", 'port must be a number 1-65535: "{url}"', {"url": _redact(parts)}
        )
    return url


# --- models ----------------------------------------------------------------------------

_STRICT = ConfigDict(extra="forbid", validate_default=True, hide_input_in_errors=True)


class ServerConfig(BaseModel):
    """``[server]``: where data lives and where the web API listens."""

    model_config = _STRICT

    data_dir: Path = Field(
        default=Path("./data"),
        description="Directory for recordings and the SQLite database. A relative path "
        "is resolved against the config file's directory.",
    )
    http: str = Field(
        default="127.0.0.1:8080",
        min_length=1,
        max_length=300,
        description='Address of the web UI and API, "host:port" ("[::1]:8080" for IPv6).',
    )
    database: str | None = Field(
        default=None,
        min_length=1,
        max_length=2000,
        description="SQLAlchemy database URL; unset means sqlite:///<data_dir>/nvr.db.",
    )

    @field_validator("data_dir")
    @classmethod
    def _resolve_data_dir(cls, value: Path, info: ValidationInfo) -> Path:
        path = value.expanduser()
        base = (info.context or {}).get("base_dir")
        if not path.is_absolute() and base is not None:
            path = Path(os.path.normpath(Path(base) / path))
        return path

    @field_validator("http")
    @classmethod
    def _check_http(cls, value: str) -> str:
        _split_host_port(value)
        return value

    @field_validator("database")
    @classmethod
    def _check_database(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            make_url(value)
        except (ArgumentError, ValueError):
            raise PydanticCustomError(
                "database_url", 'not a SQLAlchemy URL (e.g. "postgresql+psycopg://u@host/nvr")'
            ) from None
        return value

    @property
    def http_host(self) -> str:
        return _split_host_port(self.http)[0]

    @property
    def http_port(self) -> int:
        return _split_host_port(self.http)[1]

    @property
    def database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in ``data_dir``."""
        if self.database is not None:
            return self.database
        return f"sqlite:///{self.data_dir / 'nvr.db'}"

    @property
    def safe_database_url(self) -> str:
        """``database_url`` with any password replaced by ``***``."""
        return make_url(self.database_url).render_as_string(hide_password=True)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            if name == "database" and value is not None:
                value = make_url(value).render_as_string(hide_password=True)
            yield name, value


def _split_host_port(value: str) -> tuple[str, int]:
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


class RecordingConfig(BaseModel):
    """``[recording]``: segment length and the retention limits shared by all cameras."""

    model_config = _STRICT

    segment_seconds: int = Field(
        default=60,
        ge=2,
        le=3600,
        description="Target segment length; a segment is cut at the first keyframe after it.",
    )
    retain_days: float | None = Field(
        default=None,
        gt=0,
        le=36500,
        description="Delete recordings older than this many days; unset means no age limit.",
    )
    max_bytes: Size | None = Field(
        default=None,
        gt=0,
        description="Cap on the bytes of all recordings; the oldest are deleted past it. "
        "Unset means no cap.",
    )
    min_free: Size = Field(
        default=parse_size("1GB"),
        ge=0,
        description="Keep at least this much free space on the data_dir disk, deleting the "
        "oldest recordings if needed. 0 disables the check.",
    )
    retention_interval_seconds: int = Field(
        default=60,
        ge=1,
        le=3600,
        description="How often the retention pass runs.",
    )


CameraName = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="Unique camera name: 1-64 letters, digits, '_' or '-'. Used in paths and URLs.",
    ),
]


class CameraConfig(BaseModel):
    """``[[cameras]]``: one IP camera."""

    model_config = _STRICT

    name: CameraName
    url: str = Field(
        max_length=2000,
        description="rtsp:// or rtsps:// URL of the main stream; credentials may be given "
        "percent-encoded, e.g. rtsp://admin:p%40ss@10.0.0.5:554/stream1.",
    )
    sub_url: str | None = Field(
        default=None,
        max_length=2000,
        description="Optional lower-resolution stream (same rules as url).",
    )
    transport: Literal["tcp", "udp", "auto"] = Field(
        default="tcp",
        description='RTP transport: "tcp" (interleaved), "udp", or "auto" (UDP, then TCP).',
    )
    record: Literal["continuous", "off"] = Field(
        default="continuous",
        description='"continuous" records all the time; "off" only ingests (live view).',
    )
    audio: bool = Field(default=False, description="Ingest and record the audio track.")
    retain_days: float | None = Field(
        default=None,
        gt=0,
        le=36500,
        description="Per-camera override of recording.retain_days.",
    )
    max_bytes: Size | None = Field(
        default=None,
        gt=0,
        description="Cap on this camera's recordings, in addition to the global cap.",
    )
    enabled: bool = Field(
        default=True, description="false keeps the camera in the file but does not connect."
    )

    @field_validator("url", "sub_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        return None if value is None else _check_rtsp_url(value)

    @field_validator("record", mode="before")
    @classmethod
    def _reject_events(cls, value: Any) -> Any:
        if value == "events":
            raise PydanticCustomError(
                "record_events",
                '"events" is reserved for a later release; use "continuous" or "off"',
            )
        return value

    @property
    def safe_url(self) -> str:
        """``url`` with the password replaced by ``***``: safe for logs and pages."""
        return redact_url(self.url)

    @property
    def safe_sub_url(self) -> str | None:
        return None if self.sub_url is None else redact_url(self.sub_url)

    @property
    def credentials(self) -> tuple[str | None, str | None]:
        """(user, password) from ``url``, percent-decoded; None where absent."""
        parts = urlsplit(self.url)
        user = None if parts.username is None else unquote(parts.username)
        password = None if parts.password is None else unquote(parts.password)
        return user, password

    @property
    def url_without_credentials(self) -> str:
        """``url`` with the user and password removed (for clients that take them apart)."""
        parts = urlsplit(self.url)
        hostport = parts.netloc.rpartition("@")[2]
        return urlunsplit(parts._replace(netloc=hostport))

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            if name in ("url", "sub_url") and value is not None:
                value = redact_url(value)
            yield name, value


class SimConfig(BaseModel):
    """``[sim]``: the built-in simulated camera, started by ``nvr run`` when cameras > 0."""

    model_config = _STRICT

    cameras: int = Field(
        default=0,
        ge=0,
        le=64,
        description="Number of simulated cameras (cam1..camN); 0 starts no simulator.",
    )
    port: int = Field(default=8554, ge=1, le=65535, description="RTSP port of the simulator.")
    codec: Literal["h264", "h265"] = Field(default="h264", description="Video codec.")
    width: int = Field(default=1280, ge=16, le=7680, description="Frame width in pixels.")
    height: int = Field(default=720, ge=16, le=4320, description="Frame height in pixels.")
    fps: int = Field(default=25, ge=1, le=120, description="Frames per second.")
    bitrate_kbps: int = Field(
        default=2000, ge=50, le=100_000, description="Target video bitrate in kbit/s."
    )
    audio: bool = Field(default=True, description="Also send an AAC test tone.")


class Config(BaseModel):
    """The whole config file."""

    model_config = _STRICT

    # The sub-table defaults are dicts, validated like a written table, so that
    # data_dir is resolved against the config file even when [server] is absent.
    server: ServerConfig = Field(default_factory=dict, description="[server]")  # type: ignore[arg-type,assignment]
    recording: RecordingConfig = Field(default_factory=RecordingConfig, description="[recording]")
    cameras: list[CameraConfig] = Field(
        default_factory=list,
        max_length=1000,
        description="[[cameras]]; none is valid (the NVR then only serves the API).",
    )
    sim: SimConfig = Field(default_factory=SimConfig, description="[sim]")

    @model_validator(mode="after")
    def _check_unique_names(self) -> Config:
        errors = [
            InitErrorDetails(type=err, loc=("cameras", index, "name"), input=name)
            for index, name, err in _duplicate_names([c.name for c in self.cameras])
        ]
        if errors:
            raise ValidationError.from_exception_data("Config", errors)
        return self

    @property
    def database_url(self) -> str:
        return self.server.database_url

    def camera(self, name: str) -> CameraConfig | None:
        """The camera called ``name``, or None."""
        return next((c for c in self.cameras if c.name == name), None)

    def safe_dict(self) -> dict[str, Any]:
        """``model_dump()`` with passwords redacted: safe for the API and pages."""
        data = self.model_dump(mode="json")
        if self.server.database is not None:
            data["server"]["database"] = self.server.safe_database_url
        for camera, dumped in zip(self.cameras, data["cameras"], strict=True):
            dumped["url"] = camera.safe_url
            dumped["sub_url"] = camera.safe_sub_url
        return data


def _duplicate_names(names: list[Any]) -> Iterator[tuple[int, str, PydanticCustomError]]:
    seen: set[str] = set()
    for index, name in enumerate(names):
        if not isinstance(name, str):
            continue
        if name in seen:
            yield (
                index,
                name,
                PydanticCustomError("duplicate_name", 'duplicate name "{name}"', {"name": name}),
            )
        seen.add(name)


# --- loading ---------------------------------------------------------------------------


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
    problems: list[tuple[tuple[Any, ...], str]] = []
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
        cameras = data.get("cameras") if isinstance(data, dict) else None
        if isinstance(cameras, list):
            names = [c.get("name") if isinstance(c, dict) else None for c in cameras]
            for index, _, dup in _duplicate_names(names):
                problems.append((("cameras", index, "name"), dup.message()))
        config = None
    if problems:
        raise ConfigError(_format(problems, lines, path.name), path) from None
    assert config is not None
    return config


_ENV_RE = re.compile(r"\$(\$?)\{([^}]*)\}")
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _expand(
    value: Any,
    loc: tuple[Any, ...],
    env: Mapping[str, str],
    problems: list[tuple[tuple[Any, ...], str]],
    missing: set[tuple[Any, ...]],
) -> Any:
    """A copy of ``value`` with ``${NAME}`` replaced in every string."""
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
    bounds = {
        "greater_than_equal": ">= {ge}",
        "greater_than": "> {gt}",
        "less_than_equal": "<= {le}",
        "less_than": "< {lt}",
    }
    if kind in bounds:
        limits = {key: _show(value) for key, value in ctx.items()}
        return f"must be {bounds[kind].format(**limits)} (got {_show(got)})"
    if kind in ("too_long", "string_too_long"):
        return "is too long"
    if kind in ("too_short", "string_too_short"):
        return "is too short"
    msg = str(err["msg"])
    return msg.removeprefix("Value error, ")


def _show(value: Any) -> str:
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
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _format(problems: list[tuple[tuple[Any, ...], str]], lines: _LineIndex, name: str) -> list[str]:
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
