"""``[recording]``: segment length and the retention limits shared by all cameras.

A camera's own ``retain_days`` replaces the global one for that camera; its own
``max_bytes`` caps it in addition to the global cap (see ``nvr.recording.retention``).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from nvr.config.types import STRICT, Size, parse_size

__all__ = ["RecordingConfig"]


class RecordingConfig(BaseModel):
    """``[recording]``: segment length and the retention limits shared by all cameras."""

    model_config = STRICT

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
    events_retain_days: float | None = Field(
        default=None,
        gt=0,
        le=36500,
        description="Keep segments that overlap an event this many days (longer than "
        "retain_days); unset: events follow retain_days.",
    )
