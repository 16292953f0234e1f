"""``[cameras.motion]``: one camera's motion detection (``nvr.motion``).

Polygons are lists of ``[x, y]`` points in 0..1 of the frame's width and
height, so they survive a change of resolution. ``mask`` polygons are ignored
areas; ``zones`` are named areas that events report when motion touches them.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, field_validator
from pydantic_core import PydanticCustomError

from nvr.config.types import STRICT

__all__ = ["MotionConfig", "ZoneConfig"]

Point = Annotated[list[Annotated[float, Field(ge=0, le=1)]], Field(min_length=2, max_length=2)]
PolygonPoints = Annotated[list[Point], Field(min_length=3, max_length=64)]


class ZoneConfig(BaseModel):
    """One named zone: ``{name = "driveway", polygon = [[0,0.5],[0.5,0.5],[0.5,1]]}``."""

    model_config = STRICT

    name: str = Field(pattern=r"^[A-Za-z0-9_ .-]{1,64}$", description="Zone name.")
    polygon: PolygonPoints = Field(description="Points [x, y] in 0..1 of the frame.")


class MotionConfig(BaseModel):
    """``[cameras.motion]``: motion detection on the sub stream (or the main one)."""

    model_config = STRICT

    enabled: bool = Field(default=False, description="Detect motion on this camera.")
    fps: float = Field(default=5.0, gt=0, le=30, description="Analysed frames per second.")
    threshold: int = Field(
        default=25, ge=1, le=255,
        description="Grey levels (0-255) a pixel must differ from the background by.")
    min_area: float = Field(
        default=0.005, gt=0, le=1,
        description="Fraction of the (unmasked) frame that must change to count as motion.")
    pre_seconds: float = Field(
        default=5.0, ge=0, le=300, description="Seconds of video kept before an event.")
    post_seconds: float = Field(
        default=10.0, ge=0, le=600,
        description="An event ends this many seconds after the last motion; kept after it.")
    mask: list[PolygonPoints] = Field(
        default_factory=list, max_length=32, description="Ignored areas (polygons).")
    zones: list[ZoneConfig] = Field(
        default_factory=list, max_length=32, description="Named areas events report.")

    @field_validator("zones")
    @classmethod
    def _unique_zones(cls, value: list[ZoneConfig]) -> list[ZoneConfig]:
        seen: set[str] = set()
        for zone in value:
            if zone.name in seen:
                raise PydanticCustomError("duplicate_zone", 'duplicate zone "{name}"',
                                          {"name": zone.name})
            seen.add(zone.name)
        return value
