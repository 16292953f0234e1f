"""The whole config file: :class:`Config` composes one model per section.

A section absent from the file takes its defaults. Checks that span sections or
entries (camera names are unique) live here; :func:`whole_file_problems` runs
them on raw data, for the loader to report when field errors stop the model
validator from running.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails

from nvr.config.auth import AuthConfig
from nvr.config.cameras import CameraConfig, duplicate_names, published_stream_errors
from nvr.config.mqtt import MqttConfig
from nvr.config.notify import NotifyConfig
from nvr.config.recording import RecordingConfig
from nvr.config.rtmp import RtmpConfig
from nvr.config.server import ServerConfig
from nvr.config.sim import SimConfig
from nvr.config.types import STRICT
from nvr.config.webhooks import WebhookConfig

__all__ = ["Config", "whole_file_problems"]


class Config(BaseModel):
    """The whole config file."""

    model_config = STRICT

    # The sub-table defaults are dicts, validated like a written table, so that
    # data_dir is resolved against the config file even when [server] is absent.
    server: ServerConfig = Field(default_factory=dict, description="[server]")  # type: ignore[arg-type,assignment]
    recording: RecordingConfig = Field(default_factory=RecordingConfig, description="[recording]")
    auth: AuthConfig = Field(default_factory=AuthConfig, description="[auth]")
    cameras: list[CameraConfig] = Field(
        default_factory=list,
        max_length=1000,
        description="[[cameras]]; none is valid (the NVR then only serves the API).",
    )
    sim: SimConfig = Field(default_factory=SimConfig, description="[sim]")
    webhooks: list[WebhookConfig] = Field(
        default_factory=list, max_length=100,
        description="[[webhooks]]: signed JSON POSTs of events (docs/ref/webhooks.md).")
    mqtt: MqttConfig = Field(default_factory=MqttConfig,
                             description="[mqtt]: events and camera state to a broker; off "
                                         "without url.")
    rtmp: RtmpConfig = Field(default_factory=RtmpConfig,
                             description="[rtmp]: the built-in RTMP server.")
    notify: list[NotifyConfig] = Field(
        default_factory=list, max_length=100,
        description="[[notify]]: phone and chat notifications of events through Apprise.")

    @model_validator(mode="after")
    def _check_unique_names(self) -> Config:
        for index, entry in enumerate(self.notify):
            entry.numbered(index)
        errors = [
            InitErrorDetails(type=err, loc=("cameras", index, "name"), input=name)
            for index, name, err in duplicate_names([c.name for c in self.cameras])
        ] + [
            InitErrorDetails(type=err, loc=("webhooks", index, "name"), input=name)
            for index, name, err in duplicate_names([w.target for w in self.webhooks])
        ] + [  # outbox targets are one namespace: a webhook may be named "notify:x"
            InitErrorDetails(type=err, loc=("notify", index - len(self.webhooks), "name"),
                             input=name)
            for index, name, err in duplicate_names(
                [w.target for w in self.webhooks] + [n.target for n in self.notify])
            if index >= len(self.webhooks)
        ] + [
            InitErrorDetails(type=err, loc=("cameras", index, key), input=None)
            for index, key, err in published_stream_errors(self.cameras, self.rtmp.enabled)
        ]
        if errors:
            raise ValidationError.from_exception_data("Config", errors)
        return self

    @property
    def database_url(self) -> str:
        """``server.database_url``: the database URL with its default resolved."""
        return self.server.database_url


def whole_file_problems(data: Any) -> list[tuple[tuple[Any, ...], str]]:
    """``(key path, message)`` of the whole-file checks, run on raw (unvalidated) data."""
    cameras = data.get("cameras") if isinstance(data, dict) else None
    if not isinstance(cameras, list):
        return []
    names = [c.get("name") if isinstance(c, dict) else None for c in cameras]
    return [(("cameras", index, "name"), err.message()) for index, _, err in duplicate_names(names)]
