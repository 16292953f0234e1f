"""One RTMP server connection as a sans-I/O state machine (h11/aioquic style).

The asyncio server owns the socket and calls, for every read::

    for event in conn.receive_data(data):
        ...                         # decide: conn.accept_publish(...), ...
    transport.write(conn.data_to_send())

Nothing here blocks, sleeps, logs or knows Feeds. The server maps events to
Feeds and timeouts (handshake, idle publisher) to closing the socket.

Order of what we send (what ffmpeg, librtmp and OBS expect, PITFALLS.md):
after ``connect`` Window Ack Size, Set Peer Bandwidth, Set Chunk Size,
``_result`` (NetConnection.Connect.Success); for an accepted play StreamBegin,
NetStream.Play.Reset, NetStream.Play.Start and ``|RtmpSampleAccess`` — then the
server sends metadata, sequence headers and the cached GOP with
:meth:`ServerConnection.send_media`. ``releaseStream``, ``FCPublish``,
``FCUnpublish``, ``FCSubscribe``, ``getStreamLength`` and ``createStream`` are
answered here; an unknown command with a transaction id gets an ``_error``.

Acknowledgements go to the peer every window of received bytes (the peer's
Window Ack Size, else ours), sequence numbers modulo 2^32; PingRequests are
answered.

Media to players: :meth:`ServerConnection.encode_media` (a format-0 header, the
player's own timestamp) and :func:`encode_media_delta` (a format-1 header, a delta
from the previous message on the chunk stream) are pure given the chunk size, so
the server chunks each live message once per chunk size and writes the same
bytes to every player whose last message on that chunk stream
(:attr:`ServerConnection.media_owner`) was the same one.
"""

from __future__ import annotations

from collections import deque
from typing import Any
from urllib.parse import parse_qsl

from nvr.rtmp import amf0
from nvr.rtmp import messages as msg
from nvr.rtmp.chunks import Message, encode_delta, encode_message
from nvr.rtmp.endpoint import Endpoint
from nvr.rtmp.errors import ProtocolError
from nvr.rtmp.events import (
    ConnectRequested,
    Event,
    MediaKind,
    MediaReceived,
    PauseRequested,
    PlayRequested,
    PublishRequested,
    StreamDeleted,
)
from nvr.rtmp.handshake import ServerHandshake

AUDIO_CSID, DATA_CSID, VIDEO_CSID = 4, 5, 6  # media; control and commands on 2 and 3
MEDIA_TYPES: dict[str, int] = {"audio": msg.AUDIO, "video": msg.VIDEO, "data": msg.DATA_AMF0}
MEDIA_CSIDS: dict[str, int] = {"audio": AUDIO_CSID, "video": VIDEO_CSID, "data": DATA_CSID}
_KINDS: dict[int, MediaKind] = {msg.AUDIO: "audio", msg.VIDEO: "video"}
MAX_STREAMS = 8  # createStream per connection; real clients use one
MAX_HELD = 1024 * 1024  # bytes a peer may send while we decide on its request
_ANSWERED = ("releaseStream", "FCPublish", "FCUnpublish", "FCSubscribe", "FCUnsubscribe",
             "_checkbw")
_IGNORED = ("receiveAudio", "receiveVideo", "onBWDone", "_result", "_error", "onStatus")


def encode_media(kind: MediaKind, stream_id: int, timestamp: int, payload: bytes,
                 chunk_size: int) -> bytes:
    """One media message chunked for every player with this chunk size and stream id."""
    message = Message(MEDIA_TYPES[kind], stream_id, timestamp & 0xFFFFFFFF, payload)
    return encode_message(message, MEDIA_CSIDS[kind], chunk_size)


def encode_media_delta(kind: MediaKind, delta: int, payload: bytes, chunk_size: int) -> bytes:
    """One media message ``delta`` ms after the previous one on its chunk stream, for
    every player whose last message there was that one (:func:`chunks.encode_delta`)."""
    return encode_delta(Message(MEDIA_TYPES[kind], 0, 0, payload), MEDIA_CSIDS[kind],
                        chunk_size, delta)


def _split_query(name: str) -> tuple[str, dict[str, str]]:
    base, _, query = name.partition("?")
    return base, dict(parse_qsl(query, keep_blank_values=True))


def _string_arg(args: list[Any], index: int, what: str) -> str:
    if len(args) <= index or not isinstance(args[index], str):
        raise ProtocolError(f"{what} without a name")
    return args[index]


class ServerConnection(Endpoint):
    """The server side of one RTMP connection (see the module docstring)."""

    def __init__(self, *, handshake: ServerHandshake | None = None) -> None:
        super().__init__(handshake or ServerHandshake())
        self._held = bytearray()
        self._inbox: deque[Message] = deque()
        self._pending: tuple[str, int] | None = None  # ("connect"|"publish"|"play", id)
        self._connect_tid = 0.0
        self._object_encoding = 0.0
        self.connected = False
        self.app = ""
        self.streams: dict[int, str] = {}  # stream id → "" | "publishing" | "playing"
        self._names: dict[int, str] = {}
        self._next_stream = 1
        # per media chunk stream id, whose media message went out last there (a
        # Fanout's player): a format-1 header's delta counts from that message
        self.media_owner: list[object] = [None] * (max(MEDIA_CSIDS.values()) + 1)

    # -- input (receive_data: Endpoint's; b"" continues after a decision) ------
    def _process(self, data: bytes, events: list[Event]) -> None:
        self._held += data
        if self._pending is not None and len(self._held) > MAX_HELD:
            raise ProtocolError(f"sent {len(self._held)} bytes before its request was "
                                "answered")
        while self._pending is None and not self.closed:
            if self._inbox:
                self._handle(self._inbox.popleft(), events)
            elif self._held:
                chunk = bytes(self._held)
                self._held.clear()
                self._inbox.extend(self._feed(chunk))
            else:
                break

    def _handle(self, message: Message, events: list[Event]) -> None:
        t = message.type_id
        if t in msg.CONTROL_TYPES:
            self._control(message, events)
        elif t in (msg.COMMAND_AMF0, msg.COMMAND_AMF3):
            self._command(message, msg.parse_command(message), events)
        elif not self.connected:
            raise ProtocolError(f"message type {t} before connect")
        elif self.streams.get(message.stream_id) != "publishing":
            return  # media nobody accepted (yet): dropped, as the refusal promised
        elif t == msg.AGGREGATE:
            for sub in msg.split_aggregate(message):
                self._handle(sub, events)
        elif t in _KINDS:
            events.append(MediaReceived(message.stream_id, _KINDS[t], message.timestamp,
                                        message.payload))
        elif t in (msg.DATA_AMF0, msg.DATA_AMF3):
            name, values = msg.parse_data(message)
            meta = values[0] if name == "onMetaData" and values and isinstance(
                values[0], dict) else None
            events.append(MediaReceived(message.stream_id, "data", message.timestamp,
                                        amf0.encode(name, *values), meta))

    def _command(self, message: Message, cmd: msg.Command, events: list[Event]) -> None:
        name, tid, args = cmd.name, cmd.transaction_id, cmd.args
        if name == "connect":
            if self.connected or self._connect_tid:
                raise ProtocolError("second connect on one connection")
            obj = cmd.obj if isinstance(cmd.obj, dict) else {}
            app, query = _split_query(str(obj.get("app", "")))
            self.app = app
            self._connect_tid = tid or 1.0
            enc = obj.get("objectEncoding")
            self._object_encoding = enc if isinstance(enc, float) else 0.0
            fourcc = obj.get("fourCcList")
            four_cc_list = [f for f in fourcc if isinstance(f, str)] if isinstance(
                fourcc, list) else []
            self._pending = ("connect", 0)
            events.append(ConnectRequested(app, str(obj.get("tcUrl", "")), obj, query,
                                           four_cc_list))
            return
        if not self.connected:
            raise ProtocolError(f"command {name!r} before connect")
        sid = message.stream_id
        if name == "createStream":
            if len(self.streams) >= MAX_STREAMS:
                self._send(msg.error(tid, "NetConnection.Call.Failed", "Too many streams."))
                return
            new = self._next_stream
            self._next_stream += 1
            self.streams[new] = ""
            self._send(msg.result(tid, None, float(new)))
        elif name in ("publish", "play"):
            if self.streams.get(sid) != "":
                raise ProtocolError(f"{name} on stream {sid}, which is not an idle stream")
            full = _string_arg(args, 0, name)
            base, query = _split_query(full)
            self._names[sid] = base
            self._pending = (name, sid)
            if name == "publish":
                kind = args[1] if len(args) > 1 and isinstance(args[1], str) else "live"
                events.append(PublishRequested(sid, base, query, kind))
            else:
                start = args[1] if len(args) > 1 and isinstance(args[1], float) else -2.0
                events.append(PlayRequested(sid, base, query, start))
        elif name == "pause":
            paused = bool(args[0]) if args else True
            pos = args[1] if len(args) > 1 and isinstance(args[1], float) else 0.0
            code = "NetStream.Pause.Notify" if paused else "NetStream.Unpause.Notify"
            self._send(msg.on_status(sid, "status", code, "Paused." if paused else
                                     "Unpaused."))
            events.append(PauseRequested(sid, paused, pos))
        elif name in ("deleteStream", "closeStream"):
            target = sid
            if name == "deleteStream":
                target = int(args[0]) if args and amf0.is_finite_number(args[0]) else -1
            if target in self.streams:
                if name == "deleteStream":
                    del self.streams[target]
                else:
                    self.streams[target] = ""
                events.append(StreamDeleted(target))
        elif name == "getStreamLength":
            self._send(msg.result(tid, None, 0.0))
        elif name in _ANSWERED:
            if tid:
                self._send(msg.result(tid, None))
        elif name not in _IGNORED and tid:
            self._send(msg.error(tid, "NetConnection.Call.Failed",
                                 f"Method not found ({name})."))

    # -- decisions -------------------------------------------------------------
    def _decide(self, kind: str, stream_id: int = 0) -> None:
        if self._pending != (kind, stream_id):
            raise RuntimeError(f"no {kind} request pending on stream {stream_id}")
        self._pending = None

    def accept_connect(self, *, chunk_size: int = 4096, window_ack_size: int = 2_500_000,
                       peer_bandwidth: int = 2_500_000,
                       four_cc_list: list[str] | None = None) -> None:
        """Answer ``connect`` with success (and our chunk size from now on)."""
        self._decide("connect")
        self._window = window_ack_size
        self._send(msg.window_ack_size(window_ack_size))
        self._send(msg.set_peer_bandwidth(peer_bandwidth, msg.LIMIT_DYNAMIC))
        self._send(msg.set_chunk_size(chunk_size))
        self._writer.set_chunk_size(chunk_size)
        self._send(msg.connect_result(self._connect_tid, self._object_encoding, four_cc_list))
        self.connected = True

    def reject_connect(self, description: str = "Connection rejected.") -> None:
        """Answer ``connect`` with NetConnection.Connect.Rejected; then close the socket."""
        self._decide("connect")
        self._send(msg.error(self._connect_tid, "NetConnection.Connect.Rejected", description))
        self.closed = True

    def accept_publish(self, stream_id: int) -> None:
        self._decide("publish", stream_id)
        self.streams[stream_id] = "publishing"
        name = self._names.get(stream_id, "")
        self._send(msg.on_status(stream_id, "status", "NetStream.Publish.Start",
                                 f"{name} is now published.", details=name))

    def reject_publish(self, stream_id: int, code: str = "NetStream.Publish.BadName",
                       description: str = "Publishing refused.") -> None:
        """Refuse with an error-level onStatus (ffmpeg then exits "Server error")."""
        self._decide("publish", stream_id)
        self._send(msg.on_status(stream_id, "error", code, description))

    def accept_play(self, stream_id: int) -> None:
        """StreamBegin, Play.Reset, Play.Start, ``|RtmpSampleAccess``; then send media."""
        self._decide("play", stream_id)
        self.streams[stream_id] = "playing"
        name = self._names.get(stream_id, "")
        self._send(msg.stream_begin(stream_id))
        self._send(msg.on_status(stream_id, "status", "NetStream.Play.Reset",
                                 f"Playing and resetting {name}.", details=name))
        self._send(msg.on_status(stream_id, "status", "NetStream.Play.Start",
                                 f"Started playing {name}.", details=name))
        # on the data chunk stream, format 0 like all media there (see ChunkWriter)
        self._out += self._writer.encode(msg.data(stream_id, 0, "|RtmpSampleAccess", True, True),
                                         DATA_CSID)

    def reject_play(self, stream_id: int, code: str = "NetStream.Play.StreamNotFound",
                    description: str = "No such stream.") -> None:
        self._decide("play", stream_id)
        self._send(msg.on_status(stream_id, "error", code, description))

    # -- output ----------------------------------------------------------------
    @property
    def state(self) -> str:
        """``handshake``, ``connect`` (waiting for the connect command), ``deciding``
        (a request awaits ``accept_*``/``reject_*``), ``connected`` or ``closed`` —
        for the server's timeouts (handshake, connect) and stats."""
        if self.closed:
            return "closed"
        if not self._handshake.done:
            return "handshake"
        if self._pending is not None:
            return "deciding"
        return "connected" if self.connected else "connect"

    @property
    def publishing(self) -> list[int]:
        """Stream ids whose publish was accepted and not yet deleted."""
        return [sid for sid, role in self.streams.items() if role == "publishing"]

    def encode_media(self, stream_id: int, kind: MediaKind, timestamp: int,
                     payload: bytes) -> bytes:
        return encode_media(kind, stream_id, timestamp, payload, self._writer.chunk_size)

    def send_media(self, stream_id: int, kind: MediaKind, timestamp: int,
                   payload: bytes) -> None:
        """Queue one FLV tag body for a playing stream (timestamps already rebased)."""
        self._out += self.encode_media(stream_id, kind, timestamp, payload)

    def send_encoded(self, data: bytes) -> None:
        """Queue bytes made by :func:`encode_media` at this connection's chunk size."""
        self._out += data

    def fail_play(self, stream_id: int, description: str,
                  code: str = "NetStream.Play.Failed") -> None:
        """A playing stream cannot go on (e.g. its codec changed to one this client
        did not list): an error-level onStatus (ffmpeg and librtmp then close), and the
        stream is idle again; nothing more is sent for it."""
        if self.streams.get(stream_id) == "playing":
            self.streams[stream_id] = ""
        self._send(msg.on_status(stream_id, "error", code, description))

    def end_play(self, stream_id: int) -> None:
        """The played stream ended (its publisher left): tell the player."""
        self._send(msg.on_status(stream_id, "status", "NetStream.Play.UnpublishNotify",
                                 "Stream is now unpublished."))
        self._send(msg.stream_eof(stream_id))
