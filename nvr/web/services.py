"""What the web layer is given: the running parts of the NVR, typed."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from nvr.auth.authenticator import Authenticator
from nvr.recording.index import SegmentIndex
from nvr.registry import FeedRegistry


@dataclass
class Services:
    data_dir: Path
    index: SegmentIndex
    auth: Authenticator
    registry: FeedRegistry = field(default_factory=FeedRegistry)
    configured: list[str] = field(default_factory=list)  # every camera name, in config order
    tls: bool = False  # served over HTTPS: cookies get Secure, answers HSTS

    def known_cameras(self) -> list[str]:
        return self.configured
