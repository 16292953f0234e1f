"""What a :class:`~nvr.rtmp.protocol.ServerConnection` reports to the server.

Events ending in ``Requested`` need a decision: the connection processes
nothing more from the peer until the server has called the matching
``accept_*``/``reject_*`` method (it may take its time, e.g. check a key in a
thread); then ``receive_data(b"")`` yields what arrived meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

MediaKind = Literal["audio", "video", "data"]


@dataclass(frozen=True, slots=True)
class Event:
    """Base class of everything :meth:`ServerConnection.receive_data` returns."""


@dataclass(frozen=True, slots=True)
class HandshakeDone(Event):
    """C0/C1/C2 are in; chunk streams start (a handshake timeout can stop)."""


@dataclass(frozen=True, slots=True)
class ConnectRequested(Event):
    """``connect``: answer with ``accept_connect()`` or ``reject_connect()``.

    ``app`` is without query; ``query`` holds the part of ``app`` after ``?``
    (OBS puts ``?key=...`` there); ``four_cc_list`` are the Enhanced RTMP codecs
    the client understands (``["hvc1", ...]``, empty for classic clients).
    """

    app: str
    tc_url: str
    params: dict[str, Any]
    query: dict[str, str] = field(default_factory=dict)
    four_cc_list: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PublishRequested(Event):
    """``publish``: answer with ``accept_publish(stream_id)`` or ``reject_publish``."""

    stream_id: int
    stream_key: str
    query: dict[str, str]
    publish_type: str = "live"


@dataclass(frozen=True, slots=True)
class PlayRequested(Event):
    """``play``: answer with ``accept_play(stream_id)`` or ``reject_play``."""

    stream_id: int
    stream_name: str
    query: dict[str, str]
    start: float = -2.0


@dataclass(frozen=True, slots=True)
class MediaReceived(Event):
    """Audio, video or data from an accepted publisher.

    ``payload`` is the FLV tag body as it came (for ``data``: re-encoded without
    ``@setDataFrame``, ready to send to players); ``metadata`` is the decoded
    ``onMetaData`` object, else ``None``. ``timestamp`` is the 32-bit wire value.
    """

    stream_id: int
    kind: MediaKind
    timestamp: int
    payload: bytes
    metadata: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class PauseRequested(Event):
    """``pause`` from a player (already answered with Pause/Unpause.Notify)."""

    stream_id: int
    paused: bool
    position_ms: float


@dataclass(frozen=True, slots=True)
class StreamDeleted(Event):
    """``deleteStream`` or ``closeStream``: the stream's publish or play is over."""

    stream_id: int


@dataclass(frozen=True, slots=True)
class BufferLengthSet(Event):
    """A player's SetBufferLength (ms)."""

    stream_id: int
    buffer_ms: int


@dataclass(frozen=True, slots=True)
class AcknowledgementReceived(Event):
    """The peer's Acknowledgement: bytes it received from us, modulo 2^32."""

    sequence: int


@dataclass(frozen=True, slots=True)
class ConnectionFailed(Event):
    """The peer broke the protocol; nothing more is processed. Close the socket
    (after sending :meth:`data_to_send`) and log ``reason``."""

    reason: str
