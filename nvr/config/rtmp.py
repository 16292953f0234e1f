"""``[rtmp]``: the built-in RTMP server, and the checks of the cameras' RTMP keys.

Keys are secrets: ``publish_key`` and ``play_key`` never appear in ``repr()`` or
error messages, and neither does the stream key in a ``push`` URL's path
(:func:`redact_rtmp_url` keeps scheme, host, port and the application name, the
first path segment, and hides everything after it). Publishing needs a key:
without ``publish_key`` the server refuses every publisher, so an open port
cannot be used to inject video.

``tls_cert``/``tls_key`` are resolved against the config file's directory, like
``[server]``'s, and go together with ``rtmps_listen``: all three or none.

The server is :mod:`nvr.rtmpapp` (started by ``nvr run`` when ``enabled``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from nvr.config.types import STRICT, existing_file, problems_error, split_host_port, split_url

__all__ = ["MAX_PUSH", "PushUrl", "RtmpConfig", "check_push_urls", "check_published_url",
           "published_stream", "redact_rtmp_url"]

MAX_PUSH = 8
APP = "live"  # the one application of the built-in server
STREAM_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")  # a publisher's stream name
_KEY_RE = re.compile(r"^[A-Za-z0-9._~-]{8,256}$")
_KEY_RULE = "8-256 letters, digits, '.', '_', '~' or '-' (it goes in a URL)"


def _check_key(value: str | None, name: str) -> str | None:
    if value is not None and not _KEY_RE.match(value):
        raise PydanticCustomError("rtmp_key", "{name} must be {rule}",
                                  {"name": name, "rule": _KEY_RULE})
    return value


class RtmpConfig(BaseModel):
    """``[rtmp]``: where the RTMP server listens and who may publish and play."""

    model_config = STRICT

    enabled: bool = Field(default=False, description="Run the built-in RTMP server.")
    listen: str = Field(
        default="0.0.0.0:1935", min_length=1, max_length=300,
        description='Address of plain RTMP, "host:port" ("[::]:1935" for IPv6).')
    publish_key: str | None = Field(
        default=None,
        description="Key publishers give as rtmp://HOST/live/<name>?key=<publish_key>; "
                    "unset: publishing is refused. Never shown in repr() or logs.")
    play_key: str | None = Field(
        default=None,
        description="Key players must give (?key=...); unset: anyone who reaches the port "
                    "may play.")
    max_connections: int = Field(
        default=200, ge=1, le=100_000,
        description="Connections (publishers and players together) beyond which new ones "
                    "are refused.")
    rtmps_listen: str | None = Field(
        default=None, min_length=1, max_length=300,
        description='Address of RTMP over TLS, "host:port" (e.g. "0.0.0.0:1936"); needs '
                    "tls_cert and tls_key.")
    tls_cert: Path | None = Field(
        default=None,
        description="PEM certificate (chain) for rtmps_listen, relative to the config file.")
    tls_key: Path | None = Field(default=None, description="PEM private key of tls_cert.")

    @field_validator("listen", "rtmps_listen")
    @classmethod
    def _check_address(cls, value: str | None) -> str | None:
        if value is not None:
            split_host_port(value)
        return value

    @field_validator("publish_key", "play_key")
    @classmethod
    def _check_keys(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _check_key(value, str(info.field_name))

    @field_validator("tls_cert", "tls_key")
    @classmethod
    def _check_tls_file(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return existing_file(value, info.context)

    @model_validator(mode="after")
    def _check_pairs(self) -> RtmpConfig:
        problems = []
        for key in ("tls_cert", "tls_key"):
            if getattr(self, key) is None and self.rtmps_listen is not None:
                problems.append((key, "missing: rtmps_listen needs tls_cert and tls_key"))
            elif getattr(self, key) is not None and self.rtmps_listen is None:
                problems.append((key, f"{key} is set but rtmps_listen is not: set "
                                      "rtmps_listen to serve RTMPS, or remove it"))
        if self.rtmps_listen is not None and (
                split_host_port(self.rtmps_listen) == split_host_port(self.listen)):
            problems.append(("rtmps_listen", "rtmps_listen is the same address as listen"))
        if problems:
            raise problems_error("rtmp", problems)
        return self

    @property
    def listen_address(self) -> tuple[str, int]:
        """``(host, port)`` of ``listen``, the host without IPv6 brackets."""
        return split_host_port(self.listen)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            if name in ("publish_key", "play_key") and value is not None:
                value = "***"
            yield name, value


# --- [[cameras]] push ----------------------------------------------------------------


def redact_rtmp_url(url: str) -> str:
    """``url`` with its stream key hidden: scheme, host, port and the application (the
    first path segment, when a stream follows it) stay; the stream, the query and any
    password become ``***``. Unparseable text is hidden entirely."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return "***"
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{parts.username}:***@{host}" if parts.password is not None else parts.netloc
    app, _, rest = parts.path.strip("/").partition("/")
    if rest:
        path = f"/{app}/***"
    elif app or parts.query:
        path = "/***"  # one segment may be the key itself (rtmp://host/KEY)
    else:
        path = parts.path
    return urlunsplit((parts.scheme, netloc, path, "", ""))


def _check_push_url(url: str) -> str:
    parts = split_url(url, ("rtmp", "rtmps"), redact_rtmp_url)
    if not parts.path.strip("/"):
        raise PydanticCustomError(
            "url_path", 'must name an application and a stream, e.g. '
                        'rtmp://a.rtmp.youtube.com/live2/KEY: "{url}"',
            {"url": redact_rtmp_url(url)})
    return url


PushUrl = Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(_check_push_url)]
"""One ``push`` target: an rtmp:// or rtmps:// URL with a host and a path (the stream
key); messages show it through :func:`redact_rtmp_url`."""


def check_push_urls(urls: list[str]) -> list[str]:
    """``urls`` if no URL is given twice."""
    seen: set[str] = set()
    for url in urls:
        if url in seen:
            raise PydanticCustomError("duplicate_url", 'the same URL twice: "{url}"',
                                      {"url": redact_rtmp_url(url)})
        seen.add(url)
    return urls


# --- [[cameras]] url = "rtmp://..." --------------------------------------------------


def published_stream(url: str) -> str | None:
    """``live/<name>`` when ``url`` is an rtmp:// or rtmps:// URL (a camera recording a
    stream published to this nvr), else None. Assumes :func:`check_published_url`."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("rtmp", "rtmps"):
        return None
    return parts.path.strip("/")


def check_published_url(url: str) -> str:
    """``url`` if it names a stream of the built-in server: ``rtmp://HOST[:PORT]/live/<name>``.

    The host and port are not checked (the server is this process; the URL is what a
    person would play). A ``?key=`` is not needed and is refused, so no key sits in a
    camera URL."""
    parts = split_url(url, ("rtmp", "rtmps"), redact_rtmp_url)
    if parts.query or parts.username or parts.password:
        raise PydanticCustomError(
            "url_key", "an rtmp:// camera URL names a stream of this nvr and takes no key or "
                       'password: "{url}"', {"url": redact_rtmp_url(url)})
    app, _, name = parts.path.strip("/").partition("/")
    if app != APP or not STREAM_RE.match(name):
        raise PydanticCustomError(
            "url_path", "an rtmp:// camera URL names a stream published to this nvr: "
                        "rtmp://HOST:PORT/live/<name> (1-64 letters, digits, '.', '_', '-')",
            {})
    return url
