"""``[mqtt]``: the broker nvr publishes events, motion and camera status to.

MQTT is off until ``url`` is set. ``mqtt://host:1883`` connects in plain TCP,
``mqtts://host:8883`` with TLS (the system's trusted certificates). Credentials
go in ``username``/``password``, not in the URL, so there is one place that has
to be hidden: the password never appears in ``repr()``, logs or errors. The
topics are in ``docs/ref/config.md`` and the README.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from nvr.config.types import STRICT, redact_url, resolve_path, split_url

__all__ = ["MqttConfig"]

_SCHEMES = {"mqtt": (1883, False), "mqtts": (8883, True)}
_TOPIC_FORBIDDEN = ("+", "#", "\0")


def _check_topic(value: str, what: str) -> str:
    """``value`` if it is a usable topic prefix: no wildcards, no empty levels."""
    if any(c in value for c in _TOPIC_FORBIDDEN):
        raise PydanticCustomError("topic", "{what} must not contain +, # or NUL", {"what": what})
    if value.startswith("/") or value.endswith("/") or "//" in value:
        raise PydanticCustomError("topic", "{what} must not have empty levels (stray /)",
                                  {"what": what})
    return value


class MqttConfig(BaseModel):
    """The ``[mqtt]`` table."""

    model_config = STRICT

    url: str | None = Field(
        default=None,
        description="mqtt://host[:port] (default port 1883) or mqtts://host[:port] (TLS, "
                    "8883); unset: MQTT is off.")
    topic_prefix: str = Field(
        default="nvr", min_length=1, max_length=100,
        description="First topic level: <prefix>/events, <prefix>/<camera>/motion, ...")
    username: str | None = Field(default=None, min_length=1, max_length=256,
                                 description="Broker user name.")
    password: str | None = Field(default=None, max_length=1024,
                                 description="Broker password; never shown in repr() or logs.")
    tls_ca: Path | None = Field(
        default=None,
        description="With mqtts://: PEM file of the CA that signed the broker's certificate "
                    "(a home broker's own CA); unset: the system's trusted CAs.")
    discovery: bool = Field(
        default=False,
        description="Publish Home Assistant discovery messages (retained) for each camera.")
    discovery_prefix: str = Field(
        default="homeassistant", min_length=1, max_length=100,
        description="Home Assistant's discovery topic prefix.")

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = split_url(value, tuple(_SCHEMES))
        if parts.username is not None or parts.password is not None:
            raise PydanticCustomError(
                "url_userinfo", "put the credentials in mqtt.username and mqtt.password, "
                                'not in the URL: "{url}"', {"url": redact_url(value)})
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise PydanticCustomError("url_path", 'must be just scheme, host and port: "{url}"',
                                      {"url": redact_url(value)})
        return value

    @field_validator("topic_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        return _check_topic(value, "topic_prefix")

    @field_validator("discovery_prefix")
    @classmethod
    def _check_discovery_prefix(cls, value: str) -> str:
        return _check_topic(value, "discovery_prefix")

    @field_validator("tls_ca")
    @classmethod
    def _check_tls_ca(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None:
            return None
        path = resolve_path(value, info.context)
        if not path.is_file():
            raise PydanticCustomError("tls", "no such file: {path}", {"path": str(path)})
        return path

    @model_validator(mode="after")
    def _check_pairs(self) -> MqttConfig:
        problems = []
        if self.password is not None and self.username is None:
            problems.append(("password", "password is set without username"))
        if self.tls_ca is not None and not self.tls:
            problems.append(("tls_ca", "tls_ca needs an mqtts:// url"))
        if problems:
            raise ValidationError.from_exception_data("MqttConfig", [
                InitErrorDetails(type=PydanticCustomError("mqtt", message), loc=(key,),
                                 input=None)
                for key, message in problems])
        return self

    @property
    def enabled(self) -> bool:
        """Whether nvr connects to a broker at all (``url`` is set)."""
        return self.url is not None

    @property
    def host(self) -> str:
        """The broker's host name or address (IPv6 without brackets)."""
        if self.url is None:
            raise ValueError("mqtt is disabled (no url)")
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        """The broker's port: the URL's, else 1883 (mqtt) or 8883 (mqtts)."""
        if self.url is None:
            raise ValueError("mqtt is disabled (no url)")
        parts = urlsplit(self.url)
        return parts.port or _SCHEMES[parts.scheme.lower()][0]

    @property
    def tls(self) -> bool:
        """Whether the connection uses TLS (``mqtts://``)."""
        return self.url is not None and _SCHEMES[urlsplit(self.url).scheme.lower()][1]

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            if name == "password" and value is not None:
                value = "***"
            yield name, value
