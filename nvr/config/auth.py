"""``[auth]``: how long browser sessions last and how long the audit log is kept."""

from __future__ import annotations

from pydantic import BaseModel, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from nvr.config.types import STRICT, Duration, parse_duration

__all__ = ["AuthConfig"]


class AuthConfig(BaseModel):
    """``[auth]``: browser sessions and the audit log."""

    model_config = STRICT

    session_idle: Duration = Field(
        default=parse_duration("24h"),
        ge=60,
        le=parse_duration("365d"),
        description='A browser session unused this long ends ("24h"; 60 s to 365 d).',
    )
    session_max: Duration = Field(
        default=parse_duration("30d"),
        ge=60,
        le=parse_duration("365d"),
        description='A browser session ends this long after login, used or not ("30d").',
    )
    audit_days: float = Field(
        default=90,
        gt=0,
        le=36500,
        description="Audit log entries older than this many days are deleted.",
    )

    @model_validator(mode="after")
    def _idle_within_max(self) -> AuthConfig:
        if self.session_idle > self.session_max:
            raise ValidationError.from_exception_data("AuthConfig", [InitErrorDetails(
                type=PydanticCustomError("duration", "longer than session_max"),
                loc=("session_idle",), input=None)])
        return self
