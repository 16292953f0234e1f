"""What the web layer is given: the running parts of the NVR, typed."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from nvr.alerts.mqtt import MqttState
from nvr.auth.authenticator import Authenticator
from nvr.clock import SYSTEM_CLOCK, Clock
from nvr.config import Config
from nvr.recording.index import SegmentIndex
from nvr.recording.recorder import OpenSegment
from nvr.registry import FeedRegistry
from nvr.transcoders import Transcoders


class PushStateLike(Protocol):
    """One RTMP push target as the API shows it (nvr.rtmp.push.PushState; the web
    layer does not import the protocol package)."""

    @property
    def url(self) -> str: ...  # redacted: no stream key
    @property
    def status(self) -> str: ...
    @property
    def last_error(self) -> str | None: ...
    @property
    def bytes_sent(self) -> int: ...
    @property
    def reconnects(self) -> int: ...


@dataclass
class Services:
    data_dir: Path
    index: SegmentIndex
    auth: Authenticator
    registry: FeedRegistry = field(default_factory=FeedRegistry)
    configured: list[str] = field(default_factory=list)  # every camera name, in config order
    transcoders: Transcoders | None = None  # live view ?transcode=h264 (None: not offered)
    tls: bool = False  # served over HTTPS: cookies get Secure, answers HSTS
    config: Config | None = None  # the running config (retention shown, problems listed)
    clock: Clock = SYSTEM_CLOCK  # "now" for timelines
    started: float = field(default_factory=time.time)  # when nvr started serving (epoch s)
    sessions: sessionmaker[Session] | None = None  # the database (events, motion, deliveries)
    mqtt: Callable[[], MqttState] | None = None  # the MQTT connection's state, when configured
    # each camera's RTMP push targets (nvr.rtmppush.Pushes.states), when any camera pushes
    push: Callable[[], Mapping[str, Sequence[PushStateLike]]] | None = None
    # the RTMP server's streams (nvr.rtmpapp.RtmpApp.streams), when [rtmp] is enabled
    rtmp: Callable[[], list[dict[str, Any]]] | None = None
    # a camera's segment being written, as far as it is on disk (its recorder's
    # open_segment): playback, export and the timeline reach it before it is indexed
    open_segment: Callable[[str], OpenSegment | None] | None = None

    def known_cameras(self) -> list[str]:
        return self.configured
