"""What produces a Feed: an RTSP camera today, an RTMP publisher later.

Every source has the same, source-neutral state, so the API and the UI list
cameras and pushed streams alike:

``connecting``   before the first session reached the point of sending frames
``online``       video frames are flowing (never online with fps 0)
``offline``      the last try failed or the stream stopped; retrying
``auth_failed``  the credentials were refused; retrying slowly
``error``        the source sends nothing usable (e.g. only corrupt frames), or
                 its task failed unexpectedly and is being restarted

``last_error`` is one line a person understands, without credentials.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from nvr.feed import Feed

Status = Literal["online", "connecting", "offline", "auth_failed", "error"]
STATUSES: tuple[Status, ...] = ("online", "connecting", "offline", "auth_failed", "error")


@dataclass
class SourceState:
    status: Status = "connecting"
    last_error: str | None = None
    codec: str | None = None
    width: int = 0
    height: int = 0
    fps: float = 0.0
    bitrate_kbps: float = 0.0
    audio_codec: str | None = None
    attempts: int = 0  # connection attempts
    sessions: int = 0  # sessions that delivered frames
    lost_packets: int = 0
    corrupt: int = 0  # frames found invalid and dropped

    def fail(self, status: Status, message: str) -> None:
        self.status = status
        self.last_error = message
        self.fps = self.bitrate_kbps = 0.0


class Source(Protocol):
    """A producer of one Feed, run as a long-lived task by the runtime's supervisor."""

    name: str
    feed: Feed

    @property
    def state(self) -> SourceState:
        """How the source is doing now (read by the API, health and the UI)."""
        ...

    async def run(self) -> None:
        """Produce until cancelled; expected failures are retried inside, and only a bug
        escapes (the supervisor then logs it once and restarts the source)."""
        ...
