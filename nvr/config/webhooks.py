"""``[[webhooks]]``: where event notifications are POSTed, signed with a secret.

Each entry filters events by type, camera and zone; ``cooldown_seconds`` keeps a
webhook from getting a new event ``start`` from the same camera too often. The
secret never appears in ``repr()``; the URL's password (if any) is redacted.
The delivery schema is in ``docs/ref/webhooks.md``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator
from pydantic_core import PydanticCustomError

from nvr.config.types import STRICT, redact_url, split_url

__all__ = ["EVENT_TYPES", "AlertFilter", "EventType", "WebhookConfig"]

EventType = Literal[
    "motion", "camera_offline", "camera_online", "recording_gap", "disk_low",
    "rtmp_publish_start", "rtmp_publish_stop",
]  # fmt: skip
EVENT_TYPES: tuple[EventType, ...] = get_args(EventType)

_RESERVED_HEADERS = {"content-type", "content-length", "host", "x-nvr-signature",
                     "idempotency-key"}


class AlertFilter(BaseModel):
    """The filters every alert target shares (``[[webhooks]]``, ``[[notify]]``): which
    events it gets, and how often a camera may start one."""

    model_config = STRICT

    events: list[EventType] = Field(
        default_factory=lambda: list(EVENT_TYPES), description="Event types to send.")
    cameras: list[str] | Literal["*"] = Field(
        default="*", description='Camera names, or "*" for every camera.')
    zones: list[str] = Field(
        default_factory=list,
        description="Only events touching one of these zones; empty: any (and none).")
    cooldown_seconds: float = Field(
        default=0, ge=0, le=86_400,
        description="No new event start from the same camera within this many seconds.")

    @field_validator("cameras")
    @classmethod
    def _check_cameras(cls, value: list[str] | str) -> list[str] | str:
        if isinstance(value, list) and any(not name for name in value):
            raise PydanticCustomError("camera_name", "camera names must not be empty")
        return value

    @property
    def target(self) -> str:
        """The name the outbox files this target's deliveries under."""
        raise NotImplementedError

    def wants(self, camera: str, type_: str, zones: list[str] | tuple[str, ...]) -> bool:
        """Whether an event of ``type_`` on ``camera`` touching ``zones`` passes the filters."""
        if type_ not in self.events:
            return False
        if self.cameras != "*" and camera not in self.cameras:
            return False
        return not self.zones or any(z in self.zones for z in zones)


class WebhookConfig(AlertFilter):
    """One ``[[webhooks]]`` entry."""

    name: str | None = Field(
        default=None, min_length=1, max_length=64,
        description="A stable name for the deliveries list; defaults to the URL.")
    url: str = Field(description="http:// or https:// URL the JSON is POSTed to.")
    secret: str = Field(min_length=16, max_length=512,
                        description="HMAC-SHA256 key for X-NVR-Signature (16+ characters).")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra request headers.")

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        split_url(value, ("http", "https"))
        return value

    @field_validator("headers")
    @classmethod
    def _check_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for key, text in value.items():
            if key.lower() in _RESERVED_HEADERS:
                raise PydanticCustomError("header", "{key} is set by nvr", {"key": key})
            if not key.isascii() or not key or any(c in key for c in " :\r\n"):
                raise PydanticCustomError("header", "bad header name {key!r}", {"key": key})
            if "\r" in text or "\n" in text:
                raise PydanticCustomError("header", "header {key} has a line break",
                                          {"key": key})
        return value

    @property
    def target(self) -> str:
        """The name deliveries are filed under: ``name``, else the URL's scheme and host
        with a short hash of the whole URL (its path may be a token: Discord, Slack)."""
        if self.name:
            return self.name
        parts = urlsplit(self.url)
        digest = hashlib.sha256(self.url.encode()).hexdigest()[:8]
        host = parts.netloc.rpartition("@")[2]  # host[:port], never user:password
        return f"{parts.scheme}://{host}/… #{digest}"[:128]

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            if name == "secret":
                value = "***"
            elif name == "url":
                value = redact_url(value)
            elif name == "headers":
                value = {k: "***" for k in value}
            yield name, value
