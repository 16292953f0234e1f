"""What the web layer is given: the running parts of the NVR, typed."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from nvr.recording.index import SegmentIndex
from nvr.rtsp.camera import CameraState


class CameraView(Protocol):
    name: str
    state: CameraState


@dataclass
class Services:
    data_dir: Path
    index: SegmentIndex
    admin_password: str | None
    cameras: dict[str, CameraView] = field(default_factory=dict)
    configured: list[str] = field(default_factory=list)  # every camera name, in config order
