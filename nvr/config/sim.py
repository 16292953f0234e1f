"""``[sim]``: the built-in simulated camera that ``nvr run`` starts when ``cameras > 0``.

It serves ``rtsp://127.0.0.1:<port>/cam1`` … ``/camN``; it adds no ``[[cameras]]``
by itself.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from nvr.config.types import STRICT

__all__ = ["SimConfig"]


class SimConfig(BaseModel):
    """``[sim]``: the built-in simulated camera, started by ``nvr run`` when cameras > 0."""

    model_config = STRICT

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
    scene: Literal["pattern", "moving", "static", "ramp", "masked", "zone"] = Field(
        default="pattern",
        description="What the cameras show: the test pattern, or a scripted scene for "
        "motion detection (nvr.sim.scenes): moving, static, ramp, masked, zone.",
    )
