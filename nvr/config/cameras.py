"""``[[cameras]]``: one table per IP camera, each with a unique name.

URLs are checked by :func:`nvr.config.types.check_rtsp_url`, or, for a camera that
records a stream published to the built-in RTMP server (``rtmp://HOST:PORT/live/<name>``),
by :func:`nvr.config.rtmp.check_published_url`; their passwords never
appear in ``repr()``, ``str()`` or error messages, nor do the stream keys of the
``push`` URLs (:func:`nvr.config.rtmp.redact_rtmp_url`). :func:`duplicate_names` serves
both the model check and the loader, which reports duplicates even when other
errors keep the model check from running.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_core import PydanticCustomError

from nvr.config.motion import MotionConfig
from nvr.config.rtmp import (
    MAX_PUSH,
    PushUrl,
    check_published_url,
    check_push_urls,
    published_stream,
    redact_rtmp_url,
)
from nvr.config.types import STRICT, Size, check_rtsp_url, redact_url

__all__ = ["CameraConfig", "CameraName", "duplicate_names", "published_stream_errors"]

CameraName = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="Unique camera name: 1-64 letters, digits, '_' or '-'. Used in paths and URLs.",
    ),
]


class CameraConfig(BaseModel):
    """``[[cameras]]``: one IP camera."""

    model_config = STRICT

    name: CameraName
    url: str = Field(
        max_length=2000,
        description="rtsp:// or rtsps:// URL of the main stream; credentials may be given "
        "percent-encoded, e.g. rtsp://admin:p%40ss@10.0.0.5:554/stream1. Or "
        "rtmp://HOST:PORT/live/<name>: record what an encoder publishes to the built-in RTMP "
        "server ([rtmp]) at live/<name>, taken in-process (no network hop, no key here).",
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
    record: Literal["continuous", "events", "off"] = Field(
        default="continuous",
        description='"continuous" records all the time; "events" keeps only the segments '
        'that overlap an event (with motion.pre_seconds before and post_seconds after); '
        '"off" only ingests (live view).',
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
    offline_after_seconds: float = Field(
        default=20, ge=1, le=3600,
        description="A camera_offline event after this many seconds without frames.",
    )
    motion: MotionConfig = Field(
        default_factory=MotionConfig, description="[cameras.motion]: motion detection."
    )
    republish: bool = Field(
        default=False,
        description="Serve this camera at rtmp://HOST:PORT/live/<name> (and its sub stream at "
        "live/<name>_sub) from the built-in RTMP server ([rtmp]).",
    )
    push: list[PushUrl] = Field(
        default_factory=list, max_length=MAX_PUSH,
        description="rtmp:// or rtmps:// URLs (stream key in the path) this camera's stream is "
        "sent to, e.g. a streaming platform, reconnecting with backoff; state in "
        "GET /api/cameras. The keys are never shown.",
    )

    @field_validator("url", "sub_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value.lower().startswith(("rtmp://", "rtmps://")):
            return check_published_url(value)
        return check_rtsp_url(value)

    @property
    def published_streams(self) -> dict[str, str]:
        """``{"live/<name>": feed}`` for the URLs naming streams published to this nvr:
        the feed is the camera's (``<camera>``, or ``<camera>/sub`` for ``sub_url``)."""
        out = {}
        for url, feed in ((self.url, self.name), (self.sub_url, f"{self.name}/sub")):
            stream = published_stream(url) if url is not None else None
            if stream is not None:
                out[stream] = feed
        return out

    @field_validator("push")
    @classmethod
    def _check_push(cls, value: list[str]) -> list[str]:
        return check_push_urls(value)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            if name in ("url", "sub_url") and value is not None:
                value = redact_url(value)
            elif name == "push":
                value = [redact_rtmp_url(url) for url in value]
            yield name, value


def duplicate_names(names: list[Any]) -> Iterator[tuple[int, str, PydanticCustomError]]:
    """``(index, name, error)`` for each name seen before it; non-strings are skipped."""
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


def published_stream_errors(cameras: list[CameraConfig], rtmp_enabled: bool,
                            ) -> Iterator[tuple[int, str, PydanticCustomError]]:
    """``(index, key, error)`` for rtmp:// camera URLs that cannot work: the server is off,
    two cameras take the same stream, or the stream is another camera's republished one."""
    republished = {f"live/{c.name}": c.name for c in cameras if c.republish}
    republished |= {f"live/{c.name}_sub": c.name for c in cameras if c.republish and c.sub_url}
    taken: dict[str, str] = {}
    for index, cam in enumerate(cameras):
        for key, url in (("url", cam.url), ("sub_url", cam.sub_url)):
            stream = published_stream(url) if url is not None else None
            if stream is None:
                continue
            if not rtmp_enabled:
                yield index, key, PydanticCustomError(
                    "rtmp_disabled", "{stream} is a stream published to this nvr's RTMP "
                    "server, but [rtmp] enabled is false", {"stream": stream})
            elif stream in taken:
                yield index, key, PydanticCustomError(
                    "rtmp_stream_taken", "{stream} is recorded by camera {other} already",
                    {"stream": stream, "other": taken[stream]})
            elif republished.get(stream, cam.name) != cam.name:
                yield index, key, PydanticCustomError(
                    "rtmp_stream_taken", "{stream} is where camera {other} is republished",
                    {"stream": stream, "other": republished[stream]})
            taken.setdefault(stream, cam.name)
